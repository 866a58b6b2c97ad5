"""Alert state travels with the queue's checkpoint through a kill -9 of the worker.

A worker fires an alert, is killed after the checkpoint that records it, and the
condition clears while no worker runs. The next worker restores the queue with its alert
state: it announces no second ``firing`` and resolves the alert on its first evaluation.
The Kafka alerts topic shows exactly ``firing, resolved``.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from consumers.local_kafka import LocalKafka
from stream.events import CallAnswered, CallEnqueued

from ..integration.worker_harness import Topics, WorkerProcess, produce, read_all, valid_records
from .test_alerts_alertmanager import RULES

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def transitions(records: list) -> list[tuple[str, str]]:
    return [(r.key.decode(), orjson.loads(r.value)["status"]) for r in records]


async def wait_for_alert_checkpoint(
    bootstrap: str, topic: str, queue: str, timeout: float = 30
) -> None:
    """Until the snapshots topic holds a checkpoint of ``queue`` whose alert state has an
    announced alert: from then on a crash cannot lose it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in await read_all(bootstrap, topic, expected=1_000, timeout=1):
            if record.key != queue.encode() or record.value is None:
                continue
            alerts = orjson.loads(record.value)["state"].get("alerts") or {}
            if any(track[2] >= 0 for track in alerts.get("rules", {}).values()):  # active
                return
    raise AssertionError(f"no checkpoint of {queue} with its firing alert in {topic}")


async def test_no_second_firing_and_no_forgotten_resolve_after_kill(
    kafka_broker: LocalKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    monkeypatch.setenv("CALLPULSE_ALERTS__RULES_FILE", str(rules))
    topics = Topics(partitions=2)
    alerts_topic = f"{topics.prefix}.alerts"
    key = "queue_backlog|sales|critical"
    first = WorkerProcess(kafka_broker.bootstrap, topics, tmp_path)
    try:
        first.wait_ready()
        now = time.time()
        calls = [(CallEnqueued(f"e{i}", now, "sales", f"c{i}", None), "sales") for i in range(3)]
        await produce(kafka_broker.bootstrap, topics.events, valid_records(calls))
        fired = await read_all(kafka_broker.bootstrap, alerts_topic, expected=1)
        assert transitions(fired) == [(key, "firing")]
        await wait_for_alert_checkpoint(
            kafka_broker.bootstrap, f"{topics.prefix}.snapshots", "sales"
        )
    finally:
        first.kill()
    # The calls are answered while no worker runs.
    answers = [
        (CallAnswered(f"a{i}", time.time(), "sales", f"c{i}", "a1"), "sales") for i in range(3)
    ]
    await produce(kafka_broker.bootstrap, topics.events, valid_records(answers))
    second = WorkerProcess(kafka_broker.bootstrap, topics, tmp_path)
    try:
        second.wait_ready()
        await read_all(kafka_broker.bootstrap, alerts_topic, expected=2)
        # a few ticks more: nothing else may follow (no second firing, no second resolve)
        time.sleep(3)
        records = await read_all(kafka_broker.bootstrap, alerts_topic, expected=3, timeout=3)
        assert transitions(records) == [(key, "firing"), (key, "resolved")]
        resolved = orjson.loads(records[1].value)
        assert resolved["startsAt"] == orjson.loads(records[0].value)["startsAt"]
    finally:
        second.stop()
