"""Checkpoints: per-queue engine snapshots in a compacted topic, with the input offset.

The snapshots topic is co-partitioned with the events topic: the state of the queues read
from events partition *p* lives in snapshots partition *p*, one record per queue (key =
queue name, compacted, so the latest wins). Each record carries the events-topic offset
its state includes. A worker that is assigned partition *p* reads snapshots partition *p*
to its end, restores each queue and skips every event at or below that queue's offset —
so a replay after a crash, a rebalance or a restart never counts an event twice.

Input offsets are committed only after the snapshot write is acknowledged (acks=all):
the committed offset is where reading resumes, the snapshot offsets decide what is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

log = logging.getLogger("callpulse.checkpoint")

FORMAT_VERSION = 1


@dataclass(slots=True)
class QueueCheckpoint:
    offset: int  # the last events-topic offset this state includes
    state: dict[str, Any]  # Engine.snapshot([queue]) of that queue


@dataclass(slots=True)
class PartitionCheckpoint:
    partition: int
    queues: dict[str, QueueCheckpoint] = field(default_factory=dict)
    records_read: int = 0

    def offset_of(self, queue: str) -> int:
        """The offset up to which ``queue``'s state is restored (-1: nothing)."""
        found = self.queues.get(queue)
        return -1 if found is None else found.offset


def encode_checkpoint(offset: int, state: dict[str, Any]) -> bytes:
    return orjson.dumps({"v": FORMAT_VERSION, "offset": offset, "state": state})


def decode_checkpoint(value: bytes) -> QueueCheckpoint:
    data = orjson.loads(value)
    if data.get("v") != FORMAT_VERSION:
        raise ValueError(f"unsupported checkpoint format {data.get('v')!r}")
    return QueueCheckpoint(int(data["offset"]), data["state"])


class SnapshotStore:
    """Writes and reads the queue checkpoints of one events topic."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self.topic = topic

    async def write(self, partition: int, offset: int, states: dict[str, dict[str, Any]]) -> None:
        """Store ``states`` (queue -> snapshot) as of ``offset``; returns once all are acked."""
        futures = [
            await self._producer.send(
                self.topic,
                value=encode_checkpoint(offset, state),
                key=queue.encode(),
                partition=partition,
            )
            for queue, state in states.items()
        ]
        for future in futures:
            await future

    async def read(
        self, consumer: AIOKafkaConsumer, partitions: Iterable[int]
    ) -> list[PartitionCheckpoint]:
        """Read the given snapshot partitions from the beginning to their current end with a
        consumer that is not in a group (manual assignment)."""
        wanted = {p: TopicPartition(self.topic, p) for p in partitions}
        if not wanted:
            return []
        consumer.assign(list(wanted.values()))
        ends = await consumer.end_offsets(list(wanted.values()))
        starts = await consumer.beginning_offsets(list(wanted.values()))
        for tp, start in starts.items():
            # an explicit seek: seek_to_beginning() right after assign() can be overridden
            # by the consumer's own offset reset (seen with aiokafka 0.14)
            consumer.seek(tp, start)
        result = {p: PartitionCheckpoint(p) for p in wanted}
        pending = {tp for tp in wanted.values() if ends[tp] > starts[tp]}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for tp, records in batches.items():
                found = result[tp.partition]
                for record in records:
                    found.records_read += 1
                    queue = record.key.decode()
                    if record.value is None:  # tombstone: queue state deleted
                        found.queues.pop(queue, None)
                    else:
                        found.queues[queue] = decode_checkpoint(record.value)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return list(result.values())
