"""Where a queue's counters are booked: its windows, today, open intervals and totals.

Bookings come in two kinds (docs/kpis.md):

- **counters** of an event at its ``ts``: windows only when the event is not late, today
  when ``ts`` is in the current business day, the interval when it is still open, and
  the monotonic totals always;
- **timeline changes** (a call starts/stops waiting, an agent enters/leaves a state) at
  their instant: windows, today and open intervals, late or not — they are facts about
  the live state, and ∫ N dt must follow the live count (see :mod:`stream.counters`).

Hot path: most events fall into the same small time range as the previous one, so they
are booked into one *pending* accumulator covering the intersection of the current
buckets of every window, the current interval and the current day. It is merged into
all of those (and the totals) only when an event moves past it, before a day roll or an
interval close, and virtually at read time — one array update per counter instead of
eight.
"""

from __future__ import annotations

from array import array
from bisect import insort
from collections.abc import Sequence
from typing import Any

from .calendar import BusinessCalendar
from .counters import MAX_QUEUE_LENGTH, TIMELINE_NETS, Counters, Layout
from .windows import Ring, merge_into, sparse, unsparse

Target = tuple[array, int, float]  # (accumulator, row offset, timeline origin)
_INF = float("inf")


class IntervalAcc:
    __slots__ = ("acc", "end", "start")

    def __init__(self, start: float, end: float, acc: array) -> None:
        self.start, self.end, self.acc = start, end, acc

    def __lt__(self, other: IntervalAcc) -> bool:
        return self.start < other.start


def derive(layout: Layout, values: array, span: float, live: Sequence[int] | None) -> Counters:
    """Counters of a range [A, A + span) from its accumulator (offsets relative to A) and
    the timeline counts at its end (``live``; None: time-weighted columns stay 0)."""
    out = array("d", values)
    out.extend(array("d", bytes(8 * len(layout.derived))))
    if live is not None:
        for i, net in enumerate(TIMELINE_NETS):
            integral = live[i] * span - values[net + 1]
            out[layout.derived[i]] = integral if integral > 0.0 else 0.0
        if live[0] > out[MAX_QUEUE_LENGTH]:
            out[MAX_QUEUE_LENGTH] = live[0]
    return Counters(layout, out)


