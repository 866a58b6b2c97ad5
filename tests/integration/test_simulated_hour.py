"""A simulated hour through the real broker and a real worker equals the simulator's
ground truth: `callpulse simulate --truth` counts what it published, the worker's
counters on /metrics must say the same, queue by queue."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from .tool_runner import run_tool
from .worker_harness import Samples, Topics, WorkerProcess, per_queue, scalar

pytestmark = pytest.mark.kafka

# worker metric -> ground-truth column (stream/sim_truth.py)
COUNTS = {
    "callpulse_calls_entered_total": "entered",
    "callpulse_calls_offered_total": "offered",
    "callpulse_calls_answered_total": "answered",
    "callpulse_calls_abandoned_total": "abandoned",
    "callpulse_calls_flowed_out_total": "flowed_out",
    "callpulse_calls_left_total": "left",
    "callpulse_calls_transferred_total": "transferred",
    "callpulse_calls_handled_total": "handled",
}
SECONDS = {
    "callpulse_wait_seconds_total": "wait_seconds",
    "callpulse_answered_wait_seconds_total": "answered_wait_seconds",
    "callpulse_abandoned_wait_seconds_total": "abandoned_wait_seconds",
    "callpulse_talk_seconds_total": "talk_seconds",
    "callpulse_hold_seconds_total": "hold_seconds",
    "callpulse_acw_seconds_total": "acw_seconds",
}
DRAIN_TIMEOUT = 60.0


def wait_consumed(worker: WorkerProcess, records: int) -> Samples:
    """Scrape until the worker has read every record and owns every partition lag-free."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    samples: Samples = {}
    while time.monotonic() < deadline:
        samples = worker.scrape()
        lags = samples.get("callpulse_consumer_lag", {})
        if scalar(samples, "callpulse_events_consumed_total") >= records and not any(lags.values()):
            return samples
        time.sleep(0.3)
    consumed = scalar(samples, "callpulse_events_consumed_total")
    raise AssertionError(f"consumed {consumed} of {records}\n{worker.log_tail()}")


@pytest.fixture
def worker(kafka_broker, tmp_path: Path):
    topics = Topics(partitions=4)
    process = WorkerProcess(kafka_broker.bootstrap, topics, tmp_path)
    try:
        process.wait_ready()
        yield process, topics
    finally:
        process.stop()


def test_worker_totals_after_a_simulated_hour_equal_the_ground_truth(
    kafka_broker, worker, tmp_path: Path
) -> None:
    process, topics = worker
    truth_file = tmp_path / "truth.json"
    # The hour before now, as fast as possible (the default with --speed 0): transfers,
    # flow-outs, abandons, redials, holds, after-call work and agents serving queues.
    done = run_tool(
        kafka_broker.bootstrap,
        topics,
        "simulate",
        "--scenario",
        "deploy/scenarios/demo.yaml",
        "--duration",
        "1h",
        "--speed",
        "0",
        "--truth",
        str(truth_file),
    )
    assert done.returncode == 0, done.stderr
    truth = orjson.loads(truth_file.read_bytes())
    assert truth["complete"] and truth["records"] > 5000

    samples = wait_consumed(process, truth["records"])

    assert scalar(samples, "callpulse_events_consumed_total") == truth["records"]
    assert scalar(samples, "callpulse_events_dead_lettered_total") == 0
    assert samples.get("callpulse_event_anomalies_total", {}) == {}  # no late, no anomaly
    queues = truth["queues"]
    for metric, column in COUNTS.items():
        exported = per_queue(samples, metric)
        assert exported == {q: row[column] for q, row in queues.items()}, metric
    for metric, column in SECONDS.items():
        exported = per_queue(samples, metric)
        assert set(exported) == set(queues), metric
        for queue, row in queues.items():
            assert exported[queue] == pytest.approx(row[column], abs=1e-6), (metric, queue)
    within = per_queue(samples, "callpulse_calls_answered_within_threshold_total")
    assert within == {q: row["answered_within"]["20"] for q, row in queues.items()}
    waiting = per_queue(samples, "callpulse_calls_waiting")
    assert waiting == {q: row["waiting_at_end"] for q, row in queues.items()}
    assert sum(row["flowed_out"] + row["transferred"] + row["abandoned"] for row in queues.values())
