"""IngestLoop's record path without a broker: what happens to a record that breaks."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from consumers.inbound import OwnedPartition
from consumers.ingest import IngestLoop
from consumers.self_metrics import WorkerStats
from consumers.settings import Settings
from stream.engine import Engine
from stream.synthetic import synthetic_stream
from tests.integration.worker_harness import valid_records


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, topic: str, **kwargs: Any) -> asyncio.Future:
        self.sent.append({"topic": topic, **kwargs})
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FlakyEngine(Engine):
    """Raises on its third apply, as a bug in the engine would."""

    __slots__ = ("calls",)

    def apply(self, event: Any, only_queue: str | None = None) -> Any:
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 3:
            raise ZeroDivisionError("a bug")
        return super().apply(event, only_queue=only_queue)


def records(count: int) -> list[SimpleNamespace]:
    pairs = valid_records(synthetic_stream(queues=2, events=count, calls_per_queue_per_s=0.2))
    return [SimpleNamespace(offset=i, key=k, value=v) for i, (k, v) in enumerate(pairs)]


def test_a_record_whose_apply_raises_is_dead_lettered_and_the_batch_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> tuple[IngestLoop, RecordingProducer, OwnedPartition]:
        loop = IngestLoop(Settings(), WorkerStats())
        producer = RecordingProducer()
        loop._producer = producer  # type: ignore[assignment]
        engine = FlakyEngine(Settings().engine)
        part = OwnedPartition(0, engine)
        loop._consume(part, batch)
        await asyncio.gather(*loop._pending)
        return loop, producer, part

    batch = records(10)

    loop, producer, part = asyncio.run(scenario())
    assert loop.stats.dead_letters == {"internal_error": 1}
    [letter] = [s for s in producer.sent if s["topic"] == Settings().topics.dead_letter]
    headers = dict(letter["headers"])
    assert headers["callpulse-reason"] == b"internal_error"
    assert b"ZeroDivisionError" in headers["callpulse-detail"]
    assert headers["callpulse-source-offset"] == b"2"
    assert loop.handler.applied == len(batch) - 1 and part.last_offset == len(batch) - 1
    assert "offset 2 failed" in caplog.text


def test_settling_pending_sends_waits_for_their_acks_and_keeps_later_ones() -> None:
    async def scenario() -> tuple[list[str], int]:
        loop = IngestLoop(Settings(), WorkerStats())
        acked: list[str] = []

        async def send(name: str) -> asyncio.Future:
            await asyncio.sleep(0.01)
            acked.append(name)
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        loop._pending = [asyncio.ensure_future(send(f"dead letter {i}")) for i in range(3)]

        async def late_alert() -> None:  # another task queues a send meanwhile
            await asyncio.sleep(0)
            loop._pending.append(asyncio.ensure_future(send("alert")))

        await asyncio.gather(loop._settle_pending(), late_alert())
        return acked, len(loop._pending)

    acked, left = asyncio.run(scenario())
    assert acked[:3] == [f"dead letter {i}" for i in range(3)]
    assert left == 1  # the alert queued meanwhile stays for the checkpoint round


class FakeConsumer:
    """The one thing _begin asks a consumer: a partition's high watermark."""

    def __init__(self, highwater: int) -> None:
        self._highwater = highwater

    def highwater(self, tp: Any) -> int:
        return self._highwater


@pytest.mark.parametrize(
    ("backlog", "idle", "closed"),
    [(0, 3600.0, True), (1, 3600.0, False), (0, 10.0, False)],
)
def test_a_quiet_caught_up_partition_lets_its_event_time_run_with_the_clock(
    backlog: int, idle: float, closed: bool
) -> None:
    """Events and then nothing: once the partition has read everything (lag 0) and got
    nothing for longer than the grace period, the next checkpoint round advances it by
    the time it was quiet, which closes its open 15-minute interval; with records left
    to read, or after a short lull, its stream time alone rules and the interval stays."""

    async def scenario() -> RecordingProducer:
        loop = IngestLoop(Settings(), WorkerStats())
        producer = RecordingProducer()
        loop._producer = producer  # type: ignore[assignment]
        loop._store = object()  # type: ignore[assignment]  # the round is not run
        part = OwnedPartition(0, Engine(Settings().engine))
        batch = [
            SimpleNamespace(offset=i, key=record.key, value=record.value)
            for i, record in enumerate(records(6))
        ]
        loop._consume(part, batch)
        await asyncio.gather(*loop._pending)
        producer.sent.clear()  # what applying the batch published
        part.read_at -= idle
        loop._consumer = FakeConsumer(len(batch) + backlog)  # type: ignore[assignment]
        loop._begin([part])
        await asyncio.gather(*loop._pending)
        return producer

    producer = asyncio.run(scenario())
    sent = [s for s in producer.sent if s["topic"] == Settings().topics.intervals]
    assert {s["key"].split(b"|")[0] for s in sent} == (
        {b"queue-0", b"queue-1"} if closed else set()
    )