class Ledger:
    __slots__ = (
        "calendar",
        "closed_until",
        "day_end",
        "day_start",
        "grace",
        "intervals",
        "layout",
        "next_close",
        "p_buckets",
        "p_end",
        "p_interval",
        "p_start",
        "pending",
        "rings",
        "today",
        "totals",
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
        self.pending = layout.zeros()
        self.p_start = self.p_end = 0.0  # empty range
        self.p_buckets = [0] * len(self.rings)
        self.p_interval: IntervalAcc | None = None
        self.today = layout.zeros()
        self.day_start = self.day_end = -_INF
        self.intervals: list[IntervalAcc] = []  # open ones with bookings, by start
        self.closed_until = -_INF  # every interval ending at or before this is closed
        self.next_close = -_INF  # end of the oldest interval not closed yet
        self.totals = layout.zeros()

    def start(self, ts: float) -> None:
        """The first event of the queue, at ``ts``."""
        self.day_start, self.day_end = self.calendar.day_bounds(ts)
        self.closed_until, self.next_close = self.calendar.interval_bounds(ts - self.grace)

    @property
    def deadline(self) -> float:
        """Stream time at which :meth:`advance` has work to do."""
        return min(self.day_end, self.next_close + self.grace)

    # --- booking ---------------------------------------------------------------------

    def acc_for(self, ts: float) -> array | None:
        """The pending accumulator if counters at ``ts`` (not late) can go there."""
        if self.p_start <= ts < self.p_end or (ts >= self.p_end and self._move(ts)):
            return self.pending
        return None

    def targets(self, ts: float, windows: bool, totals: bool) -> list[Target]:
        """Every accumulator a booking at ``ts`` goes to (the slow path)."""
        out: list[Target] = []
        if windows:
            for ring in self.rings:
                off = ring.slot(ring.bucket_of(ts))
                if off >= 0:
                    out += ((ring.buckets, off, ring.origin), (ring.totals, 0, ring.origin))
        if self.day_start <= ts < self.day_end:
            out.append((self.today, 0, self.day_start))
        if ts >= self.closed_until:
            iv = self._interval(ts)
            out.append((iv.acc, 0, iv.start))
        if totals:
            out.append((self.totals, 0, 0.0))
        return out

    def timeline(self, net: int, d: float, t: float) -> None:
        """Count of timeline ``net`` changed by ``d`` at instant ``t``."""
        if self.p_start <= t < self.p_end or (t >= self.p_end and self._move(t)):
            p = self.pending
            p[net] += d
            p[net + 1] += d * (t - self.p_start)
            return
        for acc, off, origin in self.targets(t, True, False):
            acc[off + net] += d
            acc[off + net + 1] += d * (t - origin)

    def _move(self, ts: float) -> bool:
        """Make the pending range the one around ``ts`` (flushing the old one)."""
        if not self.day_start <= ts < self.day_end or ts < self.closed_until:
            return False
        self.flush()
        iv = self._interval(ts)
        start, end = iv.start, iv.end
        for i, ring in enumerate(self.rings):
            b = ring.bucket_of(ts)
            self.p_buckets[i] = b
            start = max(start, b * ring.width)
            end = min(end, (b + 1) * ring.width)
        if not start <= ts < end:  # rounding at a bucket edge: book it the slow way
            return False
        self.p_start, self.p_end, self.p_interval = start, end, iv
        return True

    def flush(self) -> None:
        """Merge the pending accumulator into everything it stands for."""
        p = self.pending
        if self.p_interval is not None and any(p):
            origin = self.p_start
            for ring, b in zip(self.rings, self.p_buckets, strict=True):
                ring.add(p, origin, b)
            merge_into(self.today, 0, self.day_start, p, origin)
            merge_into(self.p_interval.acc, 0, self.p_interval.start, p, origin)
            merge_into(self.totals, 0, origin, p, origin)
            p[:] = self.layout.zeros()
        self.p_start = self.p_end = 0.0
        self.p_interval = None

    def _interval(self, ts: float) -> IntervalAcc:
        """The open interval containing ``ts`` (>= closed_until), created if need be."""
        for iv in reversed(self.intervals):
            if iv.start <= ts:
                if ts < iv.end:
                    return iv
                break
        start, end = self.calendar.interval_bounds(ts)
        iv = IntervalAcc(start, end, self.layout.zeros())
        insort(self.intervals, iv)
        return iv

    # --- time passing ------------------------------------------------------------------

    def advance(self, stream_time: float, live: Sequence[int]) -> list[tuple[float, float, Counters]]:
        """Stream time reached ``stream_time``: roll the business day, close intervals."""
        if stream_time >= self.day_end:
            self.flush()
            self.day_start, self.day_end = self.calendar.day_bounds(stream_time)
            self.today = self.layout.zeros()
        return self.close(stream_time - self.grace, live)

    def close(self, limit: float, live: Sequence[int]) -> list[tuple[float, float, Counters]]:
        """Close every interval that ends at or before ``limit``; returns the closed ones
        (start, end, counters) that saw anything, oldest first."""
        if self.next_close > limit:
            return []
        self.flush()
        out = []
        ivs = self.intervals
        while self.next_close <= limit:
            start, end = self.closed_until, self.next_close
            acc = ivs.pop(0).acc if ivs and ivs[0].start == start else None
            # Timeline counts at `end`: the live ones minus every later change.
            at_end = list(live)
            for iv in ivs:
                for i, net in enumerate(TIMELINE_NETS):
                    at_end[i] -= iv.acc[net]
            if acc is None and not any(at_end):
                # Nothing happens until the next booked interval (or `limit`): skip ahead.
                nxt = self.calendar.interval_bounds(limit)[0]
                if ivs:
                    nxt = min(nxt, ivs[0].start)
                if nxt > start:
                    self.closed_until, self.next_close = self.calendar.interval_bounds(nxt)
                    continue
            counters = derive(self.layout, acc or self.layout.zeros(), end - start, at_end)
            if any(counters.values):
                out.append((start, end, counters))
            self.closed_until, self.next_close = end, self.calendar.interval_bounds(end)[1]
        return out

    def close_all(self, stream_time: float, live: Sequence[int]) -> list[tuple[float, float, Counters]]:
        """Close every interval up to the one containing stream time (end of input)."""
        return self.close(self.calendar.interval_bounds(stream_time)[1], live)

    # --- reads (side-effect free) --------------------------------------------------------

    def _pending_extra(self, i: int) -> tuple[array, float, int] | None:
        return None if self.p_interval is None else (self.pending, self.p_start, self.p_buckets[i])

    def window(self, i: int, now: float) -> tuple[array, float]:
        """Ring ``i`` read at ``now`` (>= stream time): (values relative to A, A)."""
        ring = self.rings[i]
        return ring.read(ring.bucket_of(now), self._pending_extra(i))

    def today_at(self, now: float) -> tuple[array, float]:
        """The business day containing ``now`` (>= stream time): (values, day start)."""
        if not self.day_start <= now < self.day_end:
            return self.layout.zeros(), self.calendar.day_bounds(now)[0]
        values = array("d", self.today)
        if self.p_interval is not None:
            merge_into(values, 0, self.day_start, self.pending, self.p_start)
        return values, self.day_start

    def totals_now(self) -> array:
        values = array("d", self.totals)
        if self.p_interval is not None:
            merge_into(values, 0, 0.0, self.pending, 0.0)
        for net in TIMELINE_NETS:  # meaningless over an unbounded range
            values[net] = values[net + 1] = 0.0
        return values

    # --- snapshots -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        self.flush()
        finite = lambda x: None if x in (_INF, -_INF) else x  # noqa: E731
        return {
            "columns": list(self.layout.names[: self.layout.acc_width]),
            "rings": {ring.name: ring.to_json() for ring in self.rings},
            "day": [finite(self.day_start), finite(self.day_end)],
            "today": sparse(self.today),
            "intervals": [[iv.start, iv.end, sparse(iv.acc)] for iv in self.intervals],
            "closed_until": finite(self.closed_until),
            "next_close": finite(self.next_close),
            "totals": sparse(self.totals),
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

        for ring in self.rings:
            if ring.name in data["rings"]:
                ring.load_json(data["rings"][ring.name], colmap, width)
        self.totals = load(data["totals"])
        if data["day"][0] is None:
            return  # no event yet
        day_start, day_end = data["day"]
        if (day_start, day_end) == self.calendar.day_bounds(day_start):
            self.day_start, self.day_end, self.today = day_start, day_end, load(data["today"])
        else:  # the calendar changed: today starts afresh
            self.day_start, self.day_end = self.calendar.day_bounds(stream_time)
        for start, end, values in data["intervals"]:
            if (start, end) == self.calendar.interval_bounds(start):
                insort(self.intervals, IntervalAcc(start, end, load(values)))
        closed = (data["closed_until"], data["next_close"])
        bounds = self.calendar.interval_bounds(closed[0])
        self.closed_until, self.next_close = closed if closed == bounds else bounds
