"""Brute-force reference for docs/kpis.md, used by the property tests.

Written from the doc alone, independently of ``stream/``: it keeps the whole list of
events and recomputes every number from scratch. It is deliberately slow and simple.

Two steps:

1. :func:`simulate` walks the events of one queue in processing order and records, for
   each event, only what the doc makes order-dependent: the stream time before it, whether
   it is late or a duplicate, which call phase it applies to, the live state it leaves.
   The result is a flat list of :class:`Rec` contributions (each with its attribution
   ``ts`` and processing position) plus time spans (agent states, waiting calls).
2. The read functions (:func:`observe`, :func:`intervals`) filter those records by brute
   force for a range and recompute counters and KPIs from them.

Where the doc is silent, the choice made (and why) is written next to the code and
listed in ``READINGS`` so a discrepancy report can cite it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

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

# Readings of points docs/kpis.md leaves open (none of them is exercised in a way where
# another reading would give other numbers, except where noted).
READINGS = {
    "ignored_events": "a conflicting outcome or a stale agent event is judged late like "
    "an applied event; the streams make its ts <= stream time, so whether it would move "
    "stream time never matters",
    "stuck_in_service": "a call in service longer than max_wait leaves the calls in "
    "service with anomaly stuck_call_expired (the doc: 'the same way')",
    "expiry_before_close": "when one event moves stream time past both a stuck call's "
    "enqueue ts + max_wait and an interval's end + grace, the interval knows the call "
    "left at enqueue ts + max_wait (event-time order; the engine closed first: reported)",
    "interval_queue_length": "an interval's max_queue_length counts the calls waiting "
    "just before its end (enqueued before it, outcome at or after it), as known at close",
}

AGENT_STATES = tuple(s.value for s in AgentState if s is not AgentState.LOGGED_OUT)
STAFFED = ("available", "on_contact", "after_call_work")

SL_VARIANTS = (
    "answered_within_over_offered",
    "answered_within_over_answered",
    "answered_within_over_answered_abandoned",
    "answered_within_over_offered_minus_abandoned_within",
    "answered_abandoned_within_over_offered",
)


class QueueCfg(Protocol):
    sl_thresholds: tuple[float, ...]
    sl_target: float
    sl_formula: str
    short_abandon_seconds: float
    timezone: str
    business_day_start: str
    repeat_caller_hours: float


class EngineCfg(Protocol):
    windows: tuple[tuple[str, float], ...]
    window_slots: int
    grace_seconds: float
    interval_seconds: float
    dedupe_horizon_seconds: float
    max_wait_seconds: float
    max_waiting_calls: int

    def queue(self, name: str) -> Any: ...


# --------------------------------------------------------------------------- time


def _local_start(day: date, hhmm: str, tz: ZoneInfo) -> float:
    """The instant the business day starting on local date ``day`` begins."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    naive = datetime.combine(day, dtime(hour, minute))
    first = naive.replace(tzinfo=tz, fold=0).timestamp()
    if datetime.fromtimestamp(first, tz).replace(tzinfo=None) == naive:
        # Exists (on a fall-back day fold=0 is the first of the two occurrences).
        return first
    # In a spring-forward gap: the doc says the first instant after the gap, i.e. the
    # smallest instant whose local wall time is >= the requested one. Binary search on
    # whole seconds (transitions are on whole seconds).
    lo = math.floor(naive.replace(tzinfo=tz, fold=1).timestamp())
    hi = math.ceil(first)
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid + 1
    return float(lo)


def _starts_around(t: float, qc: QueueCfg) -> list[float]:
    tz = ZoneInfo(qc.timezone)
    local = datetime.fromtimestamp(t, tz).date()
    return [
        _local_start(local + timedelta(days=k), qc.business_day_start, tz) for k in range(-2, 3)
    ]


def day_start(t: float, qc: QueueCfg) -> float:
    """Start of the business day containing instant ``t``."""
    return max(s for s in _starts_around(t, qc) if s <= t)


def next_day_start(t: float, qc: QueueCfg) -> float:
    return min(s for s in _starts_around(t, qc) if s > t)


