"""Engine configuration: per-queue KPI settings and engine-wide limits, validated.

``engine_config_from_dict`` turns the ``engine`` part of the YAML file into an
:class:`EngineConfig`. Every error is a :class:`ConfigError` whose message starts with
the key path (``queues.sales.sl_target: ...``) and says what is allowed. Keys:

==========================  =================================================  ========
key                         value                                              default
==========================  =================================================  ========
windows                     ``{name: duration}`` or ``[duration, ...]``        5m 15m 1h
window_slots                integer 1..3600, buckets per window                30
grace                       duration >= 0                                      60s
interval                    duration that divides 1d, >= 60s                   15m
dedupe_horizon              duration > 0                                       10m
max_wait                    duration > 0 (stuck calls are dropped after it)    1d
max_waiting_calls           integer >= 1                                       100000
max_recent_ids              integer >= 2 (ids / finished calls remembered)     100000
max_parked_outcomes         integer >= 0                                       10000
max_repeat_callers          integer >= 2                                       100000
defaults                    queue settings (below) for every queue
queues                      ``{queue: queue settings}``, merged over defaults
==========================  =================================================  ========

Queue settings: ``sl_thresholds`` (durations > 0, strictly increasing), ``sl_target``
(0 < x <= 1), ``sl_formula`` (a variant of docs/kpis.md), ``short_abandon_seconds``
(duration >= 0), ``timezone`` (IANA name), ``business_day_start`` (``HH:MM``),
``repeat_caller_hours`` (number > 0). Durations are numbers of seconds or strings with a
unit: ``"90s"``, ``"15m"``, ``"1.5h"``, ``"1d"``.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .kpis import SL_VARIANTS

DAY = 86400.0


class ConfigError(ValueError):
    """Invalid configuration; the message starts with the offending key path."""


@dataclass(frozen=True, slots=True)
class QueueConfig:
    sl_thresholds: tuple[float, ...] = (20.0,)
    sl_target: float = 0.8
    sl_formula: str = "answered_within_over_offered"  # a variant name from docs/kpis.md
    short_abandon_seconds: float = 5.0
    timezone: str = "UTC"  # IANA name
    business_day_start: str = "00:00"  # local HH:MM
    repeat_caller_hours: float = 24.0


@dataclass(frozen=True, slots=True)
class EngineConfig:
    windows: tuple[tuple[str, float], ...] = (("5m", 300.0), ("15m", 900.0), ("1h", 3600.0))
    window_slots: int = 30
    grace_seconds: float = 60.0
    interval_seconds: float = 900.0  # 86400 means "business day"
    dedupe_horizon_seconds: float = 600.0
    max_wait_seconds: float = 86400.0
    max_waiting_calls: int = 100_000
    default_queue: QueueConfig = QueueConfig()
    queues: Mapping[str, QueueConfig] = field(default_factory=dict)
    # Bounds of the per-queue tables (additions to docs/engine-api.md).
    max_recent_ids: int = 100_000
    max_parked_outcomes: int = 10_000
    max_repeat_callers: int = 100_000

    def queue(self, name: str) -> QueueConfig:
        return self.queues.get(name, self.default_queue)


# --- scalar parsers: each takes the key path and the raw value ---------------------

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)\s*$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_duration(path: str, value: Any) -> float:
    """Seconds from a number or a string like ``"90s"``, ``"15m"``, ``"1h"``, ``"1d"``."""
    if _is_number(value):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS.get(match.group(2), 1.0)
    else:
        raise ConfigError(
            f'{path}: expected a duration (seconds, or a string like "90s", "15m", "1h", '
            f'"1d"), got {value!r}'
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"{path}: must be a finite duration >= 0, got {value!r}")
    return seconds


def _positive_duration(path: str, value: Any) -> float:
    seconds = parse_duration(path, value)
    if seconds <= 0:
        raise ConfigError(f"{path}: must be > 0, got {value!r}")
    return seconds


def _integer(path: str, value: Any, low: int, high: int | None = None) -> int:
    if not _is_number(value) or not math.isfinite(value) or float(value) != int(value):
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        allowed = f">= {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"{path}: must be {allowed}, got {number}")
    return number


def _number(path: str, value: Any) -> float:
    if not _is_number(value) or not math.isfinite(value):
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    return float(value)


def _mapping(path: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(f"{_join(path, str(key))}: keys must be strings")
    return value


def _reject_unknown(path: str, data: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{_join(path, key)}: unknown key{hint}; allowed: {', '.join(known)}")


# --- queue settings ------------------------------------------------------------------


def _thresholds(path: str, value: Any) -> tuple[float, ...]:
    if _is_number(value) or isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{path}: expected a non-empty list of durations, got {value!r}")
    out = tuple(_positive_duration(f"{path}[{i}]", item) for i, item in enumerate(value))
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise ConfigError(
            f"{path}: must be strictly increasing without duplicates (the first one sizes "
            f"staffing), e.g. [20, 30, 60]; got {list(out)}"
        )
    return out


def _target(path: str, value: Any) -> float:
    number = _number(path, value)
    if not 0.0 < number <= 1.0:
        raise ConfigError(f"{path}: must be in (0, 1], got {value!r}")
    return number


def _formula(path: str, value: Any) -> str:
    if value not in SL_VARIANTS:
        close = difflib.get_close_matches(str(value), SL_VARIANTS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{path}: {value!r} is not a variant{hint}; allowed: {', '.join(SL_VARIANTS)}"
        )
    return str(value)


def _timezone(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: expected an IANA time zone name, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f'{path}: unknown IANA time zone {value!r} (e.g. "UTC", "Europe/Berlin", '
            f'"America/New_York")'
        ) from None
    return value


def _hhmm(path: str, value: Any) -> str:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ConfigError(f'{path}: expected local time "HH:MM" (00:00..23:59), got {value!r}')
    return value


def _hours(path: str, value: Any) -> float:
    number = _number(path, value)
    if number <= 0:
        raise ConfigError(f"{path}: must be > 0, got {value!r}")
    return number


_QUEUE_KEYS: dict[str, Any] = {
    "sl_thresholds": _thresholds,
    "sl_target": _target,
    "sl_formula": _formula,
    "short_abandon_seconds": parse_duration,
    "timezone": _timezone,
    "business_day_start": _hhmm,
    "repeat_caller_hours": _hours,
}
assert tuple(_QUEUE_KEYS) == tuple(f.name for f in fields(QueueConfig))


def queue_config_from_dict(data: Any, path: str, base: QueueConfig) -> QueueConfig:
    """``base`` with the settings in ``data`` replaced."""
    data = _mapping(path, {} if data is None else data)
    _reject_unknown(path, data, tuple(_QUEUE_KEYS))
    changes = {key: _QUEUE_KEYS[key](_join(path, key), value) for key, value in data.items()}
    return replace(base, **changes)


# --- engine settings -----------------------------------------------------------------


def _windows(path: str, value: Any) -> tuple[tuple[str, float], ...]:
    if isinstance(value, Mapping):
        items = [
            (str(name), _positive_duration(_join(path, str(name)), v)) for name, v in value.items()
        ]
    elif isinstance(value, list | tuple):
        items = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(f'{path}[{i}]: expected a window name like "15m", got {item!r}')
            items.append((item, _positive_duration(f"{path}[{i}]", item)))
    else:
        raise ConfigError(f'{path}: expected {{name: duration}} or a list like ["5m", "1h"]')
    if not items:
        raise ConfigError(f"{path}: at least one window is required")
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: window names must be unique, got {names}")
    if "today" in names:
        raise ConfigError(f'{path}: "today" is reserved for the business-day scope')
    return tuple(items)


def _interval(path: str, value: Any) -> float:
    seconds = _positive_duration(path, value)
    if seconds < 60 or seconds != int(seconds) or DAY % seconds:
        raise ConfigError(
            f"{path}: must be whole seconds >= 60 that divide a day (e.g. 15m, 30m, 1h, 1d), "
            f"got {value!r}"
        )
    return seconds


# key -> (EngineConfig field, parser)
_ENGINE_KEYS: dict[str, tuple[str, Any]] = {
    "windows": ("windows", _windows),
    "window_slots": ("window_slots", lambda p, v: _integer(p, v, 1, 3600)),
    "grace": ("grace_seconds", parse_duration),
    "interval": ("interval_seconds", _interval),
    "dedupe_horizon": ("dedupe_horizon_seconds", _positive_duration),
    "max_wait": ("max_wait_seconds", _positive_duration),
    "max_waiting_calls": ("max_waiting_calls", lambda p, v: _integer(p, v, 1)),
    "max_recent_ids": ("max_recent_ids", lambda p, v: _integer(p, v, 2)),
    "max_parked_outcomes": ("max_parked_outcomes", lambda p, v: _integer(p, v, 0)),
    "max_repeat_callers": ("max_repeat_callers", lambda p, v: _integer(p, v, 2)),
}


def engine_config_from_dict(data: Mapping[str, Any], path: str = "") -> EngineConfig:
    """Validate the YAML-shaped mapping ``data``; raises :class:`ConfigError`."""
    data = _mapping(path, data)
    _reject_unknown(path, data, (*_ENGINE_KEYS, "defaults", "queues"))
    changes = {
        _ENGINE_KEYS[key][0]: _ENGINE_KEYS[key][1](_join(path, key), value)
        for key, value in data.items()
        if key in _ENGINE_KEYS
    }
    default = queue_config_from_dict(data.get("defaults"), _join(path, "defaults"), QueueConfig())
    queues_path = _join(path, "queues")
    queues = _mapping(queues_path, data.get("queues") or {})
    per_queue = {
        name: queue_config_from_dict(settings, _join(queues_path, name), default)
        for name, settings in queues.items()
    }
    return EngineConfig(default_queue=default, queues=per_queue, **changes)
