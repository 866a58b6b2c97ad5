"""A bounded "recently seen" table: two generations of a dict, rotated by time or size.

Lookups check the current generation, then the previous one; writes go to the current
one (hot paths use ``cur``/``prev`` directly). :meth:`tick` drops the previous generation
once stream time has passed ``rotate_at``, so an entry written at stream time s lives at
least until s + horizon — unless the table fills up (``limit`` new entries in the current
generation; the owner checks :meth:`room` on insert), which rotates early. No per-entry
timestamps, no scans.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_NEVER = float("-inf")


class Recent:
    __slots__ = ("cur", "full_at", "horizon", "limit", "prev", "rotate_at")

    def __init__(self, horizon: float, limit: int) -> None:
        self.horizon = horizon
        self.limit = max(1, limit // 2)  # per generation
        self.full_at = self.limit  # entries carried over by carry() do not count
        self.cur: dict[str, Any] = {}
        self.prev: dict[str, Any] = {}
        self.rotate_at = _NEVER  # set on the first tick

    def discard(self, key: str) -> None:
        self.cur.pop(key, None)
        self.prev.pop(key, None)

    def rotate(self) -> dict[str, Any]:
        """Start a new generation; returns the dropped one."""
        dropped = self.prev
        self.prev = self.cur
        self.cur = {}
        self.full_at = self.limit
        return dropped

    def room(self) -> int:
        """Inserts left before the current generation is over its size limit."""
        return self.full_at - len(self.cur) + 1

    def due(self, stream_time: float) -> bool:
        return stream_time >= self.rotate_at or len(self.cur) > self.full_at

    def tick(self, stream_time: float) -> dict[str, Any] | None:
        """Rotate when stream time has passed the horizon or the current generation is
        full (even before stream time exists); returns the dropped generation."""
        if not self.due(stream_time):
            return None
        full = len(self.cur) > self.full_at
        dropped = self.rotate() if self.rotate_at != _NEVER or full else {}
        self.rotate_at = stream_time + self.horizon
        return dropped

    def carry(self, dropped: dict[str, Any], keys: Iterable[str]) -> None:
        """Entries of ``keys`` in the ``dropped`` generation survive into the current one,
        without counting toward its size limit (else a table holding more live keys than
        ``limit`` would rotate on every insert)."""
        cur, prev = self.cur, self.prev
        for key in keys:
            value = dropped.get(key)
            if value is not None and key not in cur and key not in prev:
                cur[key] = value
        self.full_at = len(cur) + self.limit

    def __len__(self) -> int:
        return len(self.cur) + len(self.prev)

    def to_json(self) -> list[Any]:
        rotate_at = None if self.rotate_at == _NEVER else self.rotate_at
        return [self.cur, self.prev, rotate_at, self.full_at]

    def load_json(self, data: list[Any]) -> None:
        self.cur, self.prev = dict(data[0]), dict(data[1])
        self.rotate_at = _NEVER if data[2] is None else float(data[2])
        # Snapshots written before full_at existed: only the size limit.
        self.full_at = int(data[3]) if len(data) > 3 else self.limit
