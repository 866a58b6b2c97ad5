"""/metrics render time at 1,000 and 10,000 queues, in process (no broker, no HTTP).

Engines are filled with ``stream.synthetic`` traffic ending now (calls waiting, calls in
service, agents in every state, all windows populated) and split over partitions as the
worker owns them. Then, per size:

1. the worker's own path: ``MetricsEndpoint`` rendering the whole body (engine reads +
   direct text) — the number the target is about — three ways: *cold* (a new endpoint:
   every window's staffing is computed), *warm* (the same endpoint again at once: staffing
   memoised) and *steady* (the same endpoint with the clock 15 s later each time, a
   scrape interval, and the synthetic traffic of those 15 s applied in between: what a
   worker does between two Prometheus scrapes);
   then gzip on top, and the longest time one render held the event loop;
2. the direct-text writer alone, formatting samples computed beforehand;
3. prometheus_client: a custom collector yielding metric families with the same samples,
   rendered by ``generate_latest`` — what the exporter would cost written the usual way.

(2) and (3) format exactly the same samples, so their ratio is the writer's gain; the
engine reads are the same for both, so the whole prometheus_client path is (1) − (2) + (3).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import gzip
import io
import pstats
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from _common import KeyPartitioner, parse_samples, percentile, print_header, ratio
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)

from consumers.exposition import ExpositionWriter, MetricInfo
from consumers.inbound import OwnedPartition
from consumers.metrics_endpoint import MetricsEndpoint
from consumers.queue_metrics import QUEUE_METRICS, RenderOptions, scopes_for
from consumers.self_metrics import WorkerStats
from consumers.settings import WorkerSettings
from stream.config import EngineConfig
from stream.counters import Counters
from stream.engine import Engine
from stream.events import Event
from stream.kpis import compute_kpis, staffing_kpis
from stream.queue import QueueState
from stream.synthetic import synthetic_stream

TARGET_MS_AT_1000 = 100.0
EVENTS_PER_CALL = 4.625  # stream.synthetic: 2 per call, 3.5 more for the 75 % answered


Pending = list[tuple[Event, str]]


def worker_render_options(staffing_windows: str | None = None) -> RenderOptions:
    """What a worker renders with default settings but ``worker.staffing_windows``."""
    windows = tuple(n for n, _ in EngineConfig().windows)
    chosen = WorkerSettings(staffing_windows=staffing_windows).staffing_scopes(windows)
    return RenderOptions(scopes_for(windows), staffing_windows=chosen)


def build_state(
    queues: int, events_per_queue: int, span: float, partitions: int, ahead: float = 0.0
) -> tuple[list[OwnedPartition], Pending]:
    """Engines per partition holding ``span`` seconds of traffic that ends now, and the
    traffic of the ``ahead`` seconds after now, not applied yet (in time order)."""
    now = time.time()
    calls_per_s = events_per_queue / EVENTS_PER_CALL / span
    config = EngineConfig()
    parts = [OwnedPartition(p, Engine(config)) for p in range(partitions)]
    partition_of = KeyPartitioner(range(partitions))
    total = round(queues * events_per_queue * (span + ahead) / span)
    stream = synthetic_stream(queues, total, calls_per_s, 5, now - span)
    pending: Pending = []
    for event, key in stream:
        if event.ts <= now:
            parts[partition_of(key.encode())].engine.apply(event, only_queue=key)
        elif event.ts <= now + ahead:
            pending.append((event, key))
    pending.sort(key=lambda item: item[0].ts)
    return parts, pending


def apply_until(parts: list[OwnedPartition], pending: Pending, until: float) -> int:
    """Apply the pending events dated up to ``until`` (removed from ``pending``)."""
    partition_of = KeyPartitioner(range(len(parts)))
    n = 0
    while n < len(pending) and pending[n][0].ts <= until:
        event, key = pending[n]
        parts[partition_of(key.encode())].engine.apply(event, only_queue=key)
        n += 1
    del pending[:n]
    return n


SCRAPE_INTERVAL = 15.0  # seconds between the renders of the "steady" measurement
# One event loop for every render, as in the worker (asyncio.run per render would add a
# loop's setup and teardown to each).
LOOP = asyncio.new_event_loop()


def endpoint_for(
    parts: list[OwnedPartition],
    options: RenderOptions,
    clock: Callable[[], float] = time.time,
) -> MetricsEndpoint:
    # max_age=0: every call renders again (the worker shares one render for 0.5 s)
    return MetricsEndpoint(
        owned=lambda: parts,
        stats=WorkerStats(),
        options=options,
        lag=lambda _: 0,
        counts=lambda: (0, 0),
        max_age=0.0,
        clock=clock,
    )


class SteppingClock:
    """Wall time plus ``SCRAPE_INTERVAL`` more at every ``step()``: the scrapes of a
    Prometheus server, replayed back to back."""

    def __init__(self) -> None:
        self.offset = 0.0

    def step(self) -> None:
        self.offset += SCRAPE_INTERVAL

    def __call__(self) -> float:
        return time.time() + self.offset


async def with_stall_probe(endpoint: MetricsEndpoint, gzip: bool) -> tuple[float, float]:
    """Render one body while a probe task measures the gaps between its own turns: the
    longest time (ms) the event loop was held, in wall time and in this thread's CPU time
    (the CPU figure leaves out the time the OS gave other processes on a busy machine)."""
    wall, cpu = [0.0], [0.0]
    done = False

    async def probe() -> None:
        last_wall, last_cpu = time.perf_counter(), time.thread_time()
        while not done:
            await asyncio.sleep(0)
            now_wall, now_cpu = time.perf_counter(), time.thread_time()
            wall.append(now_wall - last_wall)
            cpu.append(now_cpu - last_cpu)
            last_wall, last_cpu = now_wall, now_cpu

    task = asyncio.create_task(probe())
    await asyncio.sleep(0)
    await endpoint.body(gzip)
    done = True
    await task
    return max(wall) * 1000, max(cpu) * 1000


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of this thread's CPU time for each run, with the garbage collector out
    of the way. CPU time, not wall time: on a 2-core machine shared with other jobs, wall
    time adds whatever the others took meanwhile (the stall probe shows both)."""
    out = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        started = time.thread_time()
        fn()
        out.append((time.thread_time() - started) * 1000)
        gc.enable()
    return out


