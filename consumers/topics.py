"""Create the worker's topics when they are missing.

The snapshots topic must have exactly as many partitions as the events topic (snapshots
partition *p* holds the state read from events partition *p*), so it is created from the
events topic's actual partition count, and a mismatch is a startup error, not a surprise.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from .kafka_options import client_options
from .settings import Settings

log = logging.getLogger("callpulse.topics")

SNAPSHOT_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "max.message.bytes": str(16 * 1024 * 1024),
    # Restores read every record not yet compacted, and only closed segments are compacted:
    # small, short-lived segments keep a restore close to one snapshot per queue. A segment
    # must still hold the largest batch (max.message.bytes), so 32 MiB.
    "segment.bytes": str(32 * 1024 * 1024),
    "segment.ms": "60000",
    "min.cleanable.dirty.ratio": "0.1",
}


class TopicSetupError(RuntimeError):
    """A topic the worker needs cannot be created or does not fit."""


async def ensure_topics(settings: Settings) -> int:
    """Create missing topics; returns the events topic's partition count."""
    topics = settings.topics
    admin = AIOKafkaAdminClient(**client_options(settings.kafka, "admin"))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        rf = topics.replication_factor
        if topics.events not in existing:
            await _create(admin, NewTopic(topics.events, topics.partitions, rf))
        partitions = await _partition_count(admin, topics.events)
        wanted = [
            NewTopic(topics.dead_letter, partitions, rf),
            NewTopic(topics.intervals, partitions, rf),
            NewTopic(topics.alerts, 1, rf),
            NewTopic(topics.snapshots, partitions, rf, topic_configs=SNAPSHOT_TOPIC_CONFIG),
        ]
        for topic in wanted:
            if topic.name not in existing:
                await _create(admin, topic)
        snapshot_partitions = await _partition_count(admin, topics.snapshots)
        if snapshot_partitions != partitions:
            raise TopicSetupError(
                f"topics.snapshots: {topics.snapshots!r} has {snapshot_partitions} partitions "
                f"but {topics.events!r} has {partitions}; they must match"
            )
        policy = await _topic_config(admin, topics.snapshots, "cleanup.policy")
        if "compact" not in (policy or "").split(",") or "delete" in (policy or ""):
            # With deletion, an idle queue's only snapshot expires and its counters restart
            # from zero at the next restore.
            raise TopicSetupError(
                f"topics.snapshots: {topics.snapshots!r} has cleanup.policy={policy!r}; it "
                "must be 'compact' (kafka-configs --alter --add-config cleanup.policy=compact)"
            )
        return partitions
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, topic: NewTopic) -> None:
    response = await admin.create_topics([topic])
    for name, code, message in response.topic_errors:
        if code == TopicAlreadyExistsError.errno:  # another worker created it first
            continue
        if code:
            raise TopicSetupError(f"cannot create topic {name!r}: {message} (error {code})")
        log.info("created topic %s (%d partitions)", name, topic.num_partitions)


async def _partition_count(admin: AIOKafkaAdminClient, topic: str, timeout: float = 30.0) -> int:
    """Partitions of ``topic``; waits while a just-created topic's metadata propagates."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        described = await admin.describe_topics([topic])
        count = len(described[0]["partitions"])
        if count or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.2)


async def _topic_config(admin: AIOKafkaAdminClient, topic: str, key: str) -> str | None:
    resource = ConfigResource(ConfigResourceType.TOPIC, topic)
    for response in await admin.describe_configs([resource]):
        for code, message, _, _, entries, *_ in response.resources:
            if code:
                raise TopicSetupError(f"cannot read the config of {topic!r}: {message} ({code})")
            for name, value, *_ in entries:
                if name == key:
                    return value  # type: ignore[no-any-return]
    return None
