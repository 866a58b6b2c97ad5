"""Hypothesis strategies for valid canonical events (schema v1), shared by the tests.

``events()`` draws any event type, ``event_of(cls)`` one type. Values are realistic:
identifiers of 1..128 characters (mostly short, some non-ASCII), timestamps at
millisecond resolution in 2020..2030, durations up to a few hours. Engine tests that need
collisions (the same call answered after it was enqueued, several events per queue) pass
a ``Pools`` with small sampled pools, e.g. ``Pools(queues=st.sampled_from(["a", "b"]))``.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from stream.decode import MAX_ID_LENGTH, PRIORITY_MAX, PRIORITY_MIN
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
    Channel,
    Event,
    LeaveReason,
    SurveyResult,
)

TS_MIN = 1577836800.0  # 2020-01-01T00:00:00Z
TS_MAX = 1893456000.0  # 2030-01-01T00:00:00Z

_ID_ALPHABET = string.ascii_letters + string.digits + "-_.:@+/" + "éüßø日本"


def identifiers(max_size: int = MAX_ID_LENGTH) -> SearchStrategy[str]:
    """Any valid identifier: 1..max_size characters from a realistic alphabet."""
    return st.text(_ID_ALPHABET, min_size=1, max_size=max_size)


def event_ids() -> SearchStrategy[str]:
    return st.uuids().map(str) | identifiers()


def timestamps(min_ts: float = TS_MIN, max_ts: float = TS_MAX) -> SearchStrategy[float]:
    """Epoch seconds at millisecond resolution (exact through a JSON round trip)."""
    return st.integers(round(min_ts * 1000), round(max_ts * 1000)).map(lambda ms: ms / 1000)


def durations(max_seconds: float = 4 * 3600) -> SearchStrategy[float]:
    return st.integers(0, round(max_seconds * 1000)).map(lambda ms: ms / 1000)


def caller_ids() -> SearchStrategy[str]:
    return st.from_regex(r"\+?[1-9][0-9]{5,14}", fullmatch=True)


def priorities() -> SearchStrategy[int]:
    return st.just(0) | st.integers(PRIORITY_MIN, PRIORITY_MAX)


def not_ready_reasons() -> SearchStrategy[str]:
    return st.sampled_from(["break", "lunch", "training", "meeting", "coaching"]) | identifiers(32)


@dataclass(frozen=True)
class Pools:
    """Where each kind of value is drawn from; override fields to make values collide."""

    ids: SearchStrategy[str] = field(default_factory=event_ids)
    ts: SearchStrategy[float] = field(default_factory=timestamps)
    queues: SearchStrategy[str] = field(default_factory=identifiers)
    calls: SearchStrategy[str] = field(default_factory=identifiers)
    agents: SearchStrategy[str] = field(default_factory=identifiers)
    callers: SearchStrategy[str] = field(default_factory=caller_ids)
    durations: SearchStrategy[float] = field(default_factory=durations)
    max_queues_per_agent: int = 4


def _optional(values: SearchStrategy) -> SearchStrategy:
    return st.none() | values


def _call(cls: type, p: Pools, **fields: SearchStrategy) -> SearchStrategy:
    return st.builds(cls, id=p.ids, ts=p.ts, queue=p.queues, call_id=p.calls, **fields)


def _has_answer(event: SurveyResult) -> bool:
    return event.csat is not None or event.nps is not None or event.resolved is not None


_BUILDERS: dict[type, Callable[[Pools], SearchStrategy]] = {
    CallEnqueued: lambda p: _call(
        CallEnqueued,
        p,
        caller_id=_optional(p.callers),
        priority=priorities(),
        channel=st.sampled_from(Channel),
    ),
    CallAnswered: lambda p: _call(CallAnswered, p, agent_id=p.agents),
    CallAbandoned: lambda p: _call(CallAbandoned, p),
    CallLeft: lambda p: _call(
        CallLeft, p, reason=st.sampled_from(LeaveReason), to_queue=_optional(p.queues)
    ),
    CallTransferred: lambda p: _call(
        CallTransferred,
        p,
        agent_id=p.agents,
        to_queue=_optional(p.queues),
        to_agent=_optional(p.agents),
    ),
    CallEnded: lambda p: _call(
        CallEnded, p, agent_id=p.agents, talk_seconds=p.durations, hold_seconds=p.durations
    ),
    AfterCallWorkEnded: lambda p: _call(
        AfterCallWorkEnded, p, agent_id=p.agents, acw_seconds=p.durations
    ),
    AgentStateChanged: lambda p: st.builds(
        AgentStateChanged,
        id=p.ids,
        ts=p.ts,
        agent_id=p.agents,
        state=st.sampled_from(AgentState),
        queues=st.lists(p.queues, min_size=1, max_size=p.max_queues_per_agent, unique=True).map(
            tuple
        ),
        reason=_optional(not_ready_reasons()),
    ),
    SurveyResult: lambda p: _call(
        SurveyResult,
        p,
        csat=_optional(st.integers(1, 5)),
        nps=_optional(st.integers(0, 10)),
        resolved=_optional(st.booleans()),
    ).filter(_has_answer),
}

EVENT_CLASSES: tuple[type, ...] = tuple(_BUILDERS)


def event_of(cls: type, pools: Pools | None = None) -> SearchStrategy[Event]:
    """Valid events of one type."""
    return _BUILDERS[cls](pools or Pools())


def events(
    pools: Pools | None = None, types: tuple[type, ...] = EVENT_CLASSES
) -> SearchStrategy[Event]:
    """Valid events of any of ``types`` (default: every type)."""
    return st.one_of([event_of(cls, pools) for cls in types])
