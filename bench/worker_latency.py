"""Worker latency at a steady event rate: event-to-applied and event-to-metric.

A producer in this process sends ``stream.synthetic`` events at a steady ``--rate`` (default
5,000 events/s, evenly spaced, sent in 10 ms ticks) to one `callpulse worker`. Each event's
timestamp is rewritten to the moment it is due to be sent (a monotone time warp of the
synthetic stream, sorted by time, so nothing arrives late). Latency is measured from that
timestamp, so a producer running behind counts against the worker, never for it.

Two measurements over the same window (after ``--warmup`` seconds):

1. **event → applied**: the worker's own ``callpulse_event_apply_latency_seconds``
   histogram (wall time after applying a batch minus the oldest event time in that batch;
   one sample per partition batch), its growth over the window, read with Prometheus'
   ``histogram_quantile`` (so the figure is only as fine as the buckets).
2. **event → metric**, black box: this process scrapes /metrics every
   ``--scrape-interval`` seconds (a fresh render each time: the worker caches a body for
   0.5 s). Per queue, ``callpulse_calls_entered_total`` says how many of the queue's
   enqueue events the body includes; the bench knows when each was due. Every enqueue
   event due before a scrape request is one observation: its age when the request was
   sent, and whether the answer included it. The share included, by age, is the CDF of
   event-to-metric latency as a scrape sees it (the scrape interval excluded); p50 and p99
   are read from it in 5 ms bins. The time the answer then takes (render + HTTP) is
   reported beside it: it is the /metrics render's share, not the ingest path's.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from _common import (
    SELF_METRICS,
    KeyPartitioner,
    LatencyHistogram,
    Progress,
    add_broker_arguments,
    bench_environment,
    bench_topics,
    cpu_seconds,
    create_topic,
    parse_samples,
    percentile,
    print_header,
    start_worker,
    total,
    wait_drained,
)
from aiokafka import AIOKafkaProducer

from stream.decode import encode
from stream.events import CallEnqueued, Event
from stream.synthetic import synthetic_stream
from tests.integration.worker_harness import WorkerProcess

EVENTS_PER_CALL = 4.625  # stream.synthetic: 2 per call, 3.5 more for the 75 % answered
ENTERED = "callpulse_calls_entered_total"
SCRAPED = SELF_METRICS | {ENTERED, "callpulse_events_dead_lettered_total"}
TICK = 0.01  # the producer's send period
BIN = 0.005  # resolution of the event-to-metric CDF
HORIZON = 5.0  # observations older than this are left out


def live_stream(queues: int, events: int, rate: float, seed: int) -> list[tuple[Event, str]]:
    """Synthetic traffic sorted by event time, at about ``rate`` events/s of event time."""
    stream = synthetic_stream(queues, events, rate / (queues * EVENTS_PER_CALL), seed)
    stream.sort(key=lambda pair: pair[0].ts)
    return stream


# --- producing at a steady rate -------------------------------------------------------


@dataclass
class Produced:
    """What the producer did: due time of each queue's enqueue events, and how late it ran."""

    enqueued: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    count: int = 0
    behind: list[float] = field(default_factory=list)  # per tick: now - due of its last event


