"""Property tests: the incremental engine (stream/) against the brute-force reference
(tests/reference.py), both held to docs/kpis.md.

Streams are drawn as realistic call lifecycles and agent timelines, then perturbed the
way a Kafka feed perturbs them: jitter within the grace, some events delayed past it,
re-deliveries (same id), outcomes before their enqueue, conflicting outcomes, unknown
calls, ends without answers, stale agent events, agents logging out mid-call, calls stuck
past max_wait, repeated transfers and surveys, and the worker's periodic advance().
Configs vary windows/slots, grace, interval length, thresholds, short-abandon threshold,
timezone and business-day start (DST days, a +05:30 zone, a 30-min DST shift).

Properties (each against the reference unless said otherwise):
- totals, every window's and today's counters and KPIs (staffing wiring included), live
  state and anomalies, read at the final stream time, later, and in the past (clamped);
- interval summaries emitted by apply(), advance() and flush();
- every record delivered twice in a row = once, but for `duplicate` (engine vs engine);
- snapshot -> orjson -> restore mid-stream, then the rest = one run (engine vs engine);
- keyed apply (only_queue per named queue, as the worker does) = apply (engine vs engine).
The hand-written examples below double as documentation; the regression tests are the
minimal counterexamples found while the engine was written.

Profiles: HYPOTHESIS_PROFILE=ci raises the example counts (default profile: fast).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.events import (
    AfterCallWorkEnded,
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEnqueued,
    CallLeft,
    CallTransferred,
    Event,
    LeaveReason,
    SurveyResult,
    queues_of,
)
from tests import reference as ref

# --------------------------------------------------------------------------- profiles

settings.register_profile(
    "engine-dev",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "engine-ci",
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile(
    "engine-ci" if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else "engine-dev"
)

# --------------------------------------------------------------------------- config


try:  # the engine's config, once it exists; the reference only needs the attributes
    from stream.config import EngineConfig, QueueConfig
except ImportError:  # pragma: no cover - only before stream/config.py lands

    @dataclass(frozen=True, slots=True)
    class QueueConfig:  # type: ignore[no-redef]
        sl_thresholds: tuple[float, ...] = (20.0,)
        sl_target: float = 0.8
        sl_formula: str = "answered_within_over_offered"
        short_abandon_seconds: float = 5.0
        timezone: str = "UTC"
        business_day_start: str = "00:00"
        repeat_caller_hours: float = 24.0

    @dataclass(frozen=True, slots=True)
    class EngineConfig:  # type: ignore[no-redef]
        windows: tuple[tuple[str, float], ...] = (("5m", 300.0), ("15m", 900.0), ("1h", 3600.0))
        window_slots: int = 30
        grace_seconds: float = 60.0
        interval_seconds: float = 900.0
        dedupe_horizon_seconds: float = 600.0
        max_wait_seconds: float = 86400.0
        max_waiting_calls: int = 100_000
        default_queue: QueueConfig = QueueConfig()
        queues: Mapping[str, QueueConfig] = field(default_factory=dict)

        def queue(self, name: str) -> QueueConfig:
            return self.queues.get(name, self.default_queue)


T0 = 1715677200.0  # 2024-05-14 09:00:00 UTC, on a 15-minute interval boundary
QUEUES = ("sales", "support", "vip")
# Window lengths / slot counts whose bucket width is a binary fraction (10, 30, 120, 7.5,
# 150 s): bucket arithmetic is then exact and a boundary mismatch is a real bug.
WINDOW_SETS = (
    ((("5m", 300.0), ("15m", 900.0), ("1h", 3600.0)), 30),
    ((("1m", 60.0), ("5m", 300.0)), 8),
    ((("15m", 900.0),), 6),
)
# (timezone, business_day_start, a date): UTC; a spring-forward day whose start 02:30
# does not exist (-> 03:00 EDT); a fall-back (25 h) day, also one whose start occurs twice;
# a +05:30 zone.
DAYS = (
    ("UTC", "00:00", date(2024, 5, 14)),
    ("America/New_York", "02:30", date(2024, 3, 10)),
    ("America/New_York", "02:30", date(2024, 11, 3)),
    ("America/New_York", "01:30", date(2024, 11, 3)),  # the start falls in the repeated hour
    ("Europe/Paris", "00:00", date(2024, 10, 27)),
    ("Asia/Kolkata", "06:00", date(2024, 5, 14)),
    ("Australia/Lord_Howe", "00:00", date(2024, 10, 6)),  # 30-min DST shift
)


@st.composite
def configs(draw: st.DrawFn) -> tuple[EngineConfig, float]:
    """A config and the start of a business day of its default queue (to aim streams at)."""
    windows, slots = draw(st.sampled_from(WINDOW_SETS))
    tz, start, day = draw(st.sampled_from(DAYS))
    thresholds = draw(st.sampled_from([(20.0,), (10.0, 30.0), (15.0,)]))
    qc = QueueConfig(
        sl_thresholds=thresholds,
        short_abandon_seconds=draw(st.sampled_from([5.0, 12.0])),
        timezone=tz,
        business_day_start=start,
        repeat_caller_hours=draw(st.sampled_from([24.0, 0.25])),
    )
    overrides = {}
    if draw(st.booleans()):
        # One queue on UTC with other thresholds: per-queue configs are honoured.
        overrides["vip"] = replace(
            qc, timezone="UTC", business_day_start="00:00", sl_thresholds=(30.0,)
        )
    cfg = EngineConfig(
        windows=windows,
        window_slots=slots,
        grace_seconds=draw(st.sampled_from([60.0, 30.0])),
        interval_seconds=draw(st.sampled_from([900.0, 900.0, 3600.0, 86400.0])),
        # 900 s: calls that never get an outcome or an end expire within the stream.
        max_wait_seconds=draw(st.sampled_from([86400.0, 86400.0, 900.0])),
        default_queue=qc,
        queues=overrides,
    )
    return cfg, ref._local_start(day, start, ZoneInfo(tz))


# --------------------------------------------------------------------------- streams


@dataclass
class Scenario:
    cfg: EngineConfig
    events: list[Event]  # processing order
    notes: list[str] = field(default_factory=list)  # what was injected, for failure output
    # (i, now): the worker calls engine.advance(now) before events[i] (idle queues)
    advances: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class _Item:
    event: Event
    entity: str  # events of one entity keep their order (one call / one agent)
    late_ok: bool = True  # may be delayed past the grace
    arrival: float = 0.0
    key: tuple[float, float] = (0.0, 0.0)


def _q(x: float) -> float:
    # Quarter seconds: exact in binary, so bucket and threshold boundaries are exact.
    return round(x * 4) / 4


@st.composite
def scenarios(draw: st.DrawFn, max_calls: int = 30, perturb: bool = True) -> Scenario:
    cfg, boundary = draw(configs())
    grace = cfg.grace_seconds
    jitter = grace / 3
    # Aim at a business-day boundary (DST days included) or well inside a day.
    t0 = boundary + draw(st.sampled_from([-1500.0, -600.0, -60.0, 0.0, 1234.0, 20000.0]))
    t0 += draw(st.sampled_from([0.0, 0.25, 7.5]))
    dur = draw(st.sampled_from([300.0, 1200.0, 2400.0]))
    queues = list(QUEUES[: draw(st.integers(1, 3))])
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))  # cheap bulk choices
    seq = iter(range(10**6))
    notes: list[str] = []

    def eid() -> str:
        return f"e{next(seq)}"

    def u(lo: float, hi: float) -> float:
        return _q(rnd.uniform(lo, hi))

    items: list[_Item] = []

    # Agents: a random walk of states, sometimes a logout (possibly mid-call).
    agents = {
        f"a{i}": tuple(sorted(rnd.sample(queues, rnd.randint(1, len(queues)))))
        for i in range(draw(st.integers(0, 4)))
    }
    for agent, aq in agents.items():
        t = t0 + u(0, dur / 3)
        state = AgentState.LOGGED_IN
        for _ in range(rnd.randint(1, 8)):
            items.append(_Item(AgentStateChanged(eid(), t, agent, state, aq), f"agent:{agent}"))
            t += u(1, 400)
            if state == AgentState.LOGGED_OUT:
                state = AgentState.LOGGED_IN
                continue
            state = rnd.choice(
                [
                    AgentState.AVAILABLE,
                    AgentState.AVAILABLE,
                    AgentState.ON_CONTACT,
                    AgentState.AFTER_CALL_WORK,
                    AgentState.NOT_READY,
                    AgentState.LOGGED_OUT,
                ]
            )

    # Calls.
    swapped: set[str] = set()
    n_calls = draw(st.integers(0, max_calls))
    kinds = ["answered"] * 6 + ["abandoned"] * 3 + ["left", "waiting"]
    if perturb:
        kinds += ["unknown_abandon", "direct", "acw_no_end", "negative", "swap", "no_answer"]
    for i in range(n_calls):
        q = rnd.choice(queues)
        cid = f"c{i}"
        ent = f"call:{q}:{cid}"
        kind = rnd.choice(kinds)
        t = t0 + u(0, dur)
        caller = rnd.choice(["+111", "+222", "+333", None])
        agent = rnd.choice([a for a, aq in agents.items() if q in aq] or ["x"])
        ev: list[Event] = []
        if kind in ("unknown_abandon",):
            ev.append(CallAbandoned(eid(), t, q, cid))
            notes.append(f"{cid}: abandon of an unknown call")
        elif kind == "no_answer":
            # The answer was lost: the end does not take the call off the waiting list.
            ev.append(CallEnqueued(eid(), t, q, cid, caller))
            end = t + u(30, 300)
            ev.append(CallEnded(eid(), end, q, cid, agent, u(1, 30)))
            notes.append(f"{cid}: enqueued, ended, never answered")
        elif kind == "direct":
            end = t + u(1, 300)
            ev.append(CallEnded(eid(), end, q, cid, agent, end - t))
            ev.append(AfterCallWorkEnded(eid(), end + u(0, 60), q, cid, agent, u(0, 60)))
            notes.append(f"{cid}: end without answer (no enqueue)")
        else:
            ev.append(CallEnqueued(eid(), t, q, cid, caller))
            if kind in ("answered", "acw_no_end", "negative", "swap"):
                wait = {"negative": -u(0.25, 10), "swap": u(0, 20)}.get(kind, u(0, 90))
                ans = t + wait
                ev.append(CallAnswered(eid(), ans, q, cid, agent))
                talk = u(1, 400)
                if rnd.random() < 0.2:
                    ev.append(CallTransferred(eid(), ans + talk / 2, q, cid, agent, "support"))
                    if rnd.random() < 0.3:  # transferred again: legitimate, counted once
                        ev.append(CallTransferred(eid(), ans + talk * 0.75, q, cid, agent, "vip"))
                end = ans + talk + u(0, 5)
                if kind != "acw_no_end":
                    hold = rnd.choice([0.0, u(0, 30)])
                    ev.append(CallEnded(eid(), end, q, cid, agent, talk, hold))
                ev.append(AfterCallWorkEnded(eid(), end + u(0, 90), q, cid, agent, u(0, 90)))
                if rnd.random() < 0.4:
                    ev.append(
                        SurveyResult(
                            eid(),
                            end + u(100, 200),
                            q,
                            cid,
                            csat=rnd.choice([None, 1, 3, 4, 5]),
                            nps=rnd.choice([None, 0, 6, 7, 8, 9, 10]),
                            resolved=rnd.choice([None, True, False]),
                        )
                    )
                    if rnd.random() < 0.2:  # a second survey: legitimate, not counted
                        ev.append(SurveyResult(eid(), end + u(200, 300), q, cid, csat=1, nps=0))
                if kind == "swap":
                    swapped.add(cid)
                    notes.append(f"{cid}: answer processed before its enqueue")
                if kind == "negative":
                    notes.append(f"{cid}: answered before enqueued (negative wait)")
                if kind == "acw_no_end":
                    notes.append(f"{cid}: acw without end")
            elif kind == "abandoned":
                ev.append(CallAbandoned(eid(), t + u(0, 90), q, cid))
            elif kind == "left":
                reason = rnd.choice(list(LeaveReason))
                to = "support" if reason == LeaveReason.OVERFLOW else None
                ev.append(CallLeft(eid(), t + u(0, 120), q, cid, reason, to))
        for e in ev:
            # Swapped calls stay within the grace: a parked outcome that expires before
            # its enqueue comes is a separate, documented case (unknown abandon).
            items.append(_Item(e, ent, late_ok=kind != "swap" and kind != "unknown_abandon"))

    # Base order is event time, lifecycle order on ties.
    items.sort(key=lambda it: it.event.ts)

    # Arrival: jitter within a third of the grace; a few events delayed past the grace.
    last: dict[str, float] = {}
    p_late = 0.1 if perturb else 0.0
    for n, it in enumerate(items):
        delay = u(0, jitter) if perturb else 0.0
        if it.late_ok and rnd.random() < p_late:
            delay = u(grace + 1, grace + 240)
        it.arrival = max(it.event.ts + delay, last.get(it.entity, -math.inf))
        last[it.entity] = it.arrival
        it.key = (it.arrival, n)

    extra: list[_Item] = []
    if perturb:
        for it in items:
            e = it.event
            on_time = it.arrival - e.ts <= jitter
            if isinstance(e, CallEnqueued) and e.call_id in swapped:
                ans = next(
                    x for x in items if isinstance(x.event, CallAnswered) and x.entity == it.entity
                )
                it.key = (ans.key[0], ans.key[1] + 0.5)  # right after its answer
            if (
                isinstance(e, CallAnswered)
                and on_time
                and rnd.random() < 0.15
                and e.call_id not in swapped
            ):
                # A conflicting second outcome, same ts (so it cannot move stream time).
                extra.append(
                    _Item(
                        CallAbandoned(eid(), e.ts, e.queue, e.call_id),
                        it.entity,
                        key=(it.key[0] + u(0, jitter), it.key[1] + 0.25),
                    )
                )
                notes.append(f"{e.call_id}: abandoned after answered (conflicting)")
            if isinstance(e, CallEnded) and on_time and rnd.random() < 0.15:
                extra.append(
                    _Item(
                        replace(e, id=eid()),
                        it.entity,
                        key=(it.key[0] + u(0, jitter), it.key[1] + 0.25),
                    )
                )
                notes.append(f"{e.call_id}: ended re-sent with another id")
            if isinstance(e, AgentStateChanged) and on_time and rnd.random() < 0.15:
                # Right after a state change or a logout: an older event of the agent.
                stale = replace(e, id=eid(), ts=e.ts - u(0.25, jitter), state=AgentState.NOT_READY)
                extra.append(_Item(stale, it.entity, key=(it.key[0], it.key[1] + 0.5)))
                notes.append(f"{e.agent_id}: stale state event after {e.state.value}")
        for it in items:
            if rnd.random() < 0.1:  # re-delivery of the same record
                extra.append(
                    _Item(it.event, it.entity, key=(it.key[0] + u(0, 120), it.key[1] + 0.75))
                )
    all_items = sorted(items + extra, key=lambda it: it.key)
    events = [it.event for it in all_items]
    # The worker's periodic advance(wall clock): a little after the newest event so far.
    advances = []
    for _ in range(rnd.choice([0, 0, 1, 3])):
        i = rnd.randint(1, len(events)) if events else 0
        if i:
            advances.append((i, max(e.ts for e in events[:i]) + u(0, 2 * grace)))
    return Scenario(cfg, events, notes, sorted(advances))


# --------------------------------------------------------------------------- engine glue

ENGINE_REASON = "stream/engine.py is not there yet (written concurrently)"


def _engine_module() -> Any:
    return pytest.importorskip("stream.engine", reason=ENGINE_REASON)


# Reference counter names -> the engine's Counters.as_dict() names (naming is not part of
# docs/kpis.md; semantics are).
COUNTER_NAMES: dict[str, str] = {}
KPI_NAMES: dict[str, str] = {}


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)


def diff_dicts(
    expected: Mapping[str, Any], actual: Mapping[str, Any], names: Mapping[str, str], what: str
) -> list[str]:
    out = []
    for k, v in expected.items():
        ek = names.get(k, k)
        if ek not in actual:
            out.append(f"{what}: engine has no {ek!r} (reference {v!r})")
        elif not close(v, actual[ek]):
            out.append(f"{what}.{ek}: reference {v!r} != engine {actual[ek]!r}")
    return out


def counters_view(c: Mapping[str, Any]) -> dict[str, Any]:
    """The reference counters as the engine's Counters hold them: a maximum over nothing
    is stored as 0 (the KPI still has no value: it is checked separately)."""
    return {k: (0 if v is None else v) for k, v in c.items()}


def run_engine(
    events: Sequence[Event],
    cfg: EngineConfig,
    advances: Sequence[tuple[int, float]] = (),
    *,
    eng: Any = None,
    lo: int = 0,
    hi: int | None = None,
) -> tuple[Any, list[Any]]:
    """Apply events[lo:hi] (to a new engine unless ``eng``), calling advance() where
    ``advances`` says; returns the engine and every summary it emitted."""
    hi = len(events) if hi is None else hi
    eng = eng or _engine_module().Engine(cfg)
    closed: list[Any] = []
    for i in range(lo, hi + 1):
        for at, now in advances:
            if at == i and (i < hi or hi == len(events)):
                closed += eng.advance(now)
        if i < hi:
            eng.apply(events[i])
            closed += eng.take_closed()
    return eng, closed


def read_nows(events: Sequence[Event]) -> list[float]:
    top = max((e.ts for e in events), default=T0)
    first = min((e.ts for e in events), default=T0)
    # `first`: a read in the past of stream time is a read at stream time.
    return [top, top + 0.25, top + 37.5, top + 400.0, top + 5000.0, top + 90000.0, first]


def compare_queue(eng: Any, sim: ref.Sim, cfg: EngineConfig, now: float) -> list[str]:
    qs = eng.queues[sim.queue]
    exp = ref.observe(sim, cfg, now)
    errs: list[str] = []
    if not close(exp.stream_time, qs.stream_time):
        errs.append(f"stream_time: reference {exp.stream_time} != engine {qs.stream_time}")
    errs += diff_dicts(counters_view(exp.totals), qs.totals.as_dict(), COUNTER_NAMES, "totals")
    for name, view in exp.windows.items():
        errs += diff_dicts(
            counters_view(view.counters),
            qs.window(name, now).as_dict(),
            COUNTER_NAMES,
            f"window[{name}]",
        )
        errs += diff_dicts(view.kpis, qs.kpis(name, now), KPI_NAMES, f"kpis[{name}]")
    errs += diff_dicts(
        counters_view(exp.today.counters), qs.today(now).as_dict(), COUNTER_NAMES, "today"
    )
    errs += diff_dicts(exp.today.kpis, qs.kpis("today", now), KPI_NAMES, "kpis[today]")
    live = {
        "calls_waiting": (exp.calls_waiting, qs.calls_waiting),
        "calls_in_service": (exp.calls_in_service, qs.calls_in_service),
        "longest_wait": (exp.longest_wait, qs.longest_wait(now)),
        "agents_staffed": (exp.agents_staffed, qs.agents_staffed()),
    }
    errs += [
        f"{k}: reference {a!r} != engine {b!r}" for k, (a, b) in live.items() if not close(a, b)
    ]
    by_state = {k: v for k, v in qs.agents_by_state().items() if v}
    if {k: v for k, v in exp.agents_by_state.items() if v} != by_state:
        errs.append(f"agents_by_state: reference {exp.agents_by_state} != engine {by_state}")
    anomalies = {k: v for k, v in qs.anomalies.items() if v}
    if exp.anomalies != anomalies:
        errs.append(f"anomalies: reference {exp.anomalies} != engine {anomalies}")
    return [f"{sim.queue}@{now}: {e}" for e in errs]


def compare_summaries(expected: list[ref.Summary], actual: list[Any]) -> list[str]:
    errs: list[str] = []
    got = {(s.queue, s.start, s.end): s for s in actual}
    if len(got) != len(actual):
        errs.append("an interval was emitted twice")
    want = {(s.queue, s.start, s.end): s for s in expected}
    for key in sorted(want.keys() - got.keys()):
        errs.append(f"interval {key} not emitted by the engine")
    for key in sorted(got.keys() - want.keys()):
        errs.append(f"interval {key} emitted by the engine only")
    for key in sorted(want.keys() & got.keys()):
        errs += diff_dicts(
            counters_view(want[key].counters),
            got[key].counters.as_dict(),
            COUNTER_NAMES,
            f"interval{key}",
        )
        errs += diff_dicts(want[key].kpis, got[key].kpis, KPI_NAMES, f"interval{key}.kpis")
    return errs


def engine_state(
    eng: Any, cfg: EngineConfig, queues: Sequence[str], nows: Sequence[float]
) -> dict[str, Any]:
    """Everything observable, as plain data (to compare two engines)."""
    out: dict[str, Any] = {}
    for q in queues:
        qs = eng.queues[q]
        for now in nows:
            out[f"{q}@{now}"] = {
                "stream_time": qs.stream_time,
                "totals": qs.totals.as_dict(),
                "windows": {n: qs.window(n, now).as_dict() for n, _ in cfg.windows},
                "kpis": {s: qs.kpis(s, now) for s in [*(n for n, _ in cfg.windows), "today"]},
                "today": qs.today(now).as_dict(),
                "live": (
                    qs.calls_waiting,
                    qs.calls_in_service,
                    qs.longest_wait(now),
                    qs.agents_by_state(),
                    qs.agents_staffed(),
                ),
                "anomalies": {k: v for k, v in qs.anomalies.items() if v},
            }
    return out


def summaries_data(summaries: Sequence[Any]) -> list[Any]:
    return sorted(
        ((s.queue, s.start, s.end, s.counters.as_dict(), s.kpis) for s in summaries),
        key=lambda x: (x[0], x[1]),
    )


def assert_same(a: Any, b: Any, path: str = "") -> None:
    """Deep equality with float tolerance."""
    if isinstance(a, Mapping):
        assert isinstance(b, Mapping) and a.keys() == b.keys(), f"{path}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, str) or a is None:
        assert a == b, f"{path}: {a!r} != {b!r}"
    else:
        assert close(a, b), f"{path}: {a!r} != {b!r}"


# --------------------------------------------------------------------------- reference-only


@settings(PROFILE)
@given(scenarios())
def test_reference_runs_and_is_consistent(sc: Scenario) -> None:
    """Self-consistency of the reference (not an engine test): it runs on every stream,
    its KPIs stay in range, and windows never hold late contributions."""
    sims = ref.simulate_all(sc.events, sc.cfg, advances=sc.advances)
    for sim in sims.values():
        for now in read_nows(sc.events):
            view = ref.observe(sim, sc.cfg, now)
            for scope in [*view.windows.values(), view.today]:
                for k, v in scope.kpis.items():
                    if v is None or k == "predicted_asa_seconds":  # inf when unstable
                        continue
                    assert math.isfinite(v), k
                    if k.startswith("service_level:") or (
                        k.endswith("_ratio") and k != "transfer_ratio"
                    ):
                        assert -1e-9 <= v <= 1 + 1e-9, (k, v)
                assert scope.counters["offered"] == sum(
                    scope.counters[k] for k in ("answered", "abandoned", "left", "flowed_out")
                )
            assert view.calls_waiting >= 0 and view.calls_in_service >= 0
        summaries = ref.intervals(sim, sc.cfg)
        starts = [s.start for s in summaries]
        assert starts == sorted(set(starts)), "intervals overlap or repeat"
        for s in summaries:
            assert s.end > s.start


@settings(PROFILE)
@given(scenarios())
def test_reference_twice_is_once(sc: Scenario) -> None:
    """Reference self-check: re-delivering every record right after itself changes
    nothing but the duplicate counter."""
    doubled = [x for e in sc.events for x in (e, e)]
    advances2 = [(2 * i, now) for i, now in sc.advances]
    for q, sim in ref.simulate_all(sc.events, sc.cfg, advances=sc.advances).items():
        sim2 = ref.simulate(doubled, sc.cfg, q, advances=advances2)
        for now in read_nows(sc.events)[:3]:
            a, b = ref.observe(sim, sc.cfg, now), ref.observe(sim2, sc.cfg, now)
            extra = b.anomalies.pop("duplicate", 0) - a.anomalies.pop("duplicate", 0)
            assert extra == len(sim.events)
            assert a == b
        assert ref.intervals(sim, sc.cfg) == ref.intervals(sim2, sc.cfg)


# --------------------------------------------------------------------------- engine


@settings(PROFILE)
@given(scenarios())
def test_engine_matches_reference(sc: Scenario) -> None:
    """Totals, window and today counters/KPIs, live state and anomalies at the final
    stream time and later instants; interval summaries after flush."""
    # Last, advance() closes what an idle queue would close; flush() the rest, each once.
    advances = [*sc.advances, (len(sc.events), read_nows(sc.events)[3])]
    eng, closed = run_engine(sc.events, sc.cfg, advances)
    sims = ref.simulate_all(sc.events, sc.cfg, advances=advances)
    errs: list[str] = []
    for sim in sims.values():
        for now in read_nows(sc.events):
            errs += compare_queue(eng, sim, sc.cfg, now)
    closed += eng.flush()
    expected = [s for sim in sims.values() for s in ref.intervals(sim, sc.cfg)]
    errs += compare_summaries(expected, closed)
    assert not errs, "\n".join(errs[:40])


@settings(PROFILE)
@given(scenarios())
def test_engine_twice_is_once(sc: Scenario) -> None:
    """Every record delivered twice in a row (same id) = delivered once, but for the
    duplicate counter."""
    doubled = [x for e in sc.events for x in (e, e)]
    once, closed1 = run_engine(sc.events, sc.cfg, sc.advances)
    twice, closed2 = run_engine(doubled, sc.cfg, [(2 * i, now) for i, now in sc.advances])
    queues = ref.all_queues(sc.events)
    a = engine_state(once, sc.cfg, queues, read_nows(sc.events))
    b = engine_state(twice, sc.cfg, queues, read_nows(sc.events))
    for q in queues:
        n = sum(q in queues_of(e) for e in sc.events)
        for key in a:
            if key.startswith(f"{q}@"):
                extra = b[key]["anomalies"].pop("duplicate", 0)
                extra -= a[key]["anomalies"].pop("duplicate", 0)
                assert extra == n, f"{key}: {extra} duplicates counted, {n} sent"
    assert_same(a, b)
    assert_same(summaries_data(closed1 + once.flush()), summaries_data(closed2 + twice.flush()))


@settings(PROFILE)
@given(scenarios(), st.floats(0.0, 1.0))
def test_engine_snapshot_restore_mid_stream(sc: Scenario, cut: float) -> None:
    """snapshot -> orjson -> restore in a fresh engine mid-stream, then the rest = one
    uninterrupted run."""
    mod = _engine_module()
    k = int(cut * len(sc.events))
    whole, closed_whole = run_engine(sc.events, sc.cfg, sc.advances)
    first, closed = run_engine(sc.events, sc.cfg, sc.advances, hi=k)
    data = orjson.loads(orjson.dumps(first.snapshot()))
    second = mod.Engine(sc.cfg)
    second.restore(data)
    closed += run_engine(sc.events, sc.cfg, sc.advances, eng=second, lo=k)[1]
    queues = ref.all_queues(sc.events)
    nows = read_nows(sc.events)
    assert_same(
        engine_state(whole, sc.cfg, queues, nows), engine_state(second, sc.cfg, queues, nows)
    )
    assert_same(
        summaries_data(closed_whole + whole.flush()), summaries_data(closed + second.flush())
    )


@settings(PROFILE)
@given(scenarios())
def test_engine_keyed_apply_equals_apply(sc: Scenario) -> None:
    """The worker applies each record to the queue it is keyed by: an agent event naming
    several queues arrives once per queue. That is the same as applying it once."""
    plain, closed1 = run_engine(sc.events, sc.cfg)
    keyed = _engine_module().Engine(sc.cfg)
    closed2: list[Any] = []
    for e in sc.events:
        for q in queues_of(e):
            keyed.apply(e, only_queue=q)
        closed2 += keyed.take_closed()
    queues = ref.all_queues(sc.events)
    nows = read_nows(sc.events)
    assert_same(
        engine_state(plain, sc.cfg, queues, nows), engine_state(keyed, sc.cfg, queues, nows)
    )
    assert_same(summaries_data(closed1 + plain.flush()), summaries_data(closed2 + keyed.flush()))


def test_engine_misrouted_record() -> None:
    """docs/kpis.md: an event applied with `only_queue` (the record key) that does not name
    that queue is not applied; anomaly `misrouted` on the keyed queue."""
    eng = _engine_module().Engine(EngineConfig())
    eng.apply(CallEnqueued("e1", T0, "sales", "c1"), only_queue="support")
    eng.apply(CallEnqueued("e2", T0 + 1, "sales", "c2"), only_queue="sales")
    support = eng.queues["support"]
    assert {k: n for k, n in support.anomalies.items() if n} == {"misrouted": 1}
    assert support.totals.as_dict()["entered"] == 0
    assert eng.queues["sales"].totals.as_dict()["entered"] == 1


# --------------------------------------------------------------------------- examples
# Hand-written streams, checked against both sides: they document the contract.

SIDES = pytest.mark.parametrize("side", ["reference", "engine"])


@dataclass
class Read:
    """What a test reads of queue "sales" at one instant."""

    anomalies: dict[str, int]
    waiting: int
    in_service: int
    longest_wait: float | None
    agents: dict[str, int]
    window: dict[str, Any]  # counters of window `win`
    today: dict[str, Any]
    kpis: dict[str, float | None]  # of window `win`
    today_kpis: dict[str, float | None]
    intervals: list[tuple[float, float, dict[str, Any]]]  # after flush


def read(
    side: str,
    events: Sequence[Event],
    now: float,
    win: str = "15m",
    cfg: EngineConfig | None = None,
) -> Read:
    cfg = cfg or EngineConfig()
    if side == "reference":
        sim = ref.simulate(events, cfg, "sales")
        v = ref.observe(sim, cfg, now)
        return Read(
            v.anomalies,
            v.calls_waiting,
            v.calls_in_service,
            v.longest_wait,
            {k: n for k, n in v.agents_by_state.items() if n},
            counters_view(v.windows[win].counters),
            counters_view(v.today.counters),
            v.windows[win].kpis,
            v.today.kpis,
            [(s.start, s.end, counters_view(s.counters)) for s in ref.intervals(sim, cfg)],
        )
    eng, closed = run_engine(events, cfg)
    closed += eng.flush()
    qs = eng.queues["sales"]
    return Read(
        {k: n for k, n in qs.anomalies.items() if n},
        qs.calls_waiting,
        qs.calls_in_service,
        qs.longest_wait(now),
        {k: n for k, n in qs.agents_by_state().items() if n},
        qs.window(win, now).as_dict(),
        qs.today(now).as_dict(),
        qs.kpis(win, now),
        qs.kpis("today", now),
        sorted((s.start, s.end, s.counters.as_dict()) for s in closed if s.queue == "sales"),
    )


def _example_stream() -> list[Event]:
    """Queue "sales", default config (SL threshold 20 s, short abandon 5 s, grace 60 s).

    c1 answered after 10 s, c2 answered after 30 s, c3 abandoned after 3 s (short),
    c4 abandoned after 40 s, c5 still waiting (enqueued at +100 s), c6 left (timeout)
    after 15 s. Agent a1 available from +0, on_contact from +10 to +130, then ACW.
    """
    return [
        AgentStateChanged("a1", T0, "a1", AgentState.AVAILABLE, ("sales",)),
        CallEnqueued("e1", T0, "sales", "c1", "+111"),
        CallAnswered("e2", T0 + 10, "sales", "c1", "a1"),
        AgentStateChanged("a2", T0 + 10, "a1", AgentState.ON_CONTACT, ("sales",)),
        CallEnqueued("e3", T0 + 20, "sales", "c2", "+222"),
        CallEnqueued("e4", T0 + 30, "sales", "c3", None),
        CallAbandoned("e5", T0 + 33, "sales", "c3"),
        CallEnqueued("e6", T0 + 40, "sales", "c4", "+111"),
        CallAnswered("e7", T0 + 50, "sales", "c2", "a1"),
        CallEnqueued("e8", T0 + 60, "sales", "c6", None),
        CallLeft("e9", T0 + 75, "sales", "c6", LeaveReason.TIMEOUT),
        CallAbandoned("e10", T0 + 80, "sales", "c4"),
        CallEnqueued("e11", T0 + 100, "sales", "c5", None),
        CallEnded("e12", T0 + 130, "sales", "c1", "a1", talk_seconds=110.0, hold_seconds=10.0),
        AgentStateChanged("a3", T0 + 130, "a1", AgentState.AFTER_CALL_WORK, ("sales",)),
    ]


# Read at now = T0 + 150: c5 has waited 50 s > 20 s, so M_20 = 1.
# O = 5 (c1, c2 answered; c3, c4 abandoned; c6 left), AN = 2, AB = 2, A_20 = 1 (c1),
# B_20 = 1 (c3), S = 1 (c3).
EXPECTED_SL = {
    # A_T / (O + M_T) = 1 / (5 + 1)
    "answered_within_over_offered": 1 / 6,
    # A_T / AN = 1 / 2
    "answered_within_over_answered": 1 / 2,
    # A_T / (AN + AB + M_T) = 1 / (2 + 2 + 1)
    "answered_within_over_answered_abandoned": 1 / 5,
    # A_T / (O - B_T + M_T) = 1 / (5 - 1 + 1)
    "answered_within_over_offered_minus_abandoned_within": 1 / 5,
    # (A_T + B_T) / (O + M_T) = (1 + 1) / 6
    "answered_abandoned_within_over_offered": 2 / 6,
    # Short abandons out: O' = 4, AB' = 1, B_T' = B_T - S = 0 (S = 5 <= T = 20).
    "answered_within_over_offered_excl_short": 1 / 5,  # 1 / (4 + 1)
    "answered_within_over_answered_excl_short": 1 / 2,
    "answered_within_over_answered_abandoned_excl_short": 1 / 4,  # 1 / (2 + 1 + 1)
    "answered_within_over_offered_minus_abandoned_within_excl_short": 1 / 5,  # 1/(4-0+1)
    "answered_abandoned_within_over_offered_excl_short": 1 / 5,  # (1 + 0) / (4 + 1)
}
EXPECTED_OTHER = {
    "abandon_ratio": 2 / 5,
    "abandon_ratio_excl_short": 1 / 4,  # (2 - 1) / (5 - 1)
    "asa_seconds": 20.0,  # (10 + 30) / 2
    "avg_wait_seconds": (10 + 30 + 3 + 40 + 15) / 5,
    "max_wait_seconds": 50.0,  # c5 waiting now since +100
    "avg_abandon_seconds": 21.5,  # (3 + 40) / 2
    "aht_seconds": 120.0,  # (110 talk + 10 hold) / 1 handled
    "transfer_ratio": 0.0,  # 0 transferred / 2 answered
    "csat_avg": None,  # no survey: no value, never 0
    "repeat_caller_ratio": 1 / 3,  # c4 repeats +111 of c1; 3 enqueues with a caller id
    # a1: available 10 s, on_contact 120 s, ACW 20 s (up to now) -> 140 / 150
    "occupancy_ratio": 140 / 150,
    "max_queue_length": 2,  # c3 and c4 waiting right after c4's enqueue at +40
}


@SIDES
def test_example_service_levels(side: str) -> None:
    r = read(side, _example_stream(), T0 + 150, win="5m")
    for kp in (r.kpis, r.today_kpis):
        for variant, value in EXPECTED_SL.items():
            assert kp[f"service_level:20:{variant}"] == pytest.approx(value), variant
        for name, value in EXPECTED_OTHER.items():
            assert kp[KPI_NAMES.get(name, name)] == pytest.approx(value), name
    assert (r.waiting, r.in_service, r.longest_wait) == (1, 1, 50.0)  # c5 waits, c2 talks
    assert r.agents == {"after_call_work": 1}
    assert r.anomalies == {}
    # L(t): c1 [0,10) c2 [20,50) c3 [30,33) c4 [40,80) c6 [60,75) c5 [100,150] -> 148 s
    assert r.window["queue_length_seconds"] == pytest.approx(148.0)


def _late_stream() -> list[Event]:
    """Lateness, duplicates and parking, grace 60 s.

    c1 enqueued +0 and answered +5; then an event at +200 moves stream time to +200; c1's
    end at +100 arrives afterwards: 100 < 200 - 60, so it is late (not in windows, in
    today and totals). c2's answer (+210, after a 5 s wait) comes before its enqueue
    (+205): parked, then counted at the enqueue. The unknown call u1 abandons at +201 and
    no enqueue ever comes: dropped once stream time passes +261 (the +300 event).
    """
    return [
        CallEnqueued("e1", T0, "sales", "c1"),
        CallAnswered("e2", T0 + 5, "sales", "c1", "a1"),
        CallEnqueued("e3", T0 + 200, "sales", "c3"),
        CallEnded("e4", T0 + 100, "sales", "c1", "a1", talk_seconds=95.0),
        CallEnded("e4", T0 + 100, "sales", "c1", "a1", talk_seconds=95.0),  # re-delivered
        CallAbandoned("e5", T0 + 201, "sales", "u1"),
        CallAnswered("e6", T0 + 210, "sales", "c2", "a1"),
        CallEnqueued("e7", T0 + 205, "sales", "c2"),
        CallAbandoned("e8", T0 + 300, "sales", "c3"),
    ]


@SIDES
def test_example_late_duplicate_parked(side: str) -> None:
    r = read(side, _late_stream(), T0 + 300)
    assert r.window["handled"] == 0  # the late end is not in the window
    assert r.today["handled"] == 1  # but is in today
    # Offered: c1 (+5), c2 (+210, parked then counted), c3 (+300); u1 dropped.
    assert r.window["offered"] == 3
    assert r.window["answered_within_20"] == 2
    assert r.anomalies == {"late": 1, "duplicate": 1, "outcome_without_enqueue": 1}
    assert (r.waiting, r.in_service) == (0, 1)  # c2 still talking


@SIDES
def test_example_intervals(side: str) -> None:
    """15-min intervals close at end + grace; a late event for a closed one is not added.

    c1 waits [+10, +20) and is answered in [09:00, 09:15). c2 enqueues at +890 and abandons
    at +905 (in the next interval). The enqueue at +960 takes stream time to end + grace
    of the first interval: it closes. c1's end at +800 then arrives: late, and its interval
    is closed, so it is only in today/totals.
    """
    events = [
        CallEnqueued("e1", T0 + 10, "sales", "c1"),
        CallAnswered("e2", T0 + 20, "sales", "c1", "a1"),
        CallEnqueued("e3", T0 + 890, "sales", "c2"),
        CallAbandoned("e4", T0 + 905, "sales", "c2"),
        CallEnqueued("e5", T0 + 960, "sales", "c3"),
        CallEnded("e6", T0 + 800, "sales", "c1", "a1", talk_seconds=780.0),
    ]
    r = read(side, events, T0 + 960)
    (s1, e1, first), (s2, e2, second) = r.intervals
    assert (s1, e1, s2, e2) == (T0, T0 + 900, T0 + 900, T0 + 1800)
    # First: entered c1, c2; offered c1 (answered after 10 s); c2 waits [890, 900).
    assert (first["entered"], first["offered"], first["answered_within_20"]) == (2, 1, 1)
    assert first["handled"] == 0  # the late end came after the interval closed
    assert first["queue_length_seconds"] == pytest.approx(10 + 10)
    assert second["abandoned"] == 1 and second["short_abandoned"] == 0  # waited 15 s > 5 s
    assert r.today["handled"] == 1
    assert r.anomalies == {"late": 1}


# --- regressions: minimal counterexamples found by the properties -------------------


@SIDES
def test_outcome_arriving_after_its_expiry_is_dropped(side: str) -> None:
    """docs/kpis.md: "If the enqueue has not arrived by the time stream time passes the
    outcome's ts + grace, the outcome is dropped from the KPIs and counted as anomaly
    outcome_without_enqueue". Here stream time (+500) has passed +100 + 60 before the
    abandon of the unknown call u1 even arrives."""
    events = [
        CallEnqueued("e0", T0 + 500, "sales", "x"),
        CallAbandoned("e1", T0 + 100, "sales", "u1"),
    ]
    r = read(side, events, T0 + 500)
    assert r.anomalies == {"outcome_without_enqueue": 1}
    # Its enqueue arriving afterwards (late) does not bring the dropped outcome back.
    r = read(side, [*events, CallEnqueued("e2", T0 + 99, "sales", "u1")], T0 + 500)
    assert r.today["offered"] == 0
    assert r.anomalies == {"outcome_without_enqueue": 1, "late": 1}
    assert r.waiting == 1  # x only: u1's outcome is known


@SIDES
def test_parked_outcome_moves_stream_time_when_applied(side: str) -> None:
    """docs/kpis.md: "Stream time of a queue = the largest ts of any event applied to
    that queue so far". c1's answer (+65) is parked until its enqueue (+47) arrives and
    is then applied: stream time is +65, so c2's abandon at +30 is late (30 < 65 - 30)."""
    cfg = EngineConfig(grace_seconds=30.0)
    events = [
        CallAnswered("e1", T0 + 65, "sales", "c1", "a1"),
        CallEnqueued("e2", T0 + 47, "sales", "c1"),
        CallEnqueued("e3", T0 + 0, "sales", "c2"),
        CallAbandoned("e4", T0 + 30, "sales", "c2"),
    ]
    r = read(side, events, T0 + 65, cfg=cfg)
    assert r.window["offered"] == 1  # c1 only: c2's late abandon is not in the window
    assert r.today["offered"] == 2
    assert r.anomalies == {"late": 2}  # c2's enqueue (0 < 47 - 30) and abandon


