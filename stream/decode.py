"""Wire codec for canonical events, schema v1 (docs/events.md, docs/events.schema.json).

``decode`` turns one Kafka record value into an event of :mod:`stream.events` or raises
:class:`~stream.events.InvalidEvent` whose ``reason`` is one of :data:`REASONS`; it never
raises anything else, whatever the bytes. ``encode`` is its inverse.

Decoding is on the hot path, so it is one ``orjson.loads`` followed by a plain function
per type that takes plainly valid records (the fast path, compiled with mypyc) and
otherwise a walk over a per-type table of field specs, which has every rule and error
detail (dict lookups and ``type() is`` checks, no regex). Unknown fields are ignored, so
producers may add fields before consumers know them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, NamedTuple

import orjson

from .events import (
    SCHEMA_VERSION,
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
    InvalidEvent,
    LeaveReason,
    SurveyResult,
)

MAX_EVENT_BYTES: Final = 64 * 1024
MAX_FUTURE_SKEW: Final = 300.0  # seconds an event may be ahead of the consumer's clock
MAX_ID_LENGTH: Final = 128  # characters (code points), for every identifier field
MAX_QUEUES: Final = 64  # queues one agent event may name
PRIORITY_MIN: Final = -1000
PRIORITY_MAX: Final = 1000
MAX_FRACTION_DIGITS: Final = 9  # of a second, in RFC 3339 timestamps (nanoseconds)
MIN_TS: Final = 946684800.0  # 2000-01-01T00:00:00Z
MAX_TS: Final = 4102444800.0  # 2100-01-01T00:00:00Z (exclusive)

REASONS: Final = frozenset(
    {
        "oversize",
        "not_json",
        "not_object",
        "missing_field",
        "unsupported_version",
        "unknown_type",
        "wrong_type",
        "bad_value",
        "bad_timestamp",
        "implausible_timestamp",
        "id_too_long",
    }
)

_JSON_TYPE_NAMES: Final = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
    list: "array",
    dict: "object",
}

# A field check takes the field name (for the error detail) and the raw JSON value, and
# returns the value for the dataclass or raises InvalidEvent.
Check = Callable[[str, Any], Any]


def _json_type(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _wrong_type(name: str, expected: str, value: object) -> InvalidEvent:
    return InvalidEvent(
        "wrong_type", f"field '{name}': expected {expected}, got {_json_type(value)}"
    )


def _bad_value(name: str, why: str) -> InvalidEvent:
    return InvalidEvent("bad_value", f"field '{name}': {why}")


_loads: Final = orjson.loads


# --- field checks ------------------------------------------------------------------


def _identifier(name: str, value: Any) -> str:
    if type(value) is not str:
        raise _wrong_type(name, "a string", value)
    if not value:
        raise _bad_value(name, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(
            "id_too_long", f"field '{name}': {len(value)} characters > {MAX_ID_LENGTH}"
        )
    return value


def _seconds(name: str, value: Any) -> float:
    kind = type(value)
    if kind is not float and kind is not int:
        raise _wrong_type(name, "a number", value)
    # The comparison also rejects NaN and infinity.
    if not 0.0 <= value < math.inf:
        raise _bad_value(name, f"{_short(value)} is not a finite number >= 0")
    return float(value)


def _integer(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> int:
        if type(value) is not int:
            # JSON Schema's "integer" admits 3.0, so the decoder does too.
            if type(value) is not float or not value.is_integer():
                raise _wrong_type(name, "an integer", value)
            value = int(value)
        if not low <= value <= high:
            raise _bad_value(name, f"{_short(value)} is outside {low}..{high}")
        return value

    return check


def _boolean(name: str, value: Any) -> bool:
    if type(value) is not bool:
        raise _wrong_type(name, "a boolean", value)
    return value


def _enum(members: type[Channel] | type[LeaveReason] | type[AgentState]) -> Check:
    by_value = {member.value: member for member in members}
    allowed = ", ".join(by_value)

    def check(name: str, value: Any) -> Any:
        if type(value) is not str:
            raise _wrong_type(name, "a string", value)
        member = by_value.get(value)
        if member is None:
            raise _bad_value(name, f"{_short(value)} is not one of {allowed}")
        return member

    return check


def _queue_list(name: str, value: Any) -> tuple[str, ...]:
    if type(value) is not list:
        raise _wrong_type(name, "an array", value)
    if not value:
        raise _bad_value(name, "must not be empty")
    if len(value) > MAX_QUEUES:
        raise _bad_value(name, f"{len(value)} queues > {MAX_QUEUES}")
    for index, item in enumerate(value):
        if type(item) is not str or not 0 < len(item) <= MAX_ID_LENGTH:
            _identifier(f"{name}[{index}]", item)  # raises with the details
    queues = tuple(value)
    if len(set(queues)) != len(queues):
        raise _bad_value(name, "queue names must be unique")
    return queues


# --- timestamps --------------------------------------------------------------------


def _parse_rfc3339(value: str) -> float:
    """Epoch seconds of an RFC 3339 date-time with an offset (Z or ±HH:MM)."""
    # datetime.fromisoformat accepts far more than RFC 3339 (other separators, basic
    # format, missing seconds, naive times), so check the layout first.
    size = len(value)
    if (
        not 20 <= size <= 35
        or not value.isascii()
        or value[4] != "-"
        or value[7] != "-"
        or value[10] not in "Tt"
        or value[13] != ":"
        or value[16] != ":"
    ):
        raise ValueError("not an RFC 3339 date-time")
    if value[-1] in "Zz":
        end = size - 1
        value = value[:end] + "+00:00"
    elif value[-6] in "+-" and value[-3] == ":":
        end = size - 6
        # fromisoformat takes "+01:60" as +02:00; RFC 3339 (and the schema) do not.
        if not value[-2:].isdigit() or value[-2] > "5":
            raise ValueError("UTC offset minutes must be 00..59")
    else:
        raise ValueError("missing UTC offset (Z or ±HH:MM)")
    # Between the seconds (which end at index 19) and the offset: nothing, or a fraction.
    if end < 19 or (
        end > 19
        and (value[19] != "." or end - 20 > MAX_FRACTION_DIGITS or not value[20:end].isdigit())
    ):
        raise ValueError("bad seconds or fraction of a second")
    return datetime.fromisoformat(value).timestamp()


def _timestamp(value: Any, now: float | None, max_future_skew: float) -> float:
    kind = type(value)
    if kind is float or kind is int:
        ts = float(value)
    elif kind is str:
        try:
            ts = _parse_rfc3339(value)
        except (ValueError, OverflowError) as exc:
            raise InvalidEvent("bad_timestamp", f"field 'ts': {_short(value)}: {exc}") from None
    else:
        raise _wrong_type("ts", "a number or an RFC 3339 string", value)
    if not MIN_TS <= ts < MAX_TS:
        raise InvalidEvent(
            "implausible_timestamp", f"field 'ts': {ts!r} is not in 2000-01-01..2100-01-01"
        )
    if now is not None and ts > now + max_future_skew:
        raise InvalidEvent(
            "implausible_timestamp",
            f"field 'ts': {ts - now:.3f} s ahead of now (max {max_future_skew:g} s)",
        )
    return ts


# --- per-type field tables ----------------------------------------------------------

_REQUIRED: Final = object()


class _Field(NamedTuple):
    name: str
    check: Check
    default: Any  # _REQUIRED, or the value for an absent or null field


def _required(name: str, check: Check = _identifier) -> _Field:
    return _Field(name, check, _REQUIRED)


def _optional(name: str, check: Check = _identifier) -> _Field:
    return _Field(name, check, None)  # the real default is taken from the dataclass


def _at_least_one_of(*names: str) -> Callable[[Any], None]:
    listed = ", ".join(f"'{name}'" for name in names)

    def check(event: Any) -> None:
        if all(getattr(event, name) is None for name in names):
            raise InvalidEvent("bad_value", f"fields {listed}: at least one is required")

    return check


_CALL = (_required("queue"), _required("call_id"))
_AGENT_CALL = (*_CALL, _required("agent_id"))


class _TypeSpec:
    """How to decode one event type: its class, its fields after id and ts (in the
    class's field order) and an optional cross-field rule run on the decoded event.

    Events are built with their class's own ``__init__`` (positional, in field order), so
    the event classes must stay plain (no ``__post_init__``); checked here at import."""

    __slots__ = ("cls", "fields", "post")

    def __init__(
        self,
        cls: type,
        fields: tuple[_Field, ...],
        post: Callable[[Any], None] | None = None,
    ) -> None:
        declared = dataclasses.fields(cls)
        if [f.name for f in declared] != ["id", "ts", *(f.name for f in fields)]:
            raise TypeError(f"decode spec of {cls.__name__} does not match its fields")
        if hasattr(cls, "__post_init__"):
            raise TypeError(f"{cls.__name__}.__post_init__ would be skipped by decode")
        for spec, field in zip(fields, declared[2:], strict=True):
            if spec.default is not _REQUIRED and field.default is dataclasses.MISSING:
                raise TypeError(f"optional {cls.__name__}.{field.name} needs a plain default")
        self.cls = cls
        self.fields = tuple(
            spec._replace(default=spec.default if spec.default is _REQUIRED else field.default)
            for spec, field in zip(fields, declared[2:], strict=True)
        )
        self.post = post


_SPECS: Final[dict[str, _TypeSpec]] = {
    spec.cls.TYPE: spec  # type: ignore[attr-defined]
    for spec in (
        _TypeSpec(
            CallEnqueued,
            (
                *_CALL,
                _optional("caller_id"),
                _optional("priority", _integer(PRIORITY_MIN, PRIORITY_MAX)),
                _optional("channel", _enum(Channel)),
            ),
        ),
        _TypeSpec(CallAnswered, _AGENT_CALL),
        _TypeSpec(CallAbandoned, _CALL),
        _TypeSpec(
            CallLeft, (*_CALL, _required("reason", _enum(LeaveReason)), _optional("to_queue"))
        ),
        _TypeSpec(CallTransferred, (*_AGENT_CALL, _optional("to_queue"), _optional("to_agent"))),
        _TypeSpec(
            CallEnded,
            (
                *_AGENT_CALL,
                _required("talk_seconds", _seconds),
                _optional("hold_seconds", _seconds),
            ),
        ),
        _TypeSpec(AfterCallWorkEnded, (*_AGENT_CALL, _required("acw_seconds", _seconds))),
        _TypeSpec(
            AgentStateChanged,
            (
                _required("agent_id"),
                _required("state", _enum(AgentState)),
                _required("queues", _queue_list),
                _optional("reason"),
            ),
        ),
        _TypeSpec(
            SurveyResult,
            (
                *_CALL,
                _optional("csat", _integer(1, 5)),
                _optional("nps", _integer(0, 10)),
                _optional("resolved", _boolean),
            ),
            post=_at_least_one_of("csat", "nps", "resolved"),
        ),
    )
}

# Field names of each class in wire order, for the encoder.
_ENCODE_FIELDS: Final[dict[type, tuple[str, ...]]] = {
    spec.cls: tuple(field.name for field in spec.fields) for spec in _SPECS.values()
}


# --- fast path: one plain function per type ------------------------------------------
#
# The table walk below costs ~1.5 µs per event on top of orjson.loads (a loop over field
# specs, a call per check). decode() first runs the function of the record's type: each
# field fetched and tested by a small helper that accepts only plainly valid values and
# raises _GiveUp for anything else (absent required field, null, other type, out of
# range), and then the table walk (the one place with the rules' details and error
# messages) decides. These tests are never looser than the checks, so a fast path that
# gives up changes nothing; compiled (mypyc), the whole path is native calls and the
# event classes' own compiled __init__.


class _GiveUp(Exception):
    """The fast path does not take this record: the table walk decides."""


_GIVE_UP: Final = _GiveUp()  # raised as it is: no instance per give-up
_CHANNELS: Final[dict[str, Channel]] = {m.value: m for m in Channel}
_LEAVE_REASONS: Final[dict[str, LeaveReason]] = {m.value: m for m in LeaveReason}
_AGENT_STATES: Final[dict[str, AgentState]] = {m.value: m for m in AgentState}


def _fast_version(obj: dict[str, Any]) -> None:
    value = obj.get("v")
    if type(value) is not int or value != SCHEMA_VERSION:
        raise _GIVE_UP


def _fast_ts(obj: dict[str, Any], now: float | None, max_future_skew: float) -> float:
    value = obj.get("ts")
    if type(value) is not float:
        raise _GIVE_UP
    ts: float = value
    if not MIN_TS <= ts < MAX_TS or (now is not None and ts > now + max_future_skew):
        raise _GIVE_UP
    return ts


def _fast_id(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if type(value) is not str or not 0 < len(value) <= MAX_ID_LENGTH:
        raise _GIVE_UP
    return value  # type: ignore[no-any-return]


def _fast_optional_id(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if type(value) is not str or not 0 < len(value) <= MAX_ID_LENGTH:
        raise _GIVE_UP
    return value  # type: ignore[no-any-return]


def _fast_seconds(obj: dict[str, Any], name: str, default: float | None = None) -> float:
    value = obj.get(name)
    if value is None and default is not None:
        return default
    if type(value) is float:
        seconds: float = value
        if 0.0 <= seconds < math.inf:
            return seconds
    elif type(value) is int and value >= 0:
        return float(value)
    raise _GIVE_UP


def _fast_integer(obj: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = obj.get(name)
    if value is None:
        return None
    if type(value) is not int or not low <= value <= high:
        raise _GIVE_UP
    return value  # type: ignore[no-any-return]


def _fast_boolean(obj: dict[str, Any], name: str) -> bool | None:
    value = obj.get(name)
    if value is None:
        return None
    if type(value) is not bool:
        raise _GIVE_UP
    return value  # type: ignore[no-any-return]


def _fast_member(obj: dict[str, Any], name: str, by_value: dict[str, Any]) -> Any:
    """The enum member named by field ``name``; None when it is absent or null."""
    value = obj.get(name)
    if value is None:
        return None
    if type(value) is not str:
        raise _GIVE_UP
    member = by_value.get(value)
    if member is None:
        raise _GIVE_UP
    return member


def _fast_queues(obj: dict[str, Any]) -> tuple[str, ...]:
    value = obj.get("queues")
    if type(value) is not list or not 0 < len(value) <= MAX_QUEUES:
        raise _GIVE_UP
    for item in value:
        if type(item) is not str or not 0 < len(item) <= MAX_ID_LENGTH:
            raise _GIVE_UP
    queues = tuple(value)
    if len(queues) > 1 and len(set(queues)) != len(queues):  # one queue: most agents
        raise _GIVE_UP
    return queues


def _fast_call_enqueued(obj: dict[str, Any], now: float | None, skew: float) -> Event:
    _fast_version(obj)
    priority = _fast_integer(obj, "priority", PRIORITY_MIN, PRIORITY_MAX)
    channel = _fast_member(obj, "channel", _CHANNELS)
    return CallEnqueued(
        _fast_id(obj, "id"),
        _fast_ts(obj, now, skew),
        _fast_id(obj, "queue"),
        _fast_id(obj, "call_id"),
        _fast_optional_id(obj, "caller_id"),
        0 if priority is None else priority,
        Channel.VOICE if channel is None else channel,
    )


def _fast_call_answered(obj: dict[str, Any], now: float | None, skew: float) -> Event:
    _fast_version(obj)
    return CallAnswered(
        _fast_id(obj, "id"),
        _fast_ts(obj, now, skew),
        _fast_id(obj, "queue"),
        _fast_id(obj, "call_id"),
        _fast_id(obj, "agent_id"),
    )


def _fast_call_abandoned(obj: dict[str, Any], now: float | None, skew: float) -> Event:
    _fast_version(obj)
    return CallAbandoned(
        _fast_id(obj, "id"),
        _fast_ts(obj, now, skew),
        _fast_id(obj, "queue"),
        _fast_id(obj, "call_id"),
    )


def _fast_call_left(obj: dict[str, Any], now: float | None, skew: float) -> Event:
    _fast_version(obj)
    reason = _fast_member(obj, "reason", _LEAVE_REASONS)
    if reason is None:
        raise _GIVE_UP
    return CallLeft(
        _fast_id(obj, "id"),
        _fast_ts(obj, now, skew),
        _fast_id(obj, "queue"),
        _fast_id(obj, "call_id"),
        reason,
        _fast_optional_id(obj, "to_queue"),
    )


def _fast_call_transferred(obj: dict[str, Any], now: float | None, skew: float) -> Event:
    _fast_version(obj)
    return CallTransferred(
        _fast_id(obj, "id"),
        _fast_ts(obj, now, skew),
        _fast_id(obj, "queue"),
        _fast_id(obj, "call_id"),
        _fast_id(obj, "agent_id"),
        _fast_optional_id(obj, "to_queue"),
        _fast_optional_id(obj, "to_agent"),
    )


def _fast_call_ended(obj: dict[str, Any], now: float | None, skew: float) -> Event:
    _fast_version(obj)
    return CallEnded(
        _fast_id(obj, "id"),
        _fast_ts(obj, now, skew),
        _fast_id(obj, "queue"),
        _fast_id(obj, "call_id"),
        _fast_id(obj, "agent_id"),
        _fast_seconds(obj, "talk_seconds"),
        _fast_seconds(obj, "hold_seconds", 0.0),
    )


def _fast_acw_ended(obj: dict[str, Any], now: float | None, skew: float) -> Event:
    _fast_version(obj)
    return AfterCallWorkEnded(
        _fast_id(obj, "id"),
        _fast_ts(obj, now, skew),
        _fast_id(obj, "queue"),
        _fast_id(obj, "call_id"),
        _fast_id(obj, "agent_id"),
        _fast_seconds(obj, "acw_seconds"),
    )


def _fast_agent_state(obj: dict[str, Any], now: float | None, skew: float) -> Event:
    _fast_version(obj)
    state = _fast_member(obj, "state", _AGENT_STATES)
    if state is None:
        raise _GIVE_UP
    return AgentStateChanged(
        _fast_id(obj, "id"),
        _fast_ts(obj, now, skew),
        _fast_id(obj, "agent_id"),
        state,
        _fast_queues(obj),
        _fast_optional_id(obj, "reason"),
    )


def _fast_survey_result(obj: dict[str, Any], now: float | None, skew: float) -> Event:
    _fast_version(obj)
    csat = _fast_integer(obj, "csat", 1, 5)
    nps = _fast_integer(obj, "nps", 0, 10)
    resolved = _fast_boolean(obj, "resolved")
    if csat is None and nps is None and resolved is None:
        raise _GIVE_UP
    return SurveyResult(
        _fast_id(obj, "id"),
        _fast_ts(obj, now, skew),
        _fast_id(obj, "queue"),
        _fast_id(obj, "call_id"),
        csat,
        nps,
        resolved,
    )


def _fast(obj: dict[str, Any], name: str, now: float | None, skew: float) -> Event | None:
    """The fast path of type ``name`` (most frequent first); None for an unknown type.
    Plain calls: compiled, a dict of functions would box and check every argument."""
    if name == "agent.state":
        return _fast_agent_state(obj, now, skew)
    if name == "call.enqueued":
        return _fast_call_enqueued(obj, now, skew)
    if name == "call.answered":
        return _fast_call_answered(obj, now, skew)
    if name == "call.ended":
        return _fast_call_ended(obj, now, skew)
    if name == "call.acw_ended":
        return _fast_acw_ended(obj, now, skew)
    if name == "call.abandoned":
        return _fast_call_abandoned(obj, now, skew)
    if name == "call.left":
        return _fast_call_left(obj, now, skew)
    if name == "call.transferred":
        return _fast_call_transferred(obj, now, skew)
    if name == "survey.result":
        return _fast_survey_result(obj, now, skew)
    return None


def _check_fast_paths() -> None:
    """Every type has its fast path (which gives up on an empty record)."""
    for name in _SPECS:
        try:
            _fast({}, name, None, 0.0)
        except _GiveUp:
            continue
        raise TypeError(f"decode has no fast path for {name}")


_check_fast_paths()


# --- decode / encode ---------------------------------------------------------------


def _missing_or_null(name: str, obj: dict[str, Any]) -> InvalidEvent:
    if name in obj:
        return InvalidEvent("wrong_type", f"field '{name}': got null")
    return InvalidEvent("missing_field", f"field '{name}' is required")


def _required_value(obj: dict[str, Any], name: str) -> Any:
    value = obj.get(name)
    if value is None:
        raise _missing_or_null(name, obj)
    return value


def _check_version(obj: dict[str, Any]) -> None:
    version = obj.get("v")
    if version is None:
        raise _missing_or_null("v", obj)
    if type(version) is float and version == SCHEMA_VERSION:
        return  # 1.0 is the JSON number 1
    if type(version) is int or type(version) is float:
        raise InvalidEvent("unsupported_version", f"field 'v': {_short(version)} is not 1")
    raise _wrong_type("v", "an integer", version)


def _type_error(obj: dict[str, Any]) -> InvalidEvent:
    name = obj.get("type")
    if name is None:
        return _missing_or_null("type", obj)
    if type(name) is not str:
        return _wrong_type("type", "a string", name)
    return InvalidEvent("unknown_type", f"field 'type': {_short(name)} is not a known type")


def decode(
    data: bytes | bytearray | memoryview | str,  # what orjson.loads takes (compiled: checked)
    *,
    now: float | None = None,
    max_bytes: int = MAX_EVENT_BYTES,
    max_future_skew: float = MAX_FUTURE_SKEW,
) -> Event:
    """Decode one record value; raise InvalidEvent (and nothing else) if it is not valid.

    ``now`` (epoch seconds) enables the future-skew check: an event more than
    ``max_future_skew`` seconds ahead of it is rejected as ``implausible_timestamp``.
    """
    if len(data) > max_bytes:
        raise InvalidEvent("oversize", f"{len(data)} bytes > {max_bytes}")
    try:
        obj = _loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("not_json", str(exc)) from None
    if isinstance(obj, dict):  # orjson gives exact dicts, as _decode_object requires
        name = obj.get("type")
        if type(name) is str:
            try:
                event = _fast(obj, name, now, max_future_skew)
            except _GiveUp:
                event = None
            if event is not None:
                return event
    return _decode_object(obj, now, max_future_skew)


def _decode_object(obj: Any, now: float | None, max_future_skew: float) -> Event:
    """The table walk over a loaded record: every rule, with the error details."""
    if type(obj) is not dict:
        raise InvalidEvent("not_object", f"top level is {_json_type(obj)}, expected object")
    get = obj.get
    version = get("v")
    if type(version) is not int or version != SCHEMA_VERSION:
        _check_version(obj)
    name = get("type")
    spec = _SPECS.get(name) if type(name) is str else None
    if spec is None:
        raise _type_error(obj)
    # The inline tests below are fast paths for valid values only: whatever they do not
    # accept goes to the full check, which has the rules and the error details.
    event_id = get("id")
    if type(event_id) is not str or not 0 < len(event_id) <= MAX_ID_LENGTH:
        event_id = _identifier("id", _required_value(obj, "id"))
    ts = get("ts")
    if (
        type(ts) is not float
        or not MIN_TS <= ts < MAX_TS
        or (now is not None and ts > now + max_future_skew)
    ):
        ts = _timestamp(_required_value(obj, "ts"), now, max_future_skew)
    values: list[Any] = [event_id, ts]
    for field, check, default in spec.fields:
        value = get(field)
        if value is None:
            if default is _REQUIRED:
                raise _missing_or_null(field, obj)
            values.append(default)
        elif check is _identifier and type(value) is str and 0 < len(value) <= MAX_ID_LENGTH:
            values.append(value)
        else:
            values.append(check(field, value))
    event = spec.cls(*values)
    if spec.post is not None:
        spec.post(event)
    return event  # type: ignore[no-any-return]


def encode(event: Event) -> bytes:
    """Serialise an event as schema v1 JSON: numeric ``ts``, None fields omitted."""
    names = _ENCODE_FIELDS.get(type(event))
    if names is None:
        raise TypeError(f"not a canonical event: {type(event).__name__}")
    out: dict[str, Any] = {"v": SCHEMA_VERSION, "id": event.id, "type": event.TYPE, "ts": event.ts}
    for name in names:
        value = getattr(event, name)
        if value is not None:
            out[name] = value
    return orjson.dumps(out)
