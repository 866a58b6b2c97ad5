"""A bounded "recently seen" table: two generations of a dict, rotated by time or size.

Lookups check the current generation, then the previous one; writes go to the current
one (hot paths use ``cur``/``prev`` directly). :meth:`tick` drops the previous generation
once stream time has passed ``rotate_at``, so an entry written at stream time s lives at
least until s + horizon — unless the table fills up (``limit`` entries per generation,
checked at each tick), which rotates early. No per-entry timestamps, no scans.
"""

from __future__ import annotations

from typing import Any


class Recent:
    __slots__ = ("cur", "horizon", "limit", "prev", "rotate_at")

    def __init__(self, horizon: float, limit: int) -> None:
        self.horizon = horizon
        self.limit = max(1, limit // 2)  # per generation
        self.cur: dict[str, Any] = {}
        self.prev: dict[str, Any] = {}
        self.rotate_at = float("-inf")  # set on the first tick

    def get(self, key: str) -> Any:
        value = self.cur.get(key)
        return self.prev.get(key) if value is None else value

    def __contains__(self, key: str) -> bool:
        return key in self.cur or key in self.prev

    def put(self, key: str, value: Any) -> None:
        self.cur[key] = value

    def discard(self, key: str) -> None:
        self.cur.pop(key, None)
        self.prev.pop(key, None)

    def rotate(self) -> dict[str, Any]:
        """Start a new generation; returns the dropped one."""
        dropped = self.prev
        self.prev = self.cur
        self.cur = {}
        return dropped

    def due(self, stream_time: float) -> bool:
        return stream_time >= self.rotate_at or len(self.cur) > self.limit

    def tick(self, stream_time: float) -> dict[str, Any] | None:
        """Rotate when stream time has passed the horizon or the current generation is
        full; returns the dropped generation."""
        if not self.due(stream_time):
            return None
        dropped = self.rotate() if self.rotate_at != float("-inf") else {}
        self.rotate_at = stream_time + self.horizon
        return dropped

    def __len__(self) -> int:
        return len(self.cur) + len(self.prev)

    def to_json(self) -> list[Any]:
        return [self.cur, self.prev, None if self.rotate_at == float("-inf") else self.rotate_at]

    def load_json(self, data: list[Any]) -> None:
        self.cur, self.prev = dict(data[0]), dict(data[1])
        self.rotate_at = float("-inf") if data[2] is None else float(data[2])
