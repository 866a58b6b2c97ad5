"""Engine.apply() throughput on a synthetic contact-center stream, and memory per queue.

    .venv/bin/python bench/engine_apply.py                 # defaults: 500 queues, 1M events
    .venv/bin/python bench/engine_apply.py --queues 500 --events 300000 --memory-queues 10000

The stream: calls arrive at every queue (Poisson); 75 % are answered (then ended, and half
of them get an after-call-work event), 25 % abandon; agents go on_contact when they
answer and back to available after the call. That gives roughly a quarter each of
enqueues, outcomes, ended/acw and agent states. Timestamps are shuffled a little (a few
percent of events arrive up to 5 s late), as with several producers. Events are built
before timing; the timed loop is exactly what the worker does per record:
``engine.apply(event, only_queue=key)``.

Memory: tracemalloc over an engine that holds ``--memory-queues`` queues, each fed the
same stream shape for ``--memory-seconds`` of event time (so windows, agents and the
tables of recent calls are populated), divided by the number of queues.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable

import orjson
from _common import print_header  # bench/ is on sys.path when run as a file

from stream.config import EngineConfig
from stream.decode import decode, encode
from stream.engine import Engine
from stream.events import Event
from stream.synthetic import synthetic_stream


def _best_rate(count: int, run: Callable[[], None], repeat: int) -> float:
    """Best events/s of ``repeat`` runs of ``run()`` in CPU time (gc paused while timing)."""
    best = 0.0
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        start = time.process_time()
        run()
        elapsed = time.process_time() - start
        gc.enable()
        best = max(best, count / elapsed)
    return best


def measure_throughput(stream: list[tuple[Event, str]], repeat: int) -> float:
    """apply() alone over prebuilt events."""

    def apply_all() -> None:
        apply = Engine(EngineConfig()).apply
        for event, key in stream:
            apply(event, key)

    return _best_rate(len(stream), apply_all, repeat)


def measure_decode_apply(
    stream: list[tuple[Event, str]], repeat: int
) -> tuple[float, float, float]:
    """(decode + apply, decode alone, bare orjson.loads) events/s over the same encoded
    bytes: the worker's per-record work, and the floor any JSON consumer pays."""
    records = [(encode(event), key) for event, key in stream]

    def decode_apply() -> None:
        apply = Engine(EngineConfig()).apply
        for data, key in records:
            apply(decode(data), key)

    def decode_only() -> None:
        for data, _ in records:
            decode(data)

    def bare_loads() -> None:
        loads = orjson.loads
        for data, _ in records:
            loads(data)

    n = len(records)
    return (
        _best_rate(n, decode_apply, repeat),
        _best_rate(n, decode_only, repeat),
        _best_rate(n, bare_loads, repeat),
    )


def measure_memory(queues: int, seconds: float, calls_per_queue_per_s: float) -> float:
    events = int(queues * seconds * calls_per_queue_per_s * 4)
    stream = synthetic_stream(queues, events, calls_per_queue_per_s, seed=2)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    engine = Engine(EngineConfig())
    for event, key in stream:
        engine.apply(event, key)
    del event
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(engine.queues) == queues, len(engine.queues)
    return used / queues


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queues", type=int, default=500, help="queues in the throughput run")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to apply")
    parser.add_argument(
        "--rate", type=float, default=0.1, help="calls per second per queue (event time)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    parser.add_argument("--memory-queues", type=int, default=10_000, help="0 skips memory")
    parser.add_argument(
        "--memory-seconds", type=float, default=3600.0, help="event time fed per queue"
    )
    parser.add_argument(
        "--memory-rate", type=float, default=0.01, help="calls/s per queue in the memory run"
    )
    args = parser.parse_args(argv)
    print_header("engine: decode + apply (issue 3)")

    stream = synthetic_stream(args.queues, args.events, args.rate)
    kinds: dict[str, int] = {}
    for event, _ in stream:
        kinds[event.TYPE] = kinds.get(event.TYPE, 0) + 1
    mix = ", ".join(f"{k} {v / len(stream):.0%}" for k, v in sorted(kinds.items()))
    print(f"stream: {len(stream):,} events over {args.queues} queues ({mix})")
    rate = measure_throughput(stream, args.repeat)
    print(f"apply: {rate:,.0f} events/s ({1e6 / rate:.2f} µs/event)")
    both, decoded, bare = measure_decode_apply(stream, args.repeat)
    print(f"decode alone: {decoded:,.0f} events/s ({1e6 / decoded:.2f} µs/event)")
    print(
        f"decode+apply: {both:,.0f} events/s ({1e6 / both:.2f} µs/event); "
        f"bare orjson.loads: {bare:,.0f} events/s ({1e6 / bare:.2f} µs/event); "
        f"ratio {both / bare:.2f}; target 300,000: {'met' if both >= 300_000 else 'NOT met'}"
    )
    if args.memory_queues:
        per_queue = measure_memory(args.memory_queues, args.memory_seconds, args.memory_rate)
        print(
            f"memory: {per_queue / 1024:.1f} KiB per queue at {args.memory_queues:,} queues "
            f"({args.memory_seconds:g} s of event time at {args.memory_rate:g} calls/s/queue)"
        )


if __name__ == "__main__":
    main()
