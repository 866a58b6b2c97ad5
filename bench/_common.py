"""Shared parts of the worker benchmarks: machine facts, progress lines, a broker, topics,
synthetic records, `callpulse worker` processes and a quick reader of /metrics text.

Every script here starts what it needs and stops it again: a broker in a temp dir (unless
``--bootstrap`` names one), worker processes (stopped, or killed, on every exit path,
SIGTERM and Ctrl-C included), temp dirs. Topic names carry a random prefix, so runs
against a shared broker never see each other's data.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the scripts run as files: make the project importable
    sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaProducer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402
from aiokafka.partitioner import DefaultPartitioner  # noqa: E402

from consumers.local_kafka import LocalKafka  # noqa: E402
from consumers.processes import Child  # noqa: E402
from stream import ENGINE  # noqa: E402
from stream.synthetic import T0, synthetic_stream  # noqa: E402
from tests.integration.worker_harness import (  # noqa: E402
    Topics,
    WorkerProcess,
    stop_all,
    valid_records,
)

Record = tuple[bytes, bytes]  # (key, value)

# Results (stdout) and progress (stderr) interleave in order even when piped to a file.
sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

# --- machine and report --------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def ram_gib() -> float:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return 0.0


def machine_summary() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), {ram_gib():.1f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"load average {load}"
    )


def print_header(title: str) -> None:
    """What, when, where and how: the lines bench/README.md records with each result."""
    print(f"# {title}")
    print(f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(f"machine: {machine_summary()}")
    print(f"engine:  {ENGINE.describe()}")  # compiled (mypyc) or pure Python (CALLPULSE_PURE=1)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}", flush=True)


class Progress:
    """One stderr line at most every ``every`` seconds, so long phases show they are alive."""

    def __init__(self, label: str, total: int | None = None, every: float = 2.0) -> None:
        self.label = label
        self.total = total
        self.every = every
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, done: float, note: str = "") -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        of = f"/{self.total:,}" if self.total else ""
        pct = f" ({done / self.total:.0%})" if self.total else ""
        elapsed = now - self.started
        print(
            f"  .. {self.label}: {done:,.0f}{of}{pct} {elapsed:.0f}s {note}".rstrip(),
            file=sys.stderr,
            flush=True,
        )


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- processes: every child is stopped on the way out ------------------------------------

_children: list[Child] = []  # besides the workers, which worker_harness keeps track of


def _stop_children() -> None:
    for child in _children:
        child.stop(timeout=5.0)
    _children.clear()
    stop_all()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the context managers, then atexit runs


atexit.register(_stop_children)
signal.signal(signal.SIGTERM, _exit_on_signal)
signal.signal(signal.SIGHUP, _exit_on_signal)


def spawn(name: str, argv: list[str], env: dict[str, str], log_path: Path) -> Child:
    """A child process (own process group, dies with this one) stopped at exit."""
    child = Child(name, argv, log_path, env=env, cwd=REPO)
    _children.append(child)
    return child


def stop_child(child: Child) -> None:
    child.stop(timeout=30.0)
    if child in _children:
        _children.remove(child)


# --- broker and topics ---------------------------------------------------------------


def add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        help="use this running broker (HOST:PORT) instead of starting one in a temp dir",
    )
    parser.add_argument(
        "--keep-temp", action="store_true", help="keep the temp dir (broker data, worker logs)"
    )


@contextlib.contextmanager
def bench_environment(args: argparse.Namespace) -> Iterator[tuple[str, Path]]:
    """(bootstrap, temp dir): the broker of ``--bootstrap`` or a fresh one, stopped after."""
    tmp = Path(tempfile.mkdtemp(prefix="callpulse-bench-"))
    broker: LocalKafka | None = None
    try:
        if args.bootstrap:
            bootstrap = args.bootstrap
        else:
            started = time.monotonic()
            broker = LocalKafka(tmp / "kafka", port=0, detach=False)
            broker.start(timeout=90.0)
            bootstrap = broker.bootstrap
            print(f"broker:  {bootstrap} (started in {time.monotonic() - started:.1f}s)")
        yield bootstrap, tmp
    finally:
        _stop_children()
        if broker is not None:
            broker.stop()
        if args.keep_temp:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def unique_prefix(name: str) -> str:
    return f"bench-{name}-{uuid.uuid4().hex[:6]}"


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # leaders of a new topic take a moment
            found = (await admin.describe_topics([topic]))[0]["partitions"]
            if len(found) == partitions and all(p["leader"] >= 0 for p in found):
                return
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def synthetic_records(
    queues: int, events: int, calls_per_queue_per_s: float, seed: int = 1, start: float = T0
) -> list[Record]:
    """``stream.synthetic`` events encoded as the worker reads them (key = queue)."""
    stream = synthetic_stream(queues, events, calls_per_queue_per_s, seed, start)
    return valid_records(stream)  # type: ignore[return-value]


class KeyPartitioner:
    """Kafka's default (murmur2) key partitioning, cached per key: the topic has few keys."""

    def __init__(self, partitions: Sequence[int]) -> None:
        self._partitions = list(partitions)
        self._hash = DefaultPartitioner()
        self._cache: dict[bytes, int] = {}

    def __call__(self, key: bytes) -> int:
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._hash(key, self._partitions, self._partitions)
        return found