@lru_cache(maxsize=4096)
def _grid(ds: float, nd: float, tz_name: str, hhmm: str, size: float) -> tuple[float, ...]:
    """Interval starts within the business day [ds, nd): the day start, then every
    instant at which the local clock shows hhmm + k*size; a grid time skipped by a
    spring-forward gap gives the first instant after the gap, one shown twice on a
    fall-back day gives both. Brute force: look at every whole UTC minute of the day."""
    tz = ZoneInfo(tz_name)
    hour, minute = (int(x) for x in hhmm.split(":"))
    step = round(size / 60)

    def on_grid(local: datetime) -> bool:
        return ((local.hour * 60 + local.minute) - (hour * 60 + minute)) % step == 0

    starts = [ds]
    t = ds - ds % 60 + 60
    prev = datetime.fromtimestamp(t - 60, tz).replace(tzinfo=None)
    while t < nd:
        local = datetime.fromtimestamp(t, tz).replace(tzinfo=None)
        skipped = prev + timedelta(minutes=1)
        while not on_grid(local) and skipped < local:  # wall times the clock jumped over
            if on_grid(skipped):
                starts.append(t)
                break
            skipped += timedelta(minutes=1)
        else:
            if on_grid(local):
                starts.append(t)
        prev = local
        t += 60
    return tuple(starts)


def interval_of(t: float, cfg: EngineCfg, qc: QueueCfg) -> tuple[float, float]:
    """The fixed interval [start, end) holding ``t``: aligned to the local wall clock from
    the business-day start, cut at the day's end; 86400 means the business day itself."""
    ds, nd = day_start(t, qc), next_day_start(t, qc)
    if cfg.interval_seconds >= 86400:
        return ds, nd
    starts = _grid(ds, nd, qc.timezone, qc.business_day_start, cfg.interval_seconds)
    start = max(s for s in starts if s <= t)
    return start, min([s for s in starts if s > t] + [nd])


def window_start(now: float, length: float, slots: int) -> float:
    w = length / slots
    c = math.floor(now / w)
    return (c - slots + 1) * w


# --------------------------------------------------------------------------- simulation


@dataclass
class Rec:
    """One counter contribution, attributed to ``ts``."""

    kind: str  # enqueue | outcome | transfer | end | acw | survey | qlen
    ts: float
    pos: int  # processing position of the event that made it
    late: bool
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Span:
    """A time span: an agent in a state, or a call waiting. ``end`` None = still open."""

    kind: str  # agent state name, or "waiting"
    start: float
    open_pos: int
    end: float | None = None
    close_pos: int | None = None
    key: str = ""  # agent id or call id


@dataclass
class _Call:
    enq: CallEnqueued | None = None
    outcome: str | None = None  # applied outcome event type
    parked: tuple[Event, int] | None = None
    ended: bool = False
    acw: bool = False
    transferred: bool = False
    surveyed: bool = False
    wait_span: Span | None = None
    dropped: str | None = None  # kind of its outcome, expired before the enqueue came
    expired: bool = False  # dropped from waiting as stuck: an outcome now is unknown
    refused: bool = False  # queue_full: not tracked, its outcome is not counted


@dataclass
class Sim:
    queue: str
    events: list[Event]  # the queue's events in processing order
    st_after: list[float | None]  # stream time after each position
    # max(stream time, engine.advance() instant) just before each position; the last
    # entry is after everything. An interval closes once this reaches end + grace.
    clock_before: list[float | None]
    stream_time: float | None
    recs: list[Rec]
    spans: list[Span]
    anomalies: Counter[str]
    waiting: dict[str, float]  # call_id -> enqueue ts
    in_service: dict[str, str | None]  # call_id -> agent
    agents: dict[str, tuple[str, float]]  # agent -> (state, since)


def _outcome_kind(e: Event) -> str:
    if isinstance(e, CallAnswered):
        return "answered"
    if isinstance(e, CallAbandoned):
        return "abandoned"
    assert isinstance(e, CallLeft)
    return "flowed_out" if e.reason == LeaveReason.OVERFLOW else "left"


def _is_phase_duplicate(e: Event, call: _Call | None) -> bool:
    if call is None:
        return False
    if isinstance(e, CallEnqueued):
        return call.enq is not None
    if isinstance(e, CallEnded):
        return call.ended
    if isinstance(e, AfterCallWorkEnded):
        return call.acw
    if isinstance(e, CallAnswered | CallAbandoned | CallLeft):
        # The same outcome sent again (another id) is a re-send, not a conflict.
        known = call.outcome or call.dropped
        if known is None and call.parked is not None:
            known = _outcome_kind(call.parked[0])
        return known is not None and known == _outcome_kind(e)
    return False


