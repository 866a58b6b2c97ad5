"""Business-hours calendars: weekly opening hours in an IANA time zone, minus holidays.

Hours are local wall-clock times, so ``08:00-18:00`` stays 08:00-18:00 local on both sides
of a DST change (the UTC instants move by an hour). Pure: no I/O, no current time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from stream.config import _timezone

from .source import Where

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class BusinessHours:
    name: str
    timezone: str
    weekly: tuple[tuple[tuple[int, int], ...], ...]  # per weekday (mon=0): [start, end) minutes
    holidays: frozenset[date]

    def is_open(self, ts: float) -> bool:
        local = datetime.fromtimestamp(ts, ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.weekly[local.weekday()])


def _days(where: Where, spec: str) -> list[int]:
    """``mon``, ``mon-fri``, ``sat,sun`` -> weekday numbers."""
    out: list[int] = []
    for part in spec.replace(" ", "").lower().split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise where.error(f"{spec!r} is not a day or day range; days: {', '.join(DAYS)}")
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            raise where.error(f"{spec!r}: a day range runs forward, e.g. mon-fri")
        out += range(a, b + 1)
    return out


def _ranges(where: Where, value: Any) -> list[tuple[int, int]]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise where.error('expected "HH:MM-HH:MM" or a list of them, e.g. "08:00-18:00"')
    out = []
    for i, item in enumerate(items):
        spot = where.item(items, i) if items is not value else where
        match = _RANGE.match(item) if isinstance(item, str) else None
        if not match:
            raise spot.error(f'expected "HH:MM-HH:MM" (end may be 24:00), got {item!r}')
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end > 24 * 60 or end <= start:
            raise spot.error(f"{item!r}: the end must be after the start, at most 24:00")
        out.append((start, end))
    return out


def parse_hours(where: Where, name: str, data: Any) -> BusinessHours:
    where.mapping(data)
    where.check_keys(data, ("timezone", "weekly", "holidays"))
    timezone = where.key(data, "timezone").parse(_timezone, data.get("timezone", "UTC"))
    weekly_at = where.key(data, "weekly")
    weekly_data = data.get("weekly")
    if not isinstance(weekly_data, dict) or not weekly_data:
        raise weekly_at.error('expected a mapping of days to hours, e.g. {mon-fri: "08:00-18:00"}')
    weekly: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    for spec, value in weekly_data.items():
        spot = weekly_at.key(weekly_data, spec)
        for day in _days(spot, str(spec)):
            weekly[day] += _ranges(spot, value)
    holidays_at = where.key(data, "holidays")
    raw = data.get("holidays") or []
    if not isinstance(raw, list):
        raise holidays_at.error('expected a list of dates, e.g. ["2025-12-25"]')
    holidays = set()
    for i, item in enumerate(raw):
        spot = holidays_at.item(raw, i)
        if isinstance(item, datetime):  # YAML reads 2025-12-25 00:00:00 as a datetime
            # (a datetime is a date too, but never equal to one: it would match no day)
            raise spot.error(f"expected a whole day YYYY-MM-DD, without a time; got {item}")
        try:
            holidays.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
        except ValueError:
            raise spot.error(f"expected a date YYYY-MM-DD, got {item!r}") from None
    return BusinessHours(
        name, timezone, tuple(tuple(sorted(day)) for day in weekly), frozenset(holidays)
    )
