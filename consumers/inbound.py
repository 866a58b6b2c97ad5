"""One Kafka record in, one verdict out: apply it, skip it, or dead-letter it with a reason.

This is the worker's per-record hot path, kept free of I/O so it can be tested and
benchmarked without a broker. Bounds enforced here keep a bad producer from blowing up
memory or Prometheus: the record key must be a sane queue name (label-safe, not too long),
the number of queues per worker is capped, and the decoder bounds size and field lengths.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from stream.config import EngineConfig
from stream.decode import decode
from stream.engine import Engine
from stream.events import InvalidEvent, queues_of

# Reasons added by the worker to the decoder's (docs/events.md lists them all).
MISSING_KEY = "missing_key"
BAD_QUEUE_NAME = "bad_queue_name"
QUEUE_LIMIT = "queue_limit"
KEY_MISMATCH = "key_mismatch"
# An unexpected error while applying a valid record: dead-lettered (and logged with its
# traceback) so one odd record cannot crash-loop the worker.
INTERNAL_ERROR = "internal_error"


@dataclass(slots=True)
class Limits:
    max_message_bytes: int = 65536
    max_queues: int = 5000
    max_label_length: int = 64


@dataclass(slots=True)
class QueueCount:
    """Queues owned by the whole worker (all partitions), for the per-worker cap."""

    value: int = 0


@dataclass(slots=True)
class OwnedPartition:
    """The engine state of one events-topic partition this worker owns."""

    partition: int
    engine: Engine
    restored_offsets: dict[str, int] = field(default_factory=dict)  # queue -> last offset in state
    last_offset: int = -1  # last record handled (applied, skipped or dead-lettered)
    flushed_offset: int = -1  # last offset covered by a durable snapshot
    dirty: set[str] = field(default_factory=set)  # queues changed since the last snapshot
    touched: set[str] = field(default_factory=set)  # queues changed by the current batch
    read_position: int = 0  # next offset to read (past transaction markers too)
    stream_time: float = 0.0  # largest event ts applied in this partition
    read_at: float = field(default_factory=time.monotonic)  # last records read (or assigned)
    snapshot_at: float | None = None  # wall time of the last durable snapshot


class Rejected(Exception):
    """A record that goes to the dead-letter topic."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _label_safe(name: str) -> bool:
    return name.isprintable() and name.strip() == name and name != ""


class RecordHandler:
    """Applies records to owned partitions; counts what it did."""

    def __init__(self, config: EngineConfig, limits: Limits, queue_count: QueueCount) -> None:
        self.config = config
        self.limits = limits
        self.queue_count = queue_count
        self.applied = 0
        self.skipped = 0  # already included in a restored snapshot

    def queue_of(self, key: bytes | None) -> str:
        if key is None:
            raise Rejected(MISSING_KEY, "the record has no key; the key must be the queue id")
        try:
            queue = key.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(BAD_QUEUE_NAME, "the record key is not UTF-8") from None
        if len(queue) > self.limits.max_label_length or not _label_safe(queue):
            raise Rejected(
                BAD_QUEUE_NAME,
                f"queue id {queue[:80]!r} must be 1..{self.limits.max_label_length} printable "
                "characters without surrounding spaces",
            )
        return queue

    def handle(
        self, part: OwnedPartition, offset: int, key: bytes | None, value: bytes | None
    ) -> float | None:
        """Apply one record; returns the event's ts when applied, None when skipped.

        Raises :class:`Rejected` for records that belong in the dead-letter topic.
        """
        part.last_offset = offset
        queue = self.queue_of(key)
        if offset <= part.restored_offsets.get(queue, -1):
            self.skipped += 1
            return None
        try:
            event = decode(
                value if value is not None else b"",
                now=time.time(),
                max_bytes=self.limits.max_message_bytes,
            )
        except InvalidEvent as error:
            raise Rejected(error.reason, error.detail) from None
        if queue not in queues_of(event):
            raise Rejected(KEY_MISMATCH, f"record key {queue!r} is not a queue the event names")
        engine = part.engine
        new_queue = queue not in engine.queues
        if new_queue and self.queue_count.value >= self.limits.max_queues:
            raise Rejected(QUEUE_LIMIT, f"worker already owns max_queues={self.limits.max_queues}")
        engine.apply(event, only_queue=queue)
        if new_queue:
            self.queue_count.value += 1
        part.dirty.add(queue)
        part.touched.add(queue)
        if event.ts > part.stream_time:
            part.stream_time = event.ts
        self.applied += 1
        return event.ts
