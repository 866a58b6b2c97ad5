"""Real worker processes on the real broker: exact totals, dead letters, kill -9, scale-out.

Ground truth is the offline engine over the same events (the engine itself is held to the
brute-force reference by the property tests), compared per queue with what the workers
export on /metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from consumers.local_kafka import LocalKafka, free_ports
from stream.config import EngineConfig
from stream.engine import Engine
from stream.events import Event
from stream.synthetic import synthetic_stream

from .worker_harness import (
    Topics,
    WorkerProcess,
    differences,
    exported,
    ground_truth,
    parse_metrics,
    per_queue,
    produce,
    read_all,
    scalar,
    valid_records,
)

pytestmark = pytest.mark.kafka


def wait_drained(workers: list[WorkerProcess], partitions: int, timeout: float = 90.0) -> None:
    """Until the workers together own every partition and have read it to its end."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        lags: dict[str, float] = {}
        for worker in workers:
            lags |= {
                dict(labels)["partition"]: value
                for labels, value in worker.scrape().get("callpulse_consumer_lag", {}).items()
            }
        last = lags
        if len(lags) == partitions and not any(lags.values()):
            time.sleep(1.0)  # let a flush pass, so a later kill does not test the trivial case
            return
        time.sleep(0.3)
    logs = "\n".join(w.log_tail() for w in workers)
    raise AssertionError(f"not drained in {timeout}s, lags {last}\n{logs}")


def assert_exact(workers: list[WorkerProcess], stream: list[tuple[Event, str]]) -> None:
    assert differences(ground_truth(stream), exported(workers)) == []


@pytest.fixture
def topics() -> Topics:
    return Topics()


@pytest.fixture
def workers(tmp_path: Path):
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def start_worker(
    bootstrap: str, topics: Topics, tmp_path: Path, started: list, instance_id: str | None = None
) -> WorkerProcess:
    extra = {"CALLPULSE_WORKER__INSTANCE_ID": instance_id} if instance_id else None
    worker = WorkerProcess(bootstrap, topics, tmp_path, extra_env=extra)
    started.append(worker)
    worker.wait_ready()
    return worker


MALFORMED: list[tuple[str, bytes | None, bytes | None]] = [
    ("not_json", b"queue-1", b"{not json"),
    ("not_object", b"queue-1", b"[1, 2]"),
    ("missing_field", b"queue-1", b'{"v":1,"id":"x","type":"call.enqueued","ts":1790000000}'),
    ("unknown_type", b"queue-1", b'{"v":1,"id":"x","type":"call.teleported","ts":1790000000}'),
    (
        "bad_timestamp",
        b"queue-2",
        b'{"v":1,"id":"x","type":"call.abandoned","ts":"yesterday","queue":"queue-2","call_id":"c"}',
    ),
    (
        "wrong_type",
        b"queue-2",
        b'{"v":1,"id":"x","type":"call.abandoned","ts":1790000000,"queue":"queue-2","call_id":7}',
    ),
    ("unsupported_version", b"queue-2", b'{"v":9,"id":"x","type":"call.abandoned"}'),
    ("oversize", b"queue-3", b'{"pad":"' + b"x" * 70_000 + b'"}'),
    ("missing_key", None, b'{"v":1}'),
    ("bad_queue_name", b"bad\nqueue", b'{"v":1}'),
    (
        "key_mismatch",
        b"queue-3",
        b'{"v":1,"id":"x","type":"call.abandoned","ts":1790000000,"queue":"queue-4","call_id":"c"}',
    ),
]


def test_totals_exact_and_every_bad_record_dead_lettered(kafka_broker, topics, workers, tmp_path):
    bootstrap = kafka_broker.bootstrap
    stream = synthetic_stream(queues=12, events=3000, calls_per_queue_per_s=0.2, seed=7)
    records = valid_records(stream)
    bad = MALFORMED * 30  # ~10 % of the load, every kind
    mixed = [r for pair in zip(records, [(k, v) for _, k, v in bad], strict=False) for r in pair]
    mixed += records[len(bad) :]
    worker = start_worker(bootstrap, topics, tmp_path, workers)
    asyncio.run(produce(bootstrap, topics.events, mixed))
    wait_drained(workers, topics.partitions)

    assert_exact(workers, stream)
    samples = worker.scrape()
    dead = {
        dict(labels)["reason"]: value
        for labels, value in samples["callpulse_events_dead_lettered_total"].items()
    }
    assert dead == {reason: 30 for reason, _, _ in MALFORMED}
    assert scalar(samples, "callpulse_events_consumed_total") == len(mixed)

    letters = asyncio.run(read_all(bootstrap, topics.dead_letter, len(bad)))
    reasons = Counter(dict(r.headers)["callpulse-reason"].decode() for r in letters)
    assert reasons == Counter({reason: 30 for reason, _, _ in MALFORMED})
    first = letters[0]
    headers = dict(first.headers)
    assert int(headers["callpulse-source-offset"]) >= 0
    assert headers["callpulse-detail"]


