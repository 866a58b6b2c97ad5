"""`callpulse simulate` and `callpulse replay` without a broker: pacing, options, output,
validation and the summary (the broker side is tests/integration/test_replay.py)."""

from __future__ import annotations

import argparse
import asyncio
import io
import re
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers import cli
from consumers.pacing import Pacer, catch_up_origin
from consumers.progress import Progress
from consumers.replay import Tally, replay, summary
from consumers.simulate import check_future, load_scenario_data, max_lead, timing
from consumers.tool_options import OptionError, parse_instant
from stream.decode import encode
from stream.events import AgentState, AgentStateChanged, CallEnqueued, queues_of
from stream.scenario import scenario_from_dict
from stream.synthetic import synthetic_stream
from tests.strategies import Pools, events, timestamps

NOW = 1_795_449_600.0


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class ListSink:
    """What a Kafka sink would send: (value, key) per record."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, str]] = []
        self.records = 0
        self.stopped = False

    def describe(self) -> str:
        return "a list"

    async def start(self) -> None:
        pass

    async def send(self, value: bytes, queues: tuple[str, ...]) -> None:
        for queue in queues:
            self.sent.append((value, queue))
            self.records += 1

    async def stop(self) -> None:
        self.stopped = True


# --- pacing -------------------------------------------------------------------------------


def test_pacer_sends_scaled_event_time_and_never_waits_for_the_past() -> None:
    clock = FakeClock()
    pacer = Pacer(60.0, clock=clock)
    assert pacer.delay(1000.0) == 0.0  # the first event is the origin
    assert pacer.delay(1600.0) == pytest.approx(10.0)  # 600 s of event time at 60x
    clock.t += 4.0
    assert pacer.delay(1600.0) == pytest.approx(6.0)
    assert pacer.delay(900.0) == 0.0  # behind schedule or back in time: at once
    assert Pacer(0.0, clock=clock).delay(10**9) == 0.0  # as fast as possible
    with pytest.raises(ValueError):
        Pacer(-1.0)


def test_real_time_pacing_from_an_origin_and_catch_up() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, origin=NOW, clock=clock)
    assert pacer.delay(NOW - 1800) == 0.0  # history before the origin: at once
    assert pacer.delay(NOW + 5) == pytest.approx(5.0)
    assert catch_up_origin(NOW - 1800, NOW) == NOW
    assert catch_up_origin(NOW + 60, NOW) == NOW + 60


# --- simulate: time options ---------------------------------------------------------------


def sim_args(**kw: object) -> argparse.Namespace:
    values = {"duration": None, "speed": None, "start": None, "catch_up": False, **kw}
    return argparse.Namespace(**values)


SCENARIO = scenario_from_dict(
    {"queues": {"q": {"arrivals_per_hour": 60}}, "agents": [{"count": 2, "queues": ["q"]}]}
)


def test_default_timing_is_live_to_kafka_and_a_past_hour_to_a_file() -> None:
    live = timing(sim_args(), SCENARIO, to_kafka=True, now=NOW)
    assert (live.start, live.duration, live.speed, live.origin) == (NOW, 3600.0, 1.0, NOW)
    offline = timing(sim_args(), SCENARIO, to_kafka=False, now=NOW)
    assert (offline.start, offline.speed) == (NOW - 3600, 0.0)
    history = timing(sim_args(start="now-30m", speed=1.0, catch_up=True), SCENARIO, True, NOW)
    assert (history.start, history.origin) == (NOW - 1800, NOW)
    with pytest.raises(OptionError, match="--catch-up"):
        timing(sim_args(catch_up=True, speed=0.0), SCENARIO, True, NOW)


def test_runs_that_would_get_ahead_of_the_wall_clock_are_refused() -> None:
    check_future(timing(sim_args(), SCENARIO, True, NOW), NOW)  # real time: fine
    check_future(timing(sim_args(speed=0.0), SCENARIO, True, NOW), NOW)  # past hour: fine
    fast = timing(sim_args(speed=60.0), SCENARIO, True, NOW)
    assert max_lead(fast.start, fast.start + 3600, 60.0, fast.origin, NOW) > 3000
    with pytest.raises(OptionError, match=r"ahead of the\s+wall clock"):
        check_future(fast, NOW)


def test_instants() -> None:
    assert parse_instant("--start", "now", NOW) == NOW
    assert parse_instant("--start", "-2h", NOW) == NOW - 7200
    assert parse_instant("--start", "now+10m", NOW) == NOW + 600
    assert parse_instant("--start", "2026-11-23T08:00:00+01:00", NOW) == 1795417200.0
    with pytest.raises(OptionError, match="no UTC offset"):
        parse_instant("--start", "2026-11-23T08:00:00", NOW)


# --- simulate: the command ----------------------------------------------------------------


def test_simulate_to_a_file_is_deterministic_and_writes_its_ground_truth(tmp_path: Path) -> None:
    def once(name: str) -> tuple[bytes, dict]:
        out, truth = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json"
        argv = ["simulate", "--start", str(NOW), "--duration", "2h", "--seed", "4"]
        assert cli.main([*argv, "-o", str(out), "--truth", str(truth), "-q"]) == 0
        return out.read_bytes(), orjson.loads(truth.read_bytes())

    events, truth = once("a")
    assert (events, truth) == once("b")
    lines = events.splitlines()
    assert truth["complete"] and truth["events"] == len(lines) > 1000
    entered = sum(b'"call.enqueued"' in line for line in lines)
    assert entered == sum(q["entered"] for q in truth["queues"].values())


def test_simulate_reports_a_bad_scenario_by_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("queues: {q: {arrivals_per_hour: 10, talk: {mean: -3}}}\nagents: []\n")
    assert cli.main(["simulate", "--scenario", str(bad), "-o", "-"]) == 2
    assert "queues.q.talk.mean" in capsys.readouterr().err


# --- replay -------------------------------------------------------------------------------


def run_replay(text: bytes) -> tuple[Tally, ListSink]:
    sink = ListSink()
    progress = Progress("replay", stream=io.StringIO(), enabled=False)
    tally = asyncio.run(replay(io.BytesIO(text), len(text), sink, Pacer(0.0), progress))
    return tally, sink


def test_replay_sends_valid_lines_byte_for_byte_keyed_by_queue_and_counts_rejects() -> None:
    call = encode(CallEnqueued("e1", NOW - 60, "sales", "c1", None, 0))
    agent = encode(
        AgentStateChanged("e2", NOW - 50, "a1", AgentState.AVAILABLE, ("sales", "support"))
    )
    future = encode(CallEnqueued("e3", 4_000_000_000.0, "sales", "c2", None, 0))
    text = b"\n".join([call, b"", b"{nope", agent, b'{"v": 1}', future]) + b"\n"
    tally, sink = run_replay(text)
    assert sink.sent == [(call, "sales"), (agent, "sales"), (agent, "support")]
    assert (tally.lines, tally.sent, tally.records, tally.blank) == (6, 2, 3, 1)
    assert tally.rejected == {"not_json": 1, "missing_field": 1, "implausible_timestamp": 1}
    assert tally.complete and sink.stopped
    text = summary(tally, sink)
    assert "sent 2 events as 3 records to a list" in text
    assert "rejected 3 lines (not sent)" in text and "line 3: not_json" in text


PAST = Pools(
    queues=st.sampled_from(["sales", "support", "billing"]),
    ts=timestamps(max_ts=NOW - 3600),  # replay refuses events ahead of the clock
)


@settings(max_examples=60, deadline=None)
@given(st.lists(events(PAST), max_size=40))
def test_replay_keeps_every_queue_in_file_order(stream: list) -> None:
    lines = [encode(event) for event in stream]
    _, sink = run_replay(b"\n".join(lines) + b"\n")
    for queue in ("sales", "support", "billing"):
        expected = [line for line, e in zip(lines, stream, strict=True) if queue in queues_of(e)]
        assert [value for value, key in sink.sent if key == queue] == expected
    assert len(sink.sent) == sum(len(queues_of(e)) for e in stream)


@pytest.mark.parametrize(
    ("text", "why"),
    [("queues: [1, 2\n", r"line \d+: not valid YAML"), ("- a list\n", "must be a mapping")],
)
def test_a_bad_scenario_file_is_an_option_error_naming_it(
    tmp_path: Path, text: str, why: str
) -> None:
    path = tmp_path / "rush.yaml"
    path.write_text(text)
    with pytest.raises(OptionError, match=rf"--scenario {re.escape(str(path))}:.*{why}"):
        load_scenario_data(str(path))


def test_a_cancelled_replay_stops_the_sink_and_reports_what_was_sent() -> None:
    """Ctrl-C / SIGTERM cancel the run: it ends without an error, incomplete, flushed."""
    lines = b"".join(encode(event) + b"\n" for event, _ in synthetic_stream(2, 50, 0.2))

    async def scenario() -> tuple[Tally, ListSink]:
        sink = ListSink()
        progress = Progress("replay", stream=io.StringIO(), enabled=False)
        task = asyncio.ensure_future(replay(io.BytesIO(lines), None, sink, Pacer(1.0), progress))
        await asyncio.sleep(0.05)  # real-time pacing: stuck before the second event
        task.cancel()
        return await task, sink

    tally, sink = asyncio.run(scenario())
    assert not tally.complete and sink.stopped
    assert 0 < tally.records == sink.records < len(lines.splitlines())
