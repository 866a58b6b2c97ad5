"""snapshot() / restore(): apply A, snapshot -> JSON -> restore, apply B == apply A + B."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from stream.config import EngineConfig
from stream.engine import Engine

from .engine_builders import T0, Feed, busy_stream, config


def observe(engine: Engine, now: float) -> dict[str, Any]:
    """Everything an engine exposes, read at ``now``."""
    out: dict[str, Any] = {}
    for name, state in sorted(engine.queues.items()):
        scopes = [w for w, _ in engine.config.windows] + ["today"]
        out[name] = {
            "stream_time": state.stream_time,
            "totals": state.totals.as_dict(),
            "anomalies": dict(state.anomalies),
            "live": (
                state.calls_waiting,
                state.calls_in_service,
                state.longest_wait(now),
                state.agents_by_state(),
            ),
            "counters": {
                s: (state.today(now) if s == "today" else state.window(s, now)).as_dict()
                for s in scopes
            },
            "kpis": {s: state.kpis(s, now, staffing=s == "5m") for s in scopes},
        }
    return out


def summaries(items: list[Any]) -> list[tuple[Any, ...]]:
    return [(s.queue, s.start, s.end, s.counters.as_dict(), s.kpis) for s in items]


def run(engine: Engine, events: list[Any], closed: list[Any]) -> None:
    for event in events:
        engine.apply(event)
        closed += engine.take_closed()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_restore_then_continue_equals_one_run(seed: int) -> None:
    events = busy_stream(seed)
    cut = len(events) // 2
    cfg = config(defaults={"sl_thresholds": [20, 45]}, interval="15m")

    whole, whole_closed = Engine(cfg), []
    run(whole, events, whole_closed)

    first, first_closed = Engine(cfg), []
    run(first, events[:cut], first_closed)
    data = orjson.loads(orjson.dumps(first.snapshot()))
    assert orjson.loads(orjson.dumps(first.snapshot())) == data  # taking it changes nothing
    resumed, resumed_closed = Engine(cfg), list(first_closed)
    resumed.restore(data)
    assert orjson.loads(orjson.dumps(resumed.snapshot())) == data
    run(resumed, events[cut:], resumed_closed)

    end = max(e.ts for e in events)
    for now in (end, end + 45, end + 4000):
        assert observe(resumed, now) == observe(whole, now)
    assert summaries(resumed_closed) == summaries(whole_closed)
    assert summaries(resumed.advance(end + 2000)) == summaries(whole.advance(end + 2000))
    assert summaries(resumed.flush()) == summaries(whole.flush())


def test_snapshot_keeps_closed_intervals_not_yet_taken() -> None:
    engine = Engine(config())
    feed = Feed(engine)
    feed.enq(0, "c1")
    feed.enq(1000, "c2")  # closes [T0, T0 + 900)
    data = orjson.loads(orjson.dumps(engine.snapshot()))
    resumed = Engine(config())
    resumed.restore(data)
    assert summaries(resumed.take_closed()) == summaries(engine.take_closed())


def test_snapshot_of_some_queues_restores_only_them() -> None:
    engine = Engine(EngineConfig())
    Feed(engine, "sales").enq(0, "c1")
    Feed(engine, "support").enq(0, "c1")
    target = Engine(EngineConfig())
    Feed(target, "support").enq(0, "other")
    target.restore(orjson.loads(orjson.dumps(engine.snapshot(["sales"]))))
    assert sorted(target.queues) == ["sales", "support"]
    assert target.queues["support"].totals["entered"] == 1
    assert target.queues["sales"].calls_waiting == 1


def test_restore_with_new_thresholds_keeps_the_matching_counters() -> None:
    feed = Feed(Engine(config(defaults={"sl_thresholds": [20]})))
    feed.enq(0, "c1")
    feed.ans(10, "c1")
    data = orjson.loads(orjson.dumps(feed.engine.snapshot()))
    changed = Engine(config(defaults={"sl_thresholds": [15, 20]}))
    changed.restore(data)
    window = changed.queues["sales"].window("5m", T0 + 10).as_dict()
    assert window["answered_within_20"] == 1
    assert window["answered_within_15"] == 0  # unknown before the change
    assert window["answered"] == 1


def test_unknown_snapshot_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        Engine(EngineConfig()).restore({"version": 99, "queues": {}, "closed": []})