def simulate(
    events: Sequence[Event],
    cfg: EngineCfg,
    queue: str,
    *,
    advances: Sequence[tuple[int, float]] = (),
) -> Sim:
    """Apply the doc's order-dependent rules to ``queue``'s events in processing order.

    ``advances``: (i, now) = ``engine.advance(now)`` was called before ``events[i]``
    (i = len(events): after the last one).
    """
    qc: QueueCfg = cfg.queue(queue)
    evs: list[Event] = []
    grace = cfg.grace_seconds
    st: float | None = None
    adv: float | None = None  # latest advance() instant since the queue exists
    st_after: list[float | None] = []
    clock_before: list[float | None] = []
    seen: dict[str, float] = {}
    calls: dict[str, _Call] = {}
    callers: dict[str, list[float]] = {}  # caller -> ts of applied enqueues
    agents: dict[str, tuple[str, float]] = {}
    # agent -> ts of its logout. The engine remembers a logout for at least the dedupe
    # horizon of stream time; the streams never bring an agent event older than a logout
    # later than that, so keeping it forever gives the same numbers.
    logouts: dict[str, float] = {}
    agent_span: dict[str, Span] = {}
    waiting: dict[str, float] = {}
    in_service: dict[str, str | None] = {}
    service_since: dict[str, float] = {}  # call -> answer ts
    recs: list[Rec] = []
    spans: list[Span] = []
    anomalies: Counter[str] = Counter()

    def serve(o: CallAnswered) -> None:
        # docs/kpis.md: at most max_waiting_calls calls in service are tracked.
        if len(in_service) >= cfg.max_waiting_calls:
            anomalies["service_full"] += 1
        else:
            in_service[o.call_id] = o.agent_id
            service_since[o.call_id] = o.ts

    def apply_outcome(o: Event, call: _Call, pos: int, late: bool, parked: bool = False) -> None:
        assert call.enq is not None
        kind = _outcome_kind(o)
        raw = o.ts - call.enq.ts
        if raw < 0:
            anomalies["negative_wait"] += 1
        recs.append(Rec("outcome", o.ts, pos, late, {"kind": kind, "wait": max(0.0, raw)}))
        call.outcome = kind
        if call.wait_span is not None and call.wait_span.end is None:
            span = call.wait_span
            span.end, span.close_pos = o.ts, pos
            waiting.pop(o.call_id, None)
        if isinstance(o, CallAnswered) and not call.ended and not parked:
            serve(o)  # a parked answer was served when it arrived

    def agent_since(agent: str) -> float:
        """The ts of the agent's latest applied event (its logout once logged out)."""
        if agent in agents:
            return agents[agent][1]
        return logouts.get(agent, -math.inf)

    def clock() -> float | None:
        return max((x for x in (st, adv) if x is not None), default=None)

    def closed_interval(ts: float) -> bool:
        # docs/kpis.md: an event of a closed interval is counted as late.
        now = clock()
        return now is not None and interval_of(ts, cfg, qc)[1] + grace <= now

    def advance_to(index: int) -> None:
        nonlocal adv
        for i, now in advances:
            if i == index and st is not None:  # a queue that does not exist yet ignores it
                adv = now if adv is None else max(adv, now)

    pos = -1
    for index, e in enumerate(events):
        advance_to(index)
        if queue not in queues_of(e):
            continue
        pos += 1
        evs.append(e)
        clock_before.append(clock())
        call = calls.get(e.call_id) if not isinstance(e, AgentStateChanged) else None
        horizon_ok = st is None or seen.get(e.id, -math.inf) >= st - cfg.dedupe_horizon_seconds
        if (e.id in seen and horizon_ok) or _is_phase_duplicate(e, call):
            anomalies["duplicate"] += 1
            st_after.append(st)
            continue
        # Remembered at max(ts, stream time): a late event's re-delivery is a duplicate.
        seen[e.id] = e.ts if st is None else max(st, e.ts)
        late = st is not None and e.ts < st - grace
        counted_late = late or closed_interval(e.ts)
        # An outcome that is parked is judged late when it is applied, not on arrival.
        is_outcome = isinstance(e, CallAnswered | CallAbandoned | CallLeft)
        parks = is_outcome and (
            call is None
            or (
                (call.enq is None or call.expired)
                and call.outcome is None
                and call.parked is None
                and call.dropped is None
            )
        )
        if counted_late and not parks:
            anomalies["late"] += 1
        # Stream time = the largest ts of the events *applied*: a parked outcome moves it
        # only once it is applied (when its enqueue comes).
        if not parks:
            st = e.ts if st is None else max(st, e.ts)
        # Stuck calls (older than max_wait in stream time) leave waiting; as soon as stream
        # time moves, so before this event is applied.
        for cid, enq_ts in list(waiting.items()):
            if st is not None and st - enq_ts > cfg.max_wait_seconds:
                del waiting[cid]
                span = calls[cid].wait_span
                assert span is not None
                span.end, span.close_pos = enq_ts + cfg.max_wait_seconds, pos
                calls[cid].expired = True
                anomalies["stuck_call_expired"] += 1
        # So do calls in service longer than max_wait (their call.ended was lost).
        for cid, since in list(service_since.items()):
            if cid not in in_service:
                del service_since[cid]
            elif st is not None and st - since > cfg.max_wait_seconds:
                del in_service[cid], service_since[cid]
                anomalies["stuck_call_expired"] += 1

        if isinstance(e, AgentStateChanged) and e.ts < agent_since(e.agent_id):
            # Older than the agent's current state or its logout: ignored (but judged late
            # like any other).
            anomalies["stale_agent_event"] += 1
        elif isinstance(e, AgentStateChanged):
            cur = agents.get(e.agent_id)
            if cur is not None:
                span = agent_span.pop(e.agent_id)
                span.end, span.close_pos = e.ts, pos
            if e.state == AgentState.LOGGED_OUT:
                agents.pop(e.agent_id, None)
                logouts[e.agent_id] = e.ts
                if any(a == e.agent_id for a in in_service.values()):
                    anomalies["logout_mid_call"] += 1
            else:
                agents[e.agent_id] = (e.state.value, e.ts)
                span = Span(e.state.value, e.ts, pos, key=e.agent_id)
                agent_span[e.agent_id] = span
                spans.append(span)
        else:
            call = calls.setdefault(e.call_id, _Call())
            if isinstance(e, CallEnqueued):
                call.enq = e
                has_caller = e.caller_id is not None
                repeat = False
                if has_caller:
                    prev = callers.get(e.caller_id, [])
                    # Earlier applied enqueues are all of other calls (a second enqueue
                    # of the same call is a phase duplicate).
                    if prev:
                        last = prev[-1]  # the most recently applied one
                        repeat = e.ts - qc.repeat_caller_hours * 3600 <= last <= e.ts
                    callers.setdefault(e.caller_id, []).append(e.ts)
                recs.append(
                    Rec("enqueue", e.ts, pos, late, {"caller": has_caller, "repeat": repeat})
                )
                if call.dropped is not None:
                    # The outcome is known (though dropped from the KPIs): not waiting.
                    pass
                elif call.parked is not None:
                    o, _ = call.parked
                    call.parked = None
                    # Counted now, attributed to the outcome's ts, lateness judged now.
                    o_late = o.ts < st - grace
                    if o_late or closed_interval(o.ts):
                        anomalies["late"] += 1
                    st = max(st, o.ts)
                    # The call never joins the live waiting list, but L(t) counts it for
                    # enqueued <= t < outcome (docs/kpis.md, time-weighted queue length).
                    span = Span("waiting", e.ts, pos, o.ts, pos, key=e.call_id)
                    spans.append(span)
                    apply_outcome(o, call, pos, o_late, parked=True)
                elif len(waiting) >= cfg.max_waiting_calls:
                    anomalies["queue_full"] += 1
                    call.refused = True
                else:
                    waiting[e.call_id] = e.ts
                    call.wait_span = Span("waiting", e.ts, pos, key=e.call_id)
                    spans.append(call.wait_span)
                if not late:
                    recs.append(Rec("qlen", e.ts, pos, late, {"n": len(waiting)}))
            elif is_outcome:
                if call.outcome is not None or call.parked is not None or call.dropped:
                    anomalies["conflicting_outcome"] += 1
                elif call.enq is None or call.expired:
                    call.parked = (e, pos)
                    # Only the counters wait for the enqueue: the live state (in service)
                    # follows the answer at once, like a late answer's does.
                    if isinstance(e, CallAnswered) and not call.ended:
                        serve(e)
                elif call.refused:
                    # Its wait is unknown: not counted; but the outcome is known (later
                    # outcomes conflict) and an answer puts the call in service.
                    call.outcome = _outcome_kind(e)
                    if isinstance(e, CallAnswered) and not call.ended:
                        serve(e)
                else:
                    apply_outcome(e, call, pos, late)
            elif isinstance(e, CallTransferred):
                if not call.transferred:
                    call.transferred = True
                    recs.append(Rec("transfer", e.ts, pos, late))
            elif isinstance(e, CallEnded):
                # An answer parked or dropped from the KPIs (no enqueue in time) is still an answer.
                parked = _outcome_kind(call.parked[0]) if call.parked else None
                if "answered" not in (call.outcome, call.dropped, parked):
                    anomalies["end_without_answer"] += 1
                call.ended = True
                in_service.pop(e.call_id, None)
                recs.append(
                    Rec("end", e.ts, pos, late, {"talk": e.talk_seconds, "hold": e.hold_seconds})
                )
            elif isinstance(e, AfterCallWorkEnded):
                if not call.ended:
                    anomalies["acw_without_end"] += 1
                call.acw = True
                recs.append(Rec("acw", e.ts, pos, late, {"acw": e.acw_seconds}))
            elif isinstance(e, SurveyResult) and not call.surveyed:
                call.surveyed = True
                data = {"csat": e.csat, "nps": e.nps, "resolved": e.resolved}
                recs.append(Rec("survey", e.ts, pos, late, data))

        # Parked outcomes whose enqueue did not come within the grace are dropped.
        for c in calls.values():
            if c.parked is not None and st is not None and st > c.parked[0].ts + grace:
                c.dropped = _outcome_kind(c.parked[0])
                c.parked = None
                anomalies["outcome_without_enqueue"] += 1
        st_after.append(st)

    advance_to(len(events))
    clock_before.append(clock())
    return Sim(
        queue,
        evs,
        st_after,
        clock_before,
        st,
        recs,
        spans,
        anomalies,
        waiting,
        in_service,
        agents,
    )


