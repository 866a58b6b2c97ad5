"""consumers.queue_metrics: what a queue exports, and that what a render reuses from the
previous one never changes what it shows (random streams of test_engine_properties)."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.exposition import ExpositionWriter
from consumers.inbound import OwnedPartition
from consumers.metrics_endpoint import MetricsEndpoint
from consumers.queue_metrics import QueueRenderer, RenderOptions, scopes_for
from consumers.self_metrics import WorkerStats
from consumers.settings import ConfigError, Settings, WorkerSettings, settings_from_dict
from stream.config import EngineConfig
from stream.engine import Engine
from stream.events import (
    AgentState,
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallEnqueued,
    SurveyResult,
)
from stream.kpis import STAFFING_KEYS
from tests.unit.test_engine_properties import Scenario, scenarios
from tests.unit.test_read_cache import run, steps

T = 1_790_000_000.0  # on a 10 s boundary: a bucket of the default 5m window starts
STAFFING_FAMILIES = {
    "callpulse_agents_required",
    "callpulse_staffing_gap",
    "callpulse_predicted_service_level_ratio",
    "callpulse_predicted_asa_seconds",
    "callpulse_predicted_abandon_ratio",
}
assert len(STAFFING_FAMILIES) == len(STAFFING_KEYS)


def options_for(engine: Engine) -> RenderOptions:
    return RenderOptions(scopes_for(tuple(name for name, _ in engine.config.windows)))


def render(renderer: QueueRenderer, engine: Engine, now: float) -> str:
    out = ExpositionWriter()
    renderer.begin(out)
    for state in engine.queues.values():
        renderer.render(state, now, engine.config)
    renderer.end()
    return out.render()


def samples(body: str) -> dict[str, float]:
    """'name{labels}' -> value."""
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def family(series: str) -> str:
    return series.partition("{")[0]


GAPS = st.sampled_from([0.0, 0.5, 4.0, 15.0, 15.0, 95.0])


@settings(max_examples=40, deadline=None)
@given(scenarios(), st.lists(st.tuples(GAPS, st.booleans()), min_size=6))
def test_a_reusing_render_shows_what_a_fresh_one_shows(
    sc: Scenario, scrapes: list[tuple[float, bool]]
) -> None:
    """Staffing aside (memoised on purpose, tested below), a renderer that keeps what it
    can between renders gives the body a new renderer gives at the same instant; scrapes
    come after some events or after time alone (calls waiting cross thresholds)."""
    if not sc.events:
        return
    engine = Engine(sc.cfg)
    kept = QueueRenderer(options_for(engine))
    now = min(e.ts for e in sc.events)
    todo = steps(sc)
    chunk = max(1, len(todo) // len(scrapes))
    for gap, apply in scrapes:
        if apply:
            for step in todo[:chunk]:
                run(engine, step)
            todo = todo[chunk:]
        now += gap
        reused = samples(render(kept, engine, now))
        fresh = samples(render(QueueRenderer(options_for(engine)), engine, now))
        assert {s for s in reused if family(s) not in STAFFING_FAMILIES} == {
            s for s in fresh if family(s) not in STAFFING_FAMILIES
        }
        for series, value in fresh.items():
            if family(series) not in STAFFING_FAMILIES:
                a = reused[series]
                same = math.isclose(a, value, rel_tol=1e-9, abs_tol=1e-6)
                assert same or (a != a and value != value), f"{series}: {a} != {value}"


def test_staffing_is_kept_within_a_bucket_and_the_gap_follows_agents_now() -> None:
    engine = Engine(EngineConfig())
    for i in range(3):
        agent = AgentStateChanged(f"a{i}", T - 60, f"agent-{i}", AgentState.AVAILABLE, ("q",))
        engine.apply(agent)
    engine.apply(CallEnqueued("h1", T - 50, "q", "c0"))  # a handled call gives an AHT
    engine.apply(CallAnswered("h2", T - 45, "q", "c0", "agent-1"))
    engine.apply(CallEnded("h3", T - 5, "q", "c0", "agent-1", 40.0, 0.0))
    engine.apply(CallEnqueued("e1", T + 1, "q", "c1"))
    renderer = QueueRenderer(options_for(engine))
    first = samples(render(renderer, engine, T + 2))
    required = first['callpulse_agents_required{queue="q",window="5m"}']
    assert first['callpulse_staffing_gap{queue="q",window="5m"}'] == required - 3
    assert renderer.staffing_evaluations == 3  # one per window

    # Another call in the same 10 s bucket of the 5m window: staffing is kept...
    engine.apply(CallEnqueued("e2", T + 3, "q", "c2"))
    renderer_view = samples(render(renderer, engine, T + 4))
    assert renderer.staffing_evaluations == 0
    # ... but an agent logging out shows in the gap at once.
    engine.apply(AgentStateChanged("a9", T + 5, "agent-0", AgentState.LOGGED_OUT, ("q",)))
    now_view = samples(render(renderer, engine, T + 6))
    assert renderer.staffing_evaluations == 0
    assert now_view['callpulse_staffing_gap{queue="q",window="5m"}'] == required - 2
    assert renderer_view['callpulse_agents_required{queue="q",window="5m"}'] == required

    # The windows slid to other buckets with other inputs: computed again.
    samples(render(renderer, engine, T + 125))
    assert renderer.staffing_evaluations == 3


def test_staffing_gauges_only_for_the_chosen_windows() -> None:
    engine = Engine(EngineConfig())
    engine.apply(AgentStateChanged("a0", T - 60, "agent-0", AgentState.AVAILABLE, ("q",)))
    engine.apply(CallEnqueued("h1", T - 50, "q", "c0"))
    engine.apply(CallAnswered("h2", T - 45, "q", "c0", "agent-0"))
    engine.apply(CallEnded("h3", T - 5, "q", "c0", "agent-0", 40.0, 0.0))
    options = RenderOptions(
        options_for(engine).scopes,
        staffing_windows=Settings().worker.staffing_scopes(
            tuple(name for name, _ in engine.config.windows)
        ),
    )
    renderer = QueueRenderer(options)
    got = samples(render(renderer, engine, T + 2))
    staffing = {s for s in got if family(s) in STAFFING_FAMILIES}
    assert {s.partition('window="')[2].partition('"')[0] for s in staffing} == {"15m"}
    assert 'callpulse_agents_required{queue="q",window="15m"}' in staffing
    assert renderer.staffing_evaluations == 1
    assert 'callpulse_aht_seconds{queue="q",window="5m"}' in got  # other KPIs: every window


def test_staffing_windows_setting_names_real_windows() -> None:
    windows = ("5m", "15m", "1h")
    assert WorkerSettings().staffing_scopes(windows) == {"15m"}
    assert WorkerSettings().staffing_scopes(("5m", "1h")) == {"5m", "1h"}  # no 15m: all
    assert WorkerSettings(staffing_windows="all").staffing_scopes(windows) == set(windows)
    assert WorkerSettings(staffing_windows="5m, 1h").staffing_scopes(windows) == {"5m", "1h"}
    with pytest.raises(ConfigError, match=r"worker\.staffing_windows: 30m is not a window"):
        settings_from_dict({"worker": {"staffing_windows": "15m,30m"}})


def test_zero_anomalies_and_unused_survey_counters_are_left_out() -> None:
    engine = Engine(EngineConfig())
    engine.apply(CallEnqueued("e1", T, "q", "c1"))
    renderer = QueueRenderer(options_for(engine))
    before = samples(render(renderer, engine, T + 1))
    assert not [s for s in before if family(s) == "callpulse_event_anomalies_total"]
    assert 'callpulse_csat_responses_total{queue="q"}' not in before
    assert before['callpulse_calls_entered_total{queue="q"}'] == 1

    engine.apply(CallEnqueued("e1", T, "q", "c1"))  # a duplicate
    engine.apply(SurveyResult("s1", T + 2, "q", "c1", csat=5))
    after = samples(render(renderer, engine, T + 3))
    assert after['callpulse_event_anomalies_total{queue="q",kind="duplicate"}'] == 1
    # The CSAT group appears whole; NPS and resolved stay out until their first answer.
    assert after['callpulse_csat_responses_total{queue="q"}'] == 1
    assert after['callpulse_csat_score_total{queue="q"}'] == 5
    assert 'callpulse_nps_responses_total{queue="q"}' not in after
    assert 'callpulse_resolved_total{queue="q"}' not in after


def test_a_render_yields_to_the_event_loop_and_gives_the_same_body() -> None:
    engine = Engine(EngineConfig())
    for i in range(50):
        engine.apply(CallEnqueued(f"e{i}", T, f"q{i}", f"c{i}"))

    def endpoint(slice_seconds: float) -> MetricsEndpoint:
        return MetricsEndpoint(
            owned=lambda: [OwnedPartition(0, engine)],
            stats=WorkerStats(),
            options=options_for(engine),
            lag=lambda _: 0,
            counts=lambda: (0, 0),
            max_age=0.0,
            clock=lambda: T + 30,
            slice_seconds=slice_seconds,
        )

    async def bodies() -> tuple[bytes, bytes, int]:
        sliced = endpoint(0.0)  # yields after every queue and every chunk
        body, _ = await sliced.body(accept_gzip=False)
        whole, _ = await endpoint(60.0).body(accept_gzip=False)
        return body, whole, sliced.last_render_yields

    sliced_body, whole_body, yields = asyncio.run(bodies())
    assert yields >= 50

    def strip(body: bytes) -> list[str]:
        return [line for line in body.decode().splitlines() if "scrape_duration" not in line]

    assert strip(sliced_body) == strip(whole_body)


def test_service_levels_move_as_a_waiting_call_crosses_the_threshold() -> None:
    """Nothing booked between two renders, same buckets for today: the SL still drops
    when the call waiting passes T (20 s) — a live miss."""
    engine = Engine(EngineConfig())
    engine.apply(CallEnqueued("h1", T - 50, "q", "c0"))
    engine.apply(CallAnswered("h2", T - 45, "q", "c0", "agent-1"))
    engine.apply(CallEnqueued("e1", T + 1, "q", "c1"))
    renderer = QueueRenderer(options_for(engine))
    series = (
        'callpulse_service_level_ratio{queue="q",window="today",threshold="20",'
        'variant="answered_within_over_offered"}'
    )
    assert samples(render(renderer, engine, T + 5))[series] == 1.0
    assert samples(render(renderer, engine, T + 45))[series] == 0.5
