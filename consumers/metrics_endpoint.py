"""The body of ``/metrics``: per-queue metrics of the owned partitions plus self-metrics.

Rendering runs in the event loop that also ingests, so it must not hold it for long: it
yields to the loop whenever it has run for ``SLICE_SECONDS`` (between queues, between
body chunks, between gzip chunks), and concurrent scrapes within ``max_age`` share one
rendered (and gzipped) body instead of rendering again.
A worker only renders the queues of partitions it owns, so the sum over workers never
counts a queue twice; a revoked partition's series disappear with it.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .alerting import AlertHook
from .exposition import ExpositionWriter, MetricInfo, format_value, label_text
from .inbound import OwnedPartition
from .queue_metrics import QueueRenderer, RenderOptions
from .self_metrics import WorkerStats

SLICE_SECONDS = 0.004  # longest stretch a render holds the event loop
CHUNK_LINES = 2000  # body chunk size: bounds the join / encode / compress between yields

CONSUMED = MetricInfo(
    "callpulse_events_consumed_total", "counter", "Records read from the events topic."
)
APPLIED = MetricInfo("callpulse_events_applied_total", "counter", "Events applied to the engine.")
SKIPPED = MetricInfo(
    "callpulse_events_skipped_total",
    "counter",
    "Records skipped because a restored snapshot already included them.",
)
DEAD_LETTERED = MetricInfo(
    "callpulse_events_dead_lettered_total",
    "counter",
    "Records sent to the dead-letter topic.",
    ("reason",),
)
INTERVALS = MetricInfo(
    "callpulse_intervals_published_total", "counter", "Closed interval summaries published."
)
KAFKA_ERRORS = MetricInfo(
    "callpulse_kafka_errors_total",
    "counter",
    "Kafka errors that made the worker rewind to its checkpoint.",
)
RESTORE_FAILURES = MetricInfo(
    "callpulse_restore_failures_total",
    "counter",
    "Partition restores that failed (retried every 5 s; the worker is not ready meanwhile).",
)
LAG = MetricInfo(
    "callpulse_consumer_lag", "gauge", "Records behind the partition's end.", ("partition",)
)
SNAPSHOT_AGE = MetricInfo(
    "callpulse_snapshot_age_seconds",
    "gauge",
    "Seconds since the partition's last durable snapshot.",
    ("partition",),
)
QUEUES_OWNED = MetricInfo("callpulse_queues_owned", "gauge", "Queues this worker owns and exports.")
RESTORE = MetricInfo(
    "callpulse_restore_duration_seconds", "gauge", "Duration of the last state restore."
)
LATENCY = MetricInfo(
    "callpulse_event_apply_latency_seconds",
    "histogram",
    "Event time to applied, one sample per batch (the batch's oldest event).",
)
RENDER = MetricInfo(
    "callpulse_scrape_duration_seconds", "gauge", "Time the previous /metrics render took."
)

ALERTS_FIRING = MetricInfo(
    "callpulse_alerts_firing",
    "gauge",
    "Alerts firing now (1 per alert).",
    ("queue", "rule", "severity"),
)
ALERT_SENT = MetricInfo(
    "callpulse_alert_notifications_sent_total",
    "counter",
    "Alert notifications delivered, by receiver.",
    ("receiver",),
)
ALERT_FAILURES = MetricInfo(
    "callpulse_alert_delivery_failures_total",
    "counter",
    "Failed alert deliveries (retried), by receiver.",
    ("receiver",),
)
ALERT_DROPPED = MetricInfo(
    "callpulse_alert_notifications_dropped_total",
    "counter",
    "Alert notifications pushed out of a full buffer, by receiver.",
    ("receiver",),
)
ALERT_BUFFERED = MetricInfo(
    "callpulse_alert_notifications_buffered",
    "gauge",
    "Alert notifications waiting for delivery, by receiver.",
    ("receiver",),
)
ALERT_METRICS = (ALERTS_FIRING, ALERT_SENT, ALERT_FAILURES, ALERT_DROPPED, ALERT_BUFFERED)

SELF_METRICS = (
    CONSUMED, APPLIED, SKIPPED, DEAD_LETTERED, INTERVALS, KAFKA_ERRORS, RESTORE_FAILURES,
    LAG, SNAPSHOT_AGE, QUEUES_OWNED, RESTORE, LATENCY, RENDER,
)  # fmt: skip


class Slicer:
    """Tells a long loop when to yield so the event loop (ingest) is never held longer than
    ``budget`` seconds."""

    __slots__ = ("budget", "deadline", "yields")

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.deadline = time.perf_counter() + budget
        self.yields = 0

    def due(self) -> bool:
        return time.perf_counter() >= self.deadline

    async def pause(self) -> None:
        await asyncio.sleep(0)  # let the ingest loop run
        self.yields += 1
        self.deadline = time.perf_counter() + self.budget


async def gzip_sliced(chunks: Iterable[bytes], slicer: Slicer) -> bytes:
    """gzip (level 1: ~10x smaller, fast) one chunk at a time, yielding between chunks."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    out: list[bytes] = []
    for chunk in chunks:
        out.append(compressor.compress(chunk))
        if slicer.due():
            await slicer.pause()
    out.append(compressor.flush())
    return b"".join(out)


