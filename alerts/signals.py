"""What a rule can watch: engine KPIs over a window, live values of a queue, and the
worker's own pipeline health (consumer lag, dead-letter rate: alerts/pipeline.py).

Each queue signal knows how to read itself from a :class:`stream.queue.QueueState` at an
instant, each worker signal from a :class:`alerts.pipeline.PipelineView` (for the
evaluator), and how to say the same thing in PromQL over the worker's metrics (for
``rules export-prometheus``). Reads in one evaluation share a :class:`QueueView`, so
a queue's KPIs of a window are computed once however many rules look at them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stream.queue import QueueState

from .pipeline import PipelineView

WINDOW, LIVE = "window", "live"
QUEUE, WORKER = "queue", "worker"  # what a signal is about: one queue, or the worker itself
STAFFING = frozenset({"agents_required", "staffing_gap", "predicted_service_level"})


class QueueView:
    """One queue at one instant; window reads are cached for the evaluation."""

    __slots__ = ("_kpis", "_volumes", "now", "state")

    def __init__(self, state: QueueState, now: float) -> None:
        self.state = state
        self.now = now
        self._kpis: dict[tuple[str, bool], dict[str, float | None]] = {}
        self._volumes: dict[str, float] = {}

    def kpi(self, window: str, key: str) -> float | None:
        staffing = key in STAFFING
        cache_key = (window, staffing)
        found = self._kpis.get(cache_key)
        if found is None:
            found = self._kpis[cache_key] = self.state.kpis(window, self.now, staffing=staffing)
        return found.get(key)

    def volume(self, window: str) -> float:
        """Calls offered in the window (the minimum-volume guard)."""
        found = self._volumes.get(window)
        if found is None:
            state = self.state
            counters = (
                state.today(self.now) if window == "today" else state.window(window, self.now)
            )
            found = self._volumes[window] = float(counters["offered"])
        return found


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    scope: str  # WINDOW or LIVE
    read: Callable[[Any, str], float | None]  # (QueueView or PipelineView, window) -> value
    promql: str | None  # template with {q} (queue matchers) and {w} (window); None: none
    unit: str  # "ratio", "seconds" or "count": how summaries print the value
    help: str
    subject: str = QUEUE  # QUEUE: per queue (a "queue" label); WORKER: per worker ("instance")


def _kpi(key: str) -> Callable[[QueueView, str], float | None]:
    return lambda view, window: view.kpi(window, key)


def _live(fn: Callable[[QueueState, float], float | None]) -> Callable[..., float | None]:
    return lambda view, _window: fn(view.state, view.now)


def _pipeline(fn: Callable[[PipelineView, str], float | int | None]) -> Callable[..., Any]:
    def read(view: PipelineView, window: str) -> float | None:
        value = fn(view, window)
        return None if value is None else float(value)

    return read


def _feed_silence(state: QueueState, now: float) -> float | None:
    # Only meaningful while agents are logged in: a closed queue is quiet on purpose.
    if state.stream_time is None or not any(state.agents_by_state().values()):
        return None
    return max(0.0, now - state.stream_time)


def _window(name: str, key: str, metric: str, unit: str, text: str, agg: str = "max") -> Signal:
    expr = f'{agg} by (queue) ({metric}{{{{{{q}}window="{{w}}"}}}})'
    return Signal(name, WINDOW, _kpi(key), expr, unit, text)


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in (
        # min over thresholds = the first (smallest) threshold: SL grows with T
        _window("service_level", "service_level", "callpulse_service_level_ratio", "ratio",
                "Service level of the queue's formula at its first threshold.", "min"),
        _window("abandon_ratio", "abandon_ratio", "callpulse_abandon_ratio", "ratio",
                "Abandoned / offered."),
        _window("abandon_ratio_excl_short", "abandon_ratio_excl_short",
                "callpulse_abandon_excl_short_ratio", "ratio",
                "Abandon ratio without short abandons."),
        _window("asa_seconds", "asa_seconds", "callpulse_asa_seconds", "seconds",
                "Average speed of answer."),
        _window("aht_seconds", "aht_seconds", "callpulse_aht_seconds", "seconds",
                "Average handle time."),
        _window("avg_wait_seconds", "avg_wait_seconds", "callpulse_wait_avg_seconds", "seconds",
                "Average wait of calls with an outcome."),
        _window("max_wait_seconds", "max_wait_seconds", "callpulse_wait_max_seconds", "seconds",
                "Longest wait in the window, calls waiting now included."),
        _window("occupancy_ratio", "occupancy_ratio", "callpulse_occupancy_ratio", "ratio",
                "Agent busy time / (busy + available)."),
        _window("transfer_ratio", "transfer_ratio", "callpulse_transfer_ratio", "ratio",
                "Transferred / answered."),
        _window("arrival_rate_per_second", "arrival_rate_per_second",
                "callpulse_arrival_rate_per_second", "count", "Arrivals per second."),
        _window("avg_queue_length", "avg_queue_length", "callpulse_queue_length_avg", "count",
                "Time-weighted average number of calls waiting."),
        _window("agents_required", "agents_required", "callpulse_agents_required", "count",
                "Agents needed for the SL target (Erlang)."),
        _window("staffing_gap", "staffing_gap", "callpulse_staffing_gap", "count",
                "Agents required minus agents staffed now."),
        _window("predicted_service_level", "predicted_service_level",
                "callpulse_predicted_service_level_ratio", "ratio",
                "SL predicted with the agents staffed now."),
        _window("csat_avg", "csat_avg", "callpulse_csat_score_avg", "count", "Average CSAT."),
        _window("nps", "nps", "callpulse_nps_score", "count", "Net promoter score."),
        Signal("calls_waiting", LIVE, _live(lambda s, _n: float(s.calls_waiting)),
               "max by (queue) (callpulse_calls_waiting{{{q}}})", "count", "Calls waiting now."),
        Signal("longest_wait_seconds", LIVE, _live(lambda s, n: s.longest_wait(n) or 0.0),
               "max by (queue) (callpulse_longest_wait_seconds{{{q}}})", "seconds",
               "Wait so far of the oldest waiting call (grows between events: ticker)."),
        Signal("calls_in_service", LIVE, _live(lambda s, _n: float(s.calls_in_service)),
               "max by (queue) (callpulse_calls_in_service{{{q}}})", "count",
               "Calls answered and not yet ended."),
        Signal("agents_available", LIVE,
               _live(lambda s, _n: float(s.agents_by_state()["available"])),
               'max by (queue) (callpulse_agents{{{q}state="available"}})', "count",
               "Agents available now."),
        Signal("agents_staffed", LIVE, _live(lambda s, _n: float(s.agents_staffed())),
               "max by (queue) (callpulse_agents_staffed{{{q}}})", "count",
               "Agents available, on contact or in after-call work."),
        Signal("unstaffed_calls_waiting", LIVE,
               _live(lambda s, _n: float(s.calls_waiting if s.agents_staffed() == 0 else 0)),
               "max by (queue) (callpulse_calls_waiting{{{q}}} * on (queue) "
               "(callpulse_agents_staffed{{{q}}} == bool 0))", "count",
               "Calls waiting while no agent is staffed (else 0)."),
        Signal("feed_silence_seconds", LIVE, _live(_feed_silence), None, "seconds",
               "Time since the queue's last event while agents are logged in (a silent feed)."),
        # Worker signals: the window of a rate is any duration (not an engine window).
        Signal("consumer_lag_records", LIVE, _pipeline(lambda v, _w: v.latest.lag),
               "sum by (instance) (callpulse_consumer_lag)", "count",
               "Records the worker is behind the end of its partitions (summed).", WORKER),
        Signal("dead_letter_rate_per_second", WINDOW, _pipeline(PipelineView.rate),
               "sum by (instance) (rate(callpulse_events_dead_lettered_total[{w}]))", "count",
               "Records sent to the dead-letter topic per second.", WORKER),
        Signal("dead_letter_ratio", WINDOW, _pipeline(PipelineView.ratio),
               "sum by (instance) (rate(callpulse_events_dead_lettered_total[{w}])) / "
               "sum by (instance) (rate(callpulse_events_consumed_total[{w}]))", "ratio",
               "Dead letters / records consumed in the window.", WORKER),
    )
}  # fmt: skip
