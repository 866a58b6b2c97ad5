"""Events into the real broker -> a real worker -> a real Alertmanager -> a webhook here.

The receiver must see the firing alert and later the resolved one, once each; the Kafka
alerts topic holds the same transitions; an alert that fires while Alertmanager is down
is delivered when it comes back.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from consumers.local_kafka import LocalKafka, free_ports
from stream.events import CallAnswered, CallEnqueued

from ..integration.worker_harness import Topics, WorkerProcess, produce, read_all, valid_records
from ..webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

RULES = """\
rules:
  - name: queue_backlog
    metric: calls_waiting
    comparison: ">="
    threshold: 3
    clear: 1
    severity: critical
    annotations: {summary: "{queue}: {value:.0f} calls waiting"}
"""
# Pipeline health through the same path: dead letters, and a lag rule that fires as soon
# as the worker knows its lag (0 >= 0), which shows the lag reaches the evaluator.
PIPELINE_RULES = """\
  - name: dead_letters
    metric: dead_letter_rate_per_second
    window: 1m
    comparison: ">"
    threshold: 0
    severity: warning
  - name: lag_known
    metric: consumer_lag_records
    comparison: ">="
    threshold: 0
    severity: warning
"""


def _subject(labels: dict[str, str]) -> str:
    return labels.get("queue") or labels["instance"]  # a queue's alert or the worker's


class Receiver(WebhookReceiver):
    """Alertmanager's webhook: every (status, alertname, queue or worker) it is sent."""

    @property
    def got(self) -> list[tuple[str, str, str]]:
        return [
            (alert["status"], alert["labels"]["alertname"], _subject(alert["labels"]))
            for _, alert in list(self.alerts)
        ]

    def wait_for(self, item: tuple[str, str, str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while item not in self.got and time.monotonic() < deadline:
            time.sleep(0.1)
        assert item in self.got, f"never received {item}; got {self.got}"


class Alertmanager:
    def __init__(self, tmp: Path, receiver_port: int) -> None:
        self.port = free_ports(1)[0]
        self.config = tmp / "alertmanager.yml"
        self.config.write_text(
            f"""
route:
  receiver: test
  group_by: [alertname, queue]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: http://127.0.0.1:{receiver_port}/hook
        send_resolved: true
"""
        )
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = (self.tmp / "alertmanager.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "prometheus-alertmanager",
                f"--config.file={self.config}",
                f"--storage.path={self.tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                # no HA cluster: a single Alertmanager need not wait for gossip to settle
                "--cluster.listen-address=",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def alertmanager(tmp_path: Path):
    if shutil.which("prometheus-alertmanager") is None:
        pytest.fail("prometheus-alertmanager is missing: run `make prereqs` (Debian package)")
    receiver = Receiver()
    am = Alertmanager(tmp_path, receiver.port)
    am.start()
    yield am, receiver
    am.stop()
    receiver.close()


async def test_firing_then_resolved_once_each(
    kafka_broker: LocalKafka, alertmanager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    am, receiver = alertmanager
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES + PIPELINE_RULES)
    monkeypatch.setenv("CALLPULSE_ALERTS__RULES_FILE", str(rules))
    monkeypatch.setenv("CALLPULSE_ALERTS__ALERTMANAGER_URLS", f"http://127.0.0.1:{am.port}")
    monkeypatch.setenv("CALLPULSE_ALERTS__RESEND_INTERVAL_SECONDS", "5")
    topics = Topics(partitions=2)
    worker = WorkerProcess(kafka_broker.bootstrap, topics, tmp_path)
    instance = f"{socket.gethostname()}:{worker.port}"
    try:
        worker.wait_ready()
        now = time.time()
        calls = [(CallEnqueued(f"e{i}", now, "sales", f"c{i}", None), "sales") for i in range(3)]
        garbage = [(b"sales", b"not json")]  # -> the dead-letter topic
        await produce(kafka_broker.bootstrap, topics.events, valid_records(calls) + garbage)
        receiver.wait_for(("firing", "queue_backlog", "sales"), timeout=30)
        receiver.wait_for(("firing", "dead_letters", instance), timeout=30)
        receiver.wait_for(("firing", "lag_known", instance), timeout=30)
        answers = [
            (CallAnswered(f"a{i}", time.time(), "sales", f"c{i}", "a1"), "sales") for i in range(3)
        ]
        await produce(kafka_broker.bootstrap, topics.events, valid_records(answers))
        receiver.wait_for(("resolved", "queue_backlog", "sales"), timeout=30)
        time.sleep(3)  # re-sends of the same alert must not make Alertmanager notify again
        assert receiver.got.count(("firing", "queue_backlog", "sales")) == 1, receiver.got
        assert receiver.got.count(("resolved", "queue_backlog", "sales")) == 1, receiver.got
        samples = worker.scrape()
        assert (
            samples["callpulse_alert_notifications_sent_total"][(("receiver", "alertmanager"),)]
            >= 2
        )
    finally:
        worker.stop()
    # The Kafka alerts topic: every transition, keyed rule|subject|severity.
    records = await read_all(kafka_broker.bootstrap, f"{topics.prefix}.alerts", expected=4)
    seen = [(r.key.decode(), orjson.loads(r.value)["status"]) for r in records]
    backlog = [status for key, status in seen if key == "queue_backlog|sales|critical"]
    assert backlog == ["firing", "resolved"], seen
    assert ("dead_letters|" + instance + "|warning", "firing") in seen


OUTAGE_SECONDS = 60


async def test_alert_fired_while_alertmanager_is_down_is_delivered_after(
    kafka_broker: LocalKafka, alertmanager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    am, receiver = alertmanager
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    monkeypatch.setenv("CALLPULSE_ALERTS__RULES_FILE", str(rules))
    monkeypatch.setenv("CALLPULSE_ALERTS__ALERTMANAGER_URLS", f"http://127.0.0.1:{am.port}")
    # Re-sent every 5 s: the retry backoff is capped at 2.5 s, so once Alertmanager is
    # back the alert arrives within seconds (the outage still spans 12 re-send periods).
    monkeypatch.setenv("CALLPULSE_ALERTS__RESEND_INTERVAL_SECONDS", "5")
    topics = Topics(partitions=2)
    worker = WorkerProcess(kafka_broker.bootstrap, topics, tmp_path)
    try:
        worker.wait_ready()
        am.stop()
        now = time.time()
        calls = [(CallEnqueued(f"e{i}", now, "ops", f"c{i}", None), "ops") for i in range(3)]
        await produce(kafka_broker.bootstrap, topics.events, valid_records(calls))
        time.sleep(OUTAGE_SECONDS)
        samples = worker.scrape()
        failures = samples["callpulse_alert_delivery_failures_total"]
        assert failures[(("receiver", "alertmanager"),)] >= 1  # retried, counted
        assert samples["callpulse_alerts_firing"]  # firing all along
        assert receiver.got == []
        am.start()
        receiver.wait_for(("firing", "queue_backlog", "ops"), timeout=30)
    finally:
        worker.stop()
