"""stream.read_cache: the fingerprint sees every change a read could show, and a reused
read equals a fresh one (random streams of tests/unit/test_engine_properties.py: late
events, duplicates, out-of-order outcomes, stuck calls, idle advances, DST days)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.engine import Engine
from stream.queue import QueueState
from stream.read_cache import ScopeReader, fingerprint
from tests.unit.test_engine_properties import Scenario, scenarios

EXAMPLES = settings(max_examples=60, deadline=None)


def scopes(engine: Engine) -> list[str]:
    return [name for name, _ in engine.config.windows] + ["today"]


def reads(state: QueueState, scope_names: list[str], now: float) -> tuple[Any, ...]:
    """Everything the exporter reads of a queue at ``now``."""
    out: list[Any] = [
        state.calls_waiting,
        state.calls_in_service,
        state.longest_wait(now),
        tuple(state.agents_by_state().values()),
        tuple(state.anomalies.values()),
        tuple(state.totals.values),
    ]
    for scope in scope_names:
        counters, span = state.read(scope, now)
        out += [tuple(counters.values), span]
    return tuple(out)


def steps(sc: Scenario) -> list[tuple[str, Any]]:
    """The scenario as the worker runs it: events, with advance() calls in between."""
    out: list[tuple[str, Any]] = []
    for i, event in enumerate(sc.events):
        out += [("advance", now) for at, now in sc.advances if at == i]
        out.append(("apply", event))
    return out


def run(engine: Engine, step: tuple[str, Any]) -> None:
    kind, arg = step
    if kind == "advance":
        engine.advance(arg)
    else:
        engine.apply(arg)


@EXAMPLES
@given(scenarios())
def test_every_change_of_a_read_changes_the_fingerprint(sc: Scenario) -> None:
    if not sc.events:
        return
    engine = Engine(sc.cfg)
    names = scopes(engine)
    top = max(e.ts for e in sc.events) + 37.5  # one instant after everything
    for step in steps(sc):
        before = {q: (fingerprint(s), reads(s, names, top)) for q, s in engine.queues.items()}
        run(engine, step)
        for queue, (fp, seen) in before.items():
            state = engine.queues[queue]
            if reads(state, names, top) != seen:
                assert fingerprint(state) != fp, f"{step} changed {queue} unseen"


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


@EXAMPLES
@given(scenarios(), st.lists(st.sampled_from([0.0, 0.25, 3.0, 9.5, 40.0, 700.0]), min_size=8))
def test_a_reused_read_equals_a_fresh_one(sc: Scenario, gaps: list[float]) -> None:
    if not sc.events:
        return
    engine = Engine(sc.cfg)
    names = scopes(engine)
    readers: dict[str, ScopeReader] = {}
    now = min(e.ts for e in sc.events)
    todo = steps(sc)
    chunk = max(1, len(todo) // len(gaps))
    for k, gap in enumerate(gaps):
        for step in todo[k * chunk : (k + 1) * chunk]:
            run(engine, step)
        now += gap
        for queue, state in engine.queues.items():
            reader = readers.get(queue) or readers.setdefault(
                queue, ScopeReader(state, engine.config)
            )
            fp = fingerprint(state)
            # A second read a moment later with nothing applied in between: "today" (at
            # least) keeps its slot, so the example compares reused reads, not only fresh.
            for at in (now, now + 0.25):
                for scope in names:
                    counters, span, _, _ = reader.read(scope, at, fp)
                    fresh, fresh_span = state.read(scope, at)
                    assert close(span, fresh_span)
                    for name, a, b in zip(
                        counters.layout.names, counters.values, fresh.values, strict=True
                    ):
                        assert close(a, b), f"{queue} {scope} {name}: reused {a} != fresh {b}"
    assert sum(reader.reused for reader in readers.values()) > 0


def test_a_read_is_reused_until_a_booking_or_a_slide() -> None:
    from stream.config import EngineConfig
    from stream.events import CallEnqueued

    engine = Engine(EngineConfig())  # 5m window: 10 s buckets
    t0 = 1_790_000_000.0  # on a bucket boundary
    engine.apply(CallEnqueued("e1", t0 + 1, "q", "c1"))
    state = engine.queues["q"]
    reader = ScopeReader(state, engine.config)
    assert reader.read("5m", t0 + 2, fingerprint(state))[2]  # fresh
    counters, _, fresh, _ = reader.read("5m", t0 + 5, fingerprint(state))
    assert not fresh and reader.reused == 1
    assert counters["queue_length_seconds"] == 4.0  # one call waiting since t0 + 1
    assert counters["max_wait_seconds"] == 4.0
    assert reader.read("5m", t0 + 11, fingerprint(state))[2]  # the window slid
    engine.apply(CallEnqueued("e2", t0 + 12, "q", "c2"))
    assert reader.read("5m", t0 + 12, fingerprint(state))[2]  # a booking
