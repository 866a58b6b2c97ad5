"""Topic setup against the real broker: what the worker refuses to run on."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from consumers.settings import KafkaSettings, Settings, TopicSettings
from consumers.topics import TopicSetupError, ensure_topics

pytestmark = pytest.mark.kafka


def settings_for(bootstrap: str) -> Settings:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=TopicSettings(
            events=f"{prefix}.events",
            dead_letter=f"{prefix}.dlq",
            snapshots=f"{prefix}.snapshots",
            intervals=f"{prefix}.intervals",
            alerts=f"{prefix}.alerts",
            partitions=2,
        ),
    )


def test_missing_topics_are_created_with_a_compacted_snapshots_topic(kafka_broker) -> None:
    settings = settings_for(kafka_broker.bootstrap)
    assert asyncio.run(ensure_topics(settings)) == 2
    assert asyncio.run(ensure_topics(settings)) == 2  # idempotent


def test_a_snapshots_topic_that_deletes_is_refused(kafka_broker) -> None:
    settings = settings_for(kafka_broker.bootstrap)

    async def precreate() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        settings.topics.snapshots, 2, 1, topic_configs={"cleanup.policy": "delete"}
                    )
                ]
            )
        finally:
            await admin.close()

    asyncio.run(precreate())
    with pytest.raises(TopicSetupError, match=r"cleanup\.policy='delete'.*must be 'compact'"):
        asyncio.run(ensure_topics(settings))
