"""Run real `callpulse worker` processes against the test broker and read their metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from consumers.local_kafka import free_ports
from stream.decode import encode
from stream.events import Event

REPO = Path(__file__).resolve().parents[2]
# CALLPULSE_TEST_WORKER_LOG=debug keeps the workers' aiokafka chatter in their logs
WORKER_LOG_LEVEL = os.environ.get("CALLPULSE_TEST_WORKER_LOG", "info")


@dataclass
class Topics:
    """Unique topic names and group for one test, as worker environment variables."""

    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    partitions: int = 4

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dlq"

    def env(self, bootstrap: str) -> dict[str, str]:
        p = self.prefix
        return {
            "CALLPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "CALLPULSE_TOPICS__EVENTS": self.events,
            "CALLPULSE_TOPICS__DEAD_LETTER": self.dead_letter,
            "CALLPULSE_TOPICS__SNAPSHOTS": f"{p}.snapshots",
            "CALLPULSE_TOPICS__INTERVALS": f"{p}.intervals",
            "CALLPULSE_TOPICS__ALERTS": f"{p}.alerts",
            "CALLPULSE_TOPICS__PARTITIONS": str(self.partitions),
            "CALLPULSE_WORKER__GROUP_ID": p,
            "CALLPULSE_WORKER__FLUSH_INTERVAL_SECONDS": "0.5",
        }


class WorkerProcess:
    def __init__(self, bootstrap: str, topics: Topics, log_dir: Path) -> None:
        self.port = free_ports(1)[0]
        self.log_path = log_dir / f"worker-{self.port}.log"
        env = {**os.environ, **topics.env(bootstrap)}
        env["CALLPULSE_WORKER__WEB_PORT"] = str(self.port)
        env["CALLPULSE_WORKER__DATA_DIR"] = str(log_dir / f"data-{self.port}")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "consumers.cli", "worker", "--log-level", WORKER_LOG_LEVEL],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("/readyz"), timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log_tail()}")

    def scrape(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        with urllib.request.urlopen(self.url("/metrics"), timeout=10) as response:
            return parse_metrics(response.read().decode())

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


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