# --------------------------------------------------------------------------- counters


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def counters(
    recs: Sequence[Rec],
    span_parts: Mapping[str, float],
    qc: QueueCfg,
) -> dict[str, float]:
    """Counters from the contributions in a range (already filtered) and the time spent
    per span kind in that range."""
    c: dict[str, float] = Counter()
    for t in qc.sl_thresholds:
        c[f"answered_within_{t:g}"] = 0
        c[f"abandoned_within_{t:g}"] = 0
    for name in (
        "entered",
        "entered_with_caller_id",
        "repeat_entered",
        "offered",
        "answered",
        "abandoned",
        "short_abandoned",
        "left",
        "flowed_out",
        "wait_seconds",
        "answered_wait_seconds",
        "abandoned_wait_seconds",
        "transferred",
        "handled",
        "talk_seconds",
        "hold_seconds",
        "acw_seconds",
        "csat_sum",
        "csat_responses",
        "csat_satisfied",
        "nps_responses",
        "nps_promoters",
        "nps_detractors",
        "resolved_responses",
        "resolved_true",
    ):
        c[name] = 0
    max_wait: float | None = None
    max_qlen = 0
    for r in recs:
        d = r.data
        if r.kind == "enqueue":
            c["entered"] += 1
            c["entered_with_caller_id"] += d["caller"]
            c["repeat_entered"] += d["repeat"]
        elif r.kind == "qlen":
            max_qlen = max(max_qlen, d["n"])
        elif r.kind == "outcome":
            wait = d["wait"]
            c["offered"] += 1
            c["wait_seconds"] += wait
            max_wait = wait if max_wait is None else max(max_wait, wait)
            if d["kind"] == "answered":
                c["answered"] += 1
                c["answered_wait_seconds"] += wait
                for t in qc.sl_thresholds:
                    c[f"answered_within_{t:g}"] += wait <= t
            elif d["kind"] == "abandoned":
                c["abandoned"] += 1
                c["abandoned_wait_seconds"] += wait
                c["short_abandoned"] += wait <= qc.short_abandon_seconds
                for t in qc.sl_thresholds:
                    c[f"abandoned_within_{t:g}"] += wait <= t
            else:
                c[d["kind"]] += 1
        elif r.kind == "transfer":
            c["transferred"] += 1
        elif r.kind == "end":
            c["handled"] += 1
            c["talk_seconds"] += d["talk"]
            c["hold_seconds"] += d["hold"]
        elif r.kind == "acw":
            c["acw_seconds"] += d["acw"]
        elif r.kind == "survey":
            if d["csat"] is not None:
                c["csat_sum"] += d["csat"]
                c["csat_responses"] += 1
                c["csat_satisfied"] += d["csat"] >= 4
            if d["nps"] is not None:
                c["nps_responses"] += 1
                c["nps_promoters"] += d["nps"] >= 9
                c["nps_detractors"] += d["nps"] <= 6
            if d["resolved"] is not None:
                c["resolved_responses"] += 1
                c["resolved_true"] += d["resolved"] is True
    out: dict[str, Any] = dict(c)
    out["max_wait_seconds"] = max_wait
    out["max_queue_length"] = max_qlen
    for state in AGENT_STATES:
        out[f"agents_{state}_seconds"] = span_parts.get(state, 0.0)
    out["queue_length_seconds"] = span_parts.get("waiting", 0.0)
    return out