@dataclass(slots=True)
class Rendered:
    chunks: list[bytes]
    at: float
    _text: bytes | None = None
    gzipping: asyncio.Future[bytes] | None = field(default=None)

    @property
    def text(self) -> bytes:
        if self._text is None:
            self._text = b"".join(self.chunks)
        return self._text


class MetricsEndpoint:
    def __init__(
        self,
        owned: Callable[[], list[OwnedPartition]],
        stats: WorkerStats,
        options: RenderOptions,
        lag: Callable[[int], int | None],
        counts: Callable[[], tuple[int, int]],
        max_age: float = 0.5,
        alerts: AlertHook | None = None,
        clock: Callable[[], float] = time.time,
        slice_seconds: float = SLICE_SECONDS,
    ) -> None:
        self._alerts = alerts
        self._owned = owned
        self._stats = stats
        self._renderer = QueueRenderer(options)
        self._lag = lag
        self._counts = counts  # (applied, skipped)
        self._max_age = max_age
        self._clock = clock  # event-time "now" of the reads (benchmarks move it)
        self._slice = slice_seconds
        self._cached: Rendered | None = None
        self._rendering: asyncio.Task[Rendered] | None = None
        self.last_render_seconds = 0.0
        self.last_render_yields = 0

    @property
    def staffing_evaluations(self) -> int:
        """Windows whose staffing the last render computed (the others were memoised)."""
        return self._renderer.staffing_evaluations

    async def body(self, accept_gzip: bool) -> tuple[bytes, bool]:
        """The current body and whether it is gzip-encoded."""
        cached = self._cached
        if cached is None or time.monotonic() - cached.at > self._max_age:
            if self._rendering is None or self._rendering.done():
                self._rendering = asyncio.ensure_future(self._render())
            cached = self._cached = await asyncio.shield(self._rendering)
        if accept_gzip:
            if cached.gzipping is None:
                slicer = Slicer(self._slice)
                cached.gzipping = asyncio.ensure_future(gzip_sliced(cached.chunks, slicer))
            return await asyncio.shield(cached.gzipping), True
        return cached.text, False

    async def _render(self) -> Rendered:
        started = time.perf_counter()
        slicer = Slicer(self._slice)
        out = ExpositionWriter()
        renderer = self._renderer
        renderer.begin(out)
        now = self._clock()
        parts = self._owned()
        rendered = 0
        for part in parts:
            engine_cfg = part.engine.config
            for state in list(part.engine.queues.values()):
                renderer.render(state, now, engine_cfg)
                rendered += 1
                if slicer.due():
                    await slicer.pause()
                    now = self._clock()
        renderer.end()
        self._render_self(out, parts, rendered)
        if self._alerts is not None:
            self._render_alerts(out, self._alerts)
        chunks = []
        for chunk in out.chunks(CHUNK_LINES):
            chunks.append(chunk.encode())
            if slicer.due():
                await slicer.pause()
        self.last_render_seconds = time.perf_counter() - started
        self.last_render_yields = slicer.yields
        return Rendered(chunks, time.monotonic())

    def _render_self(self, out: ExpositionWriter, parts: list[OwnedPartition], queues: int) -> None:
        stats = self._stats
        applied, skipped = self._counts()
        out.sample(CONSUMED, "", stats.consumed)
        out.sample(APPLIED, "", applied)
        out.sample(SKIPPED, "", skipped)
        for reason, count in sorted(stats.dead_letters.items()):
            out.sample(DEAD_LETTERED, f'{{reason="{reason}"}}', count)
        out.family(DEAD_LETTERED)  # the family is listed even before any dead letter
        out.sample(INTERVALS, "", stats.intervals_published)
        out.sample(KAFKA_ERRORS, "", stats.kafka_errors)
        out.sample(RESTORE_FAILURES, "", stats.restore_failures)
        now = time.time()
        for part in sorted(parts, key=lambda p: p.partition):
            label = f'{{partition="{part.partition}"}}'
            out.sample(LAG, label, self._lag(part.partition))
            if part.snapshot_at is not None:
                out.sample(SNAPSHOT_AGE, label, now - part.snapshot_at)
        out.sample(QUEUES_OWNED, "", queues)
        out.sample(RESTORE, "", stats.last_restore_seconds)
        lines = out.family(LATENCY)
        name = LATENCY.name
        for le, count in stats.latency.cumulative():
            lines.append(f'{name}_bucket{{le="{le}"}} {count}\n')
        lines.append(f"{name}_sum {format_value(stats.latency.total)}\n")
        lines.append(f"{name}_count {stats.latency.count}\n")
        out.sample(RENDER, "", self.last_render_seconds)

    @staticmethod
    def _render_alerts(out: ExpositionWriter, alerts: AlertHook) -> None:
        out.family(ALERTS_FIRING)  # listed even when nothing fires
        for queue, rule, severity in alerts.firing_by_series():
            labels = label_text({"queue": queue, "rule": rule, "severity": severity})
            out.sample(ALERTS_FIRING, labels, 1)
        for receiver, stats in sorted(alerts.delivery.stats.items()):
            label = f'{{receiver="{receiver}"}}'
            out.sample(ALERT_SENT, label, stats.sent)
            out.sample(ALERT_FAILURES, label, stats.failures)
            out.sample(ALERT_DROPPED, label, stats.dropped)
            out.sample(ALERT_BUFFERED, label, stats.buffered)