async def fill_topic(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    """Produce ``records`` keyed as a producer would; returns the seconds it took.

    Hand-built record batches rather than one ``send()`` per record: filling a topic with
    a million records is set-up, and per-record sends would take most of the time budget.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, max_batch_size=256 * 1024, linger_ms=50
    )
    await producer.start()
    started = time.monotonic()
    progress = Progress(f"producing to {topic}", len(records))
    try:
        partition_of = KeyPartitioner(sorted(await producer.partitions_for(topic)))
        open_batches: dict[int, object] = {}
        sent: list[asyncio.Future[object]] = []
        for n, (key, value) in enumerate(records):
            p = partition_of(key)
            batch = open_batches.get(p)
            if batch is None:
                batch = open_batches[p] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # type: ignore[attr-defined]
                sent.append(await producer.send_batch(batch, topic, partition=p))
                batch = open_batches[p] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)  # type: ignore[attr-defined]
            if n % 10_000 == 0:
                progress.update(n)
        for p, batch in open_batches.items():
            sent.append(await producer.send_batch(batch, topic, partition=p))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return time.monotonic() - started


def prepare_topic(
    bootstrap: str, topic: str, partitions: int, queues: int, events: int, rate: float
) -> list[Record]:
    """Create ``topic`` and fill it with a synthetic stream; prints what it did."""
    started = time.monotonic()
    records = synthetic_records(queues, events, rate)
    made = time.monotonic() - started
    asyncio.run(create_topic(bootstrap, topic, partitions))
    took = asyncio.run(fill_topic(bootstrap, topic, records))
    size = sum(len(v) for _, v in records) / len(records)
    print(
        f"topic:   {topic}: {len(records):,} events, {queues} queues, {partitions} partitions, "
        f"{size:.0f} B/event (generated in {made:.1f}s, produced in {took:.1f}s)"
    )
    sys.stdout.flush()
    return records


# --- callpulse worker processes (tests/integration/worker_harness.py) -------------------


def bench_topics(name: str, partitions: int, group: str = "") -> Topics:
    """Topics for a bench run: the worker's configured flush interval, not the tests' 0.5 s."""
    return Topics(unique_prefix(name), partitions, group, flush_interval=None)


def start_worker(
    bootstrap: str, topics: Topics, tmp: Path, extra_env: dict[str, str] | None = None
) -> WorkerProcess:
    return WorkerProcess(bootstrap, topics, tmp, extra_env, log_level="warning")


def read_metrics(worker: WorkerProcess, names: frozenset[str] | None = None) -> Samples:
    return parse_samples(worker.metrics_text(), names)


# --- /metrics text -------------------------------------------------------------------

Samples = dict[str, dict[str, float]]  # sample name -> {"{labels}" or "": value}

SELF_METRICS = frozenset(
    {
        "callpulse_events_consumed_total",
        "callpulse_events_applied_total",
        "callpulse_consumer_lag",
        "callpulse_queues_owned",
        "callpulse_restore_duration_seconds",
        "callpulse_scrape_duration_seconds",
        "callpulse_event_apply_latency_seconds_bucket",
        "callpulse_event_apply_latency_seconds_count",
        "callpulse_event_apply_latency_seconds_sum",
    }
)


def parse_samples(text: str, names: frozenset[str] | None = None) -> Samples:
    """Samples of the wanted names, read line by line: the prometheus_client parser takes
    about a second for a 500-queue body, far too slow to poll with."""
    out: Samples = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        series, _, value = line.rpartition(" ")
        brace = series.find("{")
        name = series if brace < 0 else series[:brace]
        if names is None or name in names:
            out.setdefault(name, {})[series[len(name) :]] = float(value)
    return out


def total(samples: Samples, name: str) -> float:
    return sum(samples.get(name, {}).values())


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus' ``histogram_quantile``: linear inside the bucket; ``buckets`` are
    (upper bound, cumulative count) in order, ending with +Inf."""
    count = buckets[-1][1]
    if count <= 0:
        return float("nan")
    rank = q * count
    lower, below = 0.0, 0.0
    for upper, cumulative in buckets:
        if cumulative >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / max(cumulative - below, 1e-12)
        lower, below = upper, cumulative
    return lower


@dataclass
class LatencyHistogram:
    """The worker's ``callpulse_event_apply_latency_seconds`` as (le, cumulative) pairs."""

    buckets: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def from_samples(cls, samples: Samples) -> LatencyHistogram:
        raw = samples.get("callpulse_event_apply_latency_seconds_bucket", {})
        pairs = [
            (float(labels.split('"')[1].replace("+Inf", "inf")), v) for labels, v in raw.items()
        ]
        return cls(sorted(pairs))

    def minus(self, earlier: LatencyHistogram) -> LatencyHistogram:
        before = dict(earlier.buckets)
        return LatencyHistogram([(le, n - before.get(le, 0.0)) for le, n in self.buckets])

    @property
    def count(self) -> float:
        return self.buckets[-1][1] if self.buckets else 0.0

    def quantile(self, q: float) -> float:
        return histogram_quantile(q, self.buckets) if self.buckets else float("nan")

    def bucket_of(self, q: float) -> str:
        """The bucket the quantile falls in, e.g. ``0.01-0.025`` (what the data supports)."""
        rank, lower = q * self.count, 0.0
        for upper, cumulative in self.buckets:
            if cumulative >= rank:
                return f"{lower:g}-{upper:g} s"
            lower = upper
        return "n/a"


@dataclass(frozen=True, slots=True)
class DrainSample:
    at: float  # monotonic seconds
    consumed: float  # callpulse_events_consumed_total
    lag: float | None  # sum over partitions, None until every partition reports one
    render_seconds: float  # callpulse_scrape_duration_seconds (the previous render)


def wait_drained(
    worker: WorkerProcess,
    partitions: int,
    consumed: int | None = None,
    interval: float = 1.0,
    timeout: float = 240.0,
    label: str = "worker",
) -> list[DrainSample]:
    """Scrape every ``interval`` until every partition reports lag 0 (and, if given, the
    worker has consumed ``consumed`` records); returns the scrapes."""
    samples: list[DrainSample] = []
    progress = Progress(label, consumed)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            raise RuntimeError(f"worker exited ({worker.proc.returncode}):\n{worker.log_tail()}")
        got = read_metrics(worker, SELF_METRICS)
        lags = got.get("callpulse_consumer_lag", {})
        sample = DrainSample(
            time.monotonic(),
            total(got, "callpulse_events_consumed_total"),
            sum(lags.values()) if len(lags) == partitions else None,
            total(got, "callpulse_scrape_duration_seconds"),
        )
        samples.append(sample)
        progress.update(sample.consumed, f"lag {sample.lag}")
        if sample.lag == 0 and (consumed is None or sample.consumed >= consumed):
            return samples
        time.sleep(max(0.0, interval - (time.monotonic() - sample.at)))
    raise RuntimeError(f"not drained after {timeout}s (last {samples[-1:]}):\n{worker.log_tail()}")


def steady_rate(samples: Sequence[DrainSample], consumed: int) -> float | None:
    """Events/s between the first and the last scrape that saw the worker mid-way, so
    start-up and the final partial interval are left out."""
    mid = [s for s in samples if 0 < s.consumed < consumed]
    if len(mid) < 2 or mid[-1].at <= mid[0].at:
        return None
    return (mid[-1].consumed - mid[0].consumed) / (mid[-1].at - mid[0].at)