# --------------------------------------------------------------------------- KPIs


def _div(num: float, den: float) -> float | None:
    # An empty denominator has no value (never 0 or 100 %).
    return num / den if den else None


def kpis(
    c: Mapping[str, Any],
    qc: QueueCfg,
    *,
    span: float | None,
    misses: Mapping[float, int] | None,
) -> dict[str, float | None]:
    """Every KPI of the doc's tables from counters ``c`` (re-implemented from the doc).

    ``misses`` (M_T per threshold) is only given for windows and today, read live.
    """
    o, an, ab, s = c["offered"], c["answered"], c["abandoned"], c["short_abandoned"]
    out: dict[str, float | None] = {}
    for t in qc.sl_thresholds:
        a_t = c[f"answered_within_{t:g}"]
        b_t = c[f"abandoned_within_{t:g}"]
        m = (misses or {}).get(t, 0)
        for excl in (False, True):
            o_, ab_, b_ = o, ab, b_t
            if excl:
                o_, ab_ = o - s, ab - s
                # Short abandons all have wait <= S, so they are inside B_T iff S <= T.
                b_ = b_t - s if qc.short_abandon_seconds <= t else 0
            values = {
                "answered_within_over_offered": _div(a_t, o_ + m),
                "answered_within_over_answered": _div(a_t, an),
                "answered_within_over_answered_abandoned": _div(a_t, an + ab_ + m),
                "answered_within_over_offered_minus_abandoned_within": _div(a_t, o_ - b_ + m),
                "answered_abandoned_within_over_offered": _div(a_t + b_, o_ + m),
            }
            suffix = "_excl_short" if excl else ""
            for variant, v in values.items():
                out[f"service_level:{t:g}:{variant}{suffix}"] = v
    handled = c["handled"]
    busy = c["agents_on_contact_seconds"] + c["agents_after_call_work_seconds"]
    out.update(
        {
            "abandon_ratio": _div(ab, o),
            "abandon_ratio_excl_short": _div(ab - s, o - s),
            "asa_seconds": _div(c["answered_wait_seconds"], an),
            "aht_seconds": _div(c["talk_seconds"] + c["hold_seconds"] + c["acw_seconds"], handled),
            "avg_talk_seconds": _div(c["talk_seconds"], handled),
            "avg_hold_seconds": _div(c["hold_seconds"], handled),
            "avg_acw_seconds": _div(c["acw_seconds"], handled),
            "avg_wait_seconds": _div(c["wait_seconds"], o),
            "max_wait_seconds": c["max_wait_seconds"],
            "avg_abandon_seconds": _div(c["abandoned_wait_seconds"], ab),
            "transfer_ratio": _div(c["transferred"], an),
            "occupancy_ratio": _div(busy, busy + c["agents_available_seconds"]),
            "repeat_caller_ratio": _div(c["repeat_entered"], c["entered_with_caller_id"]),
            "csat_avg": _div(c["csat_sum"], c["csat_responses"]),
            "csat_satisfied_ratio": _div(c["csat_satisfied"], c["csat_responses"]),
            "nps": _div(100 * (c["nps_promoters"] - c["nps_detractors"]), c["nps_responses"]),
            "resolved_ratio": _div(c["resolved_true"], c["resolved_responses"]),
            "arrival_rate_per_second": _div(c["entered"], span) if span else None,
            "avg_queue_length": _div(c["queue_length_seconds"], span) if span else None,
            "max_queue_length": c["max_queue_length"],
        }
    )
    t1 = qc.sl_thresholds[0]
    out["service_level"] = out[f"service_level:{t1:g}:{qc.sl_formula}"]
    return out


