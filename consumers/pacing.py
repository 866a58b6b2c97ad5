"""When to send an event: as fast as possible, in its original timing, or scaled.

``speed`` is event-time seconds per wall-clock second: 1 = original timing, 60 = an hour
a minute, 0 = no waiting at all. The first event (or ``origin``) is sent at once; an
event at ``ts`` is due ``(ts - origin) / speed`` seconds later. An event whose time has
passed (the sender fell behind, or the input goes back in time) goes out at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Pacer:
    def __init__(
        self,
        speed: float,
        origin: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed!r}")
        self.speed = speed
        self.origin = origin  # event time that maps to the wall-clock start
        self._clock = clock
        self._started: float | None = None

    def delay(self, ts: float) -> float:
        """Seconds to wait before sending an event at ``ts`` (0: send now)."""
        if self.speed == 0:
            return 0.0
        now = self._clock()
        if self._started is None:
            self._started = now
            if self.origin is None:
                self.origin = ts
        assert self.origin is not None
        due = self._started + (ts - self.origin) / self.speed
        return max(due - now, 0.0)

    async def wait(self, ts: float) -> None:
        delay = self.delay(ts)
        if delay > 0:
            await asyncio.sleep(delay)


def catch_up_origin(start: float, wall_now: float) -> float:
    """The pacing origin for ``--catch-up``: events before now go at once, later ones at
    the chosen speed from now on (so with speed 1, event time follows the wall clock)."""
    return max(start, wall_now)
