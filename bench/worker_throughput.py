"""Worker throughput: one `callpulse worker` draining a pre-filled events topic, against two
baselines read from the same topic in the same run.

1. in-process cost per record of the hot path without Kafka: ``orjson.loads``, the
   schema-checking ``decode`` and ``RecordHandler.handle`` (decode + engine apply);
2. bare aiokafka: a ``getmany`` + ``orjson.loads`` loop, the floor of any Python consumer;
3. naive faust: one ``@app.agent`` iterating the events one at a time (orjson + a dict
   update; bench/faust_naive_agent.py), the design the architecture guide argues against;
4. the worker: events/s from its own ``callpulse_events_consumed_total`` between scrapes
   taken mid-drain (start-up excluded), and the wall time from /readyz to lag 0.

``--profile`` drains the topic once more with a second worker (a new consumer group) under
py-spy and says where the worker's time goes. Every process started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from _common import (
    REPO,
    KeyPartitioner,
    Progress,
    Record,
    Topics,
    add_broker_arguments,
    bench_environment,
    bench_topics,
    prepare_topic,
    print_header,
    ratio,
    spawn,
    start_worker,
    steady_rate,
    stop_child,
    unique_prefix,
    wait_drained,
)
from aiokafka import AIOKafkaConsumer

from consumers.inbound import Limits, OwnedPartition, QueueCount, RecordHandler
from consumers.local_kafka import free_ports
from stream.config import EngineConfig
from stream.decode import decode
from stream.engine import Engine


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


# --- 1. in-process hot path ------------------------------------------------------------


def in_process_costs(records: Sequence[Record], partitions: int) -> dict[str, float]:
    """µs per record of each layer of the per-record work, no Kafka involved."""
    costs: dict[str, float] = {}
    loads = orjson.loads
    started = time.perf_counter()
    for _, value in records:
        loads(value)
    costs["orjson.loads"] = (time.perf_counter() - started) / len(records) * 1e6

    now = time.time()
    started = time.perf_counter()
    for _, value in records:
        decode(value, now=now)
    costs["decode (loads + schema checks)"] = (time.perf_counter() - started) / len(records) * 1e6

    config = EngineConfig()
    handler = RecordHandler(config, Limits(), QueueCount())
    partition_of = KeyPartitioner(range(partitions))
    parts = [OwnedPartition(p, Engine(config)) for p in range(partitions)]
    handle = handler.handle
    started = time.perf_counter()
    for offset, (key, value) in enumerate(records):
        handle(parts[partition_of(key)], offset, key, value)
    costs["RecordHandler.handle (decode + apply)"] = (
        (time.perf_counter() - started) / len(records) * 1e6
    )
    return costs


# --- 2. bare aiokafka ------------------------------------------------------------------


async def bare_getmany(bootstrap: str, topic: str, expected: int) -> Rate:
    """getmany + orjson.loads with the worker's consumer settings; first batch to last."""
    consumer = AIOKafkaConsumer(
        topic,  # no group: every partition, from the start
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_partition_fetch_bytes=1 << 20,
    )
    await consumer.start()
    progress = Progress("bare getmany loop", expected)
    try:
        loads = orjson.loads
        count, first = 0, 0.0
        while count < expected:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            if batches and not first:
                first = time.perf_counter()
            for records in batches.values():
                for record in records:
                    loads(record.value)
                count += len(records)
            progress.update(count)
        return Rate("bare aiokafka getmany + orjson.loads", count, time.perf_counter() - first)
    finally:
        await consumer.stop()


# --- 3. naive faust agent ---------------------------------------------------------------


def faust_naive(bootstrap: str, topic: str, expected: int, tmp: Path, timeout: float) -> Rate:
    """Runs bench/faust_naive_agent.py until it has seen every event (or ``timeout``)."""
    result = tmp / "faust-naive.json"
    env = {
        **os.environ,
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_TOPIC": topic,
        "BENCH_EXPECTED": str(expected),
        "BENCH_RESULT": str(result),
        "BENCH_APP_ID": unique_prefix("naive"),
        "PYTHONPATH": str(REPO),
    }
    argv = [sys.executable, str(Path(__file__).parent / "faust_naive_agent.py"), "worker"]
    argv += ["-l", "warn", "--web-port", str(free_ports(1)[0])]
    child = spawn("faust-naive", argv, env, tmp / "faust-naive.log")
    progress = Progress("naive faust agent", expected)
    seen = {"count": 0, "first": 0.0, "last": 0.0}
    deadline = time.monotonic() + timeout
    try:
        while seen["count"] < expected and time.monotonic() < deadline:
            if not child.alive():
                raise RuntimeError(f"faust agent exited:\n{child.log_tail(40)}")
            if result.exists():
                seen = orjson.loads(result.read_bytes())
            progress.update(seen["count"])
            time.sleep(0.5)
    finally:
        stop_child(child)
    if seen["count"] < expected:
        print(f"  naive faust agent: timed out after {timeout:.0f}s, {seen['count']:,} events")
    return Rate("naive faust per-event agent", seen["count"] - 1, seen["last"] - seen["first"])


