"""``callpulse worker``: the faust-streaming app that runs the ingest loop and serves metrics.

faust provides the process: lifecycle, signal handling, logging and the aiohttp web server
(``/metrics``, ``/healthz``, ``/readyz``). Its own per-event agents, consumer and changelog
tables are switched off (see ARCHITECTURE.md, decisions 3 and 4): the ingest loop reads in
batches with its own aiokafka consumer and checkpoints per-queue snapshots itself.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.app.base import BootStrategy
from mode import Service

from stream import ENGINE
from stream.config import ConfigError

from .exposition import CONTENT_TYPE
from .ingest import IngestLoop
from .metrics_endpoint import MetricsEndpoint
from .queue_metrics import RenderOptions, scopes_for
from .self_metrics import WorkerStats
from .settings import Settings, load_settings
from .topics import ensure_topics

log = logging.getLogger("callpulse.worker")


class _WebOnlyBoot(BootStrategy):
    """faust boots its web server and services, but not its own Kafka clients."""

    enable_kafka = False
    enable_sensors = False


class IngestService(Service):
    """Runs :class:`IngestLoop` inside faust's service tree."""

    def __init__(self, loop_: IngestLoop, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ingest = loop_
        self.settings = settings

    async def on_start(self) -> None:
        partitions = await ensure_topics(self.settings)
        log.info("events topic %s has %d partitions", self.settings.topics.events, partitions)
        await self.ingest.start()

    @Service.task
    async def _run(self) -> None:
        await self.ingest.run()

    async def on_stop(self) -> None:
        await self.ingest.stop()


def build_app(settings: Settings) -> faust.App:
    worker = settings.worker
    app = faust.App(
        f"callpulse-{worker.group_id}",
        broker=f"kafka://{settings.kafka.bootstrap_servers}",
        web_bind=worker.web_host,
        web_host=worker.web_host,
        web_port=worker.web_port,
        datadir=worker.data_dir or tempfile.mkdtemp(prefix="callpulse-worker-"),
        autodiscover=False,
        web_enabled=True,
    )
    app.BootStrategy = _WebOnlyBoot
    app.boot_strategy = _WebOnlyBoot(app)
    stats = WorkerStats()
    ingest = IngestLoop(settings, stats)
    if ingest.alerts is not None:  # pipeline-health rules read the worker's own counters
        ingest.alerts.watch_pipeline(stats, lambda: _total_lag(ingest, settings.topics.events))
    service = IngestService(ingest, settings)
    app.service(service)
    windows = tuple(name for name, _ in settings.engine.windows)
    endpoint = MetricsEndpoint(
        owned=lambda: list(ingest.owned.values()),
        stats=stats,
        options=RenderOptions(
            scopes_for(windows),
            staffing_windows=settings.worker.staffing_scopes(windows),
        ),
        lag=lambda p: _lag(ingest, settings.topics.events, p),
        counts=lambda: (ingest.handler.applied, ingest.handler.skipped),
        alerts=ingest.alerts,
    )

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        accept_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
        body, gzipped = await endpoint.body(accept_gzip)
        headers = {"Content-Encoding": "gzip"} if gzipped else None
        return web.bytes(body, content_type=CONTENT_TYPE, headers=headers)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ready = ingest.ready
        return web.json(
            {"ready": ready, "partitions": sorted(ingest.owned)}, status=200 if ready else 503
        )

    app.callpulse_ingest = ingest  # for tests and the bench
    return app


def _lag(ingest: IngestLoop, topic: str, partition: int) -> int | None:
    consumer = ingest._consumer
    if consumer is None:
        return None
    tp = TopicPartition(topic, partition)
    try:
        end = consumer.highwater(tp)
        part = ingest.owned[partition]
        position = max(part.read_position, part.last_offset + 1)
    except (KeyError, AssertionError):
        return None
    return None if end is None else max(end - position, 0)


def _total_lag(ingest: IngestLoop, topic: str) -> int | None:
    """Records behind over the owned partitions (None: none owned or not known yet)."""
    lags = [lag for p in list(ingest.owned) if (lag := _lag(ingest, topic, p)) is not None]
    return sum(lags) if lags else None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Consume call and agent events from Kafka, keep per-queue KPIs, and serve them as "
        "Prometheus metrics on http://WEB_HOST:WEB_PORT/metrics (plus /healthz, /readyz). "
        "Every setting can also come from the environment: CALLPULSE_<SECTION>__<KEY>, "
        "e.g. CALLPULSE_KAFKA__BOOTSTRAP_SERVERS. See docs/configuration.md."
    )
    parser.add_argument("--config", "-c", help="YAML settings file (optional)")
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    parser.add_argument(
        "--check", action="store_true", help="validate the settings, print them (secrets masked)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(f"callpulse worker: invalid configuration: {error}", file=sys.stderr)
        return 2
    if args.check:
        import orjson

        sys.stdout.write(orjson.dumps(settings.redacted(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return 0
    app = build_app(settings)
    log.info("settings: %s", settings.redacted())
    log.info("engine: %s", ENGINE.describe())  # compiled (mypyc) or pure Python, and why
    worker = faust.Worker(app, loglevel=args.log_level, quiet=True)
    worker.execute_from_commandline()
    return 0
