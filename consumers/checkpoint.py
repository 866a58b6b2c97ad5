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

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from .inbound import OwnedPartition

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

    async def send(
        self, partition: int, offset: int, queue: str, state: dict[str, Any]
    ) -> asyncio.Future[Any]:
        """Hand ``queue``'s state as of ``offset`` to the producer; the returned future
        resolves when the broker has acknowledged it."""
        return await self._producer.send(
            self.topic,
            value=encode_checkpoint(offset, state),
            key=queue.encode(),
            partition=partition,
        )

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
        # Until compaction catches up a queue has many versions: keep the latest bytes and
        # decode each queue once, at the end.
        latest: dict[int, dict[bytes, bytes | None]] = {p: {} for p in wanted}
        pending = {tp for tp in wanted.values() if ends[tp] > starts[tp]}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for tp, records in batches.items():
                result[tp.partition].records_read += len(records)
                found = latest[tp.partition]
                for record in records:
                    found[record.key] = record.value  # None: a tombstone, state deleted
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        for partition, found in latest.items():
            queues = result[partition].queues
            for key, value in found.items():
                if value is not None:
                    queues[key.decode()] = decode_checkpoint(value)
        return list(result.values())


Snapshotter = Callable[[OwnedPartition, str], dict[str, Any]]


def _delivered(sent: Awaitable[Any]) -> bool:
    """Has a send finished? ``producer.send()`` tasks resolve to delivery futures."""
    if not isinstance(sent, asyncio.Future) or not sent.done():
        return False
    if sent.cancelled() or sent.exception() is not None:
        return True  # complete() raises it
    inner = sent.result()
    return not isinstance(inner, asyncio.Future) or inner.done()


class CheckpointRound:
    """One checkpoint of some owned partitions, taken a slice of queues at a time, so the
    ingest loop keeps applying records in between instead of stopping for all queues.

    At the start the round fixes, per partition, its *commit point* (the last offset read
    so far) and the queues to snapshot (those changed since the last round; the partition
    starts a fresh dirty set). Each queue's snapshot carries the offset read when that
    queue was taken, which may be past the commit point: after a crash reading resumes at
    the commit point and the restored queue skips what its snapshot already includes, so
    nothing is counted twice or lost. A queue changed again after its slice is dirty again
    and goes into the next round.

    Side effects of records (dead letters, interval summaries, alerts: the sends that
    ``collect`` hands over) are acknowledged before any snapshot that covers their records
    is written: a snapshot is durable on its own, and a restore skips what it covers, so a
    send lost after it would be lost for good. Each slice therefore first waits for the
    sends queued so far (usually long done). The commit points are committed once every
    snapshot and send of the round is acknowledged.
    """

    def __init__(
        self,
        store: SnapshotStore,
        parts: Iterable[OwnedPartition],
        snapshot: Snapshotter,
        collect: Callable[[], list[Awaitable[Any]]],
    ) -> None:
        self.started = time.monotonic()
        self._store = store
        self._snapshot = snapshot
        self._collect = collect
        self._sends = collect()
        self._settled = 0  # sends before this index are acknowledged
        self._acks: list[asyncio.Future[Any]] = []
        self.commit_points: dict[int, int] = {}
        self._parts: list[OwnedPartition] = []
        self._todo: deque[tuple[OwnedPartition, str]] = deque()
        for part in parts:
            # An alert state change alone (ticker) is checkpointed too, at the same offset.
            if part.last_offset <= part.flushed_offset and not part.dirty:
                continue
            self.commit_points[part.partition] = part.last_offset
            self._parts.append(part)
            self._todo.extend((part, queue) for queue in part.dirty)
            part.dirty = set()

    @property
    def queues(self) -> int:
        """Snapshots still to take."""
        return len(self._todo)

    async def take(self, budget: float) -> None:
        """Snapshot queues for about ``budget`` seconds (at least one, if any is left)."""
        deadline = time.perf_counter() + budget
        await self._settle_sends()
        while self._todo:
            part, queue = self._todo.popleft()
            state = self._snapshot(part, queue)
            self._acks.append(
                await self._store.send(part.partition, part.last_offset, queue, state)
            )
            if time.perf_counter() >= deadline:
                return

    async def _settle_sends(self) -> None:
        """Wait until every send queued so far is acknowledged (raises its error)."""
        self._sends.extend(self._collect())
        for sent in self._sends[self._settled :]:
            await (await sent)
        self._settled = len(self._sends)

    def acked(self) -> bool:
        """Everything taken and acknowledged: complete() will not wait (except to commit)."""
        return (
            not self._todo
            and all(ack.done() for ack in self._acks)
            and all(_delivered(sent) for sent in self._sends)
        )

    async def complete(self, consumer: AIOKafkaConsumer, topic: str) -> None:
        """Take what is left, wait for every acknowledgement, then commit."""
        await self.take(float("inf"))
        for ack in self._acks:
            await ack
        now = time.time()
        commits: dict[TopicPartition, int] = {}
        for part in self._parts:
            part.snapshot_at = now
            offset = self.commit_points[part.partition]
            if offset > part.flushed_offset:
                part.flushed_offset = offset
                commits[TopicPartition(topic, part.partition)] = offset + 1
        if commits:
            await consumer.commit(commits)
