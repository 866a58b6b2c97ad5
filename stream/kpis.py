"""KPI formulas of docs/kpis.md: service-level variants, ratios, averages, staffing.

Every KPI is a ratio of counters; an empty denominator gives ``None``, never 0 or 100 %.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from . import counters as c
from .counters import Counters, Layout, threshold_key

if TYPE_CHECKING:
    from .config import QueueConfig

_BASE_VARIANTS = (
    "answered_within_over_offered",
    "answered_within_over_answered",
    "answered_within_over_answered_abandoned",
    "answered_within_over_offered_minus_abandoned_within",
    "answered_abandoned_within_over_offered",
)
SL_VARIANTS: tuple[str, ...] = _BASE_VARIANTS + tuple(f"{v}_excl_short" for v in _BASE_VARIANTS)

STAFFING_KEYS = (
    "agents_required",
    "staffing_gap",
    "predicted_service_level",
    "predicted_asa_seconds",
    "predicted_abandon_ratio",
)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def sl_key(threshold: float, variant: str) -> str:
    return f"service_level:{threshold_key(threshold)}:{variant}"


@lru_cache(maxsize=64)
def _layout_plan(layout: Layout) -> tuple[tuple[float, int, int, tuple[str, ...]], ...]:
    """Per threshold: (T, answered_within column, abandoned_within column, SL keys in
    SL_VARIANTS order) — built once per layout instead of on every read."""
    return tuple(
        (t, answered, abandoned, tuple(sl_key(t, v) for v in SL_VARIANTS))
        for t, answered, abandoned in zip(
            layout.thresholds, layout.answered_within, layout.abandoned_within, strict=True
        )
    )


@lru_cache(maxsize=64)
def _timeline_columns(layout: Layout) -> tuple[int, int, int, int]:
    index = layout.index
    return (
        index["agents_on_contact_seconds"],
        index["agents_after_call_work_seconds"],
        index["agents_available_seconds"],
        index["queue_length_seconds"],
    )


def service_level(
    formula: int, o: float, an: float, ab: float, a_t: float, b_t: float, m_t: float
) -> float | None:
    """Formula number ``formula`` of ``_BASE_VARIANTS`` (O offered, AN answered, AB
    abandoned, A_T / B_T answered / abandoned within T, M_T live misses)."""
    if formula == 0:
        return _ratio(a_t, o + m_t)
    if formula == 1:
        return _ratio(a_t, an)
    if formula == 2:
        return _ratio(a_t, an + ab + m_t)
    if formula == 3:
        return _ratio(a_t, o - b_t + m_t)
    return _ratio(a_t + b_t, o + m_t)


def compute_kpis(
    counters: Counters,
    cfg: QueueConfig,
    *,
    span: float | None,
    live_misses: Mapping[float, int] | None = None,
    calls_waiting: int = 0,
    agents_staffed: int | None = None,
) -> dict[str, float | None]:
    """All KPIs of one range. ``span``: the time the range covers (for rates and
    time-weighted averages); ``live_misses``: per threshold, calls waiting now longer than
    it (windows and today only); ``calls_waiting``: calls waiting now (0 for closed
    ranges); ``agents_staffed``: given for windows, adds the staffing keys."""
    out = service_level_kpis(counters, cfg, live_misses)
    out |= clock_kpis(counters, span=span, calls_waiting=calls_waiting)
    out |= counter_kpis(counters)
    if agents_staffed is not None and counters.layout.thresholds:
        out |= staffing_kpis(cfg, counters, out, agents_staffed)
    return out


# compute_kpis in three parts, by what makes them change (the exporter recomputes each
# part only when it may have changed): service levels change with the counters and as
# calls waiting cross T; clock KPIs move with the read instant itself; counter KPIs only
# change with the counters.


def service_level_values(
    counters: Counters,
    cfg: QueueConfig,
    live_misses: Mapping[float, int] | None,
    picks: Sequence[tuple[int, int]],
) -> list[float | None]:
    """The SL of each (threshold number in the layout, variant number in SL_VARIANTS) of
    ``picks``: only those are computed (the exporter shows one variant by default)."""
    v = counters.values
    o, an, ab, s = v[c.OFFERED], v[c.ANSWERED], v[c.ABANDONED], v[c.SHORT_ABANDONED]
    short = cfg.short_abandon_seconds
    plan = _layout_plan(counters.layout)
    base = len(_BASE_VARIANTS)
    out = []
    for threshold_no, variant in picks:
        t, answered_col, abandoned_col, _ = plan[threshold_no]
        a_t, b_t = v[answered_col], v[abandoned_col]
        m_t = live_misses.get(t, 0) if live_misses else 0
        if variant < base:
            out.append(service_level(variant, o, an, ab, a_t, b_t, m_t))
        else:  # without short abandons
            b_t_excl = b_t - s if short <= t else 0.0
            out.append(service_level(variant - base, o - s, an, ab - s, a_t, b_t_excl, m_t))
    return out


def service_level_table(
    counters: Counters, cfg: QueueConfig, live_misses: Mapping[float, int] | None = None
) -> list[tuple[float | None, ...]]:
    """Per threshold (in the layout's order), every SL variant in ``SL_VARIANTS`` order."""
    n = len(SL_VARIANTS)
    picks = [(i, k) for i in range(len(counters.layout.thresholds)) for k in range(n)]
    values = service_level_values(counters, cfg, live_misses, picks)
    return [tuple(values[i : i + n]) for i in range(0, len(values), n)]


def service_level_kpis(
    counters: Counters, cfg: QueueConfig, live_misses: Mapping[float, int] | None = None
) -> dict[str, float | None]:
    """Every SL variant per threshold, and ``service_level`` (the headline one)."""
    layout = counters.layout
    out: dict[str, float | None] = {}
    table = service_level_table(counters, cfg, live_misses)
    for (_, _, _, keys), values in zip(_layout_plan(layout), table, strict=True):
        out.update(zip(keys, values, strict=True))
    if layout.thresholds:
        out["service_level"] = out[sl_key(layout.thresholds[0], cfg.sl_formula)]
    return out


CLOCK_KEYS = ("max_wait_seconds", "occupancy_ratio", "arrival_rate_per_second", "avg_queue_length")


def clock_kpis(
    counters: Counters, *, span: float | None, calls_waiting: int = 0
) -> dict[str, float | None]:
    """The KPIs that move with the read instant even when nothing is booked: the longest
    wait (calls waiting), the arrival rate (span) and the time-weighted ones."""
    return dict(zip(CLOCK_KEYS, clock_values(counters, span, calls_waiting), strict=True))


def clock_values(
    counters: Counters, span: float | None, calls_waiting: int
) -> tuple[float | None, ...]:
    """:func:`clock_kpis` in ``CLOCK_KEYS`` order (the exporter's per-render path)."""
    v = counters.values
    on_contact, acw_time, available, queue_length = _timeline_columns(counters.layout)
    busy = v[on_contact] + v[acw_time]
    has_wait = v[c.OFFERED] > 0 or calls_waiting > 0
    return (
        v[c.MAX_WAIT_SECONDS] if has_wait else None,
        _ratio(busy, busy + v[available]),
        None if span is None else _ratio(v[c.ENTERED], span),
        None if span is None else _ratio(v[queue_length], span),
    )


def counter_kpis(counters: Counters) -> dict[str, float | None]:
    """The KPIs that are ratios of booked counters only."""
    v = counters.values
    o, an, ab, s = v[c.OFFERED], v[c.ANSWERED], v[c.ABANDONED], v[c.SHORT_ABANDONED]
    handled = v[c.HANDLED]
    talk, hold, acw = v[c.TALK_SECONDS], v[c.HOLD_SECONDS], v[c.ACW_SECONDS]
    csat_n, nps_n = v[c.CSAT_RESPONSES], v[c.NPS_RESPONSES]
    return {
        "abandon_ratio": _ratio(ab, o),
        "abandon_ratio_excl_short": _ratio(ab - s, o - s),
        "asa_seconds": _ratio(v[c.ANSWERED_WAIT_SECONDS], an),
        "aht_seconds": _ratio(talk + hold + acw, handled),
        "avg_talk_seconds": _ratio(talk, handled),
        "avg_hold_seconds": _ratio(hold, handled),
        "avg_acw_seconds": _ratio(acw, handled),
        "avg_wait_seconds": _ratio(v[c.WAIT_SECONDS], o),
        "avg_abandon_seconds": _ratio(v[c.ABANDONED_WAIT_SECONDS], ab),
        "transfer_ratio": _ratio(v[c.TRANSFERRED], an),
        "repeat_caller_ratio": _ratio(v[c.REPEAT_ENTERED], v[c.ENTERED_WITH_CALLER_ID]),
        "csat_avg": _ratio(v[c.CSAT_SUM], csat_n),
        "csat_satisfied_ratio": _ratio(v[c.CSAT_SATISFIED], csat_n),
        "nps": None if nps_n <= 0 else 100.0 * (v[c.NPS_PROMOTERS] - v[c.NPS_DETRACTORS]) / nps_n,
        "resolved_ratio": _ratio(v[c.RESOLVED_TRUE], v[c.RESOLVED_RESPONSES]),
        "max_queue_length": v[c.MAX_QUEUE_LENGTH],
    }


def staffing_inputs(counters: Counters, agents_staffed: int) -> tuple[float, ...]:
    """Everything but the span that the staffing keys of a range depend on: equal inputs
    and an equal span give equal staffing (callers may memoise on it)."""
    v = counters.values
    handle = v[c.TALK_SECONDS] + v[c.HOLD_SECONDS] + v[c.ACW_SECONDS]
    return (v[c.ENTERED], handle, v[c.HANDLED], v[c.WAIT_SECONDS], v[c.ABANDONED], agents_staffed)


def staffing_kpis(
    cfg: QueueConfig,
    counters: Counters,
    kpis: Mapping[str, float | None],
    agents_staffed: int,
    guess: int | None = None,
) -> dict[str, float | None]:
    """The staffing keys of a range from its counters and its other KPIs (arrival rate
    and AHT: ``compute_kpis`` without ``agents_staffed`` gives them); ``guess``: a recent
    ``agents_required`` of the range, to start the search from (same result, faster)."""
    v = counters.values
    return erlang_staffing(
        cfg,
        counters.layout.thresholds[0],
        arrival_rate=kpis["arrival_rate_per_second"],
        aht=kpis["aht_seconds"],
        total_wait=v[c.WAIT_SECONDS],
        abandons=int(v[c.ABANDONED]),
        agents_staffed=agents_staffed,
        guess=guess,
    )


def erlang_staffing(
    cfg: QueueConfig,
    threshold: float,
    *,
    arrival_rate: float | None,
    aht: float | None,
    total_wait: float,
    abandons: int,
    agents_staffed: int,
    guess: int | None = None,
) -> dict[str, float | None]:
    """Erlang C / A staffing keys (docs/staffing.md); Erlang A when abandons give a
    patience estimate. The adapter keeps the KPI names independent of stream.erlang's."""
    from . import erlang

    patience = erlang.patience_mle(total_wait, abandons)
    result = erlang.staffing(
        arrival_rate,
        aht,
        threshold,
        cfg.sl_target,
        agents_staffed,
        patience_s=patience,
        guess=guess,
    )
    return {
        "agents_required": result.agents_required,
        "staffing_gap": result.gap,
        "predicted_service_level": result.predicted_sl,
        "predicted_asa_seconds": result.predicted_asa_s,
        "predicted_abandon_ratio": result.predicted_abandon_ratio,
    }