# --- 4. the worker ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerRun:
    steady: Rate | None
    ready_to_drained: Rate
    ready_seconds: float
    render_ms: float
    scrapes: int


def worker_drain(
    bootstrap: str, topics: Topics, tmp: Path, expected: int, interval: float
) -> WorkerRun:
    worker = start_worker(bootstrap, topics, tmp)
    try:
        ready = worker.wait_ready()
        ready_at = time.monotonic()
        samples = wait_drained(
            worker, topics.partitions, expected, interval, label="callpulse worker"
        )
        drained = samples[-1].at - ready_at
        mid = [s for s in samples if 0 < s.consumed < expected]  # start-up and tail left out
        steady = None
        if steady_rate(samples, expected):
            steady = Rate(
                "worker (steady, from its counter)",
                int(mid[-1].consumed - mid[0].consumed),
                mid[-1].at - mid[0].at,
            )
        return WorkerRun(
            steady,
            Rate("worker (/readyz to lag 0)", expected, drained),
            ready,
            max(s.render_seconds for s in samples) * 1000,
            len(samples),
        )
    finally:
        worker.stop()


# --- profile ---------------------------------------------------------------------------

# Where a py-spy sample belongs: the innermost frame whose file matches, checked from the
# leaf up (so engine code called by the handler counts as engine, not handler).
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("stream/decode.py", "decode: orjson + schema checks (stream/decode.py)"),
    ("stream/", "engine apply (stream/)"),
    ("consumers/inbound.py", "record handler (consumers/inbound.py)"),
    ("consumers/metrics_endpoint.py", "/metrics render"),
    ("consumers/queue_metrics.py", "/metrics render"),
    ("consumers/ingest.py", "ingest loop (consumers/ingest.py)"),
    ("aiokafka/", "aiokafka: fetch, record parsing, I/O"),
)
IDLE = "idle (event loop waiting)"


def _frame(frame: str) -> tuple[str, str]:
    """(function, file) of a py-spy raw frame such as
    ``RecordHandler.handle (consumers/inbound.py:108)``."""
    name, _, where = frame.partition(" (")
    return name, where.rsplit(":", 1)[0]


def _checkpoint_part(frames: list[tuple[str, str]]) -> str | None:
    """The checkpoint's share, split: building snapshots, encoding them, producing + committing."""
    if not any(f.endswith("consumers/checkpoint.py") for _, f in frames):
        return None
    names = {n for n, _ in frames}
    if "SnapshotStore.read" in names:
        return "restore (consumers/checkpoint.py)"
    if "Engine.snapshot" in names:
        return "checkpoint: Engine.snapshot (stream/)"
    if "encode_checkpoint" in names:
        return "checkpoint: encode snapshots (orjson)"
    return "checkpoint: produce snapshots + commit"


def categorise(stacks: Counter[str]) -> tuple[Counter[str], Counter[str]]:
    """(samples per category, own samples per function) of py-spy raw stacks."""
    categories: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = [_frame(f) for f in stack.split(";")]
        name, file = frames[-1]
        functions[f"{name} ({Path(file).name})"] += count
        if name.endswith("select") and file.endswith("selectors.py"):
            categories[IDLE] += count
            continue
        found = _checkpoint_part(frames) or next(
            (label for _, f in reversed(frames) for mark, label in CATEGORIES if mark in f),
            "other: asyncio, faust, Python",
        )
        categories[found] += count
    return categories, functions