@SIDES
def test_parked_outcome_does_not_close_intervals(side: str) -> None:
    """docs/kpis.md: an interval "closes when the queue's stream time reaches end +
    grace". The unknown call u1's abandon (+1000) is parked, not applied: stream time
    stays +800 < 900 + 60, so [+0, +900) is still open when c1's ACW (+810) comes; the
    ACW is on time and belongs in it."""
    events = [
        CallEnded("e1", T0 + 800, "sales", "c1", "a1", talk_seconds=50.0),
        CallAbandoned("e2", T0 + 1000, "sales", "u1"),
        AfterCallWorkEnded("e3", T0 + 810, "sales", "c1", "a1", acw_seconds=40.0),
    ]
    r = read(side, events, T0 + 810)
    [(start, end, first)] = r.intervals
    assert (start, end) == (T0, T0 + 900)
    assert (first["handled"], first["acw_seconds"]) == (1, 40.0)
    assert r.anomalies == {"end_without_answer": 1}  # the ACW is not late


@SIDES
def test_stuck_call_leaves_interval_at_max_wait(side: str) -> None:
    """docs/kpis.md: a stuck call "is dropped from waiting at enqueue ts + max_wait (that
    is when L(t) loses it)". c1 waits from +100; with max_wait 900 it leaves at +1000.
    The event at +2000 moves stream time past both that instant and the close of
    [+900, +1800): that interval holds 100 s of waiting and ends with nobody waiting."""
    cfg = EngineConfig(max_wait_seconds=900.0)
    events = [
        CallEnqueued("e1", T0 + 100, "sales", "c1"),
        AgentStateChanged("a1", T0 + 2000, "a1", AgentState.AVAILABLE, ("sales",)),
    ]
    r = read(side, events, T0 + 2000, cfg=cfg)
    by_start = {start - T0: c for start, _, c in r.intervals}
    assert by_start[0.0]["queue_length_seconds"] == 800.0
    assert by_start[900.0]["queue_length_seconds"] == 100.0
    # c1's enqueue was observed in the first interval, and nobody waits at this one's end.
    assert by_start[900.0]["max_queue_length"] == 0
    assert r.today["queue_length_seconds"] == 900.0
    assert r.anomalies == {"stuck_call_expired": 1}


