"""Per-queue metrics: what each engine number is called in Prometheus, read at scrape time.

Three groups (docs/metrics.md documents every name; a test keeps the two in step):

- live gauges — calls waiting, longest wait (now − oldest waiting call, at the scrape
  instant), calls in service, agents by state;
- monotonic counters from the queue's totals, so PromQL ``increase()`` works too;
- windowed KPI gauges with a ``window`` label (each sliding window and ``today``),
  including staffing. Service level is exported for the queue's configured formula
  (``variant`` label), or for all ten when ``all_sl_variants`` is set.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress, count
from operator import call, ne

from stream.config import EngineConfig
from stream.counters import (
    AGENT_STATES,
    BASE_COLUMNS,
    MAX_QUEUE_LENGTH,
    MAX_WAIT_SECONDS,
    Counters,
    Layout,
    threshold_key,
)
from stream.kpis import (
    CLOCK_KEYS,
    SL_VARIANTS,
    STAFFING_KEYS,
    clock_values,
    counter_kpis,
    service_level_values,
    staffing_inputs,
    staffing_kpis,
)
from stream.queue import ANOMALY_KINDS, QueueState
from stream.read_cache import Fingerprint, ScopeReader, fingerprint

from .exposition import ExpositionWriter, MetricInfo, escape_label_value, format_value, label_text


def _gauge(name: str, help_text: str, *labels: str) -> MetricInfo:
    return MetricInfo(f"callpulse_{name}", "gauge", help_text, ("queue", *labels))


def _counter(name: str, help_text: str, *labels: str) -> MetricInfo:
    return MetricInfo(f"callpulse_{name}_total", "counter", help_text, ("queue", *labels))


CALLS_WAITING = _gauge("calls_waiting", "Calls waiting in the queue now.")
LONGEST_WAIT = _gauge(
    "longest_wait_seconds", "Wait so far of the oldest waiting call at scrape time (0: none)."
)
CALLS_IN_SERVICE = _gauge("calls_in_service", "Calls answered and not yet ended.")
AGENTS = _gauge("agents", "Agents serving the queue, by state.", "state")
AGENTS_STAFFED = _gauge("agents_staffed", "Agents available, on contact or in after-call work.")
SL_TARGET = _gauge("service_level_target_ratio", "The queue's service-level target.")
ANOMALIES = _counter("event_anomalies", "Events with a defined but unusual outcome.", "kind")

# Survey counters stay out of a queue's body until its first answer of that kind: a
# contact center without surveys would otherwise export 7 zero series per queue. Each
# group appears as a whole (so ratios of increase() stay consistent) and, the counters
# being monotonic, never disappears again while the queue is owned.
SURVEY_GATES = {
    "csat_responses": "csat_responses",
    "csat_sum": "csat_responses",
    "nps_responses": "nps_responses",
    "nps_promoters": "nps_responses",
    "nps_detractors": "nps_responses",
    "resolved_responses": "resolved_responses",
    "resolved_true": "resolved_responses",
}

# totals column -> counter
TOTAL_COUNTERS: tuple[tuple[str, MetricInfo], ...] = tuple(
    (column, _counter(name, help_text))
    for column, name, help_text in (
        ("entered", "calls_entered", "Calls that entered the queue (arrivals)."),
        (
            "offered",
            "calls_offered",
            "Calls whose queue outcome happened (answered, abandoned, left).",
        ),
        ("answered", "calls_answered", "Calls answered by an agent."),
        ("abandoned", "calls_abandoned", "Calls abandoned by the caller while waiting."),
        (
            "short_abandoned",
            "calls_short_abandoned",
            "Abandons within the short-abandon threshold.",
        ),
        ("flowed_out", "calls_flowed_out", "Calls that overflowed to another queue."),
        ("left", "calls_left", "Calls that left the queue otherwise (timeout, exit key, other)."),
        ("transferred", "calls_transferred", "Answered calls transferred by the agent."),
        ("handled", "calls_handled", "Calls ended by an agent (handled)."),
        ("wait_seconds", "wait_seconds", "Total wait of calls with a queue outcome."),
        ("answered_wait_seconds", "answered_wait_seconds", "Total wait of answered calls."),
        ("abandoned_wait_seconds", "abandoned_wait_seconds", "Total wait of abandoned calls."),
        ("talk_seconds", "talk_seconds", "Total talk time of handled calls."),
        ("hold_seconds", "hold_seconds", "Total hold time of handled calls."),
        ("acw_seconds", "acw_seconds", "Total after-call work time."),
        ("csat_responses", "csat_responses", "Survey answers with a CSAT score."),
        ("csat_sum", "csat_score", "Sum of CSAT scores (1-5)."),
        ("nps_responses", "nps_responses", "Survey answers with an NPS score."),
        ("nps_promoters", "nps_promoters", "NPS answers of 9 or 10."),
        ("nps_detractors", "nps_detractors", "NPS answers of 0 to 6."),
        ("resolved_responses", "resolved_responses", "Survey answers saying resolved or not."),
        ("resolved_true", "resolved", "Survey answers saying the issue was resolved."),
    )
)
ANSWERED_WITHIN = _counter(
    "calls_answered_within_threshold", "Calls answered within the SL threshold.", "threshold"
)
ABANDONED_WITHIN = _counter(
    "calls_abandoned_within_threshold", "Calls abandoned within the SL threshold.", "threshold"
)

SERVICE_LEVEL = _gauge(
    "service_level_ratio",
    "Service level in the window; `variant` names the formula (docs/kpis.md).",
    "window",
    "threshold",
    "variant",
)
WINDOW_CALLS = _gauge("window_calls", "Calls in the window by kind.", "window", "kind")
WINDOW_CALL_KINDS = ("entered", "offered", "answered", "abandoned", "flowed_out", "left")

# KPI key -> gauge with a window label
KPI_GAUGES: tuple[tuple[str, MetricInfo], ...] = tuple(
    (key, _gauge(name, help_text, "window"))
    for key, name, help_text in (
        ("abandon_ratio", "abandon_ratio", "Abandoned / offered."),
        (
            "abandon_ratio_excl_short",
            "abandon_excl_short_ratio",
            "Abandon ratio without short abandons.",
        ),
        ("asa_seconds", "asa_seconds", "Average speed of answer."),
        ("aht_seconds", "aht_seconds", "Average handle time (talk + hold + after-call work)."),
        ("avg_talk_seconds", "talk_avg_seconds", "Average talk time per handled call."),
        ("avg_hold_seconds", "hold_avg_seconds", "Average hold time per handled call."),
        ("avg_acw_seconds", "acw_avg_seconds", "Average after-call work per handled call."),
        ("avg_wait_seconds", "wait_avg_seconds", "Average wait of calls with a queue outcome."),
        ("max_wait_seconds", "wait_max_seconds", "Longest wait, including calls waiting now."),
        ("avg_abandon_seconds", "abandon_avg_seconds", "Average wait before abandoning."),
        ("transfer_ratio", "transfer_ratio", "Transferred / answered."),
        ("occupancy_ratio", "occupancy_ratio", "Agent busy time / (busy + available) time."),
        (
            "repeat_caller_ratio",
            "repeat_caller_ratio",
            "Arrivals from a caller seen within N hours.",
        ),
        ("csat_avg", "csat_score_avg", "Average CSAT score (1-5)."),
        ("csat_satisfied_ratio", "csat_satisfied_ratio", "CSAT answers of 4 or 5 / CSAT answers."),
        ("nps", "nps_score", "Net promoter score (-100..100)."),
        ("resolved_ratio", "resolved_ratio", "Surveys saying resolved / surveys answering it."),
        ("arrival_rate_per_second", "arrival_rate_per_second", "Arrivals per second."),
        ("avg_queue_length", "queue_length_avg", "Time-weighted average number of calls waiting."),
        ("max_queue_length", "queue_length_max", "Largest number of calls waiting."),
        ("agents_required", "agents_required", "Agents needed for the SL target (Erlang C/A)."),
        ("staffing_gap", "staffing_gap", "Agents required minus agents staffed now."),
        (
            "predicted_service_level",
            "predicted_service_level_ratio",
            "SL predicted with agents staffed now.",
        ),
        (
            "predicted_asa_seconds",
            "predicted_asa_seconds",
            "ASA predicted with agents staffed now.",
        ),
        (
            "predicted_abandon_ratio",
            "predicted_abandon_ratio",
            "Abandon ratio predicted (Erlang A).",
        ),
    )
)
assert {k for k, _ in KPI_GAUGES} >= set(STAFFING_KEYS)

QUEUE_METRICS: tuple[MetricInfo, ...] = (
    CALLS_WAITING,
    LONGEST_WAIT,
    CALLS_IN_SERVICE,
    AGENTS,
    AGENTS_STAFFED,
    SL_TARGET,
    ANOMALIES,
    *(info for _, info in TOTAL_COUNTERS),
    ANSWERED_WITHIN,
    ABANDONED_WITHIN,
    SERVICE_LEVEL,
    WINDOW_CALLS,
    *(info for _, info in KPI_GAUGES),
)


@dataclass(frozen=True, slots=True)
class RenderOptions:
    scopes: tuple[str, ...]  # window names + "today"
    all_sl_variants: bool = False
    # Windows with staffing gauges (Erlang C/A, the costliest part of a render); None: all.
    staffing_windows: frozenset[str] | None = None


def scopes_for(window_names: tuple[str, ...]) -> tuple[str, ...]:
    return (*window_names, "today")


Line = Callable[[str], None]  # appends one sample line to its family
_drain = deque[object](maxlen=0).extend  # runs an iterator to its end without keeping anything
_Kpis = dict[str, float | None]
_WINDOW_CALL_COLUMNS = tuple(BASE_COLUMNS.index(kind) for kind in WINDOW_CALL_KINDS)


@dataclass(frozen=True, slots=True)
class _ScopePlan:
    """The samples of one scope in order — KPI gauges, service levels, window calls — for
    one (thresholds, variants) combination: each sample's family and label suffix, and
    where each group of values lands (``*_at``: sample indexes, in the group's order).
    Groups follow what changes them (stream.kpis): counter KPIs and window calls only
    with a fresh read; service levels also as waiting calls cross T; clock KPIs at every
    render; staffing with its memo (QueueRenderer._staffing_of)."""

    families: tuple[str, ...]
    suffixes: tuple[str, ...]  # labels after queue and window
    base_at: tuple[int, ...]  # the counter KPIs of base_keys, then the window calls
    base_keys: tuple[str, ...]
    levels_at: tuple[int, ...]
    levels: tuple[tuple[int, int], ...]  # (threshold no., variant no. in SL_VARIANTS)
    clock_at: tuple[int, ...]  # CLOCK_KEYS order
    staffing_at: tuple[int, ...]  # STAFFING_KEYS order

    @staticmethod
    def build(thresholds: tuple[float, ...], variants: tuple[str, ...]) -> _ScopePlan:
        keys = [key for key, _ in KPI_GAUGES]
        samples = [(info.name, "") for _, info in KPI_GAUGES]
        levels = [(ti, SL_VARIANTS.index(v)) for ti in range(len(thresholds)) for v in variants]
        levels_at = tuple(range(len(samples), len(samples) + len(levels)))
        samples += [
            (SERVICE_LEVEL.name, f',threshold="{threshold_key(thresholds[ti])}",variant="{v}"')
            for ti in range(len(thresholds))
            for v in variants
        ]
        calls_at = tuple(range(len(samples), len(samples) + len(WINDOW_CALL_KINDS)))
        samples += [(WINDOW_CALLS.name, f',kind="{kind}"') for kind in WINDOW_CALL_KINDS]
        base_keys = tuple(k for k in keys if k not in CLOCK_KEYS and k not in STAFFING_KEYS)
        return _ScopePlan(
            families=tuple(name for name, _ in samples),
            suffixes=tuple(sfx for _, sfx in samples),
            base_at=tuple(keys.index(k) for k in base_keys) + calls_at,
            base_keys=base_keys,
            levels_at=levels_at,
            levels=tuple(levels),
            clock_at=tuple(keys.index(k) for k in CLOCK_KEYS),
            staffing_at=tuple(keys.index(k) for k in STAFFING_KEYS),
        )


@dataclass(frozen=True, slots=True)
class _FixedPlan:
    """The samples that only change with a booking (the queue's fingerprint) — live
    counts, anomalies, totals — in order, for one counters layout. A sample whose value
    is None is left out: zero anomaly kinds, survey counters before their first answer."""

    families: tuple[str, ...]
    suffixes: tuple[str, ...]
    totals: tuple[tuple[int, int | None], ...]  # (totals column, gate column), in order
    at: tuple[int, ...]  # every sample, in order

    @staticmethod
    def build(layout: Layout) -> _FixedPlan:
        index = layout.index
        samples = [(CALLS_WAITING, ""), (CALLS_IN_SERVICE, "")]
        samples += [(AGENTS, f',state="{s}"') for s in AGENT_STATES]
        samples += [(AGENTS_STAFFED, ""), (SL_TARGET, "")]
        samples += [(ANOMALIES, f',kind="{kind}"') for kind in ANOMALY_KINDS]
        totals: list[tuple[int, int | None]] = []
        for column, info in TOTAL_COUNTERS:
            gate = SURVEY_GATES.get(column)
            totals.append((index[column], None if gate is None else index[gate]))
            samples.append((info, ""))
        for t, answered, abandoned in zip(
            layout.thresholds, layout.answered_within, layout.abandoned_within, strict=True
        ):
            label = f',threshold="{threshold_key(t)}"'
            totals += [(answered, None), (abandoned, None)]
            samples += [(ANSWERED_WITHIN, label), (ABANDONED_WITHIN, label)]
        return _FixedPlan(
            families=tuple(info.name for info, _ in samples),
            suffixes=tuple(sfx for _, sfx in samples),
            totals=tuple(totals),
            at=tuple(range(len(samples))),
        )

    def values(self, state: QueueState) -> list[float | None]:
        out: list[float | None] = [state.calls_waiting, state.calls_in_service]
        out += state.agents_by_state().values()
        out += (state.agents_staffed(), state.cfg.sl_target)
        anomalies = state.anomalies
        out += [anomalies.get(kind) or None for kind in ANOMALY_KINDS]
        totals = state.totals.values
        out += [
            totals[column] if gate is None or totals[gate] else None for column, gate in self.totals
        ]
        return out


class _Samples:
    """Samples as last rendered: each one's line, and the values of each group of them
    (a value equal to the last one reuses its line: formatting a float is most of a
    sample's cost)."""

    __slots__ = ("groups", "lines")

    def __init__(self, size: int, groups: int) -> None:
        self.lines: list[str] = [""] * size  # "": no sample (value None)
        self.groups: list[Sequence[float | None] | None] = [None] * groups


# The groups of a scope's samples (_ScopePlan); the fixed samples are one group.
_BASE, _LEVELS, _CLOCK, _STAFFING = range(4)


class _ScopeCache(_Samples):
    """One queue's scope as last rendered, and the counter KPIs of the last fresh read
    (staffing takes AHT from them)."""

    __slots__ = ("booked", "counter", "read")

    def __init__(self, size: int) -> None:
        super().__init__(size, 4)
        self.counter: _Kpis = {}
        # The booked columns the counter KPIs and window calls were computed from.
        self.booked: tuple[bytes, float] | None = None
        self.read = False  # rendered from a read at least once


@dataclass(slots=True)
class _Staffing:
    inputs: tuple[float, ...]
    slot: float  # the window's bucket when computed
    kpis: _Kpis


class _QueueCache:
    """What one queue's render keeps for the next one."""

    __slots__ = ("fixed", "fp", "idle_longest", "labels", "q", "reader", "scopes", "staffing")

    def __init__(self, reader: ScopeReader, scopes: tuple[str, ...]) -> None:
        self.reader = reader
        self.q = q = f'queue="{escape_label_value(reader.state.name)}"'
        self.labels = {scope: f'{q},window="{scope}"' for scope in scopes}
        # The longest-wait line while no call waits.
        self.idle_longest = f"{LONGEST_WAIT.name}{{{q}}} 0\n"
        self.fp: Fingerprint | None = None
        self.fixed: _Samples | None = None  # the samples that change with fp
        self.scopes: dict[str, _ScopeCache] = {}
        self.staffing: dict[str, _Staffing] = {}


class QueueRenderer:
    """Appends every metric of a queue to an :class:`ExpositionWriter`, at the instant of
    the render, reusing what cannot have changed since the queue's previous render.

    - Values that only change with a booking (totals, counts by state, anomalies) are
      kept as text with the queue's :func:`~stream.read_cache.fingerprint`.
    - Window reads are reused while nothing was booked and the window did not slide
      (:class:`~stream.read_cache.ScopeReader` redoes the time-dependent part exactly), and
      so are the KPIs that are ratios of counters. The KPIs that move with the clock
      (longest and max wait, arrival rate, time-weighted averages, occupancy) are
      computed at every render, service levels whenever a call is waiting.
    - Each window's staffing (Erlang C/A: 10 µs to 0.5 ms per window) is computed again
      when its inputs (arrivals, handle time, waits, abandons, agents staffed) changed and
      the window slid to another bucket since (docs/staffing.md); the gap always uses
      the agents staffed now.
    - A line is formatted again only when its value changed.
    """

    def __init__(self, options: RenderOptions) -> None:
        self.options = options
        windows = frozenset(options.scopes) - {"today"}
        chosen = options.staffing_windows
        self._staffing_scopes = windows if chosen is None else windows & chosen
        self._queues: dict[QueueState, _QueueCache] = {}
        self._kept: dict[QueueState, _QueueCache] = {}
        self._lines: dict[str, Line] = {}
        self._plans: dict[tuple[tuple[float, ...], str], tuple[_ScopePlan, tuple[Line, ...]]] = {}
        self._fixed_plans: dict[tuple[float, ...], tuple[_FixedPlan, tuple[Line, ...]]] = {}
        self.staffing_evaluations = 0  # since begin() (benchmarks print them)

    def begin(self, out: ExpositionWriter) -> None:
        """Start a render into ``out``; queues not rendered before :meth:`end` are
        forgotten (a revoked partition's queues, a restored queue's former state)."""
        self._lines = {info.name: out.family(info).append for info in QUEUE_METRICS}
        self._plans = {}
        self._fixed_plans = {}
        self._kept = {}
        self.staffing_evaluations = 0

    def end(self) -> None:
        self._queues, self._kept = self._kept, {}

    def _plan(self, state: QueueState) -> tuple[_ScopePlan, tuple[Line, ...]]:
        cfg = state.cfg
        found = self._plans.get((cfg.sl_thresholds, cfg.sl_formula))
        if found is None:
            variants = SL_VARIANTS if self.options.all_sl_variants else (cfg.sl_formula,)
            plan = _ScopePlan.build(cfg.sl_thresholds, variants)
            found = (plan, tuple(self._lines[name] for name in plan.families))
            self._plans[(cfg.sl_thresholds, cfg.sl_formula)] = found
        return found

    def _fixed_plan(self, state: QueueState) -> tuple[_FixedPlan, tuple[Line, ...]]:
        layout = state.layout
        found = self._fixed_plans.get(layout.thresholds)
        if found is None:
            plan = _FixedPlan.build(layout)
            found = (plan, tuple(self._lines[name] for name in plan.families))
            self._fixed_plans[layout.thresholds] = found
        return found

    def render(self, state: QueueState, now: float, engine_cfg: EngineConfig) -> None:
        cache = self._queues.get(state)
        if cache is None:
            cache = _QueueCache(ScopeReader(state, engine_cfg), self.options.scopes)
        self._kept[state] = cache
        q = cache.q
        fp = fingerprint(state)
        fixed, fixed_appends = self._fixed_plan(state)
        if cache.fixed is None:
            cache.fixed = _Samples(len(fixed.families), 1)
        if fp != cache.fp:
            cache.fp = fp
            _update(cache.fixed, 0, fixed, q, fixed.at, fixed.values(state))
        _drain(map(call, fixed_appends, cache.fixed.lines))
        waiting = state.calls_waiting
        longest = state.longest_wait(now) if waiting else None
        self._lines[LONGEST_WAIT.name](
            cache.idle_longest
            if longest is None
            else f"{LONGEST_WAIT.name}{{{q}}} {format_value(longest)}\n"
        )

        plan, appends = self._plan(state)
        staffed = state.agents_staffed()
        # Calls waiting cross T as time passes; none waiting: service levels only change
        # with a fresh read.
        misses = state.live_misses(now) if waiting else None
        for scope in self.options.scopes:
            sc = cache.scopes.get(scope)
            if sc is None:
                sc = cache.scopes[scope] = _ScopeCache(len(plan.families))
            labels = cache.labels[scope]
            counters, span, fresh, slot = cache.reader.read(scope, now, fp)
            first = fresh or not sc.read
            if first:
                sc.read = True
                values = counters.values
                # A window that slid often still holds the same bookings.
                booked = (values[:MAX_WAIT_SECONDS].tobytes(), values[MAX_QUEUE_LENGTH])
                if booked != sc.booked:
                    sc.booked = booked
                    ck = sc.counter = counter_kpis(counters)
                    base = [ck[key] for key in plan.base_keys]
                    base += [values[col] for col in _WINDOW_CALL_COLUMNS]
                    _update(sc, _BASE, plan, labels, plan.base_at, base)
            if first or misses is not None:
                levels = service_level_values(counters, state.cfg, misses, plan.levels)
                _update(sc, _LEVELS, plan, labels, plan.levels_at, levels)
            clock = clock_values(counters, span, waiting)
            _update(sc, _CLOCK, plan, labels, plan.clock_at, clock)
            if scope in self._staffing_scopes and state.cfg.sl_thresholds:
                staffing = self._staffing_of(
                    cache, state, scope, counters, sc, clock, slot, staffed
                )
                staffing_values = [staffing[k] for k in STAFFING_KEYS]
                _update(sc, _STAFFING, plan, labels, plan.staffing_at, staffing_values)
            # Every line to its family, in C: most are unchanged text from the last render.
            _drain(map(call, appends, sc.lines))

    def _staffing_of(
        self,
        cache: _QueueCache,
        state: QueueState,
        scope: str,
        counters: Counters,
        sc: _ScopeCache,
        clock: tuple[float | None, ...],
        slot: float,
        staffed: int,
    ) -> _Kpis:
        """The staffing keys, computed again when their inputs changed and the window slid
        to another bucket since the last time (so at most once per bucket: a window
        itself moves in bucket steps). The gap always uses the agents staffed now."""
        memo = cache.staffing.get(scope)
        if memo is None or memo.slot != slot:  # else kept, whatever the inputs
            inputs = staffing_inputs(counters, staffed)
            if memo is None or memo.inputs != inputs:
                guess = None if memo is None else _int_or_none(memo.kpis["agents_required"])
                # arrival rate (clock) and AHT (counter KPIs)
                kpis = {**sc.counter, **dict(zip(CLOCK_KEYS, clock, strict=True))}
                result = staffing_kpis(state.cfg, counters, kpis, staffed, guess=guess)
                memo = _Staffing(inputs, slot, result)
                cache.staffing[scope] = memo
                self.staffing_evaluations += 1
        required = memo.kpis["agents_required"]
        if required is None or memo.inputs[-1] == staffed:
            return memo.kpis
        return memo.kpis | {"staffing_gap": required - staffed}


def _update(
    samples: _Samples,
    group: int,
    plan: _ScopePlan | _FixedPlan,
    labels: str,
    at: tuple[int, ...],
    values: Sequence[float | None],
) -> None:
    """Group ``group`` (the samples at ``at``) now has ``values`` (a sequence of the same
    type each time): format again the lines of the values that changed."""
    old = samples.groups[group]
    if values == old:  # in C; the common case for all but the clock KPIs
        return
    samples.groups[group] = values
    changed = range(len(at)) if old is None else compress(count(), map(ne, values, old))
    lines, families, suffixes = samples.lines, plan.families, plan.suffixes
    for k in changed:
        i = at[k]
        value = values[k]
        lines[i] = (
            "" if value is None  # no sample
            else f"{families[i]}{{{labels}{suffixes[i]}}} {format_value(value)}\n"
        )  # fmt: skip


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


__all__ = ["QUEUE_METRICS", "QueueRenderer", "RenderOptions", "label_text", "scopes_for"]