def staffing_kpis(
    kp: Mapping[str, float | None], c: Mapping[str, Any], qc: QueueCfg, agents_staffed: int
) -> dict[str, float | None]:
    """The staffing keys of a window. The Erlang math is stream/erlang.py (checked against
    independent references in tests/unit/test_erlang.py); what is checked here is what the
    doc says goes in: the window's arrival rate and AHT, the first threshold, the target,
    the agents staffed now and patience_mle(wait_seconds, abandoned) of the window."""
    from stream import erlang

    patience = erlang.patience_mle(c["wait_seconds"], int(c["abandoned"]))
    s = erlang.staffing(
        kp["arrival_rate_per_second"],
        kp["aht_seconds"],
        qc.sl_thresholds[0],
        qc.sl_target,
        agents_staffed,
        patience,
    )
    return {
        "agents_required": s.agents_required,
        "staffing_gap": s.gap,
        "predicted_service_level": s.predicted_sl,
        "predicted_asa_seconds": s.predicted_asa_s,
        "predicted_abandon_ratio": s.predicted_abandon_ratio,
    }


# --------------------------------------------------------------------------- reads


@dataclass
class View:
    counters: dict[str, Any]
    kpis: dict[str, float | None]
    span: float | None


@dataclass
class QueueView:
    queue: str
    stream_time: float | None
    totals: dict[str, Any]
    windows: dict[str, View]
    today: View
    calls_waiting: int
    longest_wait: float | None
    calls_in_service: int
    agents_by_state: dict[str, int]
    agents_staffed: int
    anomalies: dict[str, int]


