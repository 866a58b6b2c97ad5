"""`callpulse replay` against the real broker: what is read back from the topic is the
file, byte for byte, keyed by queue, in file order per queue; bad lines are not sent."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import pytest

from stream.decode import decode
from stream.events import queues_of

from .tool_runner import run_tool, simulate_file
from .worker_harness import Topics, read_all

pytestmark = pytest.mark.kafka

BAD_LINES = [b'{"v": 1, "type": "call.enqueued"}', b"not json at all"]


def test_replay_preserves_per_queue_order_and_content(kafka_broker, tmp_path: Path) -> None:
    lines = simulate_file(
        tmp_path / "events.jsonl",
        "--scenario",
        "deploy/scenarios/demo.yaml",
        "--duration",
        "20m",
    )
    # Two bad lines in the middle: reported, skipped, and the order around them kept.
    middle = len(lines) // 2
    replayed = tmp_path / "replay.jsonl"
    replayed.write_bytes(b"\n".join([*lines[:middle], *BAD_LINES, *lines[middle:]]) + b"\n")
    expected: dict[str, list[bytes]] = defaultdict(list)
    for line in lines:
        for queue in queues_of(decode(line)):  # agent events: once per queue they name
            expected[queue].append(line)
    records = sum(len(values) for values in expected.values())

    topics = Topics(partitions=3)
    done = run_tool(kafka_broker.bootstrap, topics, "replay", str(replayed), "--create-topics")

    assert done.returncode == 1, done.stderr  # 1: some lines were rejected
    assert f"sent {len(lines):,} events as {records:,} records" in done.stderr
    assert "rejected 2 lines (not sent): " in done.stderr
    assert "missing_field 1" in done.stderr and "not_json 1" in done.stderr
    read = asyncio.run(read_all(kafka_broker.bootstrap, topics.events, records))
    got: dict[str, list[bytes]] = defaultdict(list)
    partition_of: dict[str, set[int]] = defaultdict(set)
    for record in sorted(read, key=lambda r: (r.partition, r.offset)):
        got[record.key.decode()].append(record.value)
        partition_of[record.key.decode()].add(record.partition)
    assert len(read) == records
    assert set(got) == set(expected)
    for queue, values in expected.items():
        assert got[queue] == values, queue  # same bytes, same order
        assert len(partition_of[queue]) == 1  # keyed by queue: one partition each
