"""aiokafka 0.14 against the real local broker: keyed JSON records, several partitions."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import UnknownTopicOrPartitionError

from consumers.local_kafka import LocalKafka

pytestmark = pytest.mark.kafka

PARTITIONS = 4
QUEUES = ("sales", "support", "billing", "vip-fr", "überlauf")  # non-ASCII key on purpose
EVENTS_PER_QUEUE = 50


def unique(name: str) -> str:
    return f"test.{name}.{uuid.uuid4().hex[:8]}"


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


def make_events() -> list[tuple[bytes, dict[str, object]]]:
    """Interleaved per-queue sequences, as a telephony platform would publish them."""
    return [
        (
            queue.encode(),
            {"queue": queue, "seq": seq, "ts": 1_700_000_000.25 + seq, "call_id": f"{queue}-{seq}"},
        )
        for seq in range(EVENTS_PER_QUEUE)
        for queue in QUEUES
    ]


async def consume(
    bootstrap: str, topic: str, count: int, group: str, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
        await consumer.commit()
    finally:
        await consumer.stop()
    return records


async def test_keyed_json_round_trip_keeps_content_and_per_key_order(
    kafka_broker: LocalKafka,
) -> None:
    topic = unique("roundtrip")
    await create_topic(kafka_broker.bootstrap, topic, PARTITIONS)
    events = make_events()

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        sends = [await producer.send(topic, orjson.dumps(value), key=key) for key, value in events]
        metadata = await asyncio.gather(*sends)
    finally:
        await producer.stop()

    records = await consume(kafka_broker.bootstrap, topic, len(events), group=unique("group"))

    assert len(records) == len(events)
    by_key: dict[bytes, list[dict[str, object]]] = defaultdict(list)
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for record in records:
        assert record.key is not None and record.value is not None
        by_key[record.key].append(orjson.loads(record.value))
        partitions_of_key[record.key].add(record.partition)
    for queue in QUEUES:
        key = queue.encode()
        expected = [v for k, v in events if k == key]
        assert by_key[key] == expected, f"records of {queue} differ or are out of order"
    # Partition by key: one queue, one partition; and the keys really spread out.
    assert all(len(parts) == 1 for parts in partitions_of_key.values())
    assert len({m.partition for m in metadata}) > 1


async def test_committed_offsets_resume_where_the_group_left_off(kafka_broker: LocalKafka) -> None:
    topic, group = unique("resume"), unique("group")
    await create_topic(kafka_broker.bootstrap, topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    await producer.start()
    try:
        for seq in range(10):
            await producer.send_and_wait(topic, orjson.dumps({"seq": seq}), key=b"q")
    finally:
        await producer.stop()

    first = await consume(kafka_broker.bootstrap, topic, 10, group=group)
    assert [orjson.loads(r.value or b"")["seq"] for r in first] == list(range(10))

    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, orjson.dumps({"seq": 10}), key=b"q")
    finally:
        await producer.stop()
    second = await consume(kafka_broker.bootstrap, topic, 1, group=group)
    assert [orjson.loads(r.value or b"")["seq"] for r in second] == [10]


async def test_broker_does_not_auto_create_topics(kafka_broker: LocalKafka) -> None:
    # Pinned decision (README): topics are created explicitly, with their partition count.
    topic = unique("missing")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, request_timeout_ms=1500)
    await producer.start()
    try:
        with pytest.raises(UnknownTopicOrPartitionError):
            await producer.send_and_wait(topic, b"{}")
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    await admin.start()
    try:
        assert topic not in await admin.list_topics()
    finally:
        await admin.close()
