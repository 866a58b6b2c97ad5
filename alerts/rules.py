"""Alert rules: the YAML format (docs/alerts.md), its model and its validation.

A rule watches one signal (alerts/signals.py) of the queues it selects and compares it
with one or two levels (warning, critical), each with a trigger threshold and a clear
threshold (hysteresis). ``for`` is the sustain period, ``min_volume`` the calls offered
the window must hold before a ratio means anything, ``calendar`` the business hours
outside which the rule is silent, ``repeat`` how often a still-firing alert is announced
again. Per-queue ``overrides`` (by exact name or glob) replace any of those.

Every error names the file, the line and the key: ``rules.yaml:14: rules[2].for: ...``.
"""

from __future__ import annotations

import fnmatch
import operator
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from stream.config import EngineConfig, _number, _positive_duration, parse_duration

from .hours import BusinessHours, parse_hours
from .signals import LIVE, SIGNALS, WINDOW, WORKER
from .source import RuleError, Where, load_yaml

SEVERITIES = ("warning", "critical")  # in escalation order
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
DEFAULT_REPEAT = 3600.0
RULE_KEYS = (
    "name", "metric", "window", "comparison", "threshold", "clear", "severity", "levels",
    "for", "min_volume", "queues", "overrides", "calendar", "repeat", "labels", "annotations",
)  # fmt: skip
PARAM_KEYS = (
    "threshold", "clear", "severity", "levels", "for", "min_volume", "calendar", "repeat", "labels",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Level:
    severity: str
    threshold: float  # the condition starts when value <comparison> threshold
    clear: float  # a firing alert stays until value <comparison> clear is false


@dataclass(frozen=True, slots=True)
class Params:
    """What an override can change, resolved for one queue."""

    levels: tuple[Level, ...]  # in escalation order
    sustain: float = 0.0
    min_volume: int = 0
    calendar: str | None = None
    repeat: float = DEFAULT_REPEAT
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    metric: str
    window: str | None
    comparison: str
    queues: tuple[str, ...]  # names or globs
    params: Params
    overrides: tuple[tuple[str, Params], ...] = ()  # (name or glob, params), exact names first
    annotations: Mapping[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def per_worker(self) -> bool:
        """A pipeline-health rule: one alert per worker (label ``instance``), no queues."""
        return SIGNALS[self.metric].subject == WORKER

    def selects(self, queue: str) -> bool:
        return not self.per_worker and any(
            fnmatch.fnmatchcase(queue, pattern) for pattern in self.queues
        )

    def params_for(self, queue: str) -> Params:
        for pattern, params in self.overrides:
            if fnmatch.fnmatchcase(queue, pattern):
                return params
        return self.params

    def breaches(self, value: float, bound: float) -> bool:
        return COMPARISONS[self.comparison](value, bound)


@dataclass(frozen=True)  # not slots: by_name is a cached_property
class RuleSet:
    rules: tuple[Rule, ...]
    calendars: Mapping[str, BusinessHours]
    source: str = "<memory>"

    @cached_property
    def by_name(self) -> dict[str, Rule]:
        return {rule.name: rule for rule in self.rules}

    @cached_property
    def worker_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.per_worker)


def human_duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


# --- parsing ---------------------------------------------------------------------------


def _string_map(where: Where, value: Any) -> dict[str, str]:
    data = where.mapping({} if value is None else value)
    for key, item in data.items():
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise where.key(data, key).error(f"expected a string, got {item!r}")
    return {key: str(item) for key, item in data.items()}


def _level(where: Where, severity: str, data: Any, comparison: str) -> Level:
    """One level from ``data`` (its threshold and clear keys; others are checked by the
    caller, so a rule's own mapping works for the single-level form)."""
    if "threshold" not in data:
        raise where.error("threshold is required")
    threshold = where.key(data, "threshold").parse(_number, data["threshold"])
    clear_at = where.key(data, "clear")
    clear = clear_at.parse(_number, data.get("clear", threshold))
    # The clear threshold lies on the healthy side: for "<" at or above the threshold.
    if (comparison in ("<", "<=") and clear < threshold) or (
        comparison in (">", ">=") and clear > threshold
    ):
        side = "at or above" if comparison in ("<", "<=") else "at or below"
        raise clear_at.error(
            f"{clear:g} must be {side} the threshold {threshold:g} (hysteresis: an alert "
            f"with comparison {comparison!r} clears on the healthy side)"
        )
    return Level(severity, threshold, clear)


def _levels(where: Where, data: dict, comparison: str, base: Params) -> tuple[Level, ...]:
    if "levels" in data:
        if any(k in data for k in ("threshold", "clear", "severity")):
            raise where.key(data, "levels").error("use either levels or threshold/clear/severity")
        levels_at = where.key(data, "levels")
        raw = levels_at.mapping(data["levels"])
        if not raw:
            raise levels_at.error("at least one level (warning or critical) is required")
        levels_at.check_keys(raw, SEVERITIES)
        levels = []
        for sev in SEVERITIES:
            if sev in raw:
                spot, item = levels_at.key(raw, sev), raw[sev]
                if not isinstance(item, dict):
                    raise spot.error("expected {threshold: NUMBER, clear: NUMBER}")
                spot.check_keys(item, ("threshold", "clear"))
                levels.append(_level(spot, sev, item, comparison))
    elif "threshold" in data:
        severity = data.get("severity", "warning")
        if severity not in SEVERITIES:
            raise where.key(data, "severity").error(
                f"{severity!r} is not a severity; allowed: {', '.join(SEVERITIES)}"
            )
        levels = [_level(where, severity, data, comparison)]
    elif base.levels or where.path == "defaults":
        return base.levels
    else:
        raise where.error("a threshold (or levels: {warning: ..., critical: ...}) is required")
    if len(levels) == 2:
        warning, critical = levels
        if not COMPARISONS[comparison](critical.threshold, warning.threshold) and (
            critical.threshold != warning.threshold
        ):
            raise where.key(data, "levels").error(
                f"critical ({critical.threshold:g}) must be beyond warning "
                f"({warning.threshold:g}) in the direction of {comparison!r}"
            )
    return tuple(levels)


def _params(
    where: Where, data: dict, comparison: str, calendars: Mapping[str, BusinessHours], base: Params
) -> Params:
    """``base`` with what ``data`` sets (a rule's own keys, or an override's)."""
    out = replace(base, levels=_levels(where, data, comparison, base))
    if "for" in data:
        out = replace(out, sustain=where.key(data, "for").parse(parse_duration, data["for"]))
    if "min_volume" in data:
        at, value = where.key(data, "min_volume"), data["min_volume"]
        number = at.parse(_number, value)
        if number < 0 or number != int(number):
            raise at.error(f"expected a whole number of calls >= 0, got {value!r}")
        out = replace(out, min_volume=int(number))
    if "calendar" in data:
        name = data["calendar"]
        if name is not None and name not in calendars:
            known = ", ".join(calendars) or "none defined"
            raise where.key(data, "calendar").error(
                f"unknown calendar {name!r}; calendars: {known}"
            )
        out = replace(out, calendar=name)
    if "repeat" in data:
        repeat = where.key(data, "repeat").parse(_positive_duration, data["repeat"])
        out = replace(out, repeat=repeat)
    if "labels" in data:
        labels = _labels(where.key(data, "labels"), data["labels"])
        out = replace(out, labels={**out.labels, **labels})
    return out


def _labels(where: Where, value: Any) -> dict[str, str]:
    labels = _string_map(where, value)
    for key in labels:
        if not key.isidentifier() or key.startswith("__"):
            raise where.key(value, key).error(
                "a label name is letters, digits and underscores, not starting with __"
            )
        if key in ("alertname", "queue", "severity"):
            raise where.key(value, key).error("alertname, queue and severity are set by callpulse")
    return labels


TEMPLATE_FIELDS = (
    "queue", "instance", "rule", "metric", "window", "severity", "value", "threshold", "clear",
    "for",
)  # fmt: skip


def _annotations(where: Where, value: Any) -> dict[str, str]:
    out = _string_map(where, value)
    sample = dict.fromkeys(TEMPLATE_FIELDS, "x") | {"value": 0.5, "threshold": 0.8, "clear": 0.85}
    for key, template in out.items():
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
            unknown = [n for n in names if n not in TEMPLATE_FIELDS]
            if unknown:
                raise KeyError(unknown[0])
            template.format_map(sample)
        except KeyError as error:
            raise where.key(value, key).error(
                f"unknown field {{{error.args[0]}}}; fields: {', '.join(TEMPLATE_FIELDS)}"
            ) from None
        except (ValueError, IndexError) as error:
            raise where.key(value, key).error(f"bad template ({error})") from None
    return out


def _queues(where: Where, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise where.error('expected a queue name or glob, or a list of them, e.g. ["sales*"]')
    return tuple(items)


def _rule(
    where: Where,
    data: Any,
    engine: EngineConfig,
    calendars: Mapping[str, BusinessHours],
    defaults: Params,
) -> Rule:
    data = where.mapping(data)
    where.check_keys(data, RULE_KEYS)
    for key in ("name", "metric", "comparison"):
        if key not in data:
            raise where.error(f"{key} is required")
    name = data["name"]
    if not isinstance(name, str) or not name.replace("_", "a").isalnum():
        raise where.key(data, "name").error(f"expected letters, digits and _, got {name!r}")
    metric_at = where.key(data, "metric")
    signal = SIGNALS.get(data["metric"])
    if signal is None:
        raise metric_at.error(f"unknown metric {data['metric']!r}; metrics: {', '.join(SIGNALS)}")
    comparison = data["comparison"]
    if comparison not in COMPARISONS:
        raise where.key(data, "comparison").error(
            f"{comparison!r} is not a comparison; allowed: {', '.join(COMPARISONS)}"
        )
    windows = [n for n, _ in engine.windows] + ["today"]
    window = data.get("window")
    if signal.subject == WORKER:
        for key in ("queues", "overrides"):
            if key in data:
                raise where.key(data, key).error(
                    f"{signal.name} is about the worker itself (label instance), not queues"
                )
        if signal.scope == WINDOW:  # a rate over any trailing duration, e.g. 5m
            window_at = where.key(data, "window")
            if window is None:
                raise window_at.error(f"{signal.name} needs a window, a duration such as 5m")
            seconds = window_at.parse(_positive_duration, window)
            if seconds != int(seconds):
                raise window_at.error(f"expected whole seconds, got {window!r}")
            window = human_duration(seconds)  # canonical: also a PromQL range
    elif signal.scope == WINDOW and window not in windows:
        raise where.key(data, "window").error(
            f"{signal.name} needs a window, one of {', '.join(windows)}; got {window!r}"
        )
    if signal.scope == LIVE and window is not None:
        raise where.key(data, "window").error(f"{signal.name} is a live value: no window")
    if signal.scope == LIVE and data.get("min_volume"):
        raise where.key(data, "min_volume").error("min_volume needs a windowed metric")
    params = _params(where, data, comparison, calendars, defaults)
    overrides = _overrides(where, data, comparison, calendars, params)
    queues = _queues(where.key(data, "queues"), data.get("queues", "*"))
    annotations = _annotations(where.key(data, "annotations"), data.get("annotations"))
    return Rule(
        name, signal.name, window, comparison, queues, params, overrides, annotations, where.line
    )


def _overrides(
    where: Where,
    data: dict,
    comparison: str,
    calendars: Mapping[str, BusinessHours],
    base: Params,
) -> tuple[tuple[str, Params], ...]:
    at = where.key(data, "overrides")
    raw = at.mapping(data.get("overrides") or {})
    parsed = []
    for pattern, item in raw.items():
        spot = at.key(raw, pattern)
        item = spot.mapping(item)
        spot.check_keys(item, PARAM_KEYS)
        parsed.append((pattern, _params(spot, item, comparison, calendars, base)))
    # exact names win over globs; globs keep their file order
    parsed.sort(key=lambda p: any(c in p[0] for c in "*?["))
    return tuple(parsed)


def parse_rules(data: Any, file: str, engine: EngineConfig | None = None) -> RuleSet:
    """Validate a parsed rules document (see :func:`load_rules`)."""
    engine = engine or EngineConfig()
    top = Where(file, "", getattr(data, "line", 1))
    if data is None:
        raise RuleError(f"{file}:1: the file is empty; expected a mapping with rules:")
    top.mapping(data)
    top.check_keys(data, ("defaults", "calendars", "rules"))
    cal_at = top.key(data, "calendars")
    raw_cals = cal_at.mapping(data.get("calendars") or {})
    calendars = {
        name: parse_hours(cal_at.key(raw_cals, name), name, spec) for name, spec in raw_cals.items()
    }
    def_at = top.key(data, "defaults")
    raw_defaults = def_at.mapping(data.get("defaults") or {})
    def_at.check_keys(raw_defaults, ("for", "repeat", "calendar", "labels", "min_volume"))
    defaults = _params(def_at, raw_defaults, ">", calendars, Params(levels=()))
    rules_at = top.key(data, "rules")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list):
        raise rules_at.error("expected a list of rules")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw_rules):
        rule = _rule(rules_at.item(raw_rules, i), item, engine, calendars, defaults)
        if rule.name in seen:
            raise rules_at.item(raw_rules, i).error(
                f"duplicate rule name {rule.name!r} (first at line {seen[rule.name]})"
            )
        seen[rule.name] = rule.line
        rules.append(rule)
    return RuleSet(tuple(rules), calendars, file)


def load_rules(path: str | Path, engine: EngineConfig | None = None) -> RuleSet:
    """Read and validate a rules file; raises :class:`RuleError` naming file, line, key."""
    return parse_rules(load_yaml(path), str(path), engine)
