"""Event builders for the engine unit tests (tests/unit/test_engine_*.py)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from stream.config import EngineConfig, engine_config_from_dict
from stream.engine import Engine
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
)

# 2026-06-01T00:00:00Z: a multiple of every bucket width and interval of the defaults.
T0 = datetime(2026, 6, 1, tzinfo=UTC).timestamp()


def config(**engine: Any) -> EngineConfig:
    """An EngineConfig from YAML-shaped keys (``defaults`` for the queue settings)."""
    return engine_config_from_dict(engine)


class Feed:
    """Applies events to one queue of an engine; times are seconds after ``t0``."""

    def __init__(self, engine: Engine | None = None, queue: str = "sales", t0: float = T0):
        self.engine = engine or Engine(EngineConfig())
        self.queue = queue
        self.t0 = t0
        self._ids = itertools.count()
        self.applied: list[Event] = []

    @property
    def state(self) -> Any:
        return self.engine.queues[self.queue]

    def next_id(self) -> str:
        return f"ev{next(self._ids)}"

    def apply(self, event: Event) -> Event:
        self.engine.apply(event)
        self.applied.append(event)
        return event

    def enq(self, t: float, call: str, caller: str | None = None) -> Event:
        return self.apply(CallEnqueued(self.next_id(), self.t0 + t, self.queue, call, caller))

    def ans(self, t: float, call: str, agent: str = "a1") -> Event:
        return self.apply(CallAnswered(self.next_id(), self.t0 + t, self.queue, call, agent))

    def abd(self, t: float, call: str) -> Event:
        return self.apply(CallAbandoned(self.next_id(), self.t0 + t, self.queue, call))

    def left(self, t: float, call: str, reason: LeaveReason = LeaveReason.TIMEOUT) -> Event:
        return self.apply(CallLeft(self.next_id(), self.t0 + t, self.queue, call, reason))

    def xfer(self, t: float, call: str, agent: str = "a1") -> Event:
        return self.apply(CallTransferred(self.next_id(), self.t0 + t, self.queue, call, agent))

    def end(self, t: float, call: str, talk: float, hold: float = 0.0, agent: str = "a1") -> Event:
        event = CallEnded(self.next_id(), self.t0 + t, self.queue, call, agent, talk, hold)
        return self.apply(event)

    def acw(self, t: float, call: str, acw: float, agent: str = "a1") -> Event:
        event = AfterCallWorkEnded(self.next_id(), self.t0 + t, self.queue, call, agent, acw)
        return self.apply(event)

    def survey(self, t: float, call: str, **answers: Any) -> Event:
        return self.apply(SurveyResult(self.next_id(), self.t0 + t, self.queue, call, **answers))

    def agent(self, t: float, agent: str, state: str, queues: Iterable[str] = ()) -> Event:
        names = tuple(queues) or (self.queue,)
        event = AgentStateChanged(self.next_id(), self.t0 + t, agent, AgentState(state), names)
        return self.apply(event)


def busy_stream(seed: int, calls: int = 300, queues: tuple[str, ...] = ("sales", "support")):
    """A messy but valid stream: out-of-order and late events, duplicates, outcomes before
    their enqueue, agents, surveys, over a few hours across several intervals."""
    rng = random.Random(seed)
    out: list[tuple[float, Event]] = []
    ids = itertools.count()

    def add(t: float, make: Any, *args: Any) -> None:
        out.append((t, make(f"e{next(ids)}", t, *args)))

    t = T0 + 3600 * 7.5
    for n in range(calls):
        t += rng.expovariate(1 / 40)
        q = rng.choice(queues)
        cid = f"c{n}"
        agent = f"a{rng.randrange(6)}"
        add(t, CallEnqueued, q, cid, rng.choice([None, "+1", "+2", "+3"]))
        out_t = t + rng.expovariate(1 / 30)
        kind = rng.random()
        if kind < 0.6:
            add(out_t, CallAnswered, q, cid, agent)
            add(out_t, AgentStateChanged, agent, AgentState.ON_CONTACT, queues)
            end_t = out_t + rng.expovariate(1 / 120)
            if rng.random() < 0.2:
                add(end_t - 1, CallTransferred, q, cid, agent)
            add(end_t, CallEnded, q, cid, agent, end_t - out_t, rng.choice([0.0, 5.5]))
            add(end_t + 20, AfterCallWorkEnded, q, cid, agent, 20.0)
            add(end_t + 20, AgentStateChanged, agent, AgentState.AVAILABLE, queues)
            if rng.random() < 0.3:
                add(end_t + 600, SurveyResult, q, cid, rng.randint(1, 5), rng.randint(0, 10), True)
        elif kind < 0.9:
            add(out_t, CallAbandoned, q, cid)
        else:
            add(out_t, CallLeft, q, cid, rng.choice(list(LeaveReason)))
    arrival = []
    for t, event in out:
        delay = rng.choice([0.0] * 20 + [3.0, 15.0, 90.0, 400.0])
        arrival.append((t + delay, event))
        if rng.random() < 0.03:
            arrival.append((t + delay + rng.uniform(0, 30), event))  # redelivered
    arrival.sort(key=lambda item: item[0])
    return [event for _, event in arrival]