@SIDES
def test_repeat_caller_of_a_late_enqueue(side: str) -> None:
    """docs/kpis.md: a repeat is an enqueue whose most recent previously applied enqueue
    from the same caller has ts in [ts - N h, ts]. N = 15 min here: c3 (+850, late) follows
    c1 (+0) of the same caller within 850 s, so it is a repeat, although stream time (+1000)
    is more than N past c1. The table is bounded, but it is nowhere near full."""
    qc = QueueConfig(repeat_caller_hours=0.25)
    cfg = EngineConfig(default_queue=qc)
    events = [
        CallEnqueued("e1", T0, "sales", "c1", "+222"),
        CallEnqueued("e2", T0 + 1000, "sales", "c2", "+333"),
        CallEnqueued("e3", T0 + 850, "sales", "c3", "+222"),
    ]
    r = read(side, events, T0 + 1000, cfg=cfg)
    assert r.today["repeat_entered"] == 1
    assert r.anomalies == {"late": 1}


@SIDES
def test_redelivered_conflicting_outcome_is_a_duplicate(side: str) -> None:
    """A record delivered twice (same id) is a duplicate, whatever the first copy did:
    "an event whose id was already applied ... changes nothing; anomaly duplicate".
    Stale agent events are already handled so; conflicting outcomes must be too."""
    events = [
        CallEnqueued("e1", T0, "sales", "c1"),
        CallAnswered("e2", T0 + 5, "sales", "c1", "a1"),
        CallAbandoned("e3", T0 + 5, "sales", "c1"),
        CallAbandoned("e3", T0 + 5, "sales", "c1"),  # Kafka re-delivery
    ]
    r = read(side, events, T0 + 10)
    assert r.anomalies == {"conflicting_outcome": 1, "duplicate": 1}


