"""The common-case boundary crossing (Ledger.cross_fine: the finest window alone, its
maxima held back for the other windows, today and the interval) equals the general one.

A second engine is fed the same events with the fast path switched off (its queues'
``_slow_at`` forced to -inf, so every crossing takes Ledger.cross); every read, every
closed interval and every snapshot must be the same, and a snapshot taken while maxima
are held back must restore to the same state.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from stream.config import EngineConfig
from stream.engine import Engine
from stream.events import Event
from stream.synthetic import synthetic_stream

from .engine_builders import busy_stream, config
from .test_engine_snapshot import observe, summaries

_INF = float("inf")


def _slow(engine: Engine) -> None:
    for state in engine.queues.values():
        state._slow_at = -_INF  # the next crossing takes the general path


def _feed(engine: Engine, events: list[Event], slow: bool, closed: list[Any]) -> None:
    for event in events:
        engine.apply(event)
        if slow:
            _slow(engine)
        closed += engine.take_closed()


def _streams() -> list[tuple[str, list[Event], EngineConfig]]:
    nested = EngineConfig()  # 10 s, 30 s, 120 s buckets
    odd = config(windows={"7m": 420, "1m": 60, "20m": 1200}, interval="30m")
    quiet = [event for event, _ in synthetic_stream(3, 4000, 0.05, seed=7)]
    return [
        ("busy-nested", busy_stream(1), nested),
        ("busy-odd", busy_stream(2), odd),
        ("quiet-nested", quiet, nested),
        ("quiet-odd", quiet, odd),
    ]


@pytest.mark.parametrize(
    "name,events,cfg", _streams(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_fast_crossing_equals_general_crossing(
    name: str, events: list[Event], cfg: EngineConfig
) -> None:
    fast, slow = Engine(cfg), Engine(cfg)
    fast_closed: list[Any] = []
    slow_closed: list[Any] = []
    step = max(1, len(events) // 40)
    for start in range(0, len(events), step):
        chunk = events[start : start + step]
        _feed(fast, chunk, False, fast_closed)
        _feed(slow, chunk, True, slow_closed)
        now = max(s.stream_time or 0.0 for s in fast.queues.values())
        for later in (0.0, 7.0, 95.0):
            assert observe(fast, now + later) == observe(slow, now + later), (name, start)
        assert orjson.dumps(fast.snapshot()) == orjson.dumps(slow.snapshot()), (name, start)
    assert summaries(fast_closed + fast.flush()) == summaries(slow_closed + slow.flush())


@pytest.mark.parametrize("seed", [3, 4])
def test_snapshot_with_held_maxima_restores(seed: int) -> None:
    events = busy_stream(seed)
    cfg = EngineConfig()
    for cut in range(len(events) // 4, len(events), len(events) // 4):
        first = Engine(cfg)
        _feed(first, events[:cut], False, [])
        held = any(any(s._ledger.held) for s in first.queues.values())
        restored = Engine(cfg)
        restored.restore(orjson.loads(orjson.dumps(first.snapshot())))
        rest = events[cut:]
        whole_closed: list[Any] = []
        restored_closed: list[Any] = []
        _feed(first, rest, False, whole_closed)
        _feed(restored, rest, False, restored_closed)
        now = max(s.stream_time or 0.0 for s in first.queues.values())
        assert observe(first, now + 30.0) == observe(restored, now + 30.0), (cut, held)
        assert summaries(whole_closed + first.flush()) == summaries(
            restored_closed + restored.flush()
        )
