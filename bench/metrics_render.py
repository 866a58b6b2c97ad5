"""/metrics render time at 1,000 and 10,000 queues, in process (no broker, no HTTP).

Engines are filled with ``stream.synthetic`` traffic ending now (calls waiting, calls in
service, agents in every state, all windows populated) and split over partitions as the
worker owns them. Then, per size:

1. the worker's own path: ``MetricsEndpoint`` rendering the whole body (engine reads +
   direct text), without and with gzip — the number the target is about;
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
from consumers.queue_metrics import RenderOptions, render_queue, scopes_for
from consumers.self_metrics import WorkerStats
from stream.config import EngineConfig
from stream.engine import Engine
from stream.synthetic import synthetic_stream

TARGET_MS_AT_1000 = 100.0


def build_state(
    queues: int, events_per_queue: int, span: float, partitions: int
) -> list[OwnedPartition]:
    """Engines per partition holding ``span`` seconds of traffic that ends now; events
    dated after now are left out, so calls are still waiting or in service."""
    now = time.time()
    calls_per_s = events_per_queue / 4 / span  # the synthetic mix has ~4 events per call
    config = EngineConfig()
    parts = [OwnedPartition(p, Engine(config)) for p in range(partitions)]
    partition_of = KeyPartitioner(range(partitions))
    stream = synthetic_stream(queues, queues * events_per_queue, calls_per_s, 5, now - span)
    for event, key in stream:
        if event.ts <= now:
            parts[partition_of(key.encode())].engine.apply(event, only_queue=key)
    return parts


def endpoint_for(parts: list[OwnedPartition], options: RenderOptions) -> MetricsEndpoint:
    # max_age=0: every call renders again (the worker shares one render for 0.5 s)
    return MetricsEndpoint(
        owned=lambda: parts,
        stats=WorkerStats(),
        options=options,
        lag=lambda _: 0,
        counts=lambda: (0, 0),
        max_age=0.0,
    )


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of each run, with the garbage collector out of the way."""
    out = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
        gc.enable()
    return out


# --- the same samples, two ways of formatting them -----------------------------------------


Sample = tuple[MetricInfo, str, float]  # (family, "{labels}", value)


class RecordingWriter(ExpositionWriter):
    """Keeps the samples ``render_queue`` produces instead of formatting them."""

    def __init__(self) -> None:
        super().__init__()
        self.samples: list[Sample] = []

    def sample(self, info: MetricInfo, labels: str, value: float | None) -> None:
        if value is not None:
            self.samples.append((info, labels, value))


def collect_samples(parts: list[OwnedPartition], options: RenderOptions) -> list[Sample]:
    out = RecordingWriter()
    now = time.time()
    for part in parts:
        for state in part.engine.queues.values():
            render_queue(out, state, now, options)
    return out.samples


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
    render: list[float]
    render_gzip: list[float]
    direct: list[float]
    prom: list[float]
    gzip: list[float]
    reads: dict[str, float]


