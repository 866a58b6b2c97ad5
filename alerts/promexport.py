"""``rules export-prometheus``: the same rules as Prometheus alerting rules over our metrics.

For comparison and as a fallback: Prometheus sees the metrics only at scrape + evaluation
intervals, callpulse evaluates on every event. What translates:

- a level -> one alerting rule (label ``severity``), ``for`` -> ``for``;
- the clear threshold -> ``cond(threshold) or (cond(clear) and on (queue) ALERTS{...})``,
  the usual hysteresis idiom (the alert holds while it fires and the clear side is not
  reached);
- ``min_volume`` -> ``and on (queue) callpulse_window_calls{kind="offered"} >= N``;
- pipeline-health rules -> the same over the worker's self-metrics, ``by (instance)``;
- queue globs and overrides -> ``queue=~`` / ``queue!~`` matchers, one rule per override;
- annotation fields -> Go templates (``{value:.0%}`` -> ``{{ $value | humanizePercentage }}``).

What does not: business-hours calendars (use Alertmanager ``time_intervals`` on the
routes) and signals with no exported metric (``feed_silence_seconds``): those are listed
in the header comment and left out.
"""

from __future__ import annotations

import string
from typing import Any

import yaml

from .evaluator import human_duration
from .rules import Level, Params, Rule, RuleSet
from .signals import SIGNALS

_META = set(".+()|{}^$[]\\")


def glob_regex(pattern: str) -> str:
    """A queue glob as an RE2 regex inside a PromQL string (Prometheus anchors it):
    the backslash of a regex escape is itself escaped for the string."""
    out = []
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char in _META:
            out.append("\\\\" + char)
        elif char == '"':
            out.append('\\"')
        else:
            out.append(char)
    return "".join(out)


def _matchers(include: list[str], exclude: list[str], within: tuple[str, ...]) -> str:
    parts = [f'queue=~"{"|".join(glob_regex(p) for p in include)}"']
    if list(within) != include and "*" not in within:
        parts.append(f'queue=~"{"|".join(glob_regex(p) for p in within)}"')
    if exclude:
        parts.append(f'queue!~"{"|".join(glob_regex(p) for p in exclude)}"')
    return ",".join(parts) + ","


class _GoTemplate(string.Formatter):
    """Formats an annotation template into a Prometheus (Go) template."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return self.fields[key]

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is _VALUE:
            pipe = "humanizePercentage" if format_spec.endswith("%") else "humanize"
            return "{{ $value | " + pipe + " }}"
        return format(value, format_spec)


_VALUE = object()


def _volume(rule: Rule, q: str) -> str:
    """The calls (queue rules) or records (worker rules) the min_volume guard counts."""
    if rule.per_worker:
        return f"sum by (instance) (increase(callpulse_events_consumed_total[{rule.window}]))"
    return f'sum by (queue) (callpulse_window_calls{{{q}window="{rule.window}",kind="offered"}})'


def _expr(rule: Rule, params: Params, level: Level, q: str) -> str:
    signal = SIGNALS[rule.metric]
    assert signal.promql is not None
    by = "instance" if rule.per_worker else "queue"
    value = signal.promql.format(q=q, w=rule.window or "")
    if params.min_volume:
        value = f"({value} and on ({by}) ({_volume(rule, q)} >= {params.min_volume}))"
    op = rule.comparison
    expr = f"{value} {op} {level.threshold:g}"
    if level.clear != level.threshold:
        firing = (
            f'ALERTS{{alertname="{rule.name}",severity="{level.severity}",alertstate="firing"}}'
        )
        expr = f"({expr}) or ({value} {op} {level.clear:g} and on ({by}) {firing})"
    return expr


def _alert(rule: Rule, params: Params, level: Level, q: str) -> dict[str, Any]:
    fields = {
        "queue": "{{ $labels.queue }}",
        "instance": "{{ $labels.instance }}",
        "rule": rule.name,
        "metric": rule.metric,
        "window": rule.window or "now",
        "severity": level.severity,
        "value": _VALUE,
        "threshold": level.threshold,
        "clear": level.clear,
        "for": human_duration(params.sustain),
    }
    formatter = _GoTemplate(fields)
    out: dict[str, Any] = {"alert": rule.name, "expr": _expr(rule, params, level, q)}
    if params.sustain:
        out["for"] = human_duration(params.sustain)
    out["labels"] = {"severity": level.severity, **params.labels}
    if rule.annotations:
        out["annotations"] = {k: formatter.format(v) for k, v in rule.annotations.items()}
    return out


def export_rules(rules: RuleSet) -> tuple[dict[str, Any], list[str]]:
    """(Prometheus rules document, notes on what was not exported)."""
    groups, notes = [], []
    for rule in rules.rules:
        if SIGNALS[rule.metric].promql is None:
            notes.append(f"{rule.name}: {rule.metric} has no Prometheus metric; not exported")
            continue
        scopes: list[tuple[list[str], list[str], Params]] = []
        taken: list[str] = []
        for pattern, params in rule.overrides:
            scopes.append(([pattern], list(taken), params))
            taken.append(pattern)
        scopes.append((list(rule.queues), taken, rule.params))
        alerts = []
        for include, exclude, params in scopes:
            if params.calendar:
                notes.append(
                    f"{rule.name}: calendar {params.calendar!r} not exported; mute the route "
                    "with Alertmanager time_intervals instead"
                )
            q = "" if rule.per_worker else _matchers(include, exclude, rule.queues)
            alerts += [_alert(rule, params, level, q) for level in params.levels]
        groups.append({"name": f"callpulse-{rule.name}", "rules": alerts})
    return {"groups": groups}, sorted(set(notes))


def render_rules(rules: RuleSet) -> str:
    document, notes = export_rules(rules)
    header = [
        f"# Prometheus alerting rules from {rules.source} (callpulse rules export-prometheus)"
    ]
    header += [f"# not exported: {note}" for note in notes]
    body = yaml.safe_dump(document, sort_keys=False, width=1000, allow_unicode=True)
    return "\n".join(header) + "\n" + body
