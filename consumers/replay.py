"""``callpulse replay FILE``: publish a JSONL file of canonical events to Kafka.

Every line is checked with the worker's own decoder (``stream.decode.decode``, with the
clock, so an event too far in the future is refused here as the worker would refuse it);
an invalid line is counted by reason and never sent. A valid line is sent byte for byte,
keyed by its queue; an agent event once per queue it names. Lines go out in file order,
so each queue's events keep their order.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from stream.decode import decode
from stream.events import InvalidEvent, queues_of

from .interrupt import checkpoint, run_cancellable
from .pacing import Pacer
from .progress import Progress
from .publish import KafkaSink, PublishError, Sink, publishing
from .tool_options import OptionError, add_kafka_arguments, kafka_settings, speed

YIELD_EVERY = 500
EXAMPLES_KEPT = 5  # rejected lines quoted in the summary


@dataclass(slots=True)
class Tally:
    lines: int = 0
    sent: int = 0
    records: int = 0
    blank: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = False

    def reject(self, number: int, error: InvalidEvent) -> None:
        self.rejected[error.reason] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(f"line {number}: {error.reason}: {error.detail}")


class DryRunSink:
    """Validates only: counts what would have been sent."""

    records = 0

    def describe(self) -> str:
        return "nowhere (--dry-run)"

    async def start(self) -> None:
        pass

    async def send(self, value: bytes, queues: tuple[str, ...]) -> None:
        self.records += len(queues)

    async def stop(self) -> None:
        pass


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Publish a JSONL file of canonical events (docs/events.md) to the events topic, "
        "keyed by queue (agent events once per queue they name), in file order. Each "
        "line is validated as the worker would; invalid lines are counted by reason and "
        "not sent. Exit status 0 when every line was sent, 1 when some were rejected."
    )
    parser.epilog = (
        "examples:\n"
        "  callpulse replay day.jsonl --bootstrap 127.0.0.1:9092            # as fast as possible\n"
        "  callpulse replay day.jsonl --speed 1                             # original timing\n"
        "  callpulse replay day.jsonl --speed 60                            # an hour a minute\n"
        "  callpulse replay day.jsonl --dry-run                             # validate only"
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("file", metavar="FILE", help="JSONL file, one event per line ('-' = stdin)")
    parser.add_argument(
        "--speed",
        type=speed,
        default=0.0,
        help="event-time seconds per wall-clock second: 1 = the original timing, 60 = an "
        "hour a minute, 0 = as fast as possible (default 0)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and count only; send nothing"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")
    add_kafka_arguments(parser)


def _open(path: str) -> tuple[BinaryIO, int | None]:
    if path == "-":
        return sys.stdin.buffer, None
    try:
        file = Path(path).open("rb")  # noqa: SIM115 (closed by replay())
    except OSError as error:
        raise OptionError(f"FILE {path}: cannot read ({error.strerror})") from None
    return file, Path(path).stat().st_size


async def replay(
    lines: BinaryIO, size: int | None, sink: Sink, pacer: Pacer, progress: Progress
) -> Tally:
    tally = Tally()
    read = 0
    async with publishing(sink, progress, tally):
        for number, raw in enumerate(lines, start=1):
            tally.lines = number
            read += len(raw)
            line = raw.strip()
            if not line:
                tally.blank += 1
                continue
            try:
                event = decode(line, now=time.time())
            except InvalidEvent as error:
                tally.reject(number, error)
                continue
            await pacer.wait(event.ts)
            await sink.send(line, queues_of(event))
            tally.sent += 1
            if tally.sent % YIELD_EVERY == 0:
                await checkpoint()
            if size:
                progress.update(
                    read / size, f"{tally.sent:,} sent, {sum(tally.rejected.values()):,} rejected"
                )
    return tally


def summary(tally: Tally, sink: Sink) -> str:
    state = "" if tally.complete else f" (interrupted at line {tally.lines:,})"
    lines = [
        f"sent {tally.sent:,} events as {tally.records:,} records to {sink.describe()} "
        f"in {tally.seconds:.1f} s{state}"
    ]
    total = sum(tally.rejected.values())
    if total:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in tally.rejected.most_common())
        lines.append(f"rejected {total:,} lines (not sent): {reasons}")
        lines += [f"  {example}" for example in tally.examples]
    else:
        lines.append("rejected 0 lines")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # errors are reported below
    try:
        sink: Sink = (
            DryRunSink()
            if args.dry_run
            else KafkaSink(kafka_settings(args), "replay", args.create_topics)
        )
        lines, size = _open(args.file)
    except OptionError as error:
        print(f"callpulse replay: {error}", file=sys.stderr)
        return 2
    progress = Progress("replay")
    try:
        with lines:
            tally = run_cancellable(replay(lines, size, sink, Pacer(args.speed), progress))
    except PublishError as error:
        print(f"callpulse replay: {error}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(summary(tally, sink), file=sys.stderr)
    if not tally.complete:
        return 130
    return 1 if tally.rejected else 0
