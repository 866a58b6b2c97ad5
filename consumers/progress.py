"""A one-line progress bar on stderr, drawn only when stderr is a terminal.

Logs and pipes get nothing from it (the final summary is printed by the caller), so
``callpulse simulate ... 2>log`` stays clean.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30
MIN_REDRAW = 0.2  # seconds between redraws


class Progress:
    def __init__(
        self, label: str, stream: TextIO | None = None, enabled: bool | None = None
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0
        self._drawn = False

    def update(self, fraction: float, detail: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < MIN_REDRAW:
            return
        self._last = now
        fraction = min(max(fraction, 0.0), 1.0)
        filled = round(fraction * WIDTH)
        bar = "#" * filled + "-" * (WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction:6.1%} {detail}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Erase the bar, so the summary that follows starts on a clean line."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
