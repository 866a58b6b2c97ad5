"""Where a queue's counters are booked: windows, today, open intervals and totals.

Bookings come in two kinds (docs/kpis.md):

- **counters** of an event at its ``ts``. On time: into ``cum`` (so into every window,
  today and the open interval it belongs to, by the prefix-sum scheme of
  :mod:`stream.windows`). Late: into the late accumulators of today (if ``ts`` is in the
  current business day), of its interval (if still open) and of the totals.
- **timeline changes** (a call starts/stops waiting, an agent enters/leaves a state) at
  their instant: always into ``cum`` — they are facts about the live state, and
  ∫ N dt must follow the live count (see :mod:`stream.counters`). Their offsets are
  relative to one origin per queue, so every snapshot takes the same values.

Today and each open interval are prefix ranges too: a snapshot of ``cum`` at their start
(``S``), with the same fix-up for out-of-order bookings as the windows. An interval's
counters are S(end) − S(start) + its late bookings.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from operator import add, sub
from typing import Any

from .calendar import BusinessCalendar
from .counters import (
    MAX_COLUMNS,
    MAX_QUEUE_LENGTH,
    MAX_WAIT_SECONDS,
    TIMELINE_NETS,
    Counters,
    Layout,
)
from .windows import Ring, sparse, unsparse

_INF = float("inf")
assert MAX_COLUMNS == (MAX_WAIT_SECONDS, MAX_QUEUE_LENGTH)  # the order _fold_maxima uses
Booking = Callable[..., None]  # fn(acc, offset, a, b, d)


class OpenInterval:
    __slots__ = ("end", "late", "maxima", "snap", "start")

    def __init__(self, start: float, end: float, snap: array, late: array) -> None:
        self.start, self.end = start, end
        self.snap = snap  # cum when stream time reached `start` (+ fix-ups)
        self.late = late  # late bookings
        self.maxima = [0.0] * len(MAX_COLUMNS)  # of on-time observations


_TIMELINES_START = TIMELINE_NETS[0]
_TIMELINES_END = TIMELINE_NETS[-1] + 2
_NO_TIMELINES = array("d", bytes(8 * (_TIMELINES_END - _TIMELINES_START)))
_NO_DERIVED = array("d", bytes(8 * len(TIMELINE_NETS)))


def derive(
    layout: Layout, values: array, span: float, live: Sequence[float] | None, shift: float
) -> Counters:
    """Counters of a range [A, A + span) from its booked values, whose timeline offsets
    are Σ d·(t − O) with A − O = ``shift``, and the timeline counts at its end (``live``;
    None leaves the time-weighted columns at 0)."""
    out = values + _NO_DERIVED  # the derived columns follow the booked ones
    if live is not None:
        column = layout.derived[0]
        for count, net in zip(live, TIMELINE_NETS, strict=True):
            # ∫ N dt = N(end)·span − Σ d·(t − A)
            integral = count * span - (values[net + 1] - values[net] * shift)
            out[column] = integral if integral > 0.0 else 0.0
            column += 1
        if live[0] > out[MAX_QUEUE_LENGTH]:
            out[MAX_QUEUE_LENGTH] = live[0]
    out[_TIMELINES_START:_TIMELINES_END] = _NO_TIMELINES  # internal outside an accumulator
    return Counters(layout, out)


def _maxed(maxima: list[float], other: list[float]) -> list[float]:
    return [m if m >= o else o for m, o in zip(maxima, other, strict=True)]


class Ledger:
    __slots__ = (
        "calendar",
        "closed_until",
        "cum",
        "current",
        "day_end",
        "day_late",
        "day_maxima",
        "day_snap",
        "day_start",
        "fine",
        "fix_floor",
        "grace",
        "held",
        "intervals",
        "layout",
        "next_boundary",
        "next_close",
        "origin",
        "pmax",
        "rings",
        "slow_floor",
        "slow_next",
        "totals_late",
    )

    def __init__(
        self,
        layout: Layout,
        windows: tuple[tuple[str, float], ...],
        slots: int,
        calendar: BusinessCalendar,
        grace: float,
    ) -> None:
        self.layout = layout
        self.rings = [Ring(name, seconds, slots, layout) for name, seconds in windows]
        self.calendar = calendar
        self.grace = grace
        self.origin = 0.0  # of timeline offsets
        self.cum = layout.zeros()  # every on-time booking since the start
        self.totals_late = layout.zeros()
        self.day_start = self.day_end = -_INF
        self.day_snap = layout.zeros()
        self.day_late = layout.zeros()
        self.day_maxima = [0.0] * len(MAX_COLUMNS)
        self.intervals: list[OpenInterval] = []  # open ones, by start, none missing
        self.current: OpenInterval | None = None  # the last one
        self.closed_until = -_INF  # intervals ending at or before this are closed
        self.next_close = -_INF  # end of the oldest interval not closed yet
        # Maxima observed on time at or after fix_floor (in every current bucket); folded
        # into the rings, today and the interval when a boundary is crossed.
        self.pmax = [0.0] * len(MAX_COLUMNS)
        # The common crossing is the finest ring's alone (every ~5 events of a quiet queue):
        # cross_fine() folds pmax into that ring's bucket and into `held`, which waits to be
        # folded into the other rings, today and the interval at the next cross() (reads
        # add it meanwhile), so the common crossing touches one ring only.
        self.fine = min(self.rings, key=lambda ring: ring.width) if self.rings else None
        self.held = [0.0] * len(MAX_COLUMNS)
        self.fix_floor = _INF  # latest snapshot boundary: bookings before it need fix-ups
        self.next_boundary = -_INF  # stream time at which cross() has work to do
        # The same two without the fine ring: before slow_next, only cross_fine() is due.
        self.slow_floor = _INF
        self.slow_next = -_INF

    def start(self, ts: float) -> None:
        """The first event of the queue, at ``ts``; cross(ts) follows."""
        self.origin = ts
        self.closed_until, self.next_close = self.calendar.interval_bounds(ts - self.grace)

    # --- booking (the hot path is in QueueState, on ``cum``) -------------------------------

    def snapshots_after(self, t: float) -> list[tuple[array, int]]:
        """(array, row offset) of every snapshot of a boundary later than ``t``."""
        out = [(ring.snaps, ring.row(b)) for ring in self.rings for b in ring.rows_after(t)]
        if t < self.day_start:
            out.append((self.day_snap, 0))
        out += [(iv.snap, 0) for iv in self.intervals if iv.start > t]
        return out

    def book_on_time(self, ts: float, fn: Booking, args: tuple[Any, ...]) -> None:
        fn(self.cum, 0, *args)
        if ts < self.fix_floor:
            for acc, off in self.snapshots_after(ts):
                fn(acc, off, *args)

    def book_late(self, ts: float, fn: Booking, args: tuple[Any, ...]) -> None:
        fn(self.totals_late, 0, *args)
        if ts >= self.day_start:
            fn(self.day_late, 0, *args)
        iv = self._interval(ts)
        if iv is not None:
            fn(iv.late, 0, *args)

    def timeline(self, net: int, d: float, t: float) -> None:
        offset = d * (t - self.origin)
        cum = self.cum
        cum[net] += d
        cum[net + 1] += offset
        if t < self.fix_floor:
            for acc, off in self.snapshots_after(t):
                acc[off + net] += d
                acc[off + net + 1] += offset

    def observe(self, i: int, value: float, ts: float) -> None:
        """An on-time observation of maximum ``MAX_COLUMNS[i]`` at ``ts``."""
        if ts >= self.fix_floor:
            if value > self.pmax[i]:
                self.pmax[i] = value
            return
        values = [0.0] * len(MAX_COLUMNS)
        values[i] = value
        for ring in self.rings:
            ring.observe(ring.bucket_of(ts), values)
        if value > self.day_maxima[i] and ts >= self.day_start:
            self.day_maxima[i] = value
        iv = self._interval(ts)
        if iv is not None and value > iv.maxima[i]:
            iv.maxima[i] = value

    def _fold_pending(self) -> None:
        """Fold pmax into the fine ring's current bucket and into held."""
        pmax = self.pmax
        wait, length = pmax  # MAX_COLUMNS order
        if wait or length:
            ring = self.fine
            if ring is not None and ring.head_row >= 0:
                maxima, row = ring.maxima, ring.head_row
                if wait > maxima[row]:
                    maxima[row] = wait
                if length > maxima[row + 1]:
                    maxima[row + 1] = length
            held = self.held
            if wait > held[0]:
                held[0] = wait
            if length > held[1]:
                held[1] = length
            pmax[0] = pmax[1] = 0.0  # in place: QueueState holds this list

    def _fold_maxima(self) -> None:
        """Book the pending maxima (pmax, then held) into the current buckets, day and
        interval."""
        self._fold_pending()
        held = self.held
        wait, length = held
        if not (wait or length):
            return
        for ring in self.rings:
            row = ring.head_row
            if row >= 0 and ring is not self.fine:
                maxima = ring.maxima
                if wait > maxima[row]:
                    maxima[row] = wait
                if length > maxima[row + 1]:
                    maxima[row + 1] = length
        for target in (self.day_maxima, self.current.maxima if self.current else None):
            if target is not None:
                if wait > target[0]:
                    target[0] = wait
                if length > target[1]:
                    target[1] = length
        held[0] = held[1] = 0.0

    def _interval(self, ts: float) -> OpenInterval | None:
        for iv in reversed(self.intervals):
            if iv.start <= ts:
                return iv if ts < iv.end else None
        return None

    # --- time passing ------------------------------------------------------------------

    def cross_fine(self, ts: float) -> None:
        """cross() when only the fine ring's boundary has passed (``ts`` < slow_next)."""
        self._fold_pending()
        ring = self.fine
        ring.cross(int(ts // ring.width), self.cum)  # type: ignore[union-attr]
        floor, nxt = ring.head_start, ring.next_start  # type: ignore[union-attr]
        self.fix_floor = floor if floor > self.slow_floor else self.slow_floor
        self.next_boundary = nxt if nxt < self.slow_next else self.slow_next

    def cross(
        self, ts: float, live: Callable[[], Sequence[float]]
    ) -> Sequence[tuple[float, float, Counters]]:
        """Stream time reaches ``ts`` (before the event at ``ts`` is booked): take the
        snapshots of the boundaries passed, roll the business day, close and open
        intervals. Returns the intervals closed; ``live()`` gives the timeline counts now
        (only asked for when an interval closes)."""
        self._fold_maxima()
        cum = self.cum
        for ring in self.rings:
            if ts >= ring.next_start:
                ring.cross(int(ts // ring.width), cum)
        closed: Sequence[tuple[float, float, Counters]] = ()
        current = self.current
        if (
            ts >= self.day_end
            or ts - self.grace >= self.next_close
            or (ts >= current.end if current is not None else ts >= self.closed_until)
        ):
            if ts >= self.day_end:
                self.day_start, self.day_end = self.calendar.day_bounds(ts)
                self.day_snap = array("d", cum)
                self.day_late = self.layout.zeros()
                self.day_maxima = [0.0] * len(MAX_COLUMNS)
            if ts - self.grace >= self.next_close:
                closed = self.close(ts - self.grace, live())
            current = self.current
            if current is None or ts >= current.end:
                self._open_until(ts)
        self._schedule()
        return closed

    def _open_until(self, ts: float) -> None:
        """Open every interval up to the one containing ``ts``."""
        ivs = self.intervals
        start = ivs[-1].end if ivs else self.closed_until
        while start <= ts:
            start, end = self.calendar.interval_bounds(start)
            ivs.append(OpenInterval(start, end, array("d", self.cum), self.layout.zeros()))
            start = end

    def _schedule(self) -> None:
        """Recompute the fix-up floor and the next boundary after a structural change."""
        floor, nxt = self.day_start, self.day_end
        fine = self.fine
        for ring in self.rings:
            if ring.head is not None and ring is not fine:
                if ring.head_start > floor:
                    floor = ring.head_start
                if ring.next_start < nxt:
                    nxt = ring.next_start
        ivs = self.intervals
        if ivs:
            self.current = current = ivs[-1]
            if current.start > floor:
                floor = current.start
            if current.end < nxt:
                nxt = current.end
        else:
            self.current = None
            if self.closed_until < nxt:
                nxt = self.closed_until
        close_at = self.next_close + self.grace
        if close_at < nxt:
            nxt = close_at
        self.slow_floor, self.slow_next = floor, nxt
        if fine is not None and fine.head is not None:
            if fine.head_start > floor:
                floor = fine.head_start
            if fine.next_start < nxt:
                nxt = fine.next_start
        self.fix_floor = floor
        self.next_boundary = nxt

    def close(self, limit: float, live: Sequence[float]) -> list[tuple[float, float, Counters]]:
        """Close every interval that ends at or before ``limit``; returns those that saw
        anything, oldest first, as (start, end, counters)."""
        out: list[tuple[float, float, Counters]] = []
        ivs = self.intervals
        if self.next_close <= limit:
            self._fold_maxima()
        while self.next_close <= limit:
            start, end = self.closed_until, self.next_close
            if ivs and ivs[0].start == start:
                iv = ivs.pop(0)
                snap_end = ivs[0].snap if ivs else self.cum
                values = array("d", map(sub, snap_end, iv.snap))
                values[:] = array("d", map(add, values, iv.late))
                for i, col in enumerate(MAX_COLUMNS):
                    values[col] = max(iv.maxima[i], iv.late[col])
            else:  # an interval the stream jumped over: no booking in it
                snap_end = ivs[0].snap if ivs else self.cum
                values = self.layout.zeros()
            # Timeline counts at `end`: the live ones minus every change booked after it.
            at_end = [
                live[i] - (self.cum[net] - snap_end[net]) for i, net in enumerate(TIMELINE_NETS)
            ]
            if not ivs and not any(at_end) and not any(values):
                # Nothing happens until `limit`: skip the empty intervals in between.
                self.closed_until, self.next_close = self.calendar.interval_bounds(limit)
                break
            counters = derive(self.layout, values, end - start, at_end, start - self.origin)
            if any(counters.values):
                out.append((start, end, counters))
            self.closed_until, self.next_close = end, self.calendar.interval_bounds(end)[1]
        self._schedule()
        return out

    # --- reads (side-effect free; ``now`` is at least stream time) -------------------------

    def _range(self, snap: array | None, late: array | None) -> array:
        """cum − snap (+ late); no snapshot: nothing booked in the range."""
        if snap is None:
            return self.layout.zeros()
        # array(list(map(...))): a list first is ~30 % faster than array(map(...)).
        values = array("d", list(map(sub, self.cum, snap)))
        if late is not None:
            values = array("d", list(map(add, values, late)))
        return values

    def window(self, i: int, now: float) -> tuple[array, float]:
        """Ring ``i`` read at ``now``: (values, start)."""
        ring = self.rings[i]
        c = int(now // ring.width)  # ring.bucket_of(now)
        values = self._range(ring.snapshot_at(c), None)
        wait, length = ring.maxima_since(c)  # MAX_COLUMNS order
        if ring.head is not None and c - ring.slots < ring.head:  # the current bucket is in
            pending_wait, pending_length = self.pmax if ring is self.fine else self._pending()
            if pending_wait > wait:
                wait = pending_wait
            if pending_length > length:
                length = pending_length
        values[MAX_WAIT_SECONDS] = wait
        values[MAX_QUEUE_LENGTH] = length
        return values, ring.start(c)

    def today_at(self, now: float) -> tuple[array, float]:
        """The business day containing ``now``: (values, day start)."""
        if not self.day_start <= now < self.day_end:
            return self.layout.zeros(), self.calendar.day_bounds(now)[0]
        values = self._range(self.day_snap, self.day_late)
        pending = self._pending()
        for k, col in enumerate(MAX_COLUMNS):
            values[col] = max(self.day_maxima[k], pending[k], self.day_late[col])
        return values, self.day_start

    def _pending(self) -> list[float]:
        """Maxima observed on time and not folded yet into the current buckets of the
        rings other than the fine one, today and the current interval."""
        return [max(p, h) for p, h in zip(self.pmax, self.held, strict=True)]

    def totals(self) -> array:
        values = array("d", list(map(add, self.cum, self.totals_late)))
        for col in MAX_COLUMNS:
            values[col] = max(self.cum[col], self.totals_late[col])
        return values

    # --- snapshots -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        finite = lambda x: None if x in (_INF, -_INF) else x  # noqa: E731
        held = self.held
        return {
            "columns": list(self.layout.names[: self.layout.acc_width]),
            "origin": self.origin,
            "cum": sparse(self.cum),
            "totals_late": sparse(self.totals_late),
            # `held` written as if folded already (see cross_fine): the layout predates it.
            "rings": {
                ring.name: ring.to_json(None if ring is self.fine else held) for ring in self.rings
            },
            "day": [finite(self.day_start), finite(self.day_end)],
            "day_snap": sparse(self.day_snap),
            "day_late": sparse(self.day_late),
            "day_maxima": _maxed(self.day_maxima, held),
            "intervals": [
                [
                    iv.start,
                    iv.end,
                    sparse(iv.snap),
                    sparse(iv.late),
                    _maxed(iv.maxima, held) if iv is self.current else iv.maxima,
                ]
                for iv in self.intervals
            ],
            "closed_until": finite(self.closed_until),
            "next_close": finite(self.next_close),
            "pmax": self.pmax,
        }

    def load_json(self, data: dict[str, Any], stream_time: float) -> None:
        old = data["columns"]
        index = self.layout.index
        colmap = {i: index[name] for i, name in enumerate(old) if name in index}
        width, n = len(old), self.layout.acc_width

        def load(values: list[Any]) -> array:
            acc = self.layout.zeros()
            unsparse(values, acc, n, colmap, width)
            return acc

        self.origin = float(data["origin"])
        self.cum = load(data["cum"])
        self.totals_late = load(data["totals_late"])
        for ring in self.rings:
            if ring.name in data["rings"]:
                ring.load_json(data["rings"][ring.name], colmap, width)
        self.pmax[:] = [float(m) for m in data["pmax"]]
        if data["day"][0] is None:
            return
        day = tuple(data["day"])
        if day == self.calendar.day_bounds(stream_time):
            self.day_start, self.day_end = day
            self.day_snap, self.day_late = load(data["day_snap"]), load(data["day_late"])
            self.day_maxima = [float(m) for m in data["day_maxima"]]
        closed = (data["closed_until"], data["next_close"])
        if closed == self.calendar.interval_bounds(closed[0]):
            self.closed_until, self.next_close = closed
            for start, end, snap, late, maxima in data["intervals"]:
                iv = OpenInterval(start, end, load(snap), load(late))
                iv.maxima = [float(m) for m in maxima]
                self.intervals.append(iv)
        else:  # the interval length or the calendar changed: intervals start afresh
            self.closed_until, self.next_close = self.calendar.interval_bounds(stream_time)
        if self.day_start == -_INF:  # the calendar changed: today starts afresh
            self.day_start, self.day_end = self.calendar.day_bounds(stream_time)
            self.day_snap = array("d", self.cum)
        self._open_until(stream_time)
        self._schedule()
