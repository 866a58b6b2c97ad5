"""Canonical event model, schema v1 (documented field by field in docs/events.md).

Every event carries a unique ``id``, an event timestamp ``ts`` (epoch seconds, UTC) and
the schema version. Call and survey events name one ``queue``; agent events name the
queues the agent serves (``queues``). ``decode(bytes)`` turns one Kafka record value into
one of these types or raises :class:`InvalidEvent` with a machine-readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar

SCHEMA_VERSION = 1


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"
    CALLBACK = "callback"


class LeaveReason(StrEnum):
    """Why a call left the queue without being answered or abandoned."""

    TIMEOUT = "timeout"
    EXIT_KEY = "exit_key"
    OVERFLOW = "overflow"  # flow-out: routed on to another queue (``to_queue``)
    OTHER = "other"


class AgentState(StrEnum):
    LOGGED_IN = "logged_in"
    AVAILABLE = "available"
    ON_CONTACT = "on_contact"
    AFTER_CALL_WORK = "after_call_work"
    NOT_READY = "not_ready"
    LOGGED_OUT = "logged_out"


# Each class has its own __init__, so that compiled (mypyc: these classes are native there)
# it stores straight into the instance: a frozen dataclass's generated __init__ is
# interpreted, ~0.1 µs per field, the better part of a decode. object.__setattr__ is how a
# frozen dataclass sets its fields; mypyc turns it into a plain store (only when spelled
# so). Frozen all the same: the dataclass __setattr__ raises FrozenInstanceError on any
# later assignment.


class _Event:
    """Base of the event classes, for their ``TYPE`` (the wire name, a class attribute).

    It is set after each class (``_name_types``): in a dataclass body mypyc would make it a
    field, as it hands dataclass() the annotations without their ClassVar."""

    TYPE: ClassVar[str]
    __slots__ = ()

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        """copy and pickle rebuild an event with its constructor: compiled, a native class
        is made no other way (with mypyc's serializable=True, mypy 2.4.1, instances built
        from interpreted code came out without their fields)."""
        values = [getattr(self, field.name) for field in fields(self)]  # type: ignore[arg-type]
        return type(self), tuple(values)


@dataclass(slots=True, frozen=True)
class CallEnqueued(_Event):
    id: str
    ts: float
    queue: str
    call_id: str
    caller_id: str | None = None
    priority: int = 0
    channel: Channel = Channel.VOICE

    def __init__(
        self,
        id: str,
        ts: float,
        queue: str,
        call_id: str,
        caller_id: str | None = None,
        priority: int = 0,
        channel: Channel = Channel.VOICE,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "caller_id", caller_id)
        object.__setattr__(self, "priority", priority)
        object.__setattr__(self, "channel", channel)


@dataclass(slots=True, frozen=True)
class CallAnswered(_Event):
    id: str
    ts: float
    queue: str
    call_id: str
    agent_id: str

    def __init__(self, id: str, ts: float, queue: str, call_id: str, agent_id: str) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "agent_id", agent_id)


@dataclass(slots=True, frozen=True)
class CallAbandoned(_Event):
    id: str
    ts: float
    queue: str
    call_id: str

    def __init__(self, id: str, ts: float, queue: str, call_id: str) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "call_id", call_id)


@dataclass(slots=True, frozen=True)
class CallLeft(_Event):
    id: str
    ts: float
    queue: str
    call_id: str
    reason: LeaveReason
    to_queue: str | None = None

    def __init__(
        self,
        id: str,
        ts: float,
        queue: str,
        call_id: str,
        reason: LeaveReason,
        to_queue: str | None = None,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "to_queue", to_queue)


@dataclass(slots=True, frozen=True)
class CallTransferred(_Event):
    id: str
    ts: float
    queue: str
    call_id: str
    agent_id: str
    to_queue: str | None = None
    to_agent: str | None = None

    def __init__(
        self,
        id: str,
        ts: float,
        queue: str,
        call_id: str,
        agent_id: str,
        to_queue: str | None = None,
        to_agent: str | None = None,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "agent_id", agent_id)
        object.__setattr__(self, "to_queue", to_queue)
        object.__setattr__(self, "to_agent", to_agent)


@dataclass(slots=True, frozen=True)
class CallEnded(_Event):
    id: str
    ts: float
    queue: str
    call_id: str
    agent_id: str
    talk_seconds: float
    hold_seconds: float = 0.0

    def __init__(
        self,
        id: str,
        ts: float,
        queue: str,
        call_id: str,
        agent_id: str,
        talk_seconds: float,
        hold_seconds: float = 0.0,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "agent_id", agent_id)
        object.__setattr__(self, "talk_seconds", talk_seconds)
        object.__setattr__(self, "hold_seconds", hold_seconds)


@dataclass(slots=True, frozen=True)
class AfterCallWorkEnded(_Event):
    id: str
    ts: float
    queue: str
    call_id: str
    agent_id: str
    acw_seconds: float

    def __init__(
        self, id: str, ts: float, queue: str, call_id: str, agent_id: str, acw_seconds: float
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "agent_id", agent_id)
        object.__setattr__(self, "acw_seconds", acw_seconds)


@dataclass(slots=True, frozen=True)
class AgentStateChanged(_Event):
    id: str
    ts: float
    agent_id: str
    state: AgentState
    queues: tuple[str, ...]
    reason: str | None = None  # not-ready reason code

    def __init__(
        self,
        id: str,
        ts: float,
        agent_id: str,
        state: AgentState,
        queues: tuple[str, ...],
        reason: str | None = None,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "agent_id", agent_id)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "queues", queues)
        object.__setattr__(self, "reason", reason)


@dataclass(slots=True, frozen=True)
class SurveyResult(_Event):
    id: str
    ts: float
    queue: str
    call_id: str
    csat: int | None = None  # 1..5
    nps: int | None = None  # 0..10
    resolved: bool | None = None

    def __init__(
        self,
        id: str,
        ts: float,
        queue: str,
        call_id: str,
        csat: int | None = None,
        nps: int | None = None,
        resolved: bool | None = None,
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "queue", queue)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "csat", csat)
        object.__setattr__(self, "nps", nps)
        object.__setattr__(self, "resolved", resolved)


CallEvent = (
    CallEnqueued
    | CallAnswered
    | CallAbandoned
    | CallLeft
    | CallTransferred
    | CallEnded
    | AfterCallWorkEnded
)
Event = CallEvent | AgentStateChanged | SurveyResult


def _name_types() -> dict[str, type]:
    """Set each class's TYPE; the classes by TYPE."""
    named: list[tuple[type, str]] = [
        (CallEnqueued, "call.enqueued"),
        (CallAnswered, "call.answered"),
        (CallAbandoned, "call.abandoned"),
        (CallLeft, "call.left"),
        (CallTransferred, "call.transferred"),
        (CallEnded, "call.ended"),
        (AfterCallWorkEnded, "call.acw_ended"),
        (AgentStateChanged, "agent.state"),
        (SurveyResult, "survey.result"),
    ]
    for cls, name in named:
        setattr(cls, "TYPE", name)  # noqa: B010  (see _Event)
    return {name: cls for cls, name in named}


EVENT_TYPES: dict[str, type] = _name_types()


def queues_of(event: Event) -> tuple[str, ...]:
    """The queues an event applies to."""
    if isinstance(event, AgentStateChanged):
        return event.queues
    return (event.queue,)


class InvalidEvent(ValueError):
    """A record that is not a valid canonical event.

    ``reason`` is a short machine-readable code (see ``REASONS``) for the dead-letter
    header and metric label; ``detail`` names the field and what was wrong with it.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
