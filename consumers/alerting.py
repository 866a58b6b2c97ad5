"""The worker's alert hook: evaluate after each batch and on a ticker, deliver, checkpoint.

The rules, the state machine and the notifiers live in alerts/ (pure or I/O-only); this
module only ties them to the ingest loop's owned partitions:

- after a batch, the queues it changed are evaluated at their stream time;
- every ``tick_interval_seconds`` every owned queue is evaluated, at wall-clock time when
  its partition is caught up (a growing wait, a silent feed) and at the partition's
  stream time while it is replaying a backlog (so a replay does not see empty windows);
- each queue's alert state is saved inside its checkpoint and restored with it, so it
  moves with the queue on a rebalance and survives restarts;
- pipeline-health rules (consumer lag, dead-letter rate) are evaluated on the same
  ticker from samples of the worker's own counters (:meth:`AlertHook.watch_pipeline`),
  labelled with the worker's name (:func:`instance_label`);
- every notification goes to the Kafka alerts topic (acknowledged before the snapshot
  that records it) and to Alertmanager / the webhook through :class:`alerts.delivery.Delivery`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

import orjson

from alerts.delivery import Delivery, DeliveryConfig
from alerts.evaluator import Evaluator, Notification
from alerts.pipeline import PipelineHistory, PipelineSample, window_seconds
from alerts.rules import load_rules

from .inbound import OwnedPartition
from .self_metrics import WorkerStats
from .settings import Settings, WorkerSettings

log = logging.getLogger("callpulse.alerting")


def default_generator_url(worker: WorkerSettings) -> str:
    """Where an alert links to: this worker's /metrics, by host name when it binds every
    address (0.0.0.0 or :: would be useless in a notification)."""
    host = worker.web_host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"  # an IPv6 literal in a URL
    return f"http://{host}:{worker.web_port}/metrics"


def instance_label(worker: WorkerSettings) -> str:
    """The ``instance`` label of this worker's pipeline-health alerts.

    It must differ between workers, or one worker's ``resolved`` closes another's alert in
    Alertmanager (same labels). ``web_host:web_port`` does not: every pod binds the same
    address. So: ``worker.instance_id`` (unique per worker by contract), else the host
    name with the web port (several workers on one host differ by port)."""
    return worker.instance_id or f"{socket.gethostname()}:{worker.web_port}"


DRAIN_SECONDS = 5.0  # how long a stopping worker waits for alert receivers


def _report_death(task: asyncio.Task) -> None:
    """A delivery or ticker task must run until stop(): say loudly if one ends early."""
    if not task.cancelled() and task.exception() is not None:
        log.error("alert task died: %r", task.exception())


class AlertHook:
    def __init__(self, settings: Settings, publish: Callable[[bytes, bytes], None]) -> None:
        alerts, worker = settings.alerts, settings.worker
        assert alerts.rules_file is not None
        self.rules = load_rules(alerts.rules_file, settings.engine)
        self.evaluator = Evaluator(self.rules, instance=instance_label(worker))
        self.tick_interval = alerts.tick_interval_seconds
        self._publish = publish  # (key, value) -> the alerts topic
        urls = tuple(u.strip() for u in (alerts.alertmanager_urls or "").split(",") if u.strip())
        self.delivery = Delivery(
            DeliveryConfig(
                alertmanager_urls=urls,
                webhook_url=alerts.webhook_url,
                webhook_secret=alerts.webhook_secret,
                timeout=alerts.timeout_seconds,
                resend_interval=alerts.resend_interval_seconds,
                buffer_size=alerts.buffer_size,
                generator_url=alerts.generator_url or default_generator_url(worker),
            ),
            self.evaluator.firing,
        )
        self._tasks: list[asyncio.Task] = []
        self._sample: Callable[[], PipelineSample] | None = None
        windows = [window_seconds(r.window) for r in self.rules.worker_rules if r.window]
        self.pipeline = PipelineHistory(keep=max(windows, default=0.0))
        log.info("alerting: %d rules from %s", len(self.rules.rules), alerts.rules_file)

    def watch_pipeline(self, stats: WorkerStats, lag: Callable[[], int | None]) -> None:
        """Feed the pipeline-health rules: the worker's counters and its total lag."""

        def sample() -> PipelineSample:
            dead = sum(stats.dead_letters.values())
            return PipelineSample(time.time(), stats.consumed, dead, lag())

        self._sample = sample

    def start(self) -> None:
        self._tasks.append(asyncio.ensure_future(self.delivery.run()))
        if self._sample is not None and self.rules.worker_rules:
            self._tasks.append(asyncio.ensure_future(self._pipeline_ticker(self._sample)))
        for task in self._tasks:
            task.add_done_callback(_report_death)

    async def stop(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Give the receivers a moment to take what is buffered (a resolve, say), then stop."""
        deadline = time.monotonic() + drain_seconds
        while self.delivery.undelivered and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.delivery.undelivered:
            log.warning("stopping with %d alert notifications undelivered (they are in the "
                        "alerts topic)", self.delivery.undelivered)  # fmt: skip
        for task in self._tasks:
            task.remove_done_callback(_report_death)
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _pipeline_ticker(self, sample: Callable[[], PipelineSample]) -> None:
        self.pipeline.record(sample())  # the baseline, taken before the first record is read
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                self._send(self.evaluator.evaluate_worker(self.pipeline.record(sample())))
            except Exception:  # a bug here must not stop the ticker (nor the worker)
                log.exception("pipeline-health evaluation failed")

    def evaluate(self, part: OwnedPartition, queues: set[str], now: float | None) -> None:
        """Evaluate ``queues`` of ``part`` at ``now`` (None: each queue's stream time)."""
        out: list[Notification] = []
        for name in queues:
            state = part.engine.queues.get(name)
            if state is not None:
                out += self.evaluator.evaluate(state, now if now is not None else 0.0)
        changed = self.evaluator.changed
        part.dirty.update(q for q in changed if q in part.engine.queues)
        changed.difference_update(part.engine.queues)
        self._send(out)

    def _send(self, notes: list[Notification]) -> None:
        for note in notes:
            log.info("alert %s %s queue=%s severity=%s value=%s", note.status, note.rule,
                     note.queue, note.severity, note.value)  # fmt: skip
            self._publish(note.fingerprint.encode(), orjson.dumps(note.to_json()))
        if notes:
            self.delivery.submit(notes)

    def snapshot(self, queue: str) -> dict | None:
        return self.evaluator.snapshot(queue)

    def restore(self, queue: str, data: dict | None) -> None:
        self.evaluator.restore(queue, data)

    def forget(self, queues: list[str]) -> None:
        for queue in queues:
            self.evaluator.forget(queue)

    def firing_by_series(self) -> list[tuple[str, str, str]]:
        """(queue, rule, severity) of every firing alert, for callpulse_alerts_firing."""
        return sorted((n.queue, n.rule, n.severity) for n in self.evaluator.firing())