def profile_worker(
    bootstrap: str, topics: Topics, tmp: Path, expected: int, interval: float
) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("profile: py-spy not found (.venv/bin/pip install py-spy)")
        return
    out = tmp / "worker-profile.txt"
    worker = start_worker(bootstrap, topics, tmp)
    try:
        worker.wait_ready()
        cmd = [py_spy, "record", "--pid", str(worker.pid), "--rate", "200", "--idle"]
        cmd += ["--format", "raw", "--output", str(out), "--nonblocking"]
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_drained(worker, topics.partitions, expected, interval, label="profiled worker")
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            spy.wait(30)
    finally:
        worker.stop()
    stacks: Counter[str] = Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        stacks[stack] += int(count)
    categories, leaves = categorise(stacks)
    samples = sum(categories.values())
    print(f"\nprofile: py-spy, {samples:,} samples at 200 Hz over the worker's drain")
    busy = samples - categories.get(IDLE, 0)
    for name, count in categories.most_common():
        print(f"  {count / samples:6.1%}  {name}")
    print(f"  busy (not idle): {busy / samples:.1%}")
    print("  top functions by own time:")
    for name, count in leaves.most_common(15):
        print(f"  {count / samples:6.1%}  {name}")


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the topic")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument(
        "--rate", type=float, default=0.1, help="calls/s per queue (event time) of the stream"
    )
    parser.add_argument(
        "--scrape-interval", type=float, default=2.0, help="seconds between /metrics scrapes"
    )
    parser.add_argument(
        "--in-process-events", type=int, default=200_000, help="records of the in-process run"
    )
    parser.add_argument("--no-faust", action="store_true", help="skip the naive faust agent")
    parser.add_argument(
        "--faust-events",
        type=int,
        default=300_000,
        help="events the naive faust agent reads (its rate is steady; all would take minutes)",
    )
    parser.add_argument(
        "--faust-timeout", type=float, default=100.0, help="cap on the naive faust run (s)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="drain once more under py-spy (adds ~30-60 s)"
    )
    add_broker_arguments(parser)
    args = parser.parse_args(argv)

    print_header("worker throughput")
    with bench_environment(args) as (bootstrap, tmp):
        topics = bench_topics("tput", args.partitions)
        records = prepare_topic(
            bootstrap, topics.events, args.partitions, args.queues, args.events, args.rate
        )
        expected = len(records)

        costs = in_process_costs(records[: args.in_process_events], args.partitions)
        print("\nin-process, per record (no Kafka):")
        for name, us in costs.items():
            print(f"  {us:6.2f} µs  {name:40s} {1e6 / us:>12,.0f} records/s")
        del records

        rates: list[Rate] = [asyncio.run(bare_getmany(bootstrap, topics.events, expected))]
        if not args.no_faust:
            cap = min(expected, args.faust_events)
            rates.append(faust_naive(bootstrap, topics.events, cap, tmp, args.faust_timeout))
        run = worker_drain(bootstrap, topics, tmp, expected, args.scrape_interval)
        worker_rate = run.steady or run.ready_to_drained
        rates += [r for r in (run.steady, run.ready_to_drained) if r is not None]

        print(f"\nthroughput, {expected:,} events, {args.queues} queues:")
        for rate in rates:
            print(
                f"  {rate.per_second:>10,.0f} events/s  {1e6 / rate.per_second:6.2f} µs/event  "
                f"{rate.name} ({rate.events:,} events in {rate.seconds:.1f}s)"
            )
        print("ratios (worker steady rate / baseline):")
        for rate in rates[: -2 if run.steady else -1]:
            print(f"  worker / {rate.name}: {ratio(worker_rate.per_second, rate.per_second)}")
        handle_us = costs["RecordHandler.handle (decode + apply)"]
        print(
            f"  worker / in-process RecordHandler.handle: "
            f"{ratio(worker_rate.per_second, 1e6 / handle_us)}"
        )
        print(
            f"worker: ready {run.ready_seconds:.1f}s after start; {run.scrapes} scrapes, "
            f"longest render {run.render_ms:.0f} ms "
            f"(≈{run.render_ms / 10 / args.scrape_interval:.1f}% of its time at one scrape "
            f"per {args.scrape_interval:g}s); target 100,000 events/s: "
            f"{'met' if worker_rate.per_second >= 100_000 else 'NOT met'}"
        )
        if args.profile:  # a new group reads the topic from the start again
            again = Topics(topics.prefix, topics.partitions, unique_prefix("prof"), None)
            profile_worker(bootstrap, again, tmp, expected, args.scrape_interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
