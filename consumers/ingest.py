"""The ingest loop: consumer group, batches, dead letters, intervals, checkpoints.

One loop per worker process. It reads the events topic with ``getmany`` (batches, not a
faust per-event agent), hands each record to :class:`RecordHandler`, and every
``flush_interval`` starts a :class:`CheckpointRound` that makes the work durable:

1. dead-letter records and closed interval summaries are acknowledged by Kafka;
2. the changed queues' snapshots (with the offset they include) are acknowledged;
3. the input offsets are committed.

The snapshots are taken a slice at a time between batches (at most ``SLICE_SECONDS`` per
batch), so a checkpoint of hundreds of queues never holds up the events behind it.
A crash at any point replays from the last commit; the snapshot offsets make the
replay skip what the state already holds (dead letters and intervals are at least once,
with the source offset / interval bounds in them to deduplicate downstream).
On revocation the partitions are flushed before they are given up; on assignment their
queues are restored before the first record is read, and ``ready`` stays false meanwhile.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import Awaitable, Iterable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from stream.engine import Engine
from stream.queue import IntervalSummary

from .alerting import AlertHook
from .checkpoint import CheckpointRound, SnapshotStore
from .inbound import INTERNAL_ERROR, Limits, OwnedPartition, QueueCount, RecordHandler, Rejected
from .kafka_options import client_options
from .self_metrics import WorkerStats
from .settings import Settings

log = logging.getLogger("callpulse.ingest")

MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024
SNAPSHOT_BATCH_BYTES = 1024 * 1024  # the broker's default max.message.bytes is ~1 MiB
# Checkpoint work per loop turn: ~10 queue snapshots of a busy queue, a few ms of delay for
# the events behind them (bench/README.md, worker latency).
SLICE_SECONDS = 0.005
POSITION_SECONDS = 1.0  # how often read positions are refreshed (lag, alert clocks)
ALERT_CHUNK = 50  # queues evaluated between deadline checks of an alert slice
RESTORE_RETRY_SECONDS = 5.0
# Sends (dead letters, intervals, alerts) in flight before reading waits for them: bounds the
# memory a flood of bad records can hold (each send keeps its record, up to max_message_bytes).
MAX_PENDING_SENDS = 2000


def dead_letter_headers(reason: str, detail: str, partition: int, offset: int) -> list:
    return [
        ("callpulse-reason", reason.encode()),
        ("callpulse-detail", detail[:500].encode()),
        ("callpulse-source-partition", str(partition).encode()),
        ("callpulse-source-offset", str(offset).encode()),
    ]


def interval_record(summary: IntervalSummary) -> tuple[bytes, bytes]:
    key = f"{summary.queue}|{summary.start:.0f}".encode()
    value = orjson.dumps(
        {
            "queue": summary.queue,
            "start": summary.start,
            "end": summary.end,
            "counters": summary.counters.as_dict(),
            "kpis": summary.kpis,
        }
    )
    return key, value


class IngestLoop(ConsumerRebalanceListener):
    def __init__(self, settings: Settings, stats: WorkerStats) -> None:
        self.settings = settings
        self.stats = stats
        self.owned: dict[int, OwnedPartition] = {}
        self.queue_count = QueueCount()
        worker = settings.worker
        self.handler = RecordHandler(
            settings.engine,
            Limits(worker.max_message_bytes, worker.max_queues, worker.max_label_length),
            self.queue_count,
        )
        self.ready = False
        self._pending: list[Awaitable] = []  # sends that must be acked before a snapshot
        self._consumer: AIOKafkaConsumer | None = None
        self._restorer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._store: SnapshotStore | None = None
        self._round: CheckpointRound | None = None
        self._last_round = time.monotonic()  # start of the last checkpoint round
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()  # run() has returned: the final flush may start
        self._stopped.set()  # (not running yet)
        self._unrestored: set[TopicPartition] = set()  # assigned, restore failed: retried
        self._next_restore_try = 0.0
        # Positions and time-driven alerts: every second, or the alert tick if shorter.
        self._tick_seconds = min(POSITION_SECONDS, settings.alerts.tick_interval_seconds)
        self._alert_work: deque[tuple[OwnedPartition, list[str], float | None]] = deque()
        # Alert rules (docs/alerts.md): evaluated after each batch and on a ticker.
        self.alerts = (
            AlertHook(settings, self._publish_alert) if settings.alerts.rules_file else None
        )

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        kafka, topics, worker = self.settings.kafka, self.settings.topics, self.settings.worker
        self._producer = AIOKafkaProducer(
            **client_options(kafka, "producer"),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=MAX_SNAPSHOT_BYTES,
            # Queue snapshots are tens of kB: the default 16 kB batch holds one, and a full
            # batch makes the next send wait for the previous request to complete.
            max_batch_size=SNAPSHOT_BATCH_BYTES,
        )
        self._restorer = AIOKafkaConsumer(
            **client_options(kafka, "restore"),
            enable_auto_commit=False,
            fetch_max_bytes=MAX_SNAPSHOT_BYTES * 2,
            max_partition_fetch_bytes=MAX_SNAPSHOT_BYTES,
        )
        self._consumer = AIOKafkaConsumer(
            **client_options(kafka, "consumer"),
            group_id=worker.group_id,
            group_instance_id=worker.instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=max(1 << 20, worker.max_message_bytes * 2),
        )
        await self._producer.start()
        await self._restorer.start()
        self._store = SnapshotStore(self._producer, topics.snapshots)
        await self._consumer.start()
        self._consumer.subscribe([topics.events], listener=self)
        if self.alerts is not None:
            self.alerts.start()

    async def stop(self) -> None:
        self._stopping.set()
        # The loop finishes its turn first: a checkpoint round must not run beside the flush.
        await self._stopped.wait()
        if self.alerts is not None:
            await self.alerts.stop()
        if self._consumer is not None:
            try:
                await self.flush(list(self.owned.values()))
            except KafkaError as error:
                log.warning("final flush failed: %s", error)
            await self._consumer.stop()
        for client in (self._restorer, self._producer):
            if client is not None:
                await client.stop()

    # --- rebalance -----------------------------------------------------------------------

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        parts = [self.owned[tp.partition] for tp in revoked if tp.partition in self.owned]
        if not parts:
            return
        try:
            await self.flush(parts)
        except KafkaError as error:  # the next owner replays from the last durable snapshot
            log.warning("flush on revoke failed, the next owner replays: %s", error)
        for part in parts:
            self._drop(part)
        log.info("revoked partitions %s", sorted(p.partition for p in parts))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        tps = [tp for tp in assigned if tp.partition not in self.owned]
        if not tps:
            return
        self.ready = False
        try:
            await self._restore(tps)
        except Exception as error:  # aiokafka would only log it and leave them unowned
            # Not read until restored (paused, not refetched in a loop); retried from run().
            log.error("restoring partitions %s failed, retrying: %r", sorted(tp.partition
                      for tp in tps), error)  # fmt: skip
            self.stats.restore_failures += 1
            assert self._consumer is not None
            self._unrestored.update(tps)
            self._consumer.pause(*tps)
            self._next_restore_try = time.monotonic() + RESTORE_RETRY_SECONDS
            return
        self.ready = not self._unrestored

    async def _retry_restore(self) -> None:
        assert self._consumer is not None
        tps = [tp for tp in self._unrestored if tp in self._consumer.assignment()]
        self._unrestored.clear()
        if tps:
            self._consumer.resume(*tps)
            await self.on_partitions_assigned(tps)
        else:
            self.ready = True

    async def _restore(self, tps: list[TopicPartition]) -> None:
        wanted = sorted(tp.partition for tp in tps)
        started = time.monotonic()
        assert self._store is not None and self._restorer is not None
        assert self._consumer is not None
        topic = self.settings.topics.events
        for checkpoint in await self._store.read(self._restorer, wanted):
            engine = Engine(self.settings.engine)
            offsets: dict[str, int] = {}
            for queue, saved in checkpoint.queues.items():
                engine.restore(saved.state)
                offsets[queue] = saved.offset
                if self.alerts is not None:  # alert state travels with the queue
                    self.alerts.restore(queue, saved.state.get("alerts"))
            part = OwnedPartition(checkpoint.partition, engine, offsets)
            committed = await self._consumer.committed(TopicPartition(topic, part.partition))
            if committed is not None:  # reading resumes there: the lag counts from it
                part.last_offset = part.flushed_offset = committed - 1
                part.read_position = committed
            part.stream_time = max(
                (q.stream_time or 0.0 for q in engine.queues.values()), default=0.0
            )
            part.snapshot_at = time.time()
            self.owned[part.partition] = part
            self.queue_count.value += len(engine.queues)
            await asyncio.sleep(0)  # heartbeats and /healthz between partitions
        # The restored state lives long: move it out of the cyclic collector's reach, or
        # every later full collection walks it (hundreds of ms at thousands of queues,
        # holding the loop). Collect first so restore's garbage is not frozen with it.
        gc.collect()
        gc.freeze()
        self.stats.last_restore_seconds = time.monotonic() - started
        log.info(
            "assigned partitions %s, restored in %.2fs", wanted, self.stats.last_restore_seconds
        )

    async def _rewind(self) -> None:
        """Drop the in-memory state of every owned partition and restore it from the
        checkpoints, reading again from the committed offsets."""
        assert self._consumer is not None
        self._pending.clear()
        self._round = None
        parts = list(self.owned.values())
        for part in parts:
            self._drop(part)
        topic = self.settings.topics.events
        assigned = [TopicPartition(topic, p.partition) for p in parts]
        await self.on_partitions_assigned(assigned)
        for tp in assigned:
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)

    def _drop(self, part: OwnedPartition) -> None:
        self.owned.pop(part.partition, None)
        if self.alerts is not None:
            self.alerts.forget(list(part.engine.queues))
        self.queue_count.value -= len(part.engine.queues)
        self._alert_work = deque(w for w in self._alert_work if w[0] is not part)

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        self._stopped.clear()
        try:
            await self._run()
        finally:
            self._stopped.set()

    async def _run(self) -> None:
        assert self._consumer is not None
        next_tick = time.monotonic()
        needs_rewind = False
        while not self._stopping.is_set():
            try:
                if needs_rewind:
                    await self._rewind()
                    needs_rewind = False
                if self._unrestored and time.monotonic() >= self._next_restore_try:
                    await self._retry_restore()
                if len(self._pending) >= MAX_PENDING_SENDS:
                    await self._settle_pending()  # a dead-letter flood waits for the broker
                # While a checkpoint or alert work is under way, do not idle in getmany.
                busy = (self._round is not None and self._round.queues > 0) or self._alert_work
                batches = await self._consumer.getmany(
                    timeout_ms=0 if busy else 100,
                    max_records=self.settings.worker.batch_max_records,
                )
                for tp, records in batches.items():
                    part = self.owned.get(tp.partition)
                    if part is not None:
                        self._consume(part, records)
                    elif tp in self._consumer.assignment():
                        # Fetched while the partition's restore is still running: read
                        # these again once it is owned.
                        self._consumer.seek(tp, records[0].offset)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self._tick_seconds
                    await self._update_positions()
                    if self.alerts is not None and not self._alert_work:
                        self._plan_alert_tick()
                self._alert_step()
                await self._checkpoint_step()
            except KafkaError as error:
                # Something read since the last flush may not be durable (a dead letter, an
                # interval): go back to the last durable checkpoint and read again.
                self.stats.kafka_errors += 1
                log.warning("kafka error, rewinding to the last checkpoint: %s", error)
                needs_rewind = True
                await asyncio.sleep(1.0)

    async def _update_positions(self) -> None:
        """Read positions, which move past transaction markers that no record shows."""
        assert self._consumer is not None
        topic = self.settings.topics.events
        for part in list(self.owned.values()):
            tp = TopicPartition(topic, part.partition)
            if tp in self._consumer.assignment() and tp not in self._unrestored:
                position = await self._consumer.position(tp)
                part.read_position = max(part.read_position, position)

    def _consume(self, part: OwnedPartition, records: list) -> None:
        handle = self.handler.handle
        oldest_ts: float | None = None
        for record in records:
            try:
                ts = handle(part, record.offset, record.key, record.value)
            except Rejected as rejected:
                self._dead_letter(part, record, rejected)
                continue
            except Exception as error:  # a bug: keep the record and the loop, say so loudly
                log.exception("applying partition %d offset %d failed", part.partition,
                              record.offset)  # fmt: skip
                self._dead_letter(part, record, Rejected(INTERNAL_ERROR, repr(error)))
                continue
            if oldest_ts is None or (ts is not None and ts < oldest_ts):
                oldest_ts = ts
        self.stats.consumed += len(records)
        part.read_position = max(part.read_position, records[-1].offset + 1)
        part.read_at = time.monotonic()
        # One latency sample per batch keeps the hot path lean; the batch's oldest event
        # is the one that waited longest, so the histogram errs high, not low.
        if oldest_ts is not None:
            self.stats.observe_latency(time.time() - oldest_ts)
        self._publish_intervals(part.engine.take_closed())
        if self.alerts is not None:  # the queues this batch changed, at their stream time
            self.alerts.evaluate(part, part.touched, None)
        part.touched.clear()

    def _plan_alert_tick(self) -> None:
        """Time-driven alert conditions (a wait that keeps growing, a silent feed) for every
        owned queue, at wall time when caught up, else stream time. Done a slice per loop
        turn (_alert_step): thousands of queues x rules would hold the loop for 100s of ms."""
        now = time.time()
        for part in list(self.owned.values()):
            caught_up = _lag_of(self._consumer, self.settings.topics.events, part) == 0
            self._alert_work.append(
                (part, list(part.engine.queues), now if caught_up else part.stream_time)
            )

    def _alert_step(self) -> None:
        assert self.alerts is not None or not self._alert_work
        deadline = time.perf_counter() + SLICE_SECONDS
        while self._alert_work and time.perf_counter() < deadline:
            part, queues, now = self._alert_work[0]
            chunk, rest = queues[:ALERT_CHUNK], queues[ALERT_CHUNK:]
            self.alerts.evaluate(part, set(chunk), now)  # type: ignore[union-attr]
            if rest:
                self._alert_work[0] = (part, rest, now)
            else:
                self._alert_work.popleft()

    def _publish_alert(self, key: bytes, value: bytes) -> None:
        assert self._producer is not None
        send = self._producer.send(self.settings.topics.alerts, value=value, key=key)
        self._pending.append(asyncio.ensure_future(send))

    def _dead_letter(self, part: OwnedPartition, record, rejected: Rejected) -> None:
        assert self._producer is not None
        self.stats.count_dead_letter(rejected.reason)
        self._pending.append(
            asyncio.ensure_future(
                self._producer.send(
                    self.settings.topics.dead_letter,
                    value=record.value,
                    key=record.key,
                    headers=dead_letter_headers(
                        rejected.reason, rejected.detail, part.partition, record.offset
                    ),
                )
            )
        )

    def _publish_intervals(self, summaries: list[IntervalSummary]) -> None:
        assert self._producer is not None
        for summary in summaries:
            key, value = interval_record(summary)
            self._pending.append(
                asyncio.ensure_future(
                    self._producer.send(self.settings.topics.intervals, value=value, key=key)
                )
            )
        self.stats.intervals_published += len(summaries)

    # --- checkpoints -----------------------------------------------------------------------

    async def _checkpoint_step(self) -> None:
        """One loop turn's share of checkpointing: start a round when one is due, take a
        slice of it, or commit it once everything in it is acknowledged."""
        assert self._consumer is not None
        round_ = self._round
        if round_ is None:
            every = self.settings.worker.flush_interval_seconds
            if time.monotonic() >= self._last_round + every:
                self._round = self._begin(list(self.owned.values()))
        elif round_.queues:
            await round_.take(SLICE_SECONDS)
        elif round_.acked():
            self._round = None
            await round_.complete(self._consumer, self.settings.topics.events)

    def _begin(self, parts: list[OwnedPartition]) -> CheckpointRound:
        assert self._store is not None
        self._last_round = time.monotonic()
        topic = self.settings.topics.events
        grace = self.settings.engine.grace_seconds
        for part in parts:
            # Intervals close with time passing, not only with later events: a partition
            # that has read everything there is (lag 0) and got nothing for at least the
            # grace period lets its event time run on with the wall clock since its last
            # record. Else a quiet partition's last interval of the day would only close
            # with its next event, the next morning. (Only after a lull: a replay of
            # history, paced or not, keeps its own event time.)
            idle = self._last_round - part.read_at
            caught_up = _lag_of(self._consumer, topic, part) == 0
            now = part.stream_time + idle if caught_up and idle >= grace else part.stream_time
            closed = part.engine.advance(now)
            if closed:
                part.dirty.update(s.queue for s in closed)
                self._publish_intervals(closed)
        return CheckpointRound(self._store, parts, self._queue_snapshot, self._take_pending)

    async def _settle_pending(self) -> None:
        """Wait until every queued send is acknowledged (a KafkaError rewinds)."""
        settled = list(self._pending)
        for sent in settled:
            await (await sent)
        del self._pending[: len(settled)]  # acknowledged; only appended to meanwhile

    def _take_pending(self) -> list[Awaitable]:
        """Sends queued so far (dead letters, intervals, alerts): a round waits for them
        before it writes a snapshot that covers their records."""
        pending, self._pending = self._pending, []
        return pending

    async def flush(self, parts: list[OwnedPartition]) -> None:
        """Make everything read so far durable, then commit, before returning (stop and
        revocation): the round under way first, then one for ``parts``."""
        assert self._consumer is not None
        topic = self.settings.topics.events
        if self._round is not None:
            round_, self._round = self._round, None
            await round_.complete(self._consumer, topic)
        await self._begin(parts).complete(self._consumer, topic)

    def _queue_snapshot(self, part: OwnedPartition, queue: str) -> dict:
        state = part.engine.snapshot([queue])
        if self.alerts is not None:
            state["alerts"] = self.alerts.snapshot(queue)
        return state


def _lag_of(consumer: AIOKafkaConsumer | None, topic: str, part: OwnedPartition) -> int | None:
    try:
        end = consumer.highwater(TopicPartition(topic, part.partition)) if consumer else None
    except AssertionError:  # not assigned any more
        return None
    return None if end is None else max(end - max(part.read_position, part.last_offset + 1), 0)