def measure(
    queues: int, events_per_queue: int, span: float, partitions: int, repeat: int
) -> SizeResult:
    started = time.monotonic()
    parts = build_state(queues, events_per_queue, span, partitions)
    print(
        f"  .. {queues:,} queues: state built in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    options = RenderOptions(scopes_for(tuple(n for n, _ in EngineConfig().windows)))
    endpoint = endpoint_for(parts, options)
    bodies: dict[bool, bytes] = {}

    def render(gzip: bool) -> None:
        bodies[gzip] = asyncio.run(endpoint.body(gzip))[0]

    render_ms = timed(lambda: render(False), repeat)
    gzip_ms = timed(lambda: render(True), repeat)

    gzip_only_ms = timed(lambda: gzip.compress(bodies[False], compresslevel=1), repeat)
    reads = read_costs(parts, options)
    samples = collect_samples(parts, options)
    direct_ms = timed(lambda: format_direct(samples), repeat)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SameSamplesCollector(samples))  # type: ignore[arg-type]
    prom_ms = timed(lambda: generate_latest(registry), max(1, repeat // 2))
    if not same_values(format_direct(samples), generate_latest(registry)):
        raise AssertionError("prometheus_client body differs from the direct one")
    return SizeResult(
        queues,
        len(samples),
        len(bodies[False]) / 1e6,
        len(bodies[True]) / 1e6,
        render_ms,
        gzip_ms,
        direct_ms,
        prom_ms,
        gzip_only_ms,
        reads,
    )


def read_costs(parts: list[OwnedPartition], options: RenderOptions) -> dict[str, float]:
    """ms over all queues of the engine reads ``render_queue`` makes, one kind at a time."""
    states = [s for part in parts for s in part.engine.queues.values()]
    now = time.time()
    scopes = options.scopes

    def kpis(staffing: bool) -> None:
        for state in states:
            for scope in scopes:
                state.kpis(scope, now, staffing=staffing)

    def windows() -> None:
        for state in states:
            for scope in scopes:
                state.window(scope, now) if scope != "today" else state.today(now)

    def live() -> None:
        for state in states:
            state.longest_wait(now)
            state.agents_by_state()
            state.agents_staffed()
            state.totals.as_dict()

    with_staffing = percentile(timed(lambda: kpis(True), 3), 0.5)
    without = percentile(timed(lambda: kpis(False), 3), 0.5)
    return {
        "kpis() without staffing": without,
        "staffing (Erlang C/A) in kpis()": with_staffing - without,
        "window()/today() counts (a second read)": percentile(timed(windows, 3), 0.5),
        "live gauges + totals": percentile(timed(live, 3), 0.5),
    }


def profile_render(queues: int, events_per_queue: int, span: float, partitions: int) -> None:
    parts = build_state(queues, events_per_queue, span, partitions)
    options = RenderOptions(scopes_for(tuple(n for n, _ in EngineConfig().windows)))
    endpoint = endpoint_for(parts, options)
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(endpoint.body(False))
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
        "--events-per-queue", type=int, default=100, help="history per queue (~25 calls)"
    )
    parser.add_argument("--span", type=float, default=3600.0, help="seconds of history")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one render at the smallest size"
    )
    args = parser.parse_args(argv)

    print_header("/metrics render")
    results = [
        measure(q, args.events_per_queue, args.span, args.partitions, args.repeat)
        for q in args.queues
    ]
    print(
        f"\n{'queues':>7} {'series':>9} {'body MB':>8} {'gzip MB':>8} "
        f"{'render':>9} {'+gzip':>9} {'direct fmt':>10} {'prom fmt':>9} {'prom/direct':>11}"
    )
    for r in results:
        kinds = ("render", "render_gzip", "direct", "prom")
        med = {k: percentile(getattr(r, k), 0.5) for k in kinds}
        print(
            f"{r.queues:>7,} {r.series:>9,} {r.body_mb:>8.1f} {r.gzip_mb:>8.2f} "
            f"{med['render']:>7.0f}ms {med['render_gzip']:>7.0f}ms {med['direct']:>8.0f}ms "
            f"{med['prom']:>7.0f}ms {ratio(med['prom'], med['direct']):>11}"
        )
    print("(medians; render = MetricsEndpoint body: engine reads + direct text)")
    for r in results:
        render, direct, prom = (percentile(x, 0.5) for x in (r.render, r.direct, r.prom))
        whole_prom = render - direct + prom
        print(
            f"\n{r.queues:,} queues: {render / r.queues * 1000:.0f} µs/queue; gzip (level 1) "
            f"{percentile(r.gzip, 0.5):.0f} ms; a prometheus_client exporter "
            f"≈ {whole_prom:.0f} ms = {ratio(whole_prom, render)} the direct render"
        )
        print("  where the render's time goes (each part timed alone, ms, share of render):")
        for name, ms in [*r.reads.items(), ("formatting (direct text writer)", direct)]:
            print(f"  {ms:7.0f}  {ms / render:5.0%}  {name}")
    at_1000 = next((r for r in results if r.queues == 1000), None)
    if at_1000 is not None:
        ms = percentile(at_1000.render, 0.5)
        verdict = "met" if ms < TARGET_MS_AT_1000 else "NOT met"
        print(f"target < {TARGET_MS_AT_1000:.0f} ms at 1,000 queues: {ms:.0f} ms, {verdict}")
    if args.profile:
        profile_render(min(args.queues), args.events_per_queue, args.span, args.partitions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
