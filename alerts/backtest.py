"""``rules backtest``: the alert timeline of a rules file over a JSONL file of events.

The offline engine applies the events in file order; the evaluator runs after each event
for the queues it touched (at their stream time) and on a ticker every ``tick`` seconds
of event time for every queue, like the worker's 1 s ticker, so time-driven conditions
(a growing wait, a silent feed) fire here when they would fire live.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from stream.config import EngineConfig
from stream.decode import decode
from stream.engine import Engine
from stream.events import InvalidEvent, queues_of

from .evaluator import Evaluator, Notification
from .rules import RuleSet


@dataclass(slots=True)
class Backtest:
    notifications: list[Notification] = field(default_factory=list)
    events: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def run_backtest(
    rules: RuleSet,
    lines: Iterable[bytes],
    engine_config: EngineConfig | None = None,
    tick: float = 1.0,
    drain: float = 0.0,
) -> Backtest:
    """Replay ``lines`` (one canonical event per line); ``drain`` keeps ticking that many
    seconds after the last event (to see alerts resolve, or a feed go silent)."""
    engine = Engine(engine_config or EngineConfig())
    evaluator = Evaluator(rules)
    result = Backtest()
    out = result.notifications
    next_tick: float | None = None

    def ticks_until(ts: float) -> None:
        nonlocal next_tick
        while next_tick is not None and next_tick <= ts:
            for state in engine.queues.values():
                out.extend(evaluator.evaluate(state, next_tick))
            next_tick += tick

    last = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = decode(line.strip())
        except InvalidEvent as error:
            result.invalid.append((number, error.reason))
            continue
        result.events += 1
        if next_tick is None:
            next_tick = math.floor(event.ts / tick) * tick + tick
        ticks_until(event.ts)
        engine.apply(event)
        for name in queues_of(event):
            state = engine.queues[name]
            out.extend(evaluator.evaluate(state, state.stream_time or event.ts))
        last = event.ts if last is None else max(last, event.ts)
    if last is not None and drain > 0:
        ticks_until(last + drain)
    return result