def _span_parts(sim: Sim, lo: float, hi: float, *, now: float) -> dict[str, float]:
    """Time of each span kind inside [lo, hi], as known now (spans closed by late events
    included: time-weighted values follow the live state); open spans run up to now."""
    parts: dict[str, float] = Counter()
    for sp in sim.spans:
        end = sp.end if sp.end is not None else now
        parts[sp.kind] += _overlap(sp.start, end, lo, hi)
    return parts


def _live_view(
    sim: Sim, recs: list[Rec], parts: Mapping[str, float], qc: QueueCfg, now: float, span: float
) -> View:
    c = counters(recs, parts, qc)
    waits = [now - t for t in sim.waiting.values()]
    # Windows and today also see the calls waiting now (max wait, max length, misses).
    if waits:
        live_max = max(0.0, *waits)
        c["max_wait_seconds"] = (
            live_max if c["max_wait_seconds"] is None else max(c["max_wait_seconds"], live_max)
        )
    c["max_queue_length"] = max(c["max_queue_length"], len(sim.waiting))
    misses = {t: sum(w > t for w in waits) for t in qc.sl_thresholds}
    return View(c, kpis(c, qc, span=span, misses=misses), span)


def observe(sim: Sim, cfg: EngineCfg, now: float) -> QueueView:
    """Everything the engine exposes for one queue, read at ``now`` (>= stream time)."""
    qc: QueueCfg = cfg.queue(sim.queue)
    if sim.stream_time is not None:
        now = max(now, sim.stream_time)  # reads never look into the past of stream time
    by_state = {s: 0 for s in AGENT_STATES}
    for state, _ in sim.agents.values():
        by_state[state] += 1
    staffed = sum(by_state[s] for s in STAFFED)
    windows: dict[str, View] = {}
    for name, length in cfg.windows:
        ws = window_start(now, length, cfg.window_slots)
        recs = [r for r in sim.recs if not r.late and ws <= r.ts <= now]

        parts = _span_parts(
            sim,
            ws,
            now,
            now=now,
        )
        view = _live_view(sim, recs, parts, qc, now, now - ws)
        view.kpis.update(staffing_kpis(view.kpis, view.counters, qc, staffed))
        windows[name] = view
    ds = day_start(now, qc)
    today_recs = [r for r in sim.recs if ds <= r.ts <= now]
    today = _live_view(sim, today_recs, _span_parts(sim, ds, now, now=now), qc, now, now - ds)
    totals = counters(sim.recs, {}, qc)  # the totals carry no time-weighted values
    return QueueView(
        queue=sim.queue,
        stream_time=sim.stream_time,
        totals=totals,
        windows=windows,
        today=today,
        calls_waiting=len(sim.waiting),
        longest_wait=max((now - t for t in sim.waiting.values()), default=None),
        calls_in_service=len(sim.in_service),
        agents_by_state=by_state,
        agents_staffed=staffed,
        anomalies={k: v for k, v in sim.anomalies.items() if v},
    )