async def produce_steady(
    bootstrap: str, topic: str, stream: Sequence[tuple[Event, str]], rate: float, t0: float
) -> Produced:
    """Send ``stream[i]`` with ts = t0 + i / rate, in hand-built batches every TICK."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    await producer.start()
    out = Produced()
    progress = Progress("producing", len(stream))
    try:
        partition_of = KeyPartitioner(sorted(await producer.partitions_for(topic)))
        sent = 0
        pending: list[asyncio.Future[object]] = []
        while sent < len(stream):
            due = max(sent, min(len(stream), int((time.time() - t0) * rate) + 1))
            batches: dict[int, object] = {}
            for i in range(sent, due):
                event, queue = stream[i]
                ts = t0 + i / rate
                event = dataclasses.replace(event, ts=ts)
                if isinstance(event, CallEnqueued):
                    out.enqueued[queue].append(ts)
                key = queue.encode()
                p = partition_of(key)
                batch = batches.get(p) or batches.setdefault(p, producer.create_batch())
                if batch.append(key=key, value=encode(event), timestamp=None) is None:  # type: ignore[attr-defined]
                    pending.append(await producer.send_batch(batch, topic, partition=p))
                    batch = batches[p] = producer.create_batch()
                    batch.append(key=key, value=encode(event), timestamp=None)  # type: ignore[attr-defined]
            for p, batch in batches.items():
                pending.append(await producer.send_batch(batch, topic, partition=p))
            if due > sent:
                out.behind.append(time.time() - (t0 + (due - 1) / rate))
            sent = out.count = due
            if len(pending) > 1000:
                await asyncio.gather(*pending)
                pending.clear()
            progress.update(sent)
            await asyncio.sleep(max(0.0, t0 + sent / rate - time.time(), TICK / 2))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return out


# --- scraping --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scrape:
    requested: float  # wall time the request was sent
    answered: float  # wall time the body was complete
    entered: dict[str, float]  # queue -> callpulse_calls_entered_total
    histogram: LatencyHistogram
    consumed: float
    dead_letters: float


class Scraper(threading.Thread):
    """Scrapes /metrics every ``interval`` seconds in a thread of its own, like Prometheus."""

    def __init__(self, worker: WorkerProcess, interval: float) -> None:
        super().__init__(daemon=True)
        self.worker = worker
        self.interval = interval
        self.scrapes: list[Scrape] = []
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                requested = time.time()
                text = self.worker.metrics_text()
                answered = time.time()
                got = parse_samples(text, SCRAPED)
                entered = {
                    labels.split('queue="', 1)[1].split('"', 1)[0]: value
                    for labels, value in got.get(ENTERED, {}).items()
                }
                self.scrapes.append(
                    Scrape(
                        requested,
                        answered,
                        entered,
                        LatencyHistogram.from_samples(got),
                        total(got, "callpulse_events_consumed_total"),
                        total(got, "callpulse_events_dead_lettered_total"),
                    )
                )
                self.halt.wait(max(0.0, self.interval - (time.time() - requested)))
        except BaseException as error:  # reported by the main thread
            self.error = error


def visibility_by_age(
    scrapes: Sequence[Scrape], enqueued: dict[str, list[float]]
) -> dict[int, list[int]]:
    """5 ms age bin -> [included, observed] over every (scrape, enqueue event due before it)."""
    bins: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for scrape in scrapes:
        for queue, due in enqueued.items():
            first = bisect_left(due, scrape.requested - HORIZON)
            last = bisect_left(due, scrape.requested)  # due strictly before the request
            included = scrape.entered.get(queue, 0.0)
            for i in range(first, last):
                slot = bins[int((scrape.requested - due[i]) / BIN)]
                slot[0] += i < included
                slot[1] += 1
    return bins


def cdf_quantile(bins: dict[int, list[int]], q: float) -> float | None:
    """The smallest age from which on every bin has at least ``q`` of its events included."""
    ages = sorted(bins)
    answer = None
    for age in reversed(ages):
        included, observed = bins[age]
        if included < q * observed:
            break
        answer = age * BIN
    return answer


def share_within(bins: dict[int, list[int]], seconds: float) -> float:
    """Share included among observations aged ``seconds`` (± 10 ms)."""
    near = [bins[b] for b in bins if abs(b * BIN - seconds) <= 0.01]
    observed = sum(n for _, n in near)
    return sum(i for i, _ in near) / observed if observed else float("nan")


# --- main ------------------------------------------------------------------------------


def fmt_ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s to produce")
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds left out first")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument(
        "--scrape-interval",
        type=float,
        default=5.0,
        help="seconds between /metrics scrapes (a wallboard's Prometheus job; default 5)",
    )
    parser.add_argument("--seed", type=int, default=3)
    add_broker_arguments(parser)
    args = parser.parse_args(argv)

    print_header("worker latency at a steady rate")
    events = int(args.rate * (args.warmup + args.duration))
    stream = live_stream(args.queues, events, args.rate, args.seed)[:events]
    with bench_environment(args) as (bootstrap, tmp):
        topics = bench_topics("lat", args.partitions)
        asyncio.run(create_topic(bootstrap, topics.events, args.partitions))
        worker = start_worker(bootstrap, topics, tmp)
        ready = worker.wait_ready(timeout=120.0)
        print(f"worker:  ready in {ready:.1f}s; {len(stream):,} events, {args.queues} queues")
        scraper = Scraper(worker, args.scrape_interval)
        scraper.start()
        t0 = time.time() + 0.5
        cpu_at: dict[str, float] = {}

        def mark_cpu() -> None:  # CPU of the worker over the measured window
            cpu_at["start"] = cpu_seconds(worker.pid)

        timer = threading.Timer(t0 + args.warmup - time.time(), mark_cpu)
        timer.start()
        produced = asyncio.run(produce_steady(bootstrap, topics.events, stream, args.rate, t0))
        end = t0 + len(stream) / args.rate
        cpu = cpu_seconds(worker.pid) - cpu_at.get("start", 0.0)
        time.sleep(args.scrape_interval + 0.5)  # a scrape after the last event was due
        scraper.halt.set()
        scraper.join(30)
        if scraper.error is not None:
            raise scraper.error
        wait_drained(worker, args.partitions, len(stream), label="worker catching up")
        worker.stop()

    window = [s for s in scraper.scrapes if s.requested >= t0 + args.warmup]
    measured = [s for s in window if s.requested <= end + args.scrape_interval]
    first, last = measured[0], measured[-1]
    hist = last.histogram.minus(first.histogram)
    bins = visibility_by_age(measured[1:], produced.enqueued)
    observed = sum(n for _, n in bins.values())
    span = last.requested - first.requested
    during = [s for s in measured if s.requested <= end]
    rate = (during[-1].consumed - first.consumed) / (during[-1].requested - first.requested)
    answer = [s.answered - s.requested for s in measured]
    behind = produced.behind[int(len(produced.behind) * args.warmup / (end - t0)) :]

    print(f"\nsteady window: {span:.0f}s after {args.warmup:g}s warm-up, {len(measured)} scrapes")
    print(f"  worker consumed {rate:,.0f} events/s (target rate {args.rate:,.0f})")
    print(
        f"  worker CPU {cpu / (end - t0 - args.warmup):.0%} of one core over the window; "
        f"producer behind schedule p99 {fmt_ms(percentile(behind, 0.99))}, "
        f"max {fmt_ms(max(behind))}"
    )
    print(
        f"  /metrics answer (render + HTTP): median {fmt_ms(percentile(answer, 0.5))}, "
        f"max {fmt_ms(max(answer))}; dead letters {last.dead_letters:.0f}"
    )
    print(f"\n1. event -> applied (worker histogram, {hist.count:,.0f} batch samples):")
    for q in (0.5, 0.99):
        print(f"  p{q * 100:g}: {fmt_ms(hist.quantile(q))} (bucket {hist.bucket_of(q)})")
    print(f"\n2. event -> metric (black box, {observed:,} observations of enqueue events):")
    p50, p99 = cdf_quantile(bins, 0.5), cdf_quantile(bins, 0.99)
    every = cdf_quantile(bins, 1.0)
    print(f"  p50: {fmt_ms(p50)}  p99: {fmt_ms(p99)}  all included from age {fmt_ms(every)}")
    print(f"  included at age 250 ms: {share_within(bins, 0.25):.2%}")
    print(f"  then the answer takes {fmt_ms(percentile(answer, 0.5))} (median) to arrive")
    met = p99 is not None and p99 < 0.25
    print(f"target p99 < 250 ms (event -> metric): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