# --- the same samples, two ways of formatting them -----------------------------------------


Sample = tuple[MetricInfo, str, float]  # (family, "{labels}", value)


_INFO = {info.name: info for info in QUEUE_METRICS}


def collect_samples(body: bytes) -> list[Sample]:
    """The per-queue samples of a rendered body (the self-metrics are left out)."""
    return [
        (_INFO[name], labels, value)
        for name, series in parse_samples(body.decode()).items()
        if name in _INFO
        for labels, value in series.items()
    ]


def format_direct(samples: list[Sample]) -> bytes:
    out = ExpositionWriter()
    for info, labels, value in samples:
        out.sample(info, labels, value)
    return out.render().encode()


_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


class SameSamplesCollector:
    """A prometheus_client custom collector yielding the recorded samples as metric families
    (label values parsed once, beforehand: the engine would hand them over as strings)."""

    def __init__(self, samples: list[Sample]) -> None:
        self.families: dict[str, tuple[MetricInfo, list[tuple[list[str], float]]]] = {}
        for info, labels, value in samples:
            values = [_unescape(v) for _, v in _LABEL.findall(labels)]
            self.families.setdefault(info.name, (info, []))[1].append((values, value))

    def collect(self) -> Iterator[Metric]:
        for info, rows in self.families.values():
            family: GaugeMetricFamily | CounterMetricFamily
            if info.kind == "counter":
                family = CounterMetricFamily(info.name, info.help, labels=info.labels)
            else:
                family = GaugeMetricFamily(info.name, info.help, labels=info.labels)
            for values, value in rows:
                family.add_metric(values, value)
            yield family


def same_values(direct: bytes, other: bytes) -> bool:
    """Both bodies carry the same series with the same values (number formats and label
    order differ)."""

    def flat(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (name, tuple(sorted(_LABEL.findall(labels)))): value
            for name, series in parse_samples(body.decode()).items()
            for labels, value in series.items()
        }

    a, b = flat(direct), flat(other)
    return a.keys() == b.keys() and all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)


# --- one size ------------------------------------------------------------------------------


@dataclass
class SizeResult:
    queues: int
    series: int
    body_mb: float
    gzip_mb: float
    cold: list[float]
    warm: list[float]
    steady: list[float]
    render_gzip: list[float]
    stall_steady: tuple[float, float]  # (wall, CPU) ms
    stall_cold: tuple[float, float]
    direct: list[float]
    prom: list[float]
    gzip: list[float]
    reads: dict[str, float]
    staffing_cold: int
    staffing_steady: int
    events_per_scrape: float


