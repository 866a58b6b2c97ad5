"""Canonical event model, schema v1 (documented field by field in docs/events.md).

Every event carries a unique ``id``, an event timestamp ``ts`` (epoch seconds, UTC) and
the schema version. Call and survey events name one ``queue``; agent events name the
queues the agent serves (``queues``). ``decode(bytes)`` turns one Kafka record value into
one of these types or raises :class:`InvalidEvent` with a machine-readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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


@dataclass(slots=True, frozen=True)
class CallEnqueued:
    id: str
    ts: float
    queue: str
    call_id: str
    caller_id: str | None = None
    priority: int = 0
    channel: Channel = Channel.VOICE
    TYPE = "call.enqueued"


@dataclass(slots=True, frozen=True)
class CallAnswered:
    id: str
    ts: float
    queue: str
    call_id: str
    agent_id: str
    TYPE = "call.answered"


@dataclass(slots=True, frozen=True)
class CallAbandoned:
    id: str
    ts: float
    queue: str
    call_id: str
    TYPE = "call.abandoned"


@dataclass(slots=True, frozen=True)
class CallLeft:
    id: str
    ts: float
    queue: str
    call_id: str
    reason: LeaveReason
    to_queue: str | None = None
    TYPE = "call.left"


@dataclass(slots=True, frozen=True)
class CallTransferred:
    id: str
    ts: float
    queue: str
    call_id: str
    agent_id: str
    to_queue: str | None = None
    to_agent: str | None = None
    TYPE = "call.transferred"


@dataclass(slots=True, frozen=True)
class CallEnded:
    id: str
    ts: float
    queue: str
    call_id: str
    agent_id: str
    talk_seconds: float
    hold_seconds: float = 0.0
    TYPE = "call.ended"


@dataclass(slots=True, frozen=True)
class AfterCallWorkEnded:
    id: str
    ts: float
    queue: str
    call_id: str
    agent_id: str
    acw_seconds: float
    TYPE = "call.acw_ended"


@dataclass(slots=True, frozen=True)
class AgentStateChanged:
    id: str
    ts: float
    agent_id: str
    state: AgentState
    queues: tuple[str, ...]
    reason: str | None = None  # not-ready reason code
    TYPE = "agent.state"


@dataclass(slots=True, frozen=True)
class SurveyResult:
    id: str
    ts: float
    queue: str
    call_id: str
    csat: int | None = None  # 1..5
    nps: int | None = None  # 0..10
    resolved: bool | None = None
    TYPE = "survey.result"


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

EVENT_TYPES: dict[str, type] = {
    cls.TYPE: cls
    for cls in (
        CallEnqueued,
        CallAnswered,
        CallAbandoned,
        CallLeft,
        CallTransferred,
        CallEnded,
        AfterCallWorkEnded,
        AgentStateChanged,
        SurveyResult,
    )
}


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
