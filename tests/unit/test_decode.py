"""stream.decode: the schema v1 wire codec, and its agreement with docs/events.schema.json."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from stream.decode import (
    MAX_EVENT_BYTES,
    MAX_FUTURE_SKEW,
    MAX_QUEUES,
    REASONS,
    _decode_object,
    _fast,
    decode,
    encode,
)
from stream.events import (
    EVENT_TYPES,
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallEnded,
    CallEnqueued,
    Channel,
    InvalidEvent,
    LeaveReason,
    SurveyResult,
)
from tests.strategies import TS_MAX, TS_MIN, events

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCHEMA = orjson.loads((DOCS / "events.schema.json").read_bytes())
VALIDATOR = Draft202012Validator(SCHEMA)
TS_PATTERN = re.compile(SCHEMA["$defs"]["timestamp"]["anyOf"][1]["pattern"])
EXAMPLES = [line for line in (DOCS / "examples" / "events.jsonl").read_bytes().splitlines() if line]

T = 1795425302.25  # 2026-11-23T09:15:02.250Z
ENQUEUED = {"v": 1, "id": "e1", "type": "call.enqueued", "ts": T, "queue": "sales", "call_id": "c1"}
ENDED = {
    "v": 1,
    "id": "e2",
    "type": "call.ended",
    "ts": T,
    "queue": "sales",
    "call_id": "c1",
    "agent_id": "a1",
    "talk_seconds": 120.5,
}
AGENT = {
    "v": 1,
    "id": "e3",
    "type": "agent.state",
    "ts": T,
    "agent_id": "a1",
    "state": "not_ready",
    "queues": ["sales", "support"],
    "reason": "lunch",
}
SURVEY = {"v": 1, "id": "e4", "type": "survey.result", "ts": T, "queue": "sales", "call_id": "c1"}
LEFT = {**ENQUEUED, "type": "call.left", "reason": "timeout"}
ACW = {**ENDED, "type": "call.acw_ended", "talk_seconds": ..., "acw_seconds": 30.0}
TOO_MANY_QUEUES = [f"q{i}" for i in range(MAX_QUEUES + 1)]
TRANSFER = {
    "v": 1,
    "id": "e5",
    "type": "call.transferred",
    "ts": T,
    "queue": "sales",
    "call_id": "c1",
    "agent_id": "a1",
}


def raw(base: dict[str, Any], **changes: Any) -> bytes:
    """``base`` with fields changed (a value of ``...`` removes the field), as JSON."""
    out = {**base, **changes}
    return orjson.dumps({k: v for k, v in out.items() if v is not ...})


def reason_of(data: bytes, **kwargs: Any) -> str:
    with pytest.raises(InvalidEvent) as info:
        decode(data, **kwargs)
    return info.value.reason


# --- valid input -------------------------------------------------------------------


def test_every_example_decodes_and_matches_the_schema() -> None:
    types = set()
    for line in EXAMPLES:
        event = decode(line)
        types.add(event.TYPE)
        VALIDATOR.validate(orjson.loads(line))
    assert types == set(EVENT_TYPES)


def test_every_example_in_the_docs_decodes_and_matches_the_schema() -> None:
    blocks = re.findall(r"```json\n(.*?)\n```", (DOCS / "events.md").read_text(), re.S)
    assert len(blocks) == len(EVENT_TYPES)
    for block in blocks:
        assert decode(block.encode()) in {decode(line) for line in EXAMPLES}
        VALIDATOR.validate(orjson.loads(block))


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_decodes_to_the_model_with_defaults() -> None:
    assert decode(raw(ENQUEUED)) == CallEnqueued(id="e1", ts=T, queue="sales", call_id="c1")
    event = decode(raw(ENQUEUED, caller_id="+4930123", priority=5, channel="chat"))
    assert (event.caller_id, event.priority, event.channel) == ("+4930123", 5, Channel.CHAT)
    assert decode(raw(ENDED)).hold_seconds == 0.0


def test_null_optional_fields_mean_absent() -> None:
    nulls = {"caller_id": None, "priority": None, "channel": None}
    assert decode(raw(ENQUEUED, **nulls)) == decode(raw(ENQUEUED))
    assert decode(raw(ENDED, hold_seconds=None)).hold_seconds == 0.0


def test_unknown_fields_are_ignored() -> None:
    extra = {"tenant": "acme", "queues": 7, "nested": {"a": [1, None]}}
    assert decode(raw(ENQUEUED, **extra)) == decode(raw(ENQUEUED))


def test_agent_event() -> None:
    event = decode(raw(AGENT))
    assert event == AgentStateChanged(
        id="e3",
        ts=T,
        agent_id="a1",
        state=AgentState.NOT_READY,
        queues=("sales", "support"),
        reason="lunch",
    )
    many = [f"q{i}" for i in range(MAX_QUEUES)]
    assert decode(raw(AGENT, queues=many)).queues == tuple(many)


def test_numbers_are_normalised() -> None:
    event = decode(raw(ENDED, ts=1795425302, talk_seconds=120, hold_seconds=0))
    assert type(event.ts) is float and type(event.talk_seconds) is float
    assert type(event.hold_seconds) is float
    # JSON Schema calls 4.0 an integer and 1.0 the number 1; so does the decoder.
    survey = decode(raw(SURVEY, v=1.0, csat=4.0))
    assert survey.csat == 4 and type(survey.csat) is int


def test_survey_needs_one_answer_of_any_kind() -> None:
    assert decode(raw(SURVEY, resolved=False)).resolved is False
    assert decode(raw(SURVEY, nps=0)).nps == 0


def test_transfer_target_is_optional() -> None:
    assert decode(raw(TRANSFER)).to_queue is None  # e.g. to an outside number
    assert decode(raw(TRANSFER, to_agent="a2")).to_agent == "a2"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T09:15:02.250Z",
        "2026-11-23t09:15:02.25z",
        "2026-11-23T09:15:02.250000000Z",
        "2026-11-23T10:15:02.250+01:00",
        "2026-11-23T04:15:02.25-05:00",
        "2026-11-23T09:15:02.250-00:00",
    ],
)
def test_rfc3339_timestamps(text: str) -> None:
    assert decode(raw(ENQUEUED, ts=text)).ts == T


def test_future_skew_is_checked_only_against_a_given_clock() -> None:
    assert decode(raw(ENQUEUED, ts=T + 300), now=T).ts == T + 300
    assert decode(raw(ENQUEUED, ts=T - 86400 * 365), now=T).ts == T - 86400 * 365
    assert decode(raw(ENQUEUED, ts=T + 3600)).ts == T + 3600
    assert reason_of(raw(ENQUEUED, ts=T + 300.001), now=T) == "implausible_timestamp"
    assert reason_of(raw(ENQUEUED, ts=T + 61), now=T, max_future_skew=60) == (
        "implausible_timestamp"
    )


def test_size_limit() -> None:
    base = raw(ENQUEUED, pad="")
    fits = raw(ENQUEUED, pad="x" * (MAX_EVENT_BYTES - len(base)))
    assert len(fits) == MAX_EVENT_BYTES
    decode(fits)
    assert reason_of(raw(ENQUEUED, pad="x" * (MAX_EVENT_BYTES - len(base) + 1))) == "oversize"
    assert reason_of(base, max_bytes=len(base) - 1) == "oversize"


def test_decoded_events_stay_frozen() -> None:
    event = decode(raw(ENQUEUED))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.queue = "other"  # type: ignore[misc]
    assert hash(event) == hash(CallEnqueued(id="e1", ts=T, queue="sales", call_id="c1"))


def test_encode_omits_none_and_writes_numbers() -> None:
    event = CallEnded(id="e", ts=T, queue="q", call_id="c", agent_id="a", talk_seconds=1.5)
    assert orjson.loads(encode(event)) == {
        "v": 1,
        "id": "e",
        "type": "call.ended",
        "ts": T,
        "queue": "q",
        "call_id": "c",
        "agent_id": "a",
        "talk_seconds": 1.5,
        "hold_seconds": 0.0,
    }
    assert b"null" not in encode(CallEnqueued(id="e", ts=T, queue="q", call_id="c"))
    with pytest.raises(TypeError):
        encode("not an event")  # type: ignore[arg-type]


def test_detail_names_the_field_and_the_problem() -> None:
    with pytest.raises(InvalidEvent) as info:
        decode(raw(ENDED, talk_seconds="12"))
    assert info.value.detail == "field 'talk_seconds': expected a number, got string"
    assert str(info.value) == "wrong_type: field 'talk_seconds': expected a number, got string"


# --- rejected input: one table, checked against the decoder and the schema ---------

LONG = "x" * 129
BOTH = True  # JSON Schema can express the rule, so the schema must reject the input too
DECODER_ONLY = False  # the schema cannot express it (size, not JSON, calendar, range of strings)


def bad(label: str, data: bytes, reason: str, field: str | None, schema: bool) -> Any:
    """A rejected input; ``field`` is the field the detail must name."""
    return pytest.param(data, reason, field, schema, id=label)


def at(ts: Any) -> bytes:
    return raw(ENQUEUED, ts=ts)


def long_field(base: dict[str, Any], name: str) -> Any:
    return bad(f"long_{name}", raw(base, **{name: LONG}), "id_too_long", name, BOTH)


BAD = [
    bad("oversize", raw(ENQUEUED, pad="x" * MAX_EVENT_BYTES), "oversize", None, DECODER_ONLY),
    bad("not_json", b"{not json", "not_json", None, DECODER_ONLY),
    bad("empty", b"", "not_json", None, DECODER_ONLY),
    bad("invalid_utf8", b'{"v":1,"id":"\xff"}', "not_json", None, DECODER_ONLY),
    bad("nan", raw(ENDED)[:-1] + b',"x":NaN}', "not_json", None, DECODER_ONLY),
    bad("infinity", raw(ENDED)[:-1] + b',"x":1e400}', "not_json", None, DECODER_ONLY),
    bad("array", b"[1, 2]", "not_object", None, BOTH),
    bad("null", b"null", "not_object", None, BOTH),
    bad("no_v", raw(ENQUEUED, v=...), "missing_field", "v", BOTH),
    bad("no_id", raw(ENQUEUED, id=...), "missing_field", "id", BOTH),
    bad("no_type", raw(ENQUEUED, type=...), "missing_field", "type", BOTH),
    bad("no_ts", raw(ENQUEUED, ts=...), "missing_field", "ts", BOTH),
    bad("no_queue", raw(ENQUEUED, queue=...), "missing_field", "queue", BOTH),
    bad("no_agent", raw(ENDED, agent_id=...), "missing_field", "agent_id", BOTH),
    bad("no_talk", raw(ENDED, talk_seconds=...), "missing_field", "talk_seconds", BOTH),
    bad("no_queues", raw(AGENT, queues=...), "missing_field", "queues", BOTH),
    bad("v2", raw(ENQUEUED, v=2), "unsupported_version", "v", BOTH),
    bad("v0", raw(ENQUEUED, v=0), "unsupported_version", "v", BOTH),
    bad("unknown_type", raw(ENQUEUED, type="call.teleported"), "unknown_type", "type", BOTH),
    bad("v_string", raw(ENQUEUED, v="1"), "wrong_type", "v", BOTH),
    bad("v_bool", raw(ENQUEUED, v=True), "wrong_type", "v", BOTH),
    bad("type_number", raw(ENQUEUED, type=5), "wrong_type", "type", BOTH),
    bad("id_number", raw(ENQUEUED, id=7), "wrong_type", "id", BOTH),
    bad("id_null", raw(ENQUEUED, id=None), "wrong_type", "id", BOTH),
    bad("queue_null", raw(ENQUEUED, queue=None), "wrong_type", "queue", BOTH),
    bad("ts_bool", raw(ENQUEUED, ts=True), "wrong_type", "ts", BOTH),
    bad("ts_array", raw(ENQUEUED, ts=[T]), "wrong_type", "ts", BOTH),
    bad("talk_string", raw(ENDED, talk_seconds="12"), "wrong_type", "talk_seconds", BOTH),
    bad("talk_bool", raw(ENDED, talk_seconds=True), "wrong_type", "talk_seconds", BOTH),
    bad("priority_bool", raw(ENQUEUED, priority=True), "wrong_type", "priority", BOTH),
    bad("priority_frac", raw(ENQUEUED, priority=1.5), "wrong_type", "priority", BOTH),
    bad("csat_fraction", raw(SURVEY, csat=4.5), "wrong_type", "csat", BOTH),
    bad("resolved_str", raw(SURVEY, resolved="yes"), "wrong_type", "resolved", BOTH),
    bad("queues_string", raw(AGENT, queues="sales"), "wrong_type", "queues", BOTH),
    bad("queue_item_num", raw(AGENT, queues=["a", 3]), "wrong_type", "queues[1]", BOTH),
    bad("empty_queue", raw(ENQUEUED, queue=""), "bad_value", "queue", BOTH),
    bad("empty_id", raw(ENQUEUED, id=""), "bad_value", "id", BOTH),
    bad("empty_reason", raw(AGENT, reason=""), "bad_value", "reason", BOTH),
    bad("channel", raw(ENQUEUED, channel="fax"), "bad_value", "channel", BOTH),
    bad("state", raw(AGENT, state="busy"), "bad_value", "state", BOTH),
    bad("leave_reason", raw(LEFT, reason="bored"), "bad_value", "reason", BOTH),
    bad("negative_talk", raw(ENDED, talk_seconds=-1), "bad_value", "talk_seconds", BOTH),
    bad("negative_hold", raw(ENDED, hold_seconds=-0.5), "bad_value", "hold_seconds", BOTH),
    bad("negative_acw", raw(ACW, acw_seconds=-2), "bad_value", "acw_seconds", BOTH),
    bad("priority", raw(ENQUEUED, priority=1001), "bad_value", "priority", BOTH),
    bad("csat_low", raw(SURVEY, csat=0), "bad_value", "csat", BOTH),
    bad("csat_high", raw(SURVEY, csat=6), "bad_value", "csat", BOTH),
    bad("nps_high", raw(SURVEY, nps=11), "bad_value", "nps", BOTH),
    bad("nps_low", raw(SURVEY, nps=-1), "bad_value", "nps", BOTH),
    bad("survey_empty", raw(SURVEY), "bad_value", "csat", BOTH),
    bad("survey_nulls", raw(SURVEY, csat=None, nps=None), "bad_value", "csat", BOTH),
    bad("no_queue_served", raw(AGENT, queues=[]), "bad_value", "queues", BOTH),
    bad("dup_queues", raw(AGENT, queues=["a", "a"]), "bad_value", "queues", BOTH),
    bad("too_many_queues", raw(AGENT, queues=TOO_MANY_QUEUES), "bad_value", "queues", BOTH),
    bad("naive", at("2026-11-23T09:15:02"), "bad_timestamp", "ts", BOTH),
    bad("space", at("2026-11-23 09:15:02Z"), "bad_timestamp", "ts", BOTH),
    bad("no_seconds", at("2026-11-23T09:15Z"), "bad_timestamp", "ts", BOTH),
    bad("basic_offset", at("2026-11-23T09:15:02+0100"), "bad_timestamp", "ts", BOTH),
    bad("offset_minute_60", at("2026-11-23T09:15:02+01:60"), "bad_timestamp", "ts", BOTH),
    bad("offset_minute_99", at("2026-11-23T09:15:02-03:99"), "bad_timestamp", "ts", BOTH),
    bad("ten_digits", at("2026-11-23T09:15:02.1234567890Z"), "bad_timestamp", "ts", BOTH),
    bad("words", at("yesterday"), "bad_timestamp", "ts", BOTH),
    bad("february_30", at("2026-02-30T09:15:02Z"), "bad_timestamp", "ts", DECODER_ONLY),
    bad("epoch_zero", at(0), "implausible_timestamp", "ts", BOTH),
    bad("before_2000", at(946684799.999), "implausible_timestamp", "ts", BOTH),
    bad("year_2100", at(4102444800), "implausible_timestamp", "ts", BOTH),
    bad("milliseconds", at(T * 1000), "implausible_timestamp", "ts", BOTH),
    bad("string_1999", at("1999-12-31T23:59:59Z"), "implausible_timestamp", "ts", DECODER_ONLY),
    bad("long_id", raw(ENQUEUED, id=LONG), "id_too_long", "id", BOTH),
    long_field(ENQUEUED, "queue"),
    long_field(ENQUEUED, "call_id"),
    long_field(ENQUEUED, "caller_id"),
    long_field(ENDED, "agent_id"),
    long_field(TRANSFER, "to_queue"),
    long_field(TRANSFER, "to_agent"),
    long_field(AGENT, "reason"),
    bad("long_queue_item", raw(AGENT, queues=["a", LONG]), "id_too_long", "queues[1]", BOTH),
]


@pytest.mark.parametrize(("data", "reason", "field", "schema"), BAD)
def test_bad_input_is_rejected_by_decoder_and_schema(
    data: bytes, reason: str, field: str | None, schema: bool
) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode(data)
    assert info.value.reason == reason
    if field is not None:
        assert f"'{field}'" in info.value.detail
    if schema:
        assert not VALIDATOR.is_valid(orjson.loads(data))


def test_the_table_covers_every_reason() -> None:
    assert {param.values[1] for param in BAD} == REASONS


# --- properties --------------------------------------------------------------------


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
# Values at and around the edge of every rule, for the field-by-field agreement test.
EDGES: list[Any] = [
    None, "", "x", "x" * 128, LONG, "bogus", -1001, -1000, -1, -0.5, 0, 0.5, 1, 1.0, 1.5,
    4.0, 5, 6, 10, 11, 1000, 1001, 946684799, 946684800, 4102444799.5, 4102444800, T,
    True, False, [], {}, ["a"], ["a", "a"], ["a", 1], [LONG], TOO_MANY_QUEUES[:-1],
    TOO_MANY_QUEUES, "2026-11-23T09:15:02Z", "2026-11-23t09:15:02.5-03:30",
    "2026-11-23T09:15:02", "2026-02-30T00:00:00Z", "1999-12-31T23:59:59+00:00",
    "2000-01-01T00:30:00+01:00", *Channel, *LeaveReason, *AgentState, *EVENT_TYPES,
]  # fmt: skip
# Every field of every type (so a mutation can add another type's field) and an unknown one.
FIELD_NAMES = sorted(
    {"v", "id", "type", "ts", "x_unknown"}
    | {f.name for cls in EVENT_TYPES.values() for f in dataclasses.fields(cls)}
)
ANY_EVENT = events()
MUTATIONS = st.lists(
    st.tuples(st.sampled_from(FIELD_NAMES), st.booleans(), st.sampled_from(EDGES) | JSON_VALUES),
    min_size=1,
    max_size=3,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    """A valid event with one to three fields removed, replaced or added."""
    obj = orjson.loads(encode(draw(ANY_EVENT)))
    for name, remove, value in draw(MUTATIONS):
        if remove:
            obj.pop(name, None)
        else:
            obj[name] = value
    return orjson.dumps(obj)


def assert_agrees_with_schema(data: bytes) -> None:
    """The decoder accepts exactly what the schema accepts, except for the rules the
    schema cannot express: record size and calendar / range checks of string timestamps."""
    try:
        decode(data)
        reason = None
    except InvalidEvent as exc:
        assert exc.reason in REASONS
        reason = exc.reason
    try:
        instance = orjson.loads(data)
    except orjson.JSONDecodeError:
        assert reason in ("not_json", "oversize")
        return
    if not VALIDATOR.is_valid(instance):
        assert reason is not None, "the decoder accepts what the schema rejects"
    elif reason == "oversize":
        assert len(data) > MAX_EVENT_BYTES
    elif reason is not None:
        assert reason in ("bad_timestamp", "implausible_timestamp"), reason
        assert isinstance(instance["ts"], str), "numeric ts ranges must agree"


@given(events())
def test_round_trip(event: Any) -> None:
    data = encode(event)
    assert decode(data) == event
    VALIDATOR.validate(orjson.loads(data))


@settings(max_examples=300)
@given(
    st.binary(max_size=300)
    | events().map(encode).flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n]))
)
def test_arbitrary_bytes_raise_only_invalid_event(data: bytes) -> None:
    assert_agrees_with_schema(data)


@settings(max_examples=300)
@given(JSON_VALUES)
def test_arbitrary_json_raises_only_invalid_event(value: Any) -> None:
    assert_agrees_with_schema(orjson.dumps(value))


@settings(max_examples=500, deadline=None)
@given(mutated_events())
def test_mutated_events_agree_with_schema(data: bytes) -> None:
    assert_agrees_with_schema(data)


def single_field_changes(base: dict[str, Any]) -> list[bytes]:
    """``base`` with each of its type's fields in turn removed or set to each edge value."""
    cls = EVENT_TYPES[base["type"]]
    names = ["v", "type", "x_unknown", *(f.name for f in dataclasses.fields(cls))]
    return [raw(base, **{name: value}) for name in names for value in [..., *EDGES]]