def measure(
    queues: int,
    events_per_queue: int,
    span: float,
    partitions: int,
    repeat: int,
    options: RenderOptions,
) -> SizeResult:
    started = time.monotonic()
    ahead = SCRAPE_INTERVAL * (repeat + 2)
    parts, pending = build_state(queues, events_per_queue, span, partitions, ahead)
    print(
        f"  .. {queues:,} queues: state built in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    bodies: dict[str, bytes] = {}

    def render(endpoint: MetricsEndpoint, gzip: bool = False) -> None:
        bodies["gzip" if gzip else "text"] = LOOP.run_until_complete(endpoint.body(gzip))[0]

    cold_evals: list[int] = []

    def cold() -> None:
        endpoint = endpoint_for(parts, options)
        render(endpoint)
        cold_evals.append(endpoint.staffing_evaluations)

    cold_ms = timed(cold, repeat)
    warm_endpoint = endpoint_for(parts, options)
    render(warm_endpoint)
    warm_ms = timed(lambda: render(warm_endpoint), repeat)
    clock = SteppingClock()
    steady_endpoint = endpoint_for(parts, options, clock)
    render(steady_endpoint)
    steady_evals: list[int] = []
    steady_ms: list[float] = []
    applied = 0
    for _ in range(repeat):  # each scrape sees the traffic of the 15 s before it
        clock.step()
        applied += apply_until(parts, pending, clock())
        steady_ms += timed(lambda: render(steady_endpoint), 1)
        steady_evals.append(steady_endpoint.staffing_evaluations)
    gzip_ms = timed(lambda: render(endpoint_for(parts, options), gzip=True), repeat)
    clock.step()
    apply_until(parts, pending, clock())
    stalls = [LOOP.run_until_complete(with_stall_probe(steady_endpoint, gzip=True))]
    stalls += [
        LOOP.run_until_complete(with_stall_probe(endpoint_for(parts, options), gzip=True))
        for _ in range(repeat)
    ]

    gzip_only_ms = timed(lambda: zlib_gzip(bodies["text"]), repeat)
    reads = read_costs(parts, options)
    samples = collect_samples(bodies["text"])
    direct_ms = timed(lambda: format_direct(samples), repeat)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SameSamplesCollector(samples))  # type: ignore[arg-type]
    prom_ms = timed(lambda: generate_latest(registry), max(1, repeat // 2))
    if not same_values(format_direct(samples), generate_latest(registry)):
        raise AssertionError("prometheus_client body differs from the direct one")
    return SizeResult(
        queues,
        len(samples),
        len(bodies["text"]) / 1e6,
        len(bodies["gzip"]) / 1e6,
        cold_ms,
        warm_ms,
        steady_ms,
        gzip_ms,
        stalls[0],
        (max(w for w, _ in stalls[1:]), max(c for _, c in stalls[1:])),
        direct_ms,
        prom_ms,
        gzip_only_ms,
        reads,
        max(cold_evals),
        round(sum(steady_evals) / len(steady_evals)),
        applied / repeat,
    )


def zlib_gzip(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=1)


def read_costs(parts: list[OwnedPartition], options: RenderOptions) -> dict[str, float]:
    """ms over all queues of the engine reads a render makes, one kind at a time (staffing
    as in a cold render: every window computed)."""
    states = [s for part in parts for s in part.engine.queues.values()]
    now = time.time()
    scopes = options.scopes
    windows = [scope for scope in scopes if scope != "today"]

    def reads() -> None:
        for state in states:
            for scope in scopes:
                state.read(scope, now)

    def kpis_of(state: QueueState, counters: Counters, span: float) -> dict[str, float | None]:
        return compute_kpis(
            counters,
            state.cfg,
            span=span,
            live_misses=state.live_misses(now),
            calls_waiting=state.calls_waiting,
        )

    def kpis() -> None:
        for state in states:
            for scope in scopes:
                kpis_of(state, *state.read(scope, now))

    prepared = [
        (state, counters, kpis_of(state, counters, span), state.agents_staffed())
        for state in states
        for counters, span in (state.read(scope, now) for scope in windows)
    ]

    def staffing() -> None:
        for state, counters, kpis_, staffed in prepared:
            staffing_kpis(state.cfg, counters, kpis_, staffed)

    def live() -> None:
        for state in states:
            state.longest_wait(now)
            state.agents_by_state()
            state.agents_staffed()
            state.totals.as_dict()

    read_ms = percentile(timed(reads, 3), 0.5)
    return {
        "window/today reads (one per scope)": read_ms,
        "KPIs from the reads": percentile(timed(kpis, 3), 0.5) - read_ms,
        "staffing (Erlang C/A), every window": percentile(timed(staffing, 3), 0.5),
        "live gauges + totals": percentile(timed(live, 3), 0.5),
    }


def profile_render(queues: int, events_per_queue: int, span: float, partitions: int) -> None:
    parts, _ = build_state(queues, events_per_queue, span, partitions)
    options = worker_render_options()
    endpoint = endpoint_for(parts, options)
    profiler = cProfile.Profile()
    profiler.enable()
    LOOP.run_until_complete(endpoint.body(False))
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    print(f"\ncProfile of one render at {queues:,} queues (top 15 by own time):")
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    print("\n".join(lines[start : start + 16]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queues", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument(
        "--events-per-queue", type=int, default=100, help="history per queue (~22 calls)"
    )
    parser.add_argument("--span", type=float, default=3600.0, help="seconds of history")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one render at the smallest size"
    )
    parser.add_argument(
        "--staffing-windows",
        default=None,
        help="worker.staffing_windows to render with (default: the worker's, 15m; or 'all')",
    )
    args = parser.parse_args(argv)
    options = worker_render_options(args.staffing_windows)

    print_header("/metrics render")
    results = [
        measure(q, args.events_per_queue, args.span, args.partitions, args.repeat, options)
        for q in args.queues
    ]
    print(
        f"\n{'queues':>7} {'series':>9} {'/queue':>6} {'body MB':>8} {'gzip MB':>8} "
        f"{'cold':>7} {'steady':>7} {'warm':>7} {'cold+gz':>8} "
        f"{'direct fmt':>10} {'prom fmt':>9} {'prom/direct':>11}"
    )
    for r in results:
        kinds = ("cold", "steady", "warm", "render_gzip", "direct", "prom")
        med = {k: percentile(getattr(r, k), 0.5) for k in kinds}
        print(
            f"{r.queues:>7,} {r.series:>9,} {r.series / r.queues:>6.0f} {r.body_mb:>8.1f} "
            f"{r.gzip_mb:>8.2f} {med['cold']:>5.0f}ms {med['steady']:>5.0f}ms "
            f"{med['warm']:>5.0f}ms {med['render_gzip']:>6.0f}ms "
            f"{med['direct']:>8.0f}ms {med['prom']:>7.0f}ms {ratio(med['prom'], med['direct']):>11}"
        )
    print(
        "(medians, CPU ms, of the MetricsEndpoint body: engine reads + direct text."
        f"\n cold: new endpoint; steady: clock +{SCRAPE_INTERVAL:.0f} s and that traffic"
        " applied before each render; warm: again at once)"
    )
    for r in results:
        cold, direct, prom = (percentile(x, 0.5) for x in (r.cold, r.direct, r.prom))
        whole_prom = cold - direct + prom
        print(
            f"\n{r.queues:,} queues: cold {cold / r.queues * 1000:.0f} µs/queue; gzip (level 1) "
            f"alone {percentile(r.gzip, 0.5):.0f} ms; a prometheus_client exporter "
            f"≈ {whole_prom:.0f} ms = {ratio(whole_prom, cold)} the direct render"
        )
        windows = r.staffing_cold
        print(
            "  longest hold of the event loop during render + gzip, wall / CPU: steady "
            f"{r.stall_steady[0]:.1f} / {r.stall_steady[1]:.1f} ms, cold "
            f"{r.stall_cold[0]:.1f} / {r.stall_cold[1]:.1f} ms"
        )
        print(
            f"  steady: {r.events_per_scrape:,.0f} events applied between scrapes; staffing "
            f"computed for {r.staffing_steady:,} windows per render (mean; cold: {windows:,})"
        )
        print("  where a cold render's time goes (each part timed alone, ms, share):")
        for name, ms in [*r.reads.items(), ("formatting (direct text writer)", direct)]:
            print(f"  {ms:7.0f}  {ms / cold:5.0%}  {name}")
    at_1000 = next((r for r in results if r.queues == 1000), None)
    if at_1000 is not None:
        for kind in ("cold", "steady"):
            ms = percentile(getattr(at_1000, kind), 0.5)
            verdict = "met" if ms < TARGET_MS_AT_1000 else "NOT met"
            target = f"target < {TARGET_MS_AT_1000:.0f} ms at 1,000 queues"
            print(f"{target}, {kind}: {ms:.0f} ms, {verdict}")
    if args.profile:
        profile_render(min(args.queues), args.events_per_queue, args.span, args.partitions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
