"""Worker recovery after kill -9: time to /readyz and to lag 0, and exact totals after.

1. The events topic is filled with ``--events`` of ``stream.synthetic`` history over
   ``--queues`` queues (default 1,000,000 over 500).
2. Worker A drains it, and the bench waits until the group's committed offsets reach the
   end of every partition: everything is snapshotted.
3. ``--tail`` more events are produced and A is killed with SIGKILL ``--kill-after``
   seconds later, mid-way through them: some of its work is applied but not checkpointed.
4. Worker B starts in A's place (same group, same snapshots topic). Measured from B's
   process start: /readyz answering 200 (snapshots restored: the worker's own
   ``callpulse_restore_duration_seconds`` is printed beside it) and every partition at lag
   0 (the replay from the last commit done). Worker A's own start on the same topic with
   no snapshots is the baseline, measured in the same run.
5. Every queue's totals on B's /metrics are compared with the offline engine over the
   same events: exact, or the differences are listed.

Lag is read from /metrics every ``--poll`` seconds, and a 500-queue render takes a few
hundred ms, so the time to lag 0 is only as fine as one scrape.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from _common import (
    Progress,
    add_broker_arguments,
    bench_environment,
    bench_topics,
    create_topic,
    fill_topic,
    print_header,
    ratio,
    read_metrics,
    start_worker,
    total,
    wait_drained,
)
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.synthetic import synthetic_stream
from tests.integration.worker_harness import (
    Topics,
    differences,
    exported,
    ground_truth,
    valid_records,
)

TARGET_SECONDS = 10.0


async def uncommitted(bootstrap: str, topics: Topics) -> int:
    """Records of the events topic past the group's committed offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=topics.group or topics.prefix)
    await consumer.start()
    try:
        tps = [TopicPartition(topics.events, p) for p in range(topics.partitions)]
        ends = await consumer.end_offsets(tps)
        behind = 0
        for tp in tps:
            behind += ends[tp] - ((await consumer.committed(tp)) or 0)
        return behind
    finally:
        await consumer.stop()


async def topic_records(bootstrap: str, topic: str, partitions: int) -> int:
    """Records a reader of ``topic`` from the beginning goes through (compaction aside)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends, starts = await consumer.end_offsets(tps), await consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        await consumer.stop()


def wait_committed(bootstrap: str, topics: Topics, timeout: float = 120.0) -> float:
    """Seconds until every record of the events topic is committed (so snapshotted)."""
    started = time.monotonic()
    progress = Progress("waiting for the last checkpoint")
    while time.monotonic() - started < timeout:
        behind = asyncio.run(uncommitted(bootstrap, topics))
        if behind == 0:
            return time.monotonic() - started
        progress.update(behind, "records not committed")
        time.sleep(0.5)
    raise RuntimeError(f"offsets not committed after {timeout}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--events", type=int, default=1_000_000, help="events of history")
    parser.add_argument("--tail", type=int, default=50_000, help="events produced before kill")
    parser.add_argument(
        "--kill-after", type=float, default=0.3, help="seconds between the tail and kill -9"
    )
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--rate", type=float, default=0.1, help="calls/s per queue (event time)")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between lag reads")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--instance-id",
        default=None,
        help="run both workers as this static group member (worker.instance_id): "
        "the restart then skips waiting for the dead member's session to time out",
    )
    add_broker_arguments(parser)
    args = parser.parse_args(argv)

    print_header("worker recovery after kill -9")
    started = time.monotonic()
    stream = synthetic_stream(args.queues, args.events + args.tail, args.rate, args.seed)
    records = valid_records(stream)
    history, tail = records[: args.events], records[args.events :]
    print(f"stream:  {len(records):,} events generated in {time.monotonic() - started:.1f}s")
    with bench_environment(args) as (bootstrap, tmp):
        topics = bench_topics("recov", args.partitions)
        asyncio.run(create_topic(bootstrap, topics.events, args.partitions))
        took = asyncio.run(fill_topic(bootstrap, topics.events, history))  # type: ignore[arg-type]
        print(f"topic:   {len(history):,} events of history produced in {took:.1f}s")

        member = {"CALLPULSE_WORKER__INSTANCE_ID": args.instance_id} if args.instance_id else None
        first = start_worker(bootstrap, topics, tmp, member)
        first_ready = first.wait_ready(timeout=120.0)
        drained = wait_drained(first, args.partitions, len(history), 2.0, 600.0, "worker A")
        caught_up = drained[-1].at - first.started
        settled = wait_committed(bootstrap, topics)
        snapshots = asyncio.run(
            topic_records(bootstrap, f"{topics.prefix}.snapshots", args.partitions)
        )
        print(
            f"worker A: ready {first_ready:.1f}s after start (no snapshots), lag 0 after "
            f"{caught_up:.1f}s, all committed {settled:.1f}s later; the snapshots topic "
            f"holds {snapshots:,} records"
        )

        if tail:
            asyncio.run(fill_topic(bootstrap, topics.events, tail))  # type: ignore[arg-type]
            time.sleep(args.kill_after)
        at_kill = read_metrics(first, frozenset({"callpulse_events_consumed_total"}))
        first.kill()
        behind = asyncio.run(uncommitted(bootstrap, topics))
        consumed = total(at_kill, "callpulse_events_consumed_total") - len(history)
        print(
            f"kill -9: worker A had read {consumed:,.0f} of the {len(tail):,} tail events; "
            f"{behind:,} records past the committed offsets"
        )

        second = start_worker(bootstrap, topics, tmp, member)
        ready = second.wait_ready(timeout=120.0)
        samples = wait_drained(second, args.partitions, None, args.poll, 300.0, "worker B")
        to_lag0 = samples[-1].at - second.started
        got = read_metrics(
            second,
            frozenset(
                {
                    "callpulse_restore_duration_seconds",
                    "callpulse_events_skipped_total",
                    "callpulse_events_consumed_total",
                }
            ),
        )
        restore = total(got, "callpulse_restore_duration_seconds")
        skipped = total(got, "callpulse_events_skipped_total")
        replayed = total(got, "callpulse_events_consumed_total")
        counted = time.monotonic()
        mismatches = differences(ground_truth(stream), exported([second]))
        checked = time.monotonic() - counted
        second.stop()

    membership = f"static member {args.instance_id!r}" if args.instance_id else "dynamic member"
    print(
        f"\nrecovery of worker B ({args.queues} queues, {len(records):,} events of history, "
        f"{membership}):"
    )
    print(f"  /readyz 200:  {ready:5.1f}s after start (restore itself {restore:.2f}s)")
    print(f"  lag 0:        {to_lag0:5.1f}s after start ({replayed:,.0f} records read, "
          f"{skipped:,.0f} skipped as already in a snapshot)")  # fmt: skip
    print(f"  baseline, worker A to /readyz with no snapshots: {first_ready:.1f}s "
          f"(B / A: {ratio(ready, first_ready)})")  # fmt: skip
    if mismatches:
        print(f"  totals: {len(mismatches)} differences from the offline engine, e.g.")
        for line in mismatches[:10]:
            print(f"    {line}")
    else:
        print(f"  totals: exact, every queue and metric (checked in {checked:.1f}s)")
    met = to_lag0 < TARGET_SECONDS and not mismatches
    print(f"target < {TARGET_SECONDS:g} s to lag 0, exact: {'met' if met else 'NOT met'}")
    return 0 if not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
