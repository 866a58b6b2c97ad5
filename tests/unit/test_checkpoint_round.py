"""CheckpointRound: records applied between a round's slices are neither lost nor counted
twice by a crash at any point and a restore from what the round made durable."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.checkpoint import CheckpointRound, decode_checkpoint, encode_checkpoint
from consumers.inbound import Limits, OwnedPartition, QueueCount, RecordHandler
from stream.config import EngineConfig
from stream.engine import Engine
from stream.synthetic import synthetic_stream
from tests.integration.worker_harness import valid_records

TOPIC = "events"
STREAM = synthetic_stream(queues=4, events=240, calls_per_queue_per_s=0.2, seed=21)
RECORDS = valid_records(STREAM)


class DurableStore:
    """A snapshots topic whose writes are durable at once: the latest per queue wins.
    Encoded as the real store does (a snapshot may share lists with the live engine)."""

    def __init__(self) -> None:
        self.latest: dict[str, bytes] = {}

    def offsets(self) -> dict[str, int]:
        return {q: decode_checkpoint(v).offset for q, v in self.latest.items()}

    async def send(self, partition: int, offset: int, queue: str, state: dict[str, Any]):
        self.latest[queue] = encode_checkpoint(offset, state)
        acked = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked


class Committer:
    def __init__(self) -> None:
        self.committed = 0  # where reading resumes

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed = offsets[TopicPartition(TOPIC, 0)]


def totals(engine: Engine) -> dict[str, dict[str, float]]:
    return {q: s.totals.as_dict() for q, s in engine.queues.items()}


def handler() -> RecordHandler:
    return RecordHandler(EngineConfig(), Limits(), QueueCount())


async def run_then_crash(steps: list[tuple[int, str]]) -> tuple[DurableStore, Committer]:
    """Apply records in chunks, with round actions between them; stop anywhere (a crash)."""
    store, consumer = DurableStore(), Committer()
    part = OwnedPartition(0, Engine(EngineConfig()))
    apply, round_ = handler().handle, None
    for chunk, action in steps:
        start = part.last_offset + 1
        for offset in range(start, min(start + chunk, len(RECORDS))):
            apply(part, offset, *RECORDS[offset])
        if action == "begin" and round_ is None:
            round_ = CheckpointRound(store, [part], lambda p, q: p.engine.snapshot([q]), list)
        elif action == "take" and round_ is not None:
            await round_.take(0.0)  # one queue
        elif action == "complete" and round_ is not None:
            await round_.complete(consumer, TOPIC)  # type: ignore[arg-type]
            round_ = None
    return store, consumer


def recover(store: DurableStore, consumer: Committer) -> Engine:
    """A new owner: restore every queue's latest snapshot, read from the committed offset."""
    engine = Engine(EngineConfig())
    offsets = {}
    for queue, value in store.latest.items():
        saved = decode_checkpoint(value)
        engine.restore(saved.state)
        offsets[queue] = saved.offset
    part = OwnedPartition(0, engine, offsets)
    apply = handler().handle
    for offset in range(consumer.committed, len(RECORDS)):
        key, value = RECORDS[offset]
        apply(part, offset, key, value)
    return engine


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from(["none", "begin", "take", "complete"])),
        max_size=40,
    )
)
def test_crash_anywhere_during_sliced_rounds_recovers_exact_totals(steps):
    truth = Engine(EngineConfig())
    for event, key in STREAM:
        truth.apply(event, only_queue=key)
    store, consumer = asyncio.run(run_then_crash(steps))
    assert totals(recover(store, consumer)) == totals(truth)


def test_a_round_commits_the_offset_read_when_it_began():
    async def scenario() -> tuple[int, dict[str, int], set[str]]:
        store, consumer = DurableStore(), Committer()
        part = OwnedPartition(0, Engine(EngineConfig()))
        apply = handler().handle
        for offset in range(100):
            apply(part, offset, *RECORDS[offset])
        round_ = CheckpointRound(store, [part], lambda p, q: p.engine.snapshot([q]), list)
        await round_.take(0.0)
        for offset in range(100, 150):  # read while the round is under way
            apply(part, offset, *RECORDS[offset])
        await round_.complete(consumer, TOPIC)  # type: ignore[arg-type]
        return consumer.committed, store.offsets(), part.dirty

    committed, snapshot_offsets, dirty = asyncio.run(scenario())
    assert committed == 100
    first, *rest = sorted(snapshot_offsets.values())
    assert first == 99 and all(o == 149 for o in rest)  # later slices include more
    assert dirty  # queues changed after the round began wait for the next one


def test_a_snapshot_is_written_only_after_the_sends_of_the_records_it_covers():
    """A dead letter queued after the round began (for a record the next snapshot covers)
    is acknowledged before that snapshot is written: a restore skips what a snapshot
    covers, so a dead letter lost after it would be lost for good."""

    async def scenario() -> list[str]:
        store, log = DurableStore(), []
        written = store.send

        async def send_logged(partition: int, offset: int, queue: str, state: dict):
            log.append(f"snapshot@{offset}")
            return await written(partition, offset, queue, state)

        store.send = send_logged  # type: ignore[method-assign]
        part = OwnedPartition(0, Engine(EngineConfig()))
        apply = handler().handle
        for offset in range(100):
            apply(part, offset, *RECORDS[offset])
        queued: list = []
        round_ = CheckpointRound(
            store,
            [part],
            lambda p, q: p.engine.snapshot([q]),
            lambda: [queued.pop() for _ in range(len(queued))],
        )
        await round_.take(0.0)
        apply(part, 100, *RECORDS[100])  # then a dead letter for offset 101, still in flight
        delivery = asyncio.get_running_loop().create_future()

        async def dead_letter() -> asyncio.Future:
            await asyncio.sleep(0.01)
            log.append("dead letter acked")
            delivery.set_result(None)
            return delivery

        queued.append(asyncio.ensure_future(dead_letter()))
        part.last_offset = 101
        await round_.take(0.0)
        return log

    log = asyncio.run(scenario())
    assert log[0] == "snapshot@99"
    assert log[1:] == ["dead letter acked", "snapshot@101"]
