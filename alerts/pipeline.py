"""Pipeline health of one worker: consumer lag and dead-letter rate, for worker rules.

These values live in no queue's state: the worker samples its own counters on the alert
ticker (wall-clock time) into a :class:`PipelineHistory`, and rates are differences over a
trailing window of those samples. A window not yet covered by samples (just after a
start) counts what the samples hold, divided by the whole window, so a restart never
shows a burst.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from stream.config import parse_duration


@dataclass(frozen=True, slots=True)
class PipelineSample:
    at: float  # wall-clock time
    consumed: int  # records read from the events topic (monotonic)
    dead_letters: int  # records sent to the dead-letter topic (monotonic)
    lag: int | None  # records behind the end, summed over owned partitions; None: unknown


def window_seconds(window: str) -> float:
    return parse_duration("window", window)


class PipelineView:
    """The history at its newest sample; the same read protocol as a queue's view."""

    __slots__ = ("_samples", "now")

    def __init__(self, samples: deque[PipelineSample]) -> None:
        self._samples = samples
        self.now = samples[-1].at

    @property
    def latest(self) -> PipelineSample:
        return self._samples[-1]

    def _base(self, window: str) -> PipelineSample:
        """The newest sample at or before the window's start, else the oldest one."""
        start = self.now - window_seconds(window)
        base = self._samples[0]
        for sample in self._samples:
            if sample.at > start:
                break
            base = sample
        return base

    def rate(self, window: str) -> float:
        """Dead letters per second over the window."""
        return (self.latest.dead_letters - self._base(window).dead_letters) / window_seconds(window)

    def ratio(self, window: str) -> float | None:
        """Dead letters / records consumed in the window (None: nothing consumed)."""
        base = self._base(window)
        consumed = self.latest.consumed - base.consumed
        return (self.latest.dead_letters - base.dead_letters) / consumed if consumed else None

    def volume(self, window: str) -> float:
        """Records consumed in the window (the minimum-volume guard)."""
        return float(self.latest.consumed - self._base(window).consumed)


class PipelineHistory:
    """Samples of the last ``keep`` seconds (plus the one just before, as a baseline)."""

    def __init__(self, keep: float) -> None:
        self.keep = keep
        self._samples: deque[PipelineSample] = deque()

    def record(self, sample: PipelineSample) -> PipelineView:
        self._samples.append(sample)
        while len(self._samples) > 1 and self._samples[1].at <= sample.at - self.keep:
            self._samples.popleft()
        return PipelineView(self._samples)

    def __len__(self) -> int:
        return len(self._samples)