@SIDES
def test_stale_agent_event_redelivered(side: str) -> None:
    events = [
        AgentStateChanged("a1", T0 + 10, "a1", AgentState.AVAILABLE, ("sales",)),
        AgentStateChanged("a2", T0 + 5, "a1", AgentState.NOT_READY, ("sales",)),
        AgentStateChanged("a2", T0 + 5, "a1", AgentState.NOT_READY, ("sales",)),
    ]
    r = read(side, events, T0 + 20)
    assert r.anomalies == {"stale_agent_event": 1, "duplicate": 1}
    assert r.agents == {"available": 1}


@SIDES
def test_agent_event_older_than_the_logout_is_stale(side: str) -> None:
    """docs/kpis.md: an agent event older than the agent's latest applied event is stale,
    a logout included (remembered for the dedupe horizon): a1 does not come back."""
    events = [
        AgentStateChanged("a1", T0, "a1", AgentState.AVAILABLE, ("sales",)),
        AgentStateChanged("a2", T0 + 20, "a1", AgentState.LOGGED_OUT, ("sales",)),
        AgentStateChanged("a3", T0 + 15, "a1", AgentState.AVAILABLE, ("sales",)),
        # The logout of an agent never seen is remembered too.
        AgentStateChanged("b1", T0 + 30, "b1", AgentState.LOGGED_OUT, ("sales",)),
        AgentStateChanged("b2", T0 + 25, "b1", AgentState.NOT_READY, ("sales",)),
        # Newer than the logout: back in.
        AgentStateChanged("a4", T0 + 40, "a1", AgentState.AVAILABLE, ("sales",)),
    ]
    r = read(side, events, T0 + 40)
    assert r.agents == {"available": 1}
    assert r.today["agents_available_seconds"] == pytest.approx(20.0)
    assert r.anomalies == {"stale_agent_event": 2}


