"""KPI formulas of docs/kpis.md: service-level variants, ratios, averages, staffing.

Every KPI is a ratio of counters; an empty denominator gives ``None``, never 0 or 100 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import counters as c
from .counters import Counters, threshold_key

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


def service_levels(
    o: float, an: float, ab: float, a_t: float, b_t: float, m_t: float
) -> tuple[float | None, ...]:
    """The five formulas, in the order of ``_BASE_VARIANTS`` (O offered, AN answered,
    AB abandoned, A_T / B_T answered / abandoned within T, M_T live misses)."""
    return (
        _ratio(a_t, o + m_t),
        _ratio(a_t, an),
        _ratio(a_t, an + ab + m_t),
        _ratio(a_t, o - b_t + m_t),
        _ratio(a_t + b_t, o + m_t),
    )


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
    v = counters.values
    layout = counters.layout
    o, an, ab, s = v[c.OFFERED], v[c.ANSWERED], v[c.ABANDONED], v[c.SHORT_ABANDONED]
    handled = v[c.HANDLED]
    out: dict[str, float | None] = {}

    short = cfg.short_abandon_seconds
    for i, t in enumerate(layout.thresholds):
        a_t = v[layout.answered_within[i]]
        b_t = v[layout.abandoned_within[i]]
        m_t = (live_misses or {}).get(t, 0)
        b_t_excl = b_t - s if short <= t else 0.0
        plain = service_levels(o, an, ab, a_t, b_t, m_t)
        excl = service_levels(o - s, an, ab - s, a_t, b_t_excl, m_t)
        for variant, value in zip(SL_VARIANTS, plain + excl, strict=True):
            out[sl_key(t, variant)] = value
    if layout.thresholds:
        out["service_level"] = out[sl_key(layout.thresholds[0], cfg.sl_formula)]

    talk, hold, acw = v[c.TALK_SECONDS], v[c.HOLD_SECONDS], v[c.ACW_SECONDS]
    busy = (
        v[layout.index["agents_on_contact_seconds"]]
        + v[layout.index["agents_after_call_work_seconds"]]
    )
    idle = v[layout.index["agents_available_seconds"]]
    csat_n, nps_n = v[c.CSAT_RESPONSES], v[c.NPS_RESPONSES]
    out |= {
        "abandon_ratio": _ratio(ab, o),
        "abandon_ratio_excl_short": _ratio(ab - s, o - s),
        "asa_seconds": _ratio(v[c.ANSWERED_WAIT_SECONDS], an),
        "aht_seconds": _ratio(talk + hold + acw, handled),
        "avg_talk_seconds": _ratio(talk, handled),
        "avg_hold_seconds": _ratio(hold, handled),
        "avg_acw_seconds": _ratio(acw, handled),
        "avg_wait_seconds": _ratio(v[c.WAIT_SECONDS], o),
        "max_wait_seconds": v[c.MAX_WAIT_SECONDS] if o > 0 or calls_waiting > 0 else None,
        "avg_abandon_seconds": _ratio(v[c.ABANDONED_WAIT_SECONDS], ab),
        "transfer_ratio": _ratio(v[c.TRANSFERRED], an),
        "occupancy_ratio": _ratio(busy, busy + idle),
        "repeat_caller_ratio": _ratio(v[c.REPEAT_ENTERED], v[c.ENTERED_WITH_CALLER_ID]),
        "csat_avg": _ratio(v[c.CSAT_SUM], csat_n),
        "csat_satisfied_ratio": _ratio(v[c.CSAT_SATISFIED], csat_n),
        "nps": None if nps_n <= 0 else 100.0 * (v[c.NPS_PROMOTERS] - v[c.NPS_DETRACTORS]) / nps_n,
        "resolved_ratio": _ratio(v[c.RESOLVED_TRUE], v[c.RESOLVED_RESPONSES]),
        "arrival_rate_per_second": None if span is None else _ratio(v[c.ENTERED], span),
        "avg_queue_length": None
        if span is None
        else _ratio(v[layout.index["queue_length_seconds"]], span),
        "max_queue_length": v[c.MAX_QUEUE_LENGTH],
    }
    if agents_staffed is not None and layout.thresholds:
        out |= staffing_kpis(
            cfg,
            layout.thresholds[0],
            arrival_rate=out["arrival_rate_per_second"],
            aht=out["aht_seconds"],
            total_wait=v[c.WAIT_SECONDS],
            abandons=int(ab),
            agents_staffed=agents_staffed,
        )
    return out


def staffing_kpis(
    cfg: QueueConfig,
    threshold: float,
    *,
    arrival_rate: float | None,
    aht: float | None,
    total_wait: float,
    abandons: int,
    agents_staffed: int,
) -> dict[str, float | None]:
    """Erlang C / A staffing keys (docs/staffing.md); Erlang A when abandons give a
    patience estimate. The adapter keeps the KPI names independent of stream.erlang's."""
    from . import erlang

    patience = erlang.patience_mle(total_wait, abandons)
    result = erlang.staffing(
        arrival_rate, aht, threshold, cfg.sl_target, agents_staffed, patience_s=patience
    )
    return {
        "agents_required": result.agents_required,
        "staffing_gap": result.gap,
        "predicted_service_level": result.predicted_sl,
        "predicted_asa_seconds": result.predicted_asa_s,
        "predicted_abandon_ratio": result.predicted_abandon_ratio,
    }
