"""The simulator: deterministic, well-formed, and its statistics match its parameters.

Statistical checks use generous bounds (about 4 standard errors) around the expectation
the parameters imply, so they fail on a modelling bug, not on sampling noise; the seeds
are fixed, so they are deterministic anyway.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from stream.config import EngineConfig
from stream.decode import decode, encode
from stream.engine import Engine
from stream.erlang import erlang_a, patience_mle
from stream.events import (
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEnqueued,
    CallLeft,
    CallTransferred,
    queues_of,
)
from stream.scenario import DEFAULT_SCENARIO, scenario_from_dict
from stream.simulator import Simulation

BERLIN = ZoneInfo("Europe/Berlin")
DAY_START = datetime(2026, 11, 23, 7, 0, tzinfo=BERLIN).timestamp()
T0 = 1_790_000_000.0
EXPONENTIAL_LIKE = math.sqrt(math.log(2))  # lognormal sigma with the variance of an exponential


def one_queue(**queue: Any) -> dict[str, Any]:
    """A scenario with one queue ``q`` and whole-run agents; override via keyword."""
    agents = queue.pop("agents", 50)
    spec = {"arrivals_per_hour": 360, "talk": "3m", "acw": None, "patience": None, **queue}
    return {"queues": {"q": spec}, "agents": [{"name": "a", "count": agents, "queues": ["q"]}]}


def run(data: dict[str, Any], hours: float, seed: int = 1, start: float = T0) -> Simulation:
    sim = Simulation(scenario_from_dict(data), start, hours * 3600, seed)
    sim.output = list(sim.events())  # type: ignore[attr-defined]
    return sim


# --- determinism and form -----------------------------------------------------------------


def test_same_seed_same_events_other_seed_other_events() -> None:
    scenario = scenario_from_dict(DEFAULT_SCENARIO)
    first = [encode(e) for e in Simulation(scenario, DAY_START, 4 * 3600, 5).events()]
    again = [encode(e) for e in Simulation(scenario, DAY_START, 4 * 3600, 5).events()]
    other = [encode(e) for e in Simulation(scenario, DAY_START, 4 * 3600, 6).events()]
    assert first == again
    assert first != other
    assert len(first) > 5000


def test_events_are_valid_ordered_unique_and_inside_the_run() -> None:
    sim = run(DEFAULT_SCENARIO, hours=14, start=DAY_START)
    events = sim.output  # type: ignore[attr-defined]
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert events[0].ts >= DAY_START and events[-1].ts < DAY_START + 14 * 3600
    assert len({e.id for e in events}) == len(events)
    for event in events:
        assert decode(encode(event), now=DAY_START + 14 * 3600) == event
    kinds = Counter(e.TYPE for e in events)
    assert set(kinds) == {
        "call.enqueued",
        "call.answered",
        "call.abandoned",
        "call.left",
        "call.transferred",
        "call.ended",
        "call.acw_ended",
        "agent.state",
        "survey.result",
    }
    reasons = {e.reason for e in events if isinstance(e, CallLeft)}
    assert "overflow" in {r.value for r in reasons}


def test_truth_equals_what_the_engine_counts_from_the_same_events() -> None:
    sim = run(DEFAULT_SCENARIO, hours=14, start=DAY_START)
    engine = Engine(EngineConfig())
    for event in sim.output:  # type: ignore[attr-defined]
        for queue in queues_of(event):  # fanned out per queue, as publishers do
            engine.apply(event, only_queue=queue)
    truth = sim.truth.to_json()["queues"]
    assert set(truth) == set(engine.queues)
    for name, state in engine.queues.items():
        totals = state.totals.as_dict()
        row = truth[name]
        for column in ("entered", "offered", "answered", "abandoned", "flowed_out", "left"):
            assert row[column] == totals[column], (name, column)
        for column in ("transferred", "handled"):
            assert row[column] == totals[column], (name, column)
        assert row["answered_within"]["20"] == totals["answered_within_20"]
        for column in ("answered_wait_seconds", "abandoned_wait_seconds", "talk_seconds"):
            assert row[column] == pytest.approx(totals[column], abs=1e-6), (name, column)
        assert sum(state.anomalies.values()) == 0, (name, state.anomalies)


# --- traffic ------------------------------------------------------------------------------


def test_arrival_count_matches_the_poisson_rate() -> None:
    sim = run(one_queue(arrivals_per_hour=360), hours=20)
    expected = 360 * 20
    assert abs(sim.truth.queues["q"].entered - expected) < 4 * math.sqrt(expected)


def test_arrivals_follow_the_time_of_day_profile_and_spikes() -> None:
    data = one_queue(arrivals_per_hour=600)
    data["timezone"] = "Europe/Berlin"
    data["profile"] = {
        "00:00": 0.0,
        "08:00": 0.0,
        "08:01": 1.0,
        "11:59": 1.0,
        "12:00": 0.5,
        "20:00": 0.5,
        "20:01": 0.0,
    }
    data["spikes"] = [{"at": "14:00", "duration": "1h", "factor": 3}]
    sim = run(data, hours=24 * 5, start=datetime(2026, 11, 23, tzinfo=BERLIN).timestamp())
    per_hour = Counter(
        datetime.fromtimestamp(e.ts, BERLIN).hour
        for e in sim.output  # type: ignore[attr-defined]
        if isinstance(e, CallEnqueued)
    )
    assert sum(per_hour[h] for h in range(0, 8)) == 0  # closed at night
    assert sum(per_hour[h] for h in range(21, 24)) == 0
    for hour, factor in ((9, 1.0), (10, 1.0), (13, 0.5), (14, 1.5), (16, 0.5), (18, 0.5)):
        expected = 600 * factor * 5
        assert abs(per_hour[hour] - expected) < 4 * math.sqrt(expected), (hour, per_hour[hour])


def test_relative_spike_multiplies_the_rate_once() -> None:
    data = one_queue(arrivals_per_hour=600)
    data["spikes"] = [{"at": "+2h", "duration": "1h", "factor": 2.5}]
    sim = run(data, hours=4)
    hours = Counter(
        int((e.ts - T0) // 3600)
        for e in sim.output  # type: ignore[attr-defined]
        if isinstance(e, CallEnqueued)
    )
    assert abs(hours[2] - 1500) < 4 * math.sqrt(1500)
    for hour in (0, 1, 3):
        assert abs(hours[hour] - 600) < 4 * math.sqrt(600)


def test_mean_talk_hold_and_acw_match_their_lognormal_parameters() -> None:
    data = one_queue(
        talk={"mean": "200s", "sigma": 0.8},
        hold={"probability": 0.25, "mean": "40s", "sigma": 0.4},
        acw={"mean": "30s", "sigma": 0.5},
    )
    sim = run(data, hours=20)
    ended = [e for e in sim.output if isinstance(e, CallEnded)]  # type: ignore[attr-defined]
    n = len(ended)

    def close(values: list[float], mean: float, sigma: float) -> None:
        sd = mean * math.sqrt(math.exp(sigma**2) - 1)
        assert abs(sum(values) / len(values) - mean) < 4 * sd / math.sqrt(len(values))

    close([e.talk_seconds for e in ended], 200, 0.8)
    held = [e.hold_seconds for e in ended if e.hold_seconds > 0]
    assert abs(len(held) / n - 0.25) < 4 * math.sqrt(0.25 * 0.75 / n)
    close(held, 40, 0.4)
    truth = sim.truth.queues["q"]
    assert truth.acw_seconds / truth.handled == pytest.approx(30, rel=0.05)


# --- abandonment --------------------------------------------------------------------------


def test_abandonment_matches_erlang_a_and_the_patience_estimate() -> None:
    # M/M/N+M as far as the model goes: Poisson arrivals, handle times with the variance of
    # an exponential, exponential patience, no after-call work, agents always there.
    rate, aht, agents, patience = 360, 180.0, 18, 60.0
    data = one_queue(
        arrivals_per_hour=rate,
        talk={"mean": aht, "sigma": EXPONENTIAL_LIKE},
        patience=patience,
        agents=agents,
    )
    sim = run(data, hours=60, seed=3)
    q = sim.truth.queues["q"]
    theory = erlang_a(rate / 3600 * aht, agents, aht, patience, 20)
    assert q.abandoned / q.offered == pytest.approx(theory.p_abandon, rel=0.15)
    assert q.answered_within["20"] / q.offered == pytest.approx(theory.service_level, rel=0.05)
    # Abandons are exponential in the exposure time: the censored MLE recovers the patience.
    estimate = patience_mle(q.wait_seconds, q.abandoned)
    assert estimate == pytest.approx(patience, rel=4 / math.sqrt(q.abandoned))


def test_without_patience_nobody_abandons_and_timeouts_and_overflows_cut_waits() -> None:
    base = one_queue(agents=3, arrivals_per_hour=120, max_wait="5m")
    sim = run(base, hours=3)
    q = sim.truth.queues["q"]
    assert q.abandoned == 0 and q.left > 0
    assert q.max_wait_seconds <= 300.001
    overflow = {
        "queues": {
            "a": {
                "arrivals_per_hour": 120,
                "talk": "3m",
                "patience": None,
                "overflow": {"after": "1m", "to": "b"},
            },
            "b": {"arrivals_per_hour": 0, "talk": "3m", "patience": "2m"},
        },
        "agents": [{"count": 3, "queues": ["a"]}, {"count": 3, "queues": ["b"]}],
    }
    sim = run(overflow, hours=3)
    a, b = sim.truth.queues["a"], sim.truth.queues["b"]
    assert a.flowed_out > 0 and a.abandoned == 0
    assert sim.arrivals["b"]["overflow_in"] == a.flowed_out == b.entered
    assert a.max_wait_seconds <= 60.001


# --- routing, agents, callers -------------------------------------------------------------


def test_transfers_enter_the_target_queue_with_the_same_call() -> None:
    data = {
        "queues": {
            "front": {
                "arrivals_per_hour": 200,
                "talk": "2m",
                "transfer": {"probability": 0.3, "to": ["back"]},
            },
            "back": {"arrivals_per_hour": 0, "talk": "2m"},
        },
        "agents": [{"count": 20, "queues": ["front", "back"]}],
    }
    sim = run(data, hours=3)
    events = sim.output  # type: ignore[attr-defined]
    moved = [e for e in events if isinstance(e, CallTransferred)]
    entered_back = {e.call_id for e in events if isinstance(e, CallEnqueued) and e.queue == "back"}
    assert moved and all(e.to_queue == "back" for e in moved)
    assert {e.call_id for e in moved} == entered_back
    assert sim.truth.queues["front"].transferred == len(moved)


def test_agents_follow_shifts_breaks_and_not_ready_reasons() -> None:
    data = {
        "timezone": "Europe/Berlin",
        "queues": {"q": {"arrivals_per_hour": 60, "talk": "3m"}},
        "agents": [
            {"name": "day", "count": 4, "queues": ["q"], "shift": "08:00-12:00", "stagger": "20m"}
        ],
        "breaks": [{"after": "2h", "duration": "15m", "reason": "lunch"}],
        "not_ready": {"per_hour": 1, "mean": "2m", "reasons": ["admin", "training"]},
    }
    start = datetime(2026, 11, 23, 6, 0, tzinfo=BERLIN).timestamp()
    sim = run(data, hours=10, start=start)
    agent_events = [e for e in sim.output if isinstance(e, AgentStateChanged)]  # type: ignore[attr-defined]
    by_agent: dict[str, list[AgentStateChanged]] = {}
    for event in agent_events:
        by_agent.setdefault(event.agent_id, []).append(event)
    assert len(by_agent) == 4
    for i, (agent, events) in enumerate(sorted(by_agent.items())):
        login = datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN).timestamp() + i * 300
        assert events[0].state is AgentState.LOGGED_IN and events[0].ts == pytest.approx(
            login, abs=0.01
        )
        assert events[-1].state is AgentState.LOGGED_OUT
        assert events[-1].ts >= login + 4 * 3600 - 0.01  # after the shift, maybe a call later
        assert events[-1].ts < login + 4 * 3600 + 1800
        reasons = {e.reason for e in events if e.state is AgentState.NOT_READY}
        assert "lunch" in reasons and reasons <= {"lunch", "admin", "training"}, agent
    # Nobody answers while logged out, on a break or before being available.
    state: dict[str, AgentState] = {}
    for event in sim.output:  # type: ignore[attr-defined]
        if isinstance(event, AgentStateChanged):
            state[event.agent_id] = event.state
        elif isinstance(event, CallAnswered):
            assert state[event.agent_id] in (
                AgentState.AVAILABLE,
                AgentState.AFTER_CALL_WORK,
                AgentState.ON_CONTACT,
            )


def test_abandoned_callers_redial_and_some_callers_repeat() -> None:
    data = one_queue(
        agents=2,
        arrivals_per_hour=120,
        patience="30s",
        redial={"probability": 0.5, "mean": "2m"},
        repeat={"share": 0.2, "within": "1h"},
    )
    sim = run(data, hours=6)
    enqueues = [e for e in sim.output if isinstance(e, CallEnqueued)]  # type: ignore[attr-defined]
    abandoned = sum(isinstance(e, CallAbandoned) for e in sim.output)  # type: ignore[attr-defined]
    redials = sim.arrivals["q"]["redial"]
    assert abs(redials - abandoned / 2) < 4 * math.sqrt(abandoned / 4) + 5
    seen: set[str] = set()
    repeats = 0
    for event in enqueues:
        repeats += event.caller_id in seen
        seen.add(event.caller_id or "")
    assert repeats >= redials  # every redial is a repeat caller, plus the repeat share
    assert repeats > redials + 0.1 * sim.arrivals["q"]["fresh"]


# --- the shipped scenario files -----------------------------------------------------------

SCENARIOS = Path(__file__).resolve().parents[2] / "deploy" / "scenarios"


def test_office_day_file_is_the_built_in_scenario() -> None:
    data = yaml.safe_load((SCENARIOS / "office-day.yaml").read_text())
    assert scenario_from_dict(data) == scenario_from_dict(DEFAULT_SCENARIO)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_is_valid(path: Path) -> None:
    scenario = scenario_from_dict(yaml.safe_load(path.read_text()))
    sim = Simulation(scenario, DAY_START, 3600, scenario.seed or 1)
    assert sum(1 for _ in sim.events()) > 100
