"""The worker's own counters: plain attributes updated on the hot path, read at scrape time.

prometheus_client's metric objects take a lock per update; the ingest loop runs in one
asyncio thread, so plain integers and a small fixed-bucket histogram do the same job for
a fraction of the cost (bench/README.md).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(slots=True)
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs in exposition order, ending with +Inf."""
        out, running = [], 0
        for bound, n in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass(slots=True)
class WorkerStats:
    consumed: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)  # reason -> count
    intervals_published: int = 0
    kafka_errors: int = 0
    restore_failures: int = 0
    last_restore_seconds: float = 0.0
    latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))

    def count_dead_letter(self, reason: str) -> None:
        self.dead_letters[reason] = self.dead_letters.get(reason, 0) + 1

    def observe_latency(self, seconds: float) -> None:
        self.latency.observe(max(seconds, 0.0))
