"""Run real `callpulse worker` processes against a broker and read their metrics.

Shared by the integration and e2e tests and by the worker benchmarks (bench/_common.py),
so there is one way to start a worker, point it at its topics, scrape it and stop it.
Workers run as :class:`consumers.processes.Child`: their own process group, and a SIGTERM
from the kernel if the test or bench process dies, so none outlives its parent.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from consumers.local_kafka import free_ports
from consumers.processes import Child
from stream.config import EngineConfig
from stream.decode import encode
from stream.engine import Engine
from stream.events import Event

REPO = Path(__file__).resolve().parents[2]
# CALLPULSE_TEST_WORKER_LOG=debug keeps the workers' aiokafka chatter in their logs
WORKER_LOG_LEVEL = os.environ.get("CALLPULSE_TEST_WORKER_LOG", "info")


@dataclass
class Topics:
    """Unique topic names and group for one test or bench run, as worker environment."""

    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    partitions: int = 4
    group: str = ""  # default: the prefix; another group reads the topic from the start
    # Tests flush often so a kill finds little unflushed work; None keeps the configured one.
    flush_interval: float | None = 0.5

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dlq"

    def env(self, bootstrap: str) -> dict[str, str]:
        p, group = self.prefix, self.group or self.prefix
        env = {
            "CALLPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "CALLPULSE_TOPICS__EVENTS": self.events,
            "CALLPULSE_TOPICS__DEAD_LETTER": self.dead_letter,
            # per group: a second group must not restore the first one's state
            "CALLPULSE_TOPICS__SNAPSHOTS": f"{group}.snapshots",
            "CALLPULSE_TOPICS__INTERVALS": f"{p}.intervals",
            "CALLPULSE_TOPICS__ALERTS": f"{p}.alerts",
            "CALLPULSE_TOPICS__PARTITIONS": str(self.partitions),
            "CALLPULSE_WORKER__GROUP_ID": group,
        }
        if self.flush_interval is not None:
            env["CALLPULSE_WORKER__FLUSH_INTERVAL_SECONDS"] = str(self.flush_interval)
        return env


# Every worker started and not yet stopped, for a last-resort stop_all().
_running: list[WorkerProcess] = []


class WorkerProcess:
    """A `callpulse worker` subprocess with its own web port, data dir and log file."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        log_dir: Path,
        extra_env: dict[str, str] | None = None,
        log_level: str = WORKER_LOG_LEVEL,
    ) -> None:
        self.port = free_ports(1)[0]
        self.log_path = log_dir / f"worker-{self.port}.log"
        env = {
            **os.environ,
            **topics.env(bootstrap),
            "CALLPULSE_WORKER__WEB_PORT": str(self.port),
            "CALLPULSE_WORKER__DATA_DIR": str(log_dir / f"data-{self.port}"),
            **(extra_env or {}),
        }
        argv = [sys.executable, "-m", "consumers.cli", "worker", "--log-level", log_level]
        self.started = time.monotonic()
        self.child = Child(f"worker-{self.port}", argv, self.log_path, env=env, cwd=REPO)
        self._conn: http.client.HTTPConnection | None = None
        _running.append(self)

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.child.proc

    @property
    def pid(self) -> int:
        return self.child.proc.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, lines: int = 40) -> str:
        return self.child.log_tail(lines)

    def get(self, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
        """(status, body) over one kept-alive connection, so fast polling stays cheap."""
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                self._conn.request("GET", path)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self._close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def wait_ready(self, timeout: float = 60.0, poll: float = 0.05) -> float:
        """Seconds from process start until /readyz answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.child.alive():
                raise AssertionError(f"worker exited ({self.proc.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.get("/readyz", timeout=2.0)[0] == 200:
                    return time.monotonic() - self.started
            time.sleep(poll)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log_tail()}")

    def metrics_text(self) -> str:
        status, body = self.get("/metrics")
        if status != 200:
            raise AssertionError(f"/metrics answered {status}")
        return body.decode()

    def scrape(self) -> Samples:
        """Every sample, parsed by prometheus_client (strict, about 1 s for 500 queues)."""
        return parse_metrics(self.metrics_text())

    def kill(self) -> None:
        """kill -9: no flush, no goodbye to the group."""
        self._close()
        self.proc.kill()
        self.proc.wait(10)
        self._forget()

    def stop(self) -> None:
        self._close()
        self.child.stop(timeout=30.0)
        self._forget()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _forget(self) -> None:
        with contextlib.suppress(ValueError):
            _running.remove(self)


def stop_all() -> None:
    """Stop every worker still running (bench exit paths)."""
    for worker in list(_running):
        worker.stop()


Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse_metrics(text: str) -> Samples:
    """sample name -> {sorted label items: value}."""
    out: Samples = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return out


def per_queue(samples: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["queue"]: value for labels, value in samples.get(name, {}).items()}


def scalar(samples: Samples, name: str) -> float:
    return sum(samples.get(name, {}).values())


# Per-queue totals checked against the offline engine: metric -> Counters column.
CHECKED = {
    "callpulse_calls_entered_total": "entered",
    "callpulse_calls_offered_total": "offered",
    "callpulse_calls_answered_total": "answered",
    "callpulse_calls_abandoned_total": "abandoned",
    "callpulse_calls_handled_total": "handled",
    "callpulse_talk_seconds_total": "talk_seconds",
    "callpulse_answered_wait_seconds_total": "answered_wait_seconds",
}


def ground_truth(stream: list[tuple[Event, str]]) -> dict[str, dict[str, float]]:
    """metric -> {queue: total} of the offline engine over ``stream``."""
    engine = Engine(EngineConfig())
    for event, key in stream:
        engine.apply(event, only_queue=key)
    truth: dict[str, dict[str, float]] = {}
    for metric, column in CHECKED.items():
        truth[metric] = {q: s.totals.as_dict()[column] for q, s in engine.queues.items()}
    return truth


def exported(workers: list[WorkerProcess]) -> dict[str, dict[str, float]]:
    """Per-queue totals summed over workers; fails if two workers export one queue."""
    merged: dict[str, dict[str, float]] = {m: {} for m in CHECKED}
    for worker in workers:
        samples = worker.scrape()
        for metric in CHECKED:
            for queue, value in per_queue(samples, metric).items():
                assert queue not in merged[metric], f"{queue} exported by two workers"
                merged[metric][queue] = value
    return merged


def differences(
    truth: dict[str, dict[str, float]], got: dict[str, dict[str, float]], tolerance: float = 1e-6
) -> list[str]:
    """Human-readable mismatches between two metric -> {queue: value} maps (empty: equal)."""
    out: list[str] = []
    for metric, expected in truth.items():
        found = got.get(metric, {})
        for queue in sorted(set(expected) | set(found)):
            want, have = expected.get(queue), found.get(queue)
            if want is None or have is None or abs(want - have) > tolerance * max(1.0, abs(want)):
                out.append(f"{metric}{{queue={queue!r}}}: expected {want}, exported {have}")
    return out


async def produce(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in records]
        for future in futures:
            await future
    finally:
        await producer.stop()


def valid_records(stream: list[tuple[Event, str]]) -> list[tuple[bytes | None, bytes | None]]:
    return [(key.encode(), encode(event)) for event, key in stream]


async def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records
