"""Business days and fixed intervals in a queue's local wall time (DST-safe).

A business day starts at the local time ``business_day_start`` (``HH:MM``) in the queue's
IANA time zone, so it lasts 23, 24 or 25 hours. Interval boundaries are the instants at
which the local wall clock shows ``business_day_start + k·interval``. A wall time that does
not exist (spring-forward gap) maps to the first instant after the gap; one that occurs
twice (fall-back) is a boundary at both instants, except that a business day starts at
the first occurrence only, and a 1-day interval is the business day (never split, even
when the day starts in the repeated hour).

Everything is computed once per business day and cached, so the engine's hot path only
compares floats.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


def _wall(ts: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, tz).replace(tzinfo=None)


def wall_to_instants(wall: datetime, tz: ZoneInfo) -> tuple[float, ...]:
    """The UTC instants at which the local clock shows ``wall`` (naive), in order.

    One instant normally, two in a fall-back overlap, and for a wall time inside a
    spring-forward gap the first instant after the gap.
    """
    first = wall.replace(tzinfo=tz, fold=0).timestamp()
    second = wall.replace(tzinfo=tz, fold=1).timestamp()
    found = tuple(sorted({t for t in (first, second) if _wall(t, tz) == wall}))
    if found:
        return found
    # In a gap fold=0 uses the offset before the transition and fold=1 the one after, so
    # the transition lies in (min, max]: find the first instant whose wall time is past.
    lo, hi = min(first, second), max(first, second)
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        if _wall(mid, tz) >= wall:
            hi = mid
        else:
            lo = mid
    return (float(round(hi)),)  # zoneinfo transitions fall on whole seconds


class BusinessCalendar:
    """Business-day and interval boundaries for one (time zone, day start, interval)."""

    __slots__ = ("_days", "_last", "day_start", "interval", "tz")

    def __init__(self, timezone: str, day_start: str, interval_seconds: float) -> None:
        self.tz = ZoneInfo(timezone)
        hours, minutes = day_start.split(":")
        self.day_start = timedelta(hours=int(hours), minutes=int(minutes))
        self.interval = interval_seconds
        self._days: dict[date, tuple[float, ...]] = {}  # local date -> boundaries
        self._last: tuple[float, float, tuple[float, ...]] = (0.0, 0.0, ())

    def _start_of(self, day: date) -> float:
        """The business day of local date ``day`` starts at this instant."""
        wall = datetime(day.year, day.month, day.day) + self.day_start
        return wall_to_instants(wall, self.tz)[0]

    def _boundaries(self, day: date) -> tuple[float, ...]:
        """Interval boundaries of the business day of ``day``, its end included last."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        start, end = self._start_of(day), self._start_of(day + timedelta(days=1))
        wall0 = datetime(day.year, day.month, day.day) + self.day_start
        steps = round(86400 / self.interval)
        if steps <= 1:
            # A 1-day interval is the business day: a start in a fall-back overlap is its
            # first occurrence only (the grid below would add the second one too).
            return self._cache(day, (start, end))
        # A day is 24 h of wall time give or take a DST shift (at most 2 h): look at the
        # wall times 2 h either side too and keep the instants inside the day.
        margin = -(-7200 // round(self.interval))
        found = {start, end}
        for k in range(-margin, steps + margin):
            for t in wall_to_instants(wall0 + timedelta(seconds=k * self.interval), self.tz):
                if start < t < end:
                    found.add(t)
        return self._cache(day, tuple(sorted(found)))

    def _cache(self, day: date, bounds: tuple[float, ...]) -> tuple[float, ...]:
        if len(self._days) >= 16:  # a queue only ever needs the current and previous days
            self._days.clear()
        self._days[day] = bounds
        return bounds

    def _day_of(self, ts: float) -> tuple[float, ...]:
        last_start, last_end, bounds = self._last
        if last_start <= ts < last_end:
            return bounds
        day = _wall(ts, self.tz).date()
        bounds = self._boundaries(day)
        if ts < bounds[0]:  # before today's start time: yesterday's business day
            bounds = self._boundaries(day - timedelta(days=1))
        elif ts >= bounds[-1]:
            bounds = self._boundaries(day + timedelta(days=1))
        self._last = (bounds[0], bounds[-1], bounds)
        return bounds

    def day_bounds(self, ts: float) -> tuple[float, float]:
        """[start, end) of the business day containing ``ts``."""
        bounds = self._day_of(ts)
        return bounds[0], bounds[-1]

    def interval_bounds(self, ts: float) -> tuple[float, float]:
        """[start, end) of the fixed interval containing ``ts``."""
        bounds = self._day_of(ts)
        i = bisect_right(bounds, ts) - 1
        return bounds[i], bounds[i + 1]


@lru_cache(maxsize=256)
def calendar_for(timezone: str, day_start: str, interval_seconds: float) -> BusinessCalendar:
    """Calendars are shared by all queues with the same settings (and their caches)."""
    return BusinessCalendar(timezone, day_start, interval_seconds)