@SIDES
def test_interval_grid_on_spring_forward_day(side: str) -> None:
    """1 h intervals from a 02:30 business-day start in New York: on 2024-03-10 02:30
    does not exist, the day starts at 03:00 EDT and the first interval is 03:00-03:30
    (the grid stays on local half hours)."""
    day = 1710054000.0  # 2024-03-10 07:00 UTC = 03:00 EDT
    qc = QueueConfig(timezone="America/New_York", business_day_start="02:30")
    cfg = EngineConfig(interval_seconds=3600.0, default_queue=qc)
    events = [
        CallEnqueued("e1", day + 10, "sales", "c1"),
        CallAbandoned("e2", day + 20, "sales", "c1"),
    ]
    r = read(side, events, day + 20, cfg=cfg)
    assert [(s, e) for s, e, _ in r.intervals] == [(day, day + 1800)]


def test_day_start_in_spring_forward_gap() -> None:
    """02:30 does not exist in New York on 2024-03-10: the day starts at 03:00 EDT."""
    qc = QueueConfig(timezone="America/New_York", business_day_start="02:30")
    t = 1710054000.0  # 2024-03-10 07:00 UTC = 03:00 EDT
    assert ref.day_start(t + 1, qc) == t
    assert ref.day_start(t - 1, qc) == t - 86400 + 1800  # previous day began 02:30 EST
    # That day has 23.5 h: it ends at 02:30 EDT on 03-11.
    assert ref.next_day_start(t, qc) == 1710138600.0