@dataclass(frozen=True)
class Summary:
    queue: str
    start: float
    end: float
    counters: dict[str, Any]
    kpis: dict[str, float | None]


def intervals(sim: Sim, cfg: EngineCfg, flush: bool = True) -> list[Summary]:
    """The interval summaries emitted for one queue: those closed by stream time or by
    ``advance()`` while applying, then (``flush``) every open one.

    An interval's content is what was known when it closed: contributions of events
    processed before that, and spans as known then (still-open spans run on).
    """
    qc: QueueCfg = cfg.queue(sim.queue)
    grace = cfg.grace_seconds
    n = len(sim.events)
    clocks = sim.clock_before

    def open_at(end: float, pos: int) -> bool:
        before = clocks[pos]
        return before is None or before < end + grace

    # Intervals exist from the first one that something was booked into (while open)
    # up to the one holding the stream time or the last one advance() closed; those
    # where nothing happened are skipped.
    booked = [r.ts for r in sim.recs if open_at(interval_of(r.ts, cfg, qc)[1], r.pos)]
    booked += [
        sp.start for sp in sim.spans if open_at(interval_of(sp.start, cfg, qc)[1], sp.open_pos)
    ]
    if not booked or sim.stream_time is None:
        return []
    final = clocks[n]
    assert final is not None
    rows = [interval_of(min(booked), cfg, qc)]
    while rows[-1][1] <= sim.stream_time or rows[-1][1] + grace <= final:
        rows.append(interval_of(rows[-1][1], cfg, qc))
    if rows[-1][0] > sim.stream_time and rows[-1][1] + grace > final:
        rows.pop()  # neither holds the stream time nor was closed
    out: list[Summary] = []
    for start, end in rows:
        close = next((p for p, c in enumerate(clocks) if c is not None and c >= end + grace), None)
        if close is None:
            if not flush:
                continue
            close = n
        recs = [r for r in sim.recs if r.pos < close and start <= r.ts < end]
        parts: dict[str, float] = Counter()
        for sp in sim.spans:
            if sp.open_pos >= close:
                continue
            sp_end = sp.end if sp.close_pos is not None and sp.close_pos < close else math.inf
            parts[sp.kind] += _overlap(sp.start, sp_end, start, end)
        c = counters(recs, parts, qc)
        # "or the current number waiting": for an interval read at its end, the calls
        # waiting just before the end, as known when it closed.
        at_end = 0
        for sp in sim.spans:
            if sp.kind == "waiting" and sp.open_pos < close and sp.start < end:
                known_end = sp.end if sp.close_pos is not None and sp.close_pos < close else None
                at_end += known_end is None or known_end >= end
        c["max_queue_length"] = max(c["max_queue_length"], at_end)
        if not any(c.values()):
            # Nothing at all happened (no event, no waiting call, no agent): no row.
            continue
        out.append(Summary(sim.queue, start, end, c, kpis(c, qc, span=end - start, misses=None)))
    return out


def all_queues(events: Sequence[Event]) -> list[str]:
    return sorted({q for e in events for q in queues_of(e)})


def simulate_all(events: Sequence[Event], cfg: EngineCfg, **kw: Any) -> dict[str, Sim]:
    return {q: simulate(events, cfg, q, **kw) for q in all_queues(events)}
