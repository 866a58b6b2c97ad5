"""Ground truth of a simulated stream: per-queue totals counted straight from the events.

The simulator feeds every event it emits to :class:`GroundTruth`; the counts follow the
definitions of docs/kpis.md for a clean stream (every call has one enqueue and at most one
outcome per queue, nothing late or duplicated), so a worker that consumed the same events
must export exactly these totals. Waits are computed from the events' own timestamps, as
the engine does, so a wait of exactly T is "within T" on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .counters import threshold_key
from .events import (
    AfterCallWorkEnded,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEnqueued,
    CallLeft,
    CallTransferred,
    Event,
    LeaveReason,
    SurveyResult,
)


@dataclass(slots=True)
class QueueTruth:
    entered: int = 0
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    flowed_out: int = 0
    left: int = 0
    transferred: int = 0
    handled: int = 0
    surveys: int = 0
    wait_seconds: float = 0.0  # all outcomes
    answered_wait_seconds: float = 0.0
    abandoned_wait_seconds: float = 0.0
    max_wait_seconds: float = 0.0
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    acw_seconds: float = 0.0
    answered_within: dict[str, int] = field(default_factory=dict)  # threshold key -> count
    abandoned_within: dict[str, int] = field(default_factory=dict)


class GroundTruth:
    """Per-queue totals of the events observed so far."""

    def __init__(self, thresholds: Iterable[float] = (20.0,)) -> None:
        self.thresholds = tuple(thresholds)
        self.queues: dict[str, QueueTruth] = {}
        self.agent_events = 0
        self._enqueued: dict[tuple[str, str], float] = {}  # (queue, call_id) -> ts

    def _queue(self, name: str) -> QueueTruth:
        truth = self.queues.get(name)
        if truth is None:
            keys = [threshold_key(t) for t in self.thresholds]
            truth = QueueTruth(
                answered_within=dict.fromkeys(keys, 0), abandoned_within=dict.fromkeys(keys, 0)
            )
            self.queues[name] = truth
        return truth

    def _outcome(self, truth: QueueTruth, queue: str, call_id: str, ts: float) -> float:
        wait = max(ts - self._enqueued.pop((queue, call_id)), 0.0)
        truth.offered += 1
        truth.wait_seconds += wait
        truth.max_wait_seconds = max(truth.max_wait_seconds, wait)
        return wait

    def observe(self, event: Event) -> None:
        if isinstance(event, AgentStateChanged):
            self.agent_events += 1
            for name in event.queues:
                self._queue(name)
            return
        truth = self._queue(event.queue)
        if isinstance(event, CallEnqueued):
            truth.entered += 1
            self._enqueued[(event.queue, event.call_id)] = event.ts
        elif isinstance(event, CallAnswered):
            wait = self._outcome(truth, event.queue, event.call_id, event.ts)
            truth.answered += 1
            truth.answered_wait_seconds += wait
            for t in self.thresholds:
                if wait <= t:
                    truth.answered_within[threshold_key(t)] += 1
        elif isinstance(event, CallAbandoned):
            wait = self._outcome(truth, event.queue, event.call_id, event.ts)
            truth.abandoned += 1
            truth.abandoned_wait_seconds += wait
            for t in self.thresholds:
                if wait <= t:
                    truth.abandoned_within[threshold_key(t)] += 1
        elif isinstance(event, CallLeft):
            self._outcome(truth, event.queue, event.call_id, event.ts)
            if event.reason is LeaveReason.OVERFLOW:
                truth.flowed_out += 1
            else:
                truth.left += 1
        elif isinstance(event, CallTransferred):
            truth.transferred += 1
        elif isinstance(event, CallEnded):
            truth.handled += 1
            truth.talk_seconds += event.talk_seconds
            truth.hold_seconds += event.hold_seconds
        elif isinstance(event, AfterCallWorkEnded):
            truth.acw_seconds += event.acw_seconds
        elif isinstance(event, SurveyResult):
            truth.surveys += 1

    def waiting(self) -> dict[str, int]:
        """Calls enqueued without an outcome yet, per queue (still waiting at the end)."""
        out: dict[str, int] = dict.fromkeys(self.queues, 0)
        for queue, _ in self._enqueued:
            out[queue] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        waiting = self.waiting()
        queues: dict[str, Any] = {}
        for name in sorted(self.queues):
            truth = self.queues[name]
            row = {f: getattr(truth, f) for f in QueueTruth.__dataclass_fields__}
            row["waiting_at_end"] = waiting[name]
            queues[name] = row
        return {"thresholds": list(self.thresholds), "queues": queues}