# instance_id: static membership, the restarted worker takes its partitions back at once.
@pytest.mark.parametrize("instance_id", [None, "worker-a"], ids=["dynamic", "static"])
def test_kill_9_mid_load_then_restart_is_exact(
    kafka_broker, topics, workers, tmp_path, instance_id
):
    bootstrap = kafka_broker.bootstrap
    stream = synthetic_stream(queues=20, events=8000, calls_per_queue_per_s=0.2, seed=11)
    records = valid_records(stream)
    half = len(records) // 2
    first = start_worker(bootstrap, topics, tmp_path, workers, instance_id)
    asyncio.run(produce(bootstrap, topics.events, records[:half]))
    wait_drained(workers, topics.partitions)

    async def produce_rest_and_kill() -> None:
        task = asyncio.create_task(produce(bootstrap, topics.events, records[half:]))
        await asyncio.sleep(0.3)  # the worker is mid-way through the second half
        first.kill()
        await task

    asyncio.run(produce_rest_and_kill())
    workers.remove(first)
    start_worker(bootstrap, topics, tmp_path, workers, instance_id)
    wait_drained(workers, topics.partitions)
    assert_exact(workers, stream)


def test_second_worker_joins_then_first_leaves_exact_and_no_overlap(
    kafka_broker, topics, workers, tmp_path
):
    bootstrap = kafka_broker.bootstrap
    stream = synthetic_stream(queues=24, events=8000, calls_per_queue_per_s=0.2, seed=13)
    records = valid_records(stream)
    third = len(records) // 3
    first = start_worker(bootstrap, topics, tmp_path, workers)
    asyncio.run(produce(bootstrap, topics.events, records[:third]))
    second = start_worker(bootstrap, topics, tmp_path, workers)
    asyncio.run(produce(bootstrap, topics.events, records[third : 2 * third]))
    wait_drained(workers, topics.partitions)
    both = exported(workers)  # raises if a queue is exported twice
    assert both["callpulse_calls_entered_total"]
    first.stop()
    workers.remove(first)
    asyncio.run(produce(bootstrap, topics.events, records[2 * third :]))
    wait_drained([second], topics.partitions)
    assert_exact([second], stream)


def test_broker_restart_mid_load_recovers_exactly(tmp_path, workers):
    # A fixed port: clients must find the broker again where they left it.
    broker = LocalKafka(tmp_path / "kafka", port=free_ports(1)[0], detach=False)
    broker.start(timeout=90.0)
    try:
        topics = Topics()
        stream = synthetic_stream(queues=10, events=6000, calls_per_queue_per_s=0.2, seed=17)
        records = valid_records(stream)
        half = len(records) // 2
        start_worker(broker.bootstrap, topics, tmp_path, workers)
        asyncio.run(produce(broker.bootstrap, topics.events, records[:half]))
        broker.stop()
        time.sleep(3.0)  # the worker sees the broker gone
        broker.start(timeout=90.0)
        asyncio.run(produce(broker.bootstrap, topics.events, records[half:]))
        wait_drained(workers, topics.partitions, timeout=120.0)
        assert_exact(workers, stream)
    finally:
        for worker in workers:
            worker.stop()
        workers.clear()
        broker.stop()


def test_metrics_endpoint_serves_gzip_and_readiness(kafka_broker, topics, workers, tmp_path):
    import gzip
    import urllib.request

    worker = start_worker(kafka_broker.bootstrap, topics, tmp_path, workers)
    stream = synthetic_stream(3, 200, 0.5, seed=3, start=time.time() - 300)
    asyncio.run(produce(kafka_broker.bootstrap, topics.events, valid_records(stream)))
    wait_drained(workers, topics.partitions)
    request = urllib.request.Request(worker.url("/metrics"), headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        text = gzip.decompress(response.read()).decode()
    samples = parse_metrics(text)
    assert set(per_queue(samples, "callpulse_calls_waiting")) == {"queue-0", "queue-1", "queue-2"}
    assert "callpulse_service_level_ratio" in samples
    with urllib.request.urlopen(worker.url("/readyz"), timeout=5) as response:
        assert orjson.loads(response.read())["ready"] is True


def test_closed_intervals_are_published_with_exact_counters(
    kafka_broker, topics, workers, tmp_path
):
    bootstrap = kafka_broker.bootstrap
    # ~40 minutes of event time over 6 queues: at least two closed 15-minute intervals each
    stream = synthetic_stream(queues=6, events=3000, calls_per_queue_per_s=0.05, seed=5)
    start_worker(bootstrap, topics, tmp_path, workers)
    asyncio.run(produce(bootstrap, topics.events, valid_records(stream)))
    wait_drained(workers, topics.partitions)

    offline = Engine(EngineConfig())
    for event, key in stream:
        offline.apply(event, only_queue=key)
    expected = {(s.queue, s.start): s.counters.as_dict() for s in offline.flush()}
    published = asyncio.run(read_all(bootstrap, f"{topics.prefix}.intervals", 12, timeout=15))
    assert len(published) >= 12
    for record in published:
        summary = orjson.loads(record.value)
        assert record.key == f"{summary['queue']}|{summary['start']:.0f}".encode()
        assert summary["counters"] == expected[(summary["queue"], summary["start"])]