ONE_EXAMPLE_PER_TYPE = {orjson.loads(line)["type"]: line for line in reversed(EXAMPLES)}


@pytest.mark.parametrize("event_type", sorted(ONE_EXAMPLE_PER_TYPE))
def test_every_single_field_change_agrees_with_schema(event_type: str) -> None:
    for data in single_field_changes(orjson.loads(ONE_EXAMPLE_PER_TYPE[event_type])):
        assert_agrees_with_schema(data)


OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@given(
    st.datetimes(datetime(2001, 1, 1), datetime(2098, 12, 31), timezones=OFFSETS),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
    st.booleans(),
)
def test_rfc3339_strings_decode_to_their_instant(
    moment: datetime, timespec: str, zulu: bool
) -> None:
    if zulu:
        moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec=timespec)
    if zulu:
        text = text.replace("+00:00", "Z")
    assert TS_PATTERN.search(text)
    step = {"seconds": 1_000_000, "milliseconds": 1000, "microseconds": 1}[timespec]
    written = moment.replace(microsecond=moment.microsecond // step * step)
    assert decode(raw(ENQUEUED, ts=text)).ts == written.timestamp()


@given(st.from_regex(TS_PATTERN) | st.text(max_size=40))
def test_string_timestamps_agree_with_the_schema_pattern(text: str) -> None:
    assert_agrees_with_schema(raw(ENQUEUED, ts=text))


@given(events(types=(CallAbandoned, SurveyResult, AgentStateChanged)))
def test_strategies_stay_in_plausible_ranges(event: Any) -> None:
    assert TS_MIN <= event.ts <= TS_MAX
    assert all(0 < len(name) <= 128 for name in (event.id, *getattr(event, "queues", ())))


def table_walk(data: bytes) -> Any:
    """What the general decoder (no generated fast path) makes of ``data``."""
    try:
        return _decode_object(orjson.loads(data), None, MAX_FUTURE_SKEW)
    except InvalidEvent as exc:
        return exc.reason


@settings(max_examples=500, deadline=None)
@given(mutated_events() | events().map(encode))
def test_fast_path_agrees_with_the_table_walk(data: bytes) -> None:
    try:
        fast = decode(data)
    except InvalidEvent as exc:
        fast = exc.reason
    walk = table_walk(data)
    assert fast == walk
    assert repr(fast) == repr(walk)  # same value types too (1 == 1.0 == True)
    if not isinstance(fast, str):
        assert type(fast) is EVENT_TYPES[fast.TYPE]


@settings(max_examples=300, deadline=None)
@given(events())
def test_fast_path_takes_every_valid_event(event: Any) -> None:
    """The fast path gives up on no valid event (else decode is right but slow)."""
    decoded = _fast(orjson.loads(encode(event)), event.TYPE, None, MAX_FUTURE_SKEW)
    assert decoded == event
    assert repr(decoded) == repr(event)


@settings(max_examples=100, deadline=None)
@given(events())
def test_events_keep_their_api(event: Any) -> None:
    """Compiled or not: frozen, hashable, copied, pickled and replaced as dataclasses."""
    cls = type(event)
    for field in dataclasses.fields(event):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(event, field.name, getattr(event, field.name))
    for twin in (
        copy.copy(event),
        copy.deepcopy(event),
        pickle.loads(pickle.dumps(event)),
        dataclasses.replace(event),
        cls(**{f.name: getattr(event, f.name) for f in dataclasses.fields(event)}),
    ):
        assert type(twin) is cls
        assert twin == event
        assert hash(twin) == hash(event)
        assert repr(twin) == repr(event)
    assert cls.TYPE == event.TYPE and EVENT_TYPES[cls.TYPE] is cls
    assert "TYPE" not in {f.name for f in dataclasses.fields(event)}


@pytest.mark.parametrize("event_type", sorted(ONE_EXAMPLE_PER_TYPE))
def test_fast_path_agrees_on_every_single_field_change(event_type: str) -> None:
    for data in single_field_changes(orjson.loads(ONE_EXAMPLE_PER_TYPE[event_type])):
        try:
            fast = decode(data)
        except InvalidEvent as exc:
            fast = exc.reason
        assert fast == table_walk(data), data
