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

from dataclasses import dataclass

from stream.counters import threshold_key
from stream.kpis import SL_VARIANTS, STAFFING_KEYS, sl_key
from stream.queue import QueueState

from .exposition import ExpositionWriter, MetricInfo, escape_label_value, label_text

AGENT_STATES = ("logged_in", "available", "on_contact", "after_call_work", "not_ready")


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


def render_queue(
    out: ExpositionWriter, state: QueueState, now: float, options: RenderOptions
) -> None:
    """Append every metric of one queue to ``out``."""
    q = f'queue="{escape_label_value(state.name)}"'
    ql = "{" + q + "}"
    out.sample(CALLS_WAITING, ql, state.calls_waiting)
    out.sample(LONGEST_WAIT, ql, state.longest_wait(now) or 0.0)
    out.sample(CALLS_IN_SERVICE, ql, state.calls_in_service)
    by_state = state.agents_by_state()
    for agent_state in AGENT_STATES:
        out.sample(AGENTS, f'{{{q},state="{agent_state}"}}', by_state.get(agent_state, 0))
    out.sample(AGENTS_STAFFED, ql, state.agents_staffed())
    out.sample(SL_TARGET, ql, state.cfg.sl_target)
    for kind, count in state.anomalies.items():
        out.sample(ANOMALIES, f'{{{q},kind="{escape_label_value(kind)}"}}', count)

    totals = state.totals.as_dict()
    for column, info in TOTAL_COUNTERS:
        out.sample(info, ql, totals.get(column, 0))
    thresholds = state.cfg.sl_thresholds
    for t in thresholds:
        tl = f'{{{q},threshold="{threshold_key(t)}"}}'
        out.sample(ANSWERED_WITHIN, tl, totals.get(f"answered_within_{threshold_key(t)}", 0))
        out.sample(ABANDONED_WITHIN, tl, totals.get(f"abandoned_within_{threshold_key(t)}", 0))

    variants = SL_VARIANTS if options.all_sl_variants else (state.cfg.sl_formula,)
    for scope in options.scopes:
        kpis = state.kpis(scope, now)
        wl = f'{{{q},window="{scope}"}}'
        for key, info in KPI_GAUGES:
            out.sample(info, wl, kpis.get(key))
        for t in thresholds:
            for variant in variants:
                labels = (
                    f'{{{q},window="{scope}",threshold="{threshold_key(t)}",variant="{variant}"}}'
                )
                out.sample(SERVICE_LEVEL, labels, kpis.get(sl_key(t, variant)))
        counters = state.window(scope, now) if scope != "today" else state.today(now)
        window_counts = counters.as_dict()
        for kind in WINDOW_CALL_KINDS:
            out.sample(WINDOW_CALLS, f'{{{q},window="{scope}",kind="{kind}"}}', window_counts[kind])


def scopes_for(window_names: tuple[str, ...]) -> tuple[str, ...]:
    return (*window_names, "today")


__all__ = ["QUEUE_METRICS", "RenderOptions", "label_text", "render_queue", "scopes_for"]