@SIDES
def test_calls_in_service_are_capped(side: str) -> None:
    """docs/kpis.md: at most max_waiting_calls calls in service; an answer beyond that is
    anomaly service_full (counted as usual, or parked, but the call is not in service)."""
    cfg = EngineConfig(max_waiting_calls=1)
    events = [
        CallEnqueued("e1", T0, "sales", "c1"),
        CallAnswered("e2", T0 + 5, "sales", "c1", "a1"),
        CallAnswered("e3", T0 + 6, "sales", "c2", "a1"),  # parked, refused in service
        CallEnqueued("e4", T0 + 1, "sales", "c2"),
        CallEnded("e5", T0 + 30, "sales", "c1", "a1", talk_seconds=25.0),
        CallEnqueued("e6", T0 + 31, "sales", "c3"),
        CallAnswered("e7", T0 + 40, "sales", "c3", "a1"),  # room again
    ]
    r = read(side, events, T0 + 40, cfg=cfg)
    assert r.today["answered"] == 3
    assert r.in_service == 1  # c3
    assert r.anomalies == {"service_full": 1}


@SIDES
def test_outcome_of_a_refused_call_is_not_counted(side: str) -> None:
    """docs/kpis.md: a call refused by a full queue (queue_full) is entered but not
    tracked; its enqueue is known, so its outcome is neither parked nor an outcome without
    enqueue, and it is not counted (its wait is unknown): one anomaly for the call."""
    cfg = EngineConfig(max_waiting_calls=1)
    events = [
        CallEnqueued("e1", T0, "sales", "c1"),
        CallEnqueued("e2", T0 + 1, "sales", "c2"),  # refused
        CallAnswered("e3", T0 + 10, "sales", "c2", "a1"),
        CallAbandoned("e4", T0 + 11, "sales", "c2"),  # conflicts with the answer
        CallAbandoned("e5", T0 + 200, "sales", "c1"),
    ]
    r = read(side, events, T0 + 200, cfg=cfg)
    assert (r.today["entered"], r.today["offered"], r.today["abandoned"]) == (2, 1, 1)
    assert r.in_service == 1  # c2
    assert r.anomalies == {"queue_full": 1, "conflicting_outcome": 1}


@SIDES
def test_redelivered_late_event_is_a_duplicate(side: str) -> None:
    """docs/kpis.md: an id is remembered at max(ts, stream time when applied). The
    transfer at +100 arrives at stream time +1000, older than the dedupe horizon (600 s);
    its re-delivery is a duplicate, not a second late event."""
    events = [
        CallEnqueued("e1", T0 + 1000, "sales", "c0"),
        CallTransferred("e2", T0 + 100, "sales", "c1", "a1", "support"),
        CallTransferred("e2", T0 + 100, "sales", "c1", "a1", "support"),
    ]
    r = read(side, events, T0 + 1000)
    assert r.today["transferred"] == 1
    assert r.anomalies == {"late": 1, "duplicate": 1}
