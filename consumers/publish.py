"""Where the tools (simulate, replay) put canonical events: a Kafka topic or a JSONL file.

Kafka records follow the key convention of docs/events.md: the key is the queue id, and
an agent event is fanned out as one record per queue it names (same value, same id). One
idempotent producer with ``acks=all`` keeps each partition, and so each queue, in the
order the events were sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from .kafka_options import client_options
from .progress import Progress
from .settings import Settings
from .topics import ensure_topics


class PublishRun(Protocol):
    """What a publishing command reports: filled in by :func:`publishing`."""

    records: int
    seconds: float
    complete: bool


@contextlib.asynccontextmanager
async def publishing(sink: Sink, progress: Progress, run: PublishRun) -> AsyncIterator[None]:
    """Start ``sink``; at the end, even on Ctrl-C / SIGTERM (a cancellation, which ends
    the run without an error), close the progress bar, flush and stop the sink and fill in
    ``run``. ``complete`` says whether the body ran to its end."""
    started = time.monotonic()
    await sink.start()
    try:
        yield
        run.complete = True
    except asyncio.CancelledError:
        pass  # flush what was sent and report it
    finally:
        progress.close()
        await sink.stop()
        run.records = sink.records
        run.seconds = time.monotonic() - started


class PublishError(RuntimeError):
    """The events cannot be published; the message says why and what to do."""


class Sink(Protocol):
    records: int  # records written (a fanned-out agent event counts once per queue)

    async def start(self) -> None: ...

    async def send(self, value: bytes, queues: tuple[str, ...]) -> None: ...

    async def stop(self) -> None: ...

    def describe(self) -> str: ...


class KafkaSink:
    def __init__(self, settings: Settings, role: str, create_topics: bool = False) -> None:
        self.settings = settings
        self.topic = settings.topics.events
        self.role = role
        self.create_topics = create_topics
        self.records = 0
        self._producer: AIOKafkaProducer | None = None

    def describe(self) -> str:
        return f"topic {self.topic} at {self.settings.kafka.bootstrap_servers}"

    async def start(self) -> None:
        if self.create_topics:
            await ensure_topics(self.settings)
        producer = AIOKafkaProducer(
            **client_options(self.settings.kafka, self.role),
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            request_timeout_ms=15000,
        )
        try:
            await producer.start()
            # The broker does not auto-create topics: say so now, not after a send times out.
            metadata = await producer.client.fetch_all_metadata()
            exists = self.topic in metadata.topics()
        except KafkaError as error:
            await producer.stop()
            raise PublishError(
                f"cannot reach Kafka at {self.settings.kafka.bootstrap_servers} "
                f"({type(error).__name__}: {error}); is the broker running? "
                "(`callpulse kafka start`)"
            ) from None
        if not exists:
            await producer.stop()
            raise PublishError(
                f"topic {self.topic!r} does not exist at {self.settings.kafka.bootstrap_servers}: "
                "start a worker first (it creates its topics) or pass --create-topics"
            )
        self._producer = producer

    async def send(self, value: bytes, queues: tuple[str, ...]) -> None:
        producer = self._producer
        assert producer is not None, "start() first"
        for queue in queues:
            # send() only waits when the producer's buffer is full: that is the back-pressure.
            await producer.send(self.topic, value=value, key=queue.encode())
            self.records += 1

    async def stop(self) -> None:
        if self._producer is not None:
            try:
                await self._producer.flush()
            finally:
                await self._producer.stop()
                self._producer = None


class JsonlSink:
    """One event per line, agent events once (``replay`` fans them out later)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.records = 0
        self._file: BinaryIO | None = None
        self._owned = path != "-"

    def describe(self) -> str:
        return "stdout" if self.path == "-" else self.path

    async def start(self) -> None:
        if self._owned:
            try:
                self._file = Path(self.path).open("wb")  # noqa: SIM115 (closed in stop)
            except OSError as error:
                raise PublishError(f"--output {self.path}: {error.strerror}") from None
        else:
            self._file = sys.stdout.buffer

    async def send(self, value: bytes, queues: tuple[str, ...]) -> None:
        assert self._file is not None, "start() first"
        self._file.write(value + b"\n")
        self.records += 1

    async def stop(self) -> None:
        if self._file is not None:
            with contextlib.suppress(BrokenPipeError):  # `callpulse simulate -o - | head`
                self._file.flush()
            if self._owned:
                self._file.close()
            self._file = None
