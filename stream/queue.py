"""Per-queue live state and the call/agent state machine (docs/kpis.md).

A :class:`QueueState` keeps what is true *now* (waiting calls with their enqueue time,
calls in service, agents by state), the phases each recent call went through (for
idempotency), outcomes parked until their enqueue arrives, and anomaly counters. Every
applied event books its counters through the queue's :class:`~stream.ledger.Ledger`.

Hot-path notes: handlers are looked up by event class; per-call phases are small ints
(bit flags, cached by CPython); the common case books into one pending accumulator.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from .calendar import calendar_for
from .config import EngineConfig, QueueConfig
from .counters import (
    ABANDONED,
    ABANDONED_WAIT_SECONDS,
    ACW_SECONDS,
    AGENT_NETS,
    AGENT_STATES,
    ANSWERED,
    ANSWERED_WAIT_SECONDS,
    CSAT_RESPONSES,
    CSAT_SATISFIED,
    CSAT_SUM,
    ENTERED,
    ENTERED_WITH_CALLER_ID,
    FLOWED_OUT,
    HANDLED,
    HOLD_SECONDS,
    LEFT,
    MAX_QUEUE_LENGTH,
    MAX_WAIT_SECONDS,
    NPS_DETRACTORS,
    NPS_PROMOTERS,
    NPS_RESPONSES,
    OFFERED,
    QUEUE_NET,
    REPEAT_ENTERED,
    RESOLVED_RESPONSES,
    RESOLVED_TRUE,
    SHORT_ABANDONED,
    TALK_SECONDS,
    TRANSFERRED,
    WAIT_SECONDS,
    Counters,
    layout_for,
)
from .events import (
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
from .kpis import compute_kpis
from .ledger import Ledger, derive
from .recent import Recent

ANOMALY_KINDS = (
    "late",
    "duplicate",
    "negative_wait",
    "conflicting_outcome",
    "outcome_without_enqueue",
    "end_without_answer",
    "acw_without_end",
    "stuck_call_expired",
    "queue_full",
    "service_full",
    "stale_agent_event",
    "logout_mid_call",
    "misrouted",
)

# Phases of a call, as bit flags.
PH_ENQ, PH_ANS, PH_ABD, PH_LEFT, PH_XFER, PH_END, PH_ACW, PH_SURVEY = (1 << i for i in range(8))
PH_OUTCOME = PH_ANS | PH_ABD | PH_LEFT
_OUTCOME_BIT = {CallAnswered: PH_ANS, CallAbandoned: PH_ABD, CallLeft: PH_LEFT}

_STATE_INDEX = {AgentState(name): i for i, name in enumerate(AGENT_STATES)}
_STATE_INDEX[AgentState.LOGGED_OUT] = -1
_INF = float("inf")
_STAFFED = tuple(AGENT_STATES.index(s) for s in ("available", "on_contact", "after_call_work"))

Outcome = CallAnswered | CallAbandoned | CallLeft


@dataclass(frozen=True, slots=True)
class IntervalSummary:
    queue: str
    start: float
    end: float
    counters: Counters
    kpis: dict[str, float | None]


class Agent:
    __slots__ = ("since", "state")

    def __init__(self, state: int, since: float) -> None:
        self.state = state
        self.since = since


# --- counter bookings: fn(acc, row offset, ...) -----------------------------------------


def _book_enqueue(acc: array, off: int, caller: bool, repeat: bool, observed: float) -> None:
    acc[off + ENTERED] += 1
    if caller:
        acc[off + ENTERED_WITH_CALLER_ID] += 1
        if repeat:
            acc[off + REPEAT_ENTERED] += 1
    if observed > acc[off + MAX_QUEUE_LENGTH]:
        acc[off + MAX_QUEUE_LENGTH] = observed


def _book_one(acc: array, off: int, col: int, _b: float, _c: float) -> None:
    acc[off + col] += 1


def _book_end(acc: array, off: int, talk: float, hold: float, _c: float) -> None:
    acc[off + HANDLED] += 1
    acc[off + TALK_SECONDS] += talk
    acc[off + HOLD_SECONDS] += hold


def _book_acw(acc: array, off: int, acw: float, _b: float, _c: float) -> None:
    acc[off + ACW_SECONDS] += acw


def _book_survey(acc: array, off: int, csat: Any, nps: Any, resolved: Any) -> None:
    if csat is not None:
        acc[off + CSAT_RESPONSES] += 1
        acc[off + CSAT_SUM] += csat
        if csat >= 4:
            acc[off + CSAT_SATISFIED] += 1
    if nps is not None:
        acc[off + NPS_RESPONSES] += 1
        if nps >= 9:
            acc[off + NPS_PROMOTERS] += 1
        elif nps <= 6:
            acc[off + NPS_DETRACTORS] += 1
    if resolved is not None:
        acc[off + RESOLVED_RESPONSES] += 1
        if resolved:
            acc[off + RESOLVED_TRUE] += 1


class QueueState:
    """Live state, phases and counters of one queue (see docs/kpis.md)."""

    __slots__ = (
        "_agent_counts",
        "_agents",
        "_callers",
        "_closed_until",
        "_cum",
        "_fix_floor",
        "_grace",
        "_horizon",
        "_ids",
        "_in_service",
        "_late_before",
        "_ledger",
        "_logouts",
        "_max_parked",
        "_max_wait",
        "_max_waiting",
        "_next_house",
        "_next_work",
        "_oldest_service",
        "_oldest_wait",
        "_origin",
        "_parked",
        "_parked_deadline",
        "_phases",
        "_pmax",
        "_repeat_window",
        "_ring_index",
        "_room",
        "_short",
        "_sink",
        "_slow_at",
        "_st",
        "_waiting",
        "_within",
        "anomalies",
        "cfg",
        "layout",
        "name",
    )

    def __init__(
        self,
        name: str,
        cfg: QueueConfig,
        engine_cfg: EngineConfig,
        sink: list[IntervalSummary] | None = None,
    ) -> None:
        self.name = name
        self.cfg = cfg
        self.layout = layout = layout_for(cfg.sl_thresholds)
        calendar = calendar_for(cfg.timezone, cfg.business_day_start, engine_cfg.interval_seconds)
        self._ledger = Ledger(
            layout, engine_cfg.windows, engine_cfg.window_slots, calendar, engine_cfg.grace_seconds
        )
        self._ring_index = {name: i for i, (name, _) in enumerate(engine_cfg.windows)}
        self._sink: list[IntervalSummary] = [] if sink is None else sink
        self._grace = engine_cfg.grace_seconds
        self._max_wait = engine_cfg.max_wait_seconds
        self._max_waiting = engine_cfg.max_waiting_calls
        self._max_parked = engine_cfg.max_parked_outcomes
        self._short = cfg.short_abandon_seconds
        self._repeat_window = cfg.repeat_caller_hours * 3600.0
        self._within = tuple(
            zip(cfg.sl_thresholds, layout.answered_within, layout.abandoned_within, strict=True)
        )
        self._st = -_INF  # stream time
        self._late_before = -_INF  # st − grace
        self._closed_until = -_INF  # mirrors the ledger's
        self._next_house = -_INF  # stream time at which _housekeep has work
        self._next_work = -_INF  # min(ledger.next_boundary, _next_house)
        self._slow_at = -_INF  # min(ledger.slow_next, _next_house): before it, cross_fine
        self._cum = self._ledger.cum
        self._pmax = self._ledger.pmax
        self._origin = self._fix_floor = 0.0
        self._sync()
        self.anomalies: dict[str, int] = dict.fromkeys(ANOMALY_KINDS, 0)
        self._waiting: dict[str, float] = {}  # call_id -> enqueue ts
        self._oldest_wait = _INF  # lower bound of the waiting enqueue times
        self._in_service: dict[str, tuple[float, str]] = {}  # call_id -> (answer ts, agent)
        self._oldest_service = _INF
        self._agents: dict[str, Agent] = {}
        self._agent_counts = [0] * len(AGENT_STATES)
        self._horizon = engine_cfg.dedupe_horizon_seconds
        self._phases = Recent(engine_cfg.dedupe_horizon_seconds, engine_cfg.max_recent_ids)
        self._ids = Recent(engine_cfg.dedupe_horizon_seconds, engine_cfg.max_recent_ids)
        # Kept N + grace of stream time: exact for every repeat that is not itself late.
        self._callers = Recent(
            self._repeat_window + engine_cfg.grace_seconds, engine_cfg.max_repeat_callers
        )
        # agent_id -> ts of its logout: an older event of a logged-out agent is stale.
        self._logouts = Recent(engine_cfg.dedupe_horizon_seconds, engine_cfg.max_recent_ids)
        self._parked: dict[str, Outcome] = {}  # call_id -> outcome waiting for its enqueue
        self._parked_deadline = _INF
        self._room = self._min_room()  # inserts before a Recent table may be over its limit

    # --- applying events ---------------------------------------------------------------

    def apply(self, event: Event) -> None:
        # isinstance, most frequent first: compiled, type tests and native calls (a dict of
        # handlers would box and check arguments on every call).
        if isinstance(event, AgentStateChanged):
            self._on_agent(event)
        elif isinstance(event, CallEnqueued):
            self._on_enqueued(event)
        elif isinstance(event, (CallAnswered, CallAbandoned, CallLeft)):
            self._on_outcome(event)
        elif isinstance(event, CallEnded):
            self._on_ended(event)
        elif isinstance(event, AfterCallWorkEnded):
            self._on_acw_ended(event)
        elif isinstance(event, CallTransferred):
            self._on_transferred(event)
        elif isinstance(event, SurveyResult):
            self._on_survey(event)
        else:
            raise TypeError(f"not a canonical event: {type(event).__name__}")

    def _advance(self, ts: float) -> bool:
        """Move stream time to ``ts`` if newer; True when ``ts`` is on time for windows.
        A late event (or one of a closed interval) is counted as such."""
        if ts > self._st:
            self._st = ts
            self._late_before = ts - self._grace
            if ts >= self._next_work:
                self._tick(ts)
            return ts >= self._closed_until or self._late(ts)
        if ts >= self._late_before and ts >= self._closed_until:
            return True
        return self._late(ts)

    def _move(self, ts: float) -> None:
        """Stream time moves to ``ts`` if newer (lateness not judged)."""
        if ts > self._st:
            self._st = ts
            self._late_before = ts - self._grace
            if ts >= self._next_work:
                self._tick(ts)

    def _judge(self, ts: float) -> bool:
        """Like :meth:`_advance` for a booking at ``ts`` that does not move stream time."""
        if ts >= self._late_before and ts >= self._closed_until:
            return True
        return self._late(ts)

    def _late(self, ts: float) -> bool:
        self.anomalies["late"] += 1
        return ts >= self._late_before  # only its interval is closed: windows still take it

    def _tick(self, ts: float) -> None:
        """Stream time moved to ``ts`` (already set) and something is due."""
        ledger = self._ledger
        if ts < self._slow_at:  # only the finest window's boundary: most crossings
            ledger.cross_fine(ts)
            self._fix_floor = ledger.fix_floor
            nxt = ledger.next_boundary
            self._next_work = nxt if nxt < self._next_house else self._next_house
            return
        if ledger.next_boundary == -_INF:  # the first event
            ledger.start(ts)
        if ts > self._oldest_wait + self._max_wait:
            self._expire_waiting(ts)
        if ts >= ledger.next_boundary:
            closed = ledger.cross(ts, self._live)
            if closed:
                self._emit(closed, self._sink)
            self._sync()
        # Rotation times are in _next_house (a table that fills up rotates on insert).
        if ts >= self._next_house:
            self._housekeep(ts)

    def _wake(self, at: float) -> None:
        """Housekeeping is due at stream time ``at`` (or earlier)."""
        if at < self._next_house:
            self._next_house = at
            self._next_work = min(self._next_work, at)
            self._slow_at = min(self._slow_at, at)

    def _sync(self) -> None:
        """Mirror what the hot path needs from the ledger."""
        ledger = self._ledger
        self._cum = ledger.cum
        self._pmax = ledger.pmax
        self._origin = ledger.origin
        self._fix_floor = ledger.fix_floor
        self._closed_until = ledger.closed_until
        self._next_work = min(ledger.next_boundary, self._next_house)
        self._slow_at = min(ledger.slow_next, self._next_house)

    def _book(
        self, ts: float, on_time: bool, fn: Callable[..., None], a: Any, b: Any = 0.0, d: Any = 0.0
    ) -> None:
        """Book counters of an event at ``ts`` with ``fn(acc, off, a, b, d)``."""
        if on_time:
            if ts >= self._fix_floor:
                fn(self._cum, 0, a, b, d)
            else:
                self._ledger.book_on_time(ts, fn, (a, b, d))
        else:
            self._ledger.book_late(ts, fn, (a, b, d))

    def _observe(self, i: int, value: float, ts: float) -> None:
        """An on-time observation of maximum ``MAX_COLUMNS[i]`` (max wait, queue length)."""
        if ts >= self._fix_floor:
            pmax = self._pmax
            if value > pmax[i]:
                pmax[i] = value
        else:
            self._ledger.observe(i, value, ts)

    def _timeline(self, net: int, d: float, t: float) -> None:
        """The count of timeline ``net`` changed by ``d`` at instant ``t``."""
        if t >= self._fix_floor:
            cum = self._cum
            cum[net] += d
            cum[net + 1] += d * (t - self._origin)
        else:
            self._ledger.timeline(net, d, t)

    def _book_outcome(self, acc: array, off: int, col: int, wait: float, _d: float) -> None:
        acc[off + OFFERED] += 1
        acc[off + col] += 1
        acc[off + WAIT_SECONDS] += wait
        if wait > acc[off + MAX_WAIT_SECONDS]:
            acc[off + MAX_WAIT_SECONDS] = wait
        if col == ANSWERED:
            acc[off + ANSWERED_WAIT_SECONDS] += wait
            for t, answered_col, _ in self._within:
                if wait <= t:
                    acc[off + answered_col] += 1
        elif col == ABANDONED:
            acc[off + ABANDONED_WAIT_SECONDS] += wait
            if wait <= self._short:
                acc[off + SHORT_ABANDONED] += 1
            for t, _, abandoned_col in self._within:
                if wait <= t:
                    acc[off + abandoned_col] += 1

    def _duplicate(self, ev: Event) -> bool:
        """An event whose id was applied within the dedupe horizon (counted); else its id
        is remembered, unless the caller finds it a phase duplicate (then the id does not
        matter: the same id again is a phase duplicate again)."""
        ids = self._ids
        eid = ev.id
        seen = ids.cur.get(eid)
        if seen is None:
            seen = ids.prev.get(eid)
        if seen is not None and seen >= self._st - self._horizon:
            self.anomalies["duplicate"] += 1
            return True
        # Remembered at the later of its ts and stream time: a late event re-delivered
        # after it is a duplicate as well (its ts may be older than the horizon).
        ts = ev.ts
        ids.cur[eid] = ts if ts > self._st else self._st
        # Each applied event adds at most one entry to each Recent table: check their
        # size limits on insert, not only when stream time moves (outcomes without their
        # enqueue never move it).
        self._room -= 1
        if self._room <= 0:
            self._make_room()
        return False

    def _recent_tables(self) -> tuple[Recent, ...]:
        return (self._ids, self._phases, self._callers, self._logouts)

    def _min_room(self) -> int:
        return min(table.room() for table in self._recent_tables())

    def _make_room(self) -> None:
        """A Recent table may be over its size limit: rotate the full ones."""
        if self._min_room() <= 0:
            self._housekeep(self._st)
        self._room = self._min_room()

    def _phase_duplicate(self) -> None:
        self.anomalies["duplicate"] += 1

    def _on_enqueued(self, ev: CallEnqueued) -> None:
        cid = ev.call_id
        phases = self._phases
        ph = phases.cur.get(cid) or phases.prev.get(cid) or 0
        if self._duplicate(ev):
            return None
        if ph & PH_ENQ:
            return self._phase_duplicate()
        # Its outcome came first: claim it before stream time moves (and could drop it).
        parked = self._parked.pop(cid, None) if ph & PH_OUTCOME else None
        ts = ev.ts
        on_time = self._advance(ts)
        caller = ev.caller_id
        repeat = False
        if caller is not None:
            callers = self._callers
            last = callers.cur.get(caller)
            if last is None:
                last = callers.prev.get(caller)
            repeat = last is not None and ts - self._repeat_window <= last <= ts
            callers.cur[caller] = ts
        waiting = self._waiting
        if ph & PH_OUTCOME:  # claimed, or dropped: the call does not wait
            phases.cur[cid] = ph | PH_ENQ
        elif len(waiting) >= self._max_waiting:
            # Refused: not tracked, but its enqueue is known (its outcome is not parked).
            phases.cur[cid] = ph | PH_ENQ
            self.anomalies["queue_full"] += 1
        else:
            phases.cur[cid] = ph | PH_ENQ
            waiting[cid] = ts
            if ts < self._oldest_wait:
                self._oldest_wait = ts
                self._wake(ts + self._max_wait)
            self._timeline(QUEUE_NET, 1.0, ts)
        observed = float(len(waiting)) if on_time else 0.0
        if on_time and ts >= self._fix_floor:  # hot path: _book + _observe, inlined
            _book_enqueue(self._cum, 0, caller is not None, repeat, observed)
            if observed > self._pmax[1]:
                self._pmax[1] = observed
        else:
            self._book(ts, on_time, _book_enqueue, caller is not None, repeat, observed)
            if on_time:
                self._observe(1, observed, ts)
        if parked is not None:
            # Counted now, attributed to its own ts, lateness judged now; then it is
            # applied, so stream time moves to it.
            outcome_on_time = self._judge(parked.ts)
            self._move(parked.ts)
            self._count_outcome(parked, ts, outcome_on_time, waited=False)
        return None

    def _on_outcome(self, ev: Outcome) -> None:
        cid = ev.call_id
        phases = self._phases
        ph = phases.cur.get(cid) or phases.prev.get(cid) or 0
        bit = _OUTCOME_BIT[ev.__class__]
        if self._duplicate(ev):
            return None
        if ph & bit:  # the same outcome again (parked, dropped or counted)
            return self._phase_duplicate()
        ts = ev.ts
        if ph & PH_OUTCOME:
            self._advance(ts)
            self.anomalies["conflicting_outcome"] += 1
            return None
        phases.cur[cid] = ph | bit
        serve = bit == PH_ANS and not ph & PH_END
        if not ph & PH_ENQ:
            if serve:  # in service at once, even if parked
                self._serve(cid, ts, ev.agent_id)  # type: ignore[union-attr]
            return self._park(ev)
        on_time = self._advance(ts)
        if serve:  # after stream time moved: calls stuck in service have left first
            self._serve(cid, ts, ev.agent_id)  # type: ignore[union-attr]
        enqueued = self._waiting.pop(cid, None)
        if enqueued is None:  # refused by a full queue (queue_full): its wait is unknown
            return None
        self._count_outcome(ev, enqueued, on_time, waited=True)
        return None

    def _serve(self, cid: str, ts: float, agent: str) -> None:
        """The call is in service from ``ts``; at most max_waiting_calls are tracked."""
        if len(self._in_service) >= self._max_waiting:
            self.anomalies["service_full"] += 1
            return
        self._in_service[cid] = (ts, agent)
        if ts < self._oldest_service:
            self._oldest_service = ts
            self._wake(ts + self._max_wait)

    def _count_outcome(self, ev: Outcome, enqueued: float, on_time: bool, waited: bool) -> None:
        """Book a queue outcome. ``waited``: the call is leaving the waiting list now;
        else (a claimed parked outcome) its whole wait is booked on the timeline."""
        ts = ev.ts
        wait = ts - enqueued
        if wait < 0:
            self.anomalies["negative_wait"] += 1
            wait = 0.0
        if ev.__class__ is CallLeft:
            col = FLOWED_OUT if ev.reason is LeaveReason.OVERFLOW else LEFT
        else:
            col = ANSWERED if ev.__class__ is CallAnswered else ABANDONED
        if on_time and ts >= self._fix_floor:  # hot path: _book + _observe, inlined
            self._book_outcome(self._cum, 0, col, wait, 0.0)
            if wait > self._pmax[0]:
                self._pmax[0] = wait
        else:
            self._book(ts, on_time, self._book_outcome, col, wait)
            if on_time:
                self._observe(0, wait, ts)
        if waited:
            self._timeline(QUEUE_NET, -1.0, enqueued + wait)
        elif wait > 0:
            self._timeline(QUEUE_NET, 1.0, enqueued)
            self._timeline(QUEUE_NET, -1.0, ts)

    def _park(self, ev: Outcome) -> None:
        """An outcome whose enqueue has not arrived: it is applied (counted, and moves
        stream time) when the enqueue comes, unless stream time passes ts + grace first."""
        ts = ev.ts
        if ts < self._late_before or len(self._parked) >= self._max_parked:
            self.anomalies["outcome_without_enqueue"] += 1
            return
        self._parked[ev.call_id] = ev
        deadline = ts + self._grace
        if deadline < self._parked_deadline:
            self._parked_deadline = deadline
            self._wake(deadline)

    def _once(self, ev: Event, bit: int, duplicate: bool) -> int | None:
        """Phases of the call before ``ev`` marks ``bit``; None when ``ev`` is a duplicate
        (by id, or by phase when ``duplicate``) or ``bit`` was already marked."""
        if self._duplicate(ev):
            return None
        cid = ev.call_id  # type: ignore[union-attr]
        phases = self._phases
        ph = phases.cur.get(cid) or phases.prev.get(cid) or 0
        if ph & bit and duplicate:
            self._phase_duplicate()
            return None
        if ph & bit:  # counted once per call, but not a duplicate: only time moves
            self._advance(ev.ts)
            return None
        phases.cur[cid] = ph | bit
        return ph

    def _on_transferred(self, ev: CallTransferred) -> None:
        if self._once(ev, PH_XFER, duplicate=False) is not None:
            ts = ev.ts
            self._book(ts, self._advance(ts), _book_one, TRANSFERRED)

    def _on_ended(self, ev: CallEnded) -> None:
        ph = self._once(ev, PH_END, duplicate=True)
        if ph is None:
            return
        ts = ev.ts
        on_time = self._advance(ts)
        if not ph & PH_ANS:
            self.anomalies["end_without_answer"] += 1
        self._in_service.pop(ev.call_id, None)
        self._book(ts, on_time, _book_end, ev.talk_seconds, ev.hold_seconds)

    def _on_acw_ended(self, ev: AfterCallWorkEnded) -> None:
        ph = self._once(ev, PH_ACW, duplicate=True)
        if ph is None:
            return
        ts = ev.ts
        on_time = self._advance(ts)
        if not ph & PH_END:
            self.anomalies["acw_without_end"] += 1
        self._book(ts, on_time, _book_acw, ev.acw_seconds)

    def _on_survey(self, ev: SurveyResult) -> None:
        if self._once(ev, PH_SURVEY, duplicate=False) is not None:
            ts = ev.ts
            self._book(ts, self._advance(ts), _book_survey, ev.csat, ev.nps, ev.resolved)

    def _on_agent(self, ev: AgentStateChanged) -> None:
        if self._duplicate(ev):
            return None
        ts = ev.ts
        self._advance(ts)
        aid = ev.agent_id
        agents = self._agents
        agent = agents.get(aid)
        if agent is not None:
            since = agent.since
        else:  # logged out (or unknown): its logout, if recent, is its latest event
            logouts = self._logouts
            logout = logouts.cur.get(aid)  # not `since`: a float, never None (mypyc)
            since = logouts.prev.get(aid, -_INF) if logout is None else logout
        if ts < since:
            self.anomalies["stale_agent_event"] += 1
            return None
        new = _STATE_INDEX[ev.state]
        counts = self._agent_counts
        if agent is None:
            if new < 0:
                self._logouts.cur[aid] = ts
                return None
            agents[aid] = Agent(new, ts)
        else:
            old = agent.state
            agent.since = ts
            if old == new:
                return None
            counts[old] -= 1
            self._timeline(AGENT_NETS[old], -1.0, ts)
            if new < 0:
                del agents[aid]
                self._logouts.cur[aid] = ts
                if any(a == aid for _, a in self._in_service.values()):
                    self.anomalies["logout_mid_call"] += 1
                return None
            agent.state = new
        counts[new] += 1
        self._timeline(AGENT_NETS[new], 1.0, ts)
        return None

    def misrouted(self) -> None:
        """An event keyed to this queue that does not name it (not applied)."""
        self.anomalies["misrouted"] += 1

    # --- time passing ---------------------------------------------------------------------

    def _live(self) -> list[int]:
        """Timeline counts now: calls waiting, then agents per state."""
        return [len(self._waiting), *self._agent_counts]

    def _housekeep(self, st: float) -> None:
        if st >= self._parked_deadline:
            self._expire_parked(st)
        if st >= self._oldest_service + self._max_wait:
            self._expire_in_service(st)
        dropped = self._phases.tick(st)
        if dropped:
            self._keep_active(dropped)
        self._ids.tick(st)
        self._callers.tick(st)
        self._logouts.tick(st)
        self._room = self._min_room()
        self._schedule()

    def _schedule(self) -> None:
        self._next_house = min(
            self._parked_deadline,
            self._oldest_wait + self._max_wait,
            self._oldest_service + self._max_wait,
            self._phases.rotate_at,
            self._ids.rotate_at,
            self._callers.rotate_at,
            self._logouts.rotate_at,
        )
        self._next_work = min(self._ledger.next_boundary, self._next_house)
        self._slow_at = min(self._ledger.slow_next, self._next_house)

    def _expire_parked(self, st: float) -> None:
        """Outcomes whose enqueue did not come within grace leave the KPIs."""
        limit = st - self._grace
        for cid, ev in list(self._parked.items()):
            if ev.ts < limit:
                del self._parked[cid]
                self.anomalies["outcome_without_enqueue"] += 1
        self._parked_deadline = min((ev.ts for ev in self._parked.values()), default=_INF)
        self._parked_deadline += self._grace

    def _expire_waiting(self, st: float) -> None:
        """Calls waiting longer than max_wait leave the waiting list at enqueue + max_wait:
        stream time passes that instant first (boundaries, interval closes), then they go."""
        max_wait = self._max_wait
        ledger = self._ledger
        due = sorted((t + max_wait, cid) for cid, t in self._waiting.items() if t + max_wait < st)
        for at, cid in due:
            if at >= ledger.next_boundary:
                self._emit(ledger.cross(at, self._live), self._sink)
                self._sync()
            del self._waiting[cid]
            self._phases.discard(cid)
            self.anomalies["stuck_call_expired"] += 1
            self._timeline(QUEUE_NET, -1.0, at)
        self._oldest_wait = min(self._waiting.values(), default=_INF)

    def _expire_in_service(self, st: float) -> None:
        max_wait = self._max_wait
        for cid, (answered, _) in list(self._in_service.items()):
            if answered + max_wait < st:
                del self._in_service[cid]
                self.anomalies["stuck_call_expired"] += 1
        self._oldest_service = min((a for a, _ in self._in_service.values()), default=_INF)

    def _keep_active(self, dropped: dict[str, Any]) -> None:
        """Phases of calls still waiting, in service or parked survive a rotation."""
        self._phases.carry(dropped, chain(self._waiting, self._in_service, self._parked))

    def _emit(
        self, closed: Sequence[tuple[float, float, Counters]], out: list[IntervalSummary]
    ) -> list[IntervalSummary]:
        for start, end, counters in closed:
            kpis = compute_kpis(counters, self.cfg, span=end - start)
            out.append(IntervalSummary(self.name, start, end, counters, kpis))
        return out

    def close_until(self, now: float) -> list[IntervalSummary]:
        """Close the intervals with end + grace <= ``now`` (idle queues)."""
        closed = self._ledger.close(now - self._grace, self._live())
        self._sync()
        return self._emit(closed, [])

    def close_all(self) -> list[IntervalSummary]:
        """Close every open interval, the current one included (end of input)."""
        if self._st == -_INF:
            return []
        end = self._ledger.calendar.interval_bounds(self._st)[1]
        closed = self._ledger.close(end, self._live())
        self._sync()
        return self._emit(closed, [])

    # --- reads ------------------------------------------------------------------------------

    @property
    def stream_time(self) -> float | None:
        return None if self._st == -_INF else self._st

    @property
    def calls_waiting(self) -> int:
        return len(self._waiting)

    @property
    def calls_in_service(self) -> int:
        return len(self._in_service)

    @property
    def totals(self) -> Counters:
        return derive(self.layout, self._ledger.totals(), 0.0, None, 0.0)

    def _now(self, now: float) -> float:
        """Reads never look into the past of stream time."""
        return now if now > self._st else self._st

    def longest_wait(self, now: float) -> float | None:
        if not self._waiting:
            return None
        return max(0.0, self._now(now) - min(self._waiting.values()))

    def agents_by_state(self) -> dict[str, int]:
        return dict(zip(AGENT_STATES, self._agent_counts, strict=True))

    def agents_staffed(self) -> int:
        return sum(self._agent_counts[i] for i in _STAFFED)

    def _read(self, values: array, start: float, now: float) -> Counters:
        live = [len(self._waiting), *self._agent_counts]
        counters = derive(self.layout, values, now - start, live, start - self._ledger.origin)
        if live[0]:  # the longest wait so far (now >= stream time)
            longest = now - min(self._waiting.values())
            if longest > counters.values[MAX_WAIT_SECONDS]:
                counters.values[MAX_WAIT_SECONDS] = longest
        return counters

    def read(self, scope: str, now: float) -> tuple[Counters, float]:
        """(counters, span in seconds) of a window or "today" at ``now`` (at least stream
        time): the one read behind window(), today() and kpis()."""
        if now < self._st:  # reads never look into the past of stream time
            now = self._st
        if scope == "today":
            values, start = self._ledger.today_at(now)
        else:
            index = self._ring_index.get(scope)
            if index is None:
                allowed = ", ".join([*self._ring_index, "today"])
                raise ValueError(f"unknown scope {scope!r}; allowed: {allowed}")
            values, start = self._ledger.window(index, now)
        return self._read(values, start, now), now - start

    def bookings(self) -> bytes:
        """Every counter booked so far, as bytes: equal values mean nothing was booked in
        between (what caches of reads compare; see stream/read_cache.py)."""
        return self._ledger.cum.tobytes()

    def window(self, name: str, now: float) -> Counters:
        """One sliding window read at ``now`` (at least stream time)."""
        if name == "today":
            raise ValueError('"today" is not a window; use today()')
        return self.read(name, now)[0]

    def today(self, now: float) -> Counters:
        """The business day containing ``now`` (at least stream time)."""
        return self.read("today", now)[0]

    def live_misses(self, now: float) -> dict[float, int]:
        """Per threshold T: calls waiting now whose wait so far exceeds T."""
        now = self._now(now)
        waits = [now - t for t in self._waiting.values()]
        return {t: sum(1 for w in waits if w > t) for t in self.cfg.sl_thresholds}

    def kpis(self, scope: str, now: float, *, staffing: bool = True) -> dict[str, float | None]:
        """KPIs of a window or "today" at ``now``; staffing keys for windows (Erlang, a
        few µs to a ms: pass ``staffing=False`` to skip them)."""
        counters, span = self.read(scope, now)
        return compute_kpis(
            counters,
            self.cfg,
            span=span,
            live_misses=self.live_misses(now),
            calls_waiting=len(self._waiting),
            agents_staffed=self.agents_staffed() if staffing and scope != "today" else None,
        )

    # --- snapshots ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "stream_time": self.stream_time,
            "anomalies": dict(self.anomalies),
            "waiting": dict(self._waiting),
            "in_service": {cid: list(v) for cid, v in self._in_service.items()},
            "agents": {aid: [AGENT_STATES[a.state], a.since] for aid, a in self._agents.items()},
            "phases": self._phases.to_json(),
            "ids": self._ids.to_json(),
            "callers": self._callers.to_json(),
            "logouts": self._logouts.to_json(),
            "parked": {cid: _outcome_to_json(ev) for cid, ev in self._parked.items()},
            "ledger": self._ledger.to_json(),
        }

    def load_json(self, data: dict[str, Any]) -> None:
        st = data["stream_time"]
        self._st = -_INF if st is None else float(st)
        self._late_before = self._st - self._grace
        for kind, count in data["anomalies"].items():
            self.anomalies[kind] = int(count)
        self._waiting = {cid: float(ts) for cid, ts in data["waiting"].items()}
        self._oldest_wait = min(self._waiting.values(), default=_INF)
        self._in_service = {cid: (float(ts), a) for cid, (ts, a) in data["in_service"].items()}
        self._oldest_service = min((a for a, _ in self._in_service.values()), default=_INF)
        self._agents = {}
        self._agent_counts = [0] * len(AGENT_STATES)
        for aid, (state, since) in data["agents"].items():
            index = AGENT_STATES.index(state)
            self._agents[aid] = Agent(index, float(since))
            self._agent_counts[index] += 1
        self._phases.load_json(data["phases"])
        self._ids.load_json(data["ids"])
        self._callers.load_json(data["callers"])
        if "logouts" in data:  # absent from snapshots older than the logout tombstones
            self._logouts.load_json(data["logouts"])
        self._room = self._min_room()
        self._parked = {cid: _outcome_from_json(v) for cid, v in data["parked"].items()}
        self._parked_deadline = min((ev.ts for ev in self._parked.values()), default=_INF)
        self._parked_deadline += self._grace
        if self._st != -_INF:
            self._ledger.load_json(data["ledger"], self._st)
        self._sync()
        self._schedule()


_OUTCOME_TYPES: dict[str, type] = {cls.TYPE: cls for cls in (CallAnswered, CallAbandoned, CallLeft)}


def _outcome_to_json(ev: Outcome) -> list[Any]:
    extra = (
        ev.agent_id
        if isinstance(ev, CallAnswered)
        else [ev.reason.value, ev.to_queue]
        if isinstance(ev, CallLeft)
        else None
    )
    return [ev.TYPE, ev.id, ev.ts, ev.queue, ev.call_id, extra]


def _outcome_from_json(data: list[Any]) -> Outcome:
    kind, eid, ts, queue, cid, extra = data
    cls = _OUTCOME_TYPES[kind]
    if cls is CallAnswered:
        return CallAnswered(eid, float(ts), queue, cid, extra)
    if cls is CallLeft:
        return CallLeft(eid, float(ts), queue, cid, LeaveReason(extra[0]), extra[1])
    return CallAbandoned(eid, float(ts), queue, cid)
