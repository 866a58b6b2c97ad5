"""What `callpulse simulate` simulates: queues, agents, traffic shape (docs/simulator.md).

``scenario_from_dict`` validates the YAML-shaped mapping of a scenario file; every error is
a :class:`ConfigError` whose message starts with the key path (``queues.sales.talk.mean:
...``). ``DEFAULT_SCENARIO`` is the built-in office day (``deploy/scenarios/office-day.yaml``
is the same scenario, commented; a unit test keeps the two equal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import (
    ConfigError,
    _hhmm,
    _integer,
    _join,
    _mapping,
    _number,
    _positive_duration,
    _reject_unknown,
    _thresholds,
    _timezone,
    parse_duration,
)
from .events import Channel

DAY = 86400.0
_RELATIVE = re.compile(r"^\+(.+)$")


@dataclass(frozen=True, slots=True)
class LogNormal:
    """A lognormal duration: ``mean`` seconds, ``sigma`` of the underlying normal."""

    mean: float
    sigma: float = 0.5


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    arrivals_per_hour: float  # at profile factor 1, before spikes
    channel: Channel = Channel.VOICE
    priority: int = 0  # agents serving several queues take the highest priority first
    talk: LogNormal = LogNormal(240.0, 0.6)
    hold_probability: float = 0.0
    hold: LogNormal = LogNormal(45.0, 0.5)
    acw: LogNormal | None = LogNormal(30.0, 0.5)  # None: no after-call work
    patience: float | None = 120.0  # mean of the exponential patience; None: never abandon
    max_wait: float | None = None  # then call.left(timeout)
    overflow_after: float | None = None  # then call.left(overflow) and enqueued in overflow_to
    overflow_to: str | None = None
    transfer_probability: float = 0.0
    transfer_to: tuple[str, ...] = ()  # empty: transfers go outside the contact center
    survey_probability: float = 0.0
    redial_probability: float = 0.0  # an abandoned caller calls again ...
    redial_mean: float = 300.0  # ... after an exponential delay with this mean
    repeat_share: float = 0.0  # fresh arrivals from a caller seen in the last repeat_window
    repeat_window: float = 86400.0


@dataclass(frozen=True, slots=True)
class Shift:
    """Local time of day ``start``..``end`` in seconds since midnight; end < start spans
    midnight. ``None`` for both means logged in for the whole run."""

    start: float | None = None
    end: float | None = None

    @property
    def always(self) -> bool:
        return self.start is None


@dataclass(frozen=True, slots=True)
class AgentGroup:
    name: str
    count: int
    queues: tuple[str, ...]
    shift: Shift = Shift()
    stagger: float = 0.0  # shift starts/ends spread evenly over this span


@dataclass(frozen=True, slots=True)
class Break:
    after: float  # seconds after the agent's shift start (whole-run agents: run start)
    duration: float
    reason: str


@dataclass(frozen=True, slots=True)
class NotReady:
    """Unplanned not-ready spells: Poisson per logged-in agent."""

    per_hour: float = 0.0
    mean: float = 300.0
    reasons: tuple[str, ...] = ("admin",)


@dataclass(frozen=True, slots=True)
class Spike:
    """Arrivals times ``factor`` for ``duration`` from a local time of day (every day) or
    from an offset after the run's start (once)."""

    duration: float
    factor: float
    time_of_day: float | None = None  # seconds since local midnight
    offset: float | None = None  # seconds after the run's start
    queues: tuple[str, ...] = ()  # empty: every queue


@dataclass(frozen=True, slots=True)
class Scenario:
    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentGroup, ...]
    timezone: str = "UTC"
    profile: tuple[tuple[float, float], ...] = ()  # (local second of day, factor); () = flat
    spikes: tuple[Spike, ...] = ()
    breaks: tuple[Break, ...] = ()
    break_jitter: float = 0.0
    not_ready: NotReady = NotReady()
    sl_thresholds: tuple[float, ...] = (20.0,)  # for the ground truth's answered_within
    # Run defaults that the command line overrides.
    seed: int | None = None
    duration: float | None = None

    def queue(self, name: str) -> QueueSpec:
        for spec in self.queues:
            if spec.name == name:
                return spec
        raise KeyError(name)


# --- parsing -------------------------------------------------------------------------


def _probability(path: str, value: Any) -> float:
    number = _number(path, value)
    if not 0.0 <= number <= 1.0:
        raise ConfigError(f"{path}: must be a probability in 0..1, got {value!r}")
    return number


def _nonneg(path: str, value: Any) -> float:
    number = _number(path, value)
    if number < 0:
        raise ConfigError(f"{path}: must be >= 0, got {value!r}")
    return number


def _name(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ConfigError(f"{path}: expected a name of 1..64 characters, got {value!r}")
    return value


def _names(path: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{path}: expected a list of queue names, got {value!r}")
    names = tuple(_name(f"{path}[{i}]", item) for i, item in enumerate(value))
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: names must be unique, got {list(names)}")
    return names


def _seconds_of_day(path: str, value: Any) -> float:
    hours, minutes = _hhmm(path, value).split(":")
    return int(hours) * 3600.0 + int(minutes) * 60.0


def _lognormal(path: str, value: Any, default: LogNormal) -> LogNormal:
    if not isinstance(value, Mapping):  # a bare duration is the mean
        return LogNormal(_positive_duration(path, value), default.sigma)
    _reject_unknown(path, value, ("mean", "sigma"))
    mean = _positive_duration(_join(path, "mean"), value.get("mean", default.mean))
    sigma = _nonneg(_join(path, "sigma"), value.get("sigma", default.sigma))
    if sigma > 3:
        raise ConfigError(f"{_join(path, 'sigma')}: must be <= 3, got {sigma!r}")
    return LogNormal(mean, sigma)


def _optional_duration(path: str, value: Any) -> float | None:
    return None if value is None else _positive_duration(path, value)


_QUEUE_KEYS = (
    "arrivals_per_hour",
    "channel",
    "priority",
    "talk",
    "hold",
    "acw",
    "patience",
    "max_wait",
    "overflow",
    "transfer",
    "survey",
    "redial",
    "repeat",
)


def _queue(path: str, name: str, data: Any) -> QueueSpec:
    data = _mapping(path, data)
    _reject_unknown(path, data, _QUEUE_KEYS)
    if "arrivals_per_hour" not in data:
        raise ConfigError(f"{_join(path, 'arrivals_per_hour')}: required (calls per hour)")
    base = QueueSpec(name, _nonneg(_join(path, "arrivals_per_hour"), data["arrivals_per_hour"]))
    values: dict[str, Any] = {}
    if "channel" in data:
        try:
            values["channel"] = Channel(data["channel"])
        except ValueError:
            allowed = ", ".join(c.value for c in Channel)
            raise ConfigError(
                f"{_join(path, 'channel')}: must be one of {allowed}, got {data['channel']!r}"
            ) from None
    if "priority" in data:
        values["priority"] = _integer(_join(path, "priority"), data["priority"], -1000, 1000)
    if "talk" in data:
        values["talk"] = _lognormal(_join(path, "talk"), data["talk"], base.talk)
    if "hold" in data:
        hold = _mapping(_join(path, "hold"), data["hold"])
        _reject_unknown(_join(path, "hold"), hold, ("probability", "mean", "sigma"))
        values["hold_probability"] = _probability(
            _join(path, "hold.probability"), hold.get("probability", 0.0)
        )
        shape = {k: v for k, v in hold.items() if k != "probability"}
        values["hold"] = _lognormal(_join(path, "hold"), shape, base.hold)
    if "acw" in data:
        acw = data["acw"]
        values["acw"] = (
            None if acw in (None, 0) else _lognormal(_join(path, "acw"), acw, LogNormal(30.0))
        )
    if "patience" in data:
        values["patience"] = _optional_duration(_join(path, "patience"), data["patience"])
    if "max_wait" in data:
        values["max_wait"] = _optional_duration(_join(path, "max_wait"), data["max_wait"])
    if data.get("overflow") is not None:
        opath = _join(path, "overflow")
        overflow = _mapping(opath, data["overflow"])
        _reject_unknown(opath, overflow, ("after", "to"))
        if "after" not in overflow or "to" not in overflow:
            raise ConfigError(f"{opath}: needs both 'after' (a duration) and 'to' (a queue)")
        values["overflow_after"] = _positive_duration(_join(opath, "after"), overflow["after"])
        values["overflow_to"] = _name(_join(opath, "to"), overflow["to"])
    if data.get("transfer") is not None:
        tpath = _join(path, "transfer")
        transfer = _mapping(tpath, data["transfer"])
        _reject_unknown(tpath, transfer, ("probability", "to"))
        values["transfer_probability"] = _probability(
            _join(tpath, "probability"), transfer.get("probability", 0.0)
        )
        values["transfer_to"] = _names(_join(tpath, "to"), transfer.get("to", []))
    if "survey" in data:
        values["survey_probability"] = _probability(_join(path, "survey"), data["survey"])
    if data.get("redial") is not None:
        rpath = _join(path, "redial")
        redial = _mapping(rpath, data["redial"])
        _reject_unknown(rpath, redial, ("probability", "mean"))
        values["redial_probability"] = _probability(
            _join(rpath, "probability"), redial.get("probability", 0.0)
        )
        values["redial_mean"] = _positive_duration(
            _join(rpath, "mean"), redial.get("mean", base.redial_mean)
        )
    if data.get("repeat") is not None:
        rpath = _join(path, "repeat")
        repeat = _mapping(rpath, data["repeat"])
        _reject_unknown(rpath, repeat, ("share", "within"))
        values["repeat_share"] = _probability(_join(rpath, "share"), repeat.get("share", 0.0))
        values["repeat_window"] = _positive_duration(
            _join(rpath, "within"), repeat.get("within", base.repeat_window)
        )
    return QueueSpec(name, base.arrivals_per_hour, **values)


def _shift(path: str, value: Any) -> Shift:
    if value in (None, "always"):
        return Shift()
    if not isinstance(value, str) or value.count("-") != 1:
        raise ConfigError(f'{path}: expected "HH:MM-HH:MM" or "always", got {value!r}')
    start, end = value.split("-")
    shift = Shift(_seconds_of_day(path, start.strip()), _seconds_of_day(path, end.strip()))
    if shift.start == shift.end:
        raise ConfigError(f"{path}: start and end are the same time ({value!r})")
    return shift


def _agent_group(path: str, data: Any, index: int) -> AgentGroup:
    data = _mapping(path, data)
    _reject_unknown(path, data, ("name", "count", "queues", "shift", "stagger"))
    for key in ("count", "queues"):
        if key not in data:
            raise ConfigError(f"{_join(path, key)}: required")
    queues = _names(_join(path, "queues"), data["queues"])
    if not queues:
        raise ConfigError(f"{_join(path, 'queues')}: at least one queue")
    return AgentGroup(
        name=_name(_join(path, "name"), data.get("name", f"group{index}")),
        count=_integer(_join(path, "count"), data["count"], 0, 10_000),
        queues=queues,
        shift=_shift(_join(path, "shift"), data.get("shift")),
        stagger=parse_duration(_join(path, "stagger"), data.get("stagger", 0)),
    )


def _profile(path: str, value: Any) -> tuple[tuple[float, float], ...]:
    if value in (None, "flat"):
        return ()
    data = _mapping(path, value)
    points = sorted(
        (_seconds_of_day(_join(path, key), key), _nonneg(_join(path, key), factor))
        for key, factor in data.items()
    )
    if not points:
        raise ConfigError(f'{path}: give at least one "HH:MM": factor, or "flat"')
    if max(f for _, f in points) <= 0:
        raise ConfigError(f"{path}: every factor is 0: no call would ever arrive")
    return tuple(points)


def _spike(path: str, data: Any) -> Spike:
    data = _mapping(path, data)
    _reject_unknown(path, data, ("at", "duration", "factor", "queues"))
    for key in ("at", "duration", "factor"):
        if key not in data:
            raise ConfigError(f"{_join(path, key)}: required")
    at = data["at"]
    apath = _join(path, "at")
    relative = _RELATIVE.match(at) if isinstance(at, str) else None
    factor = _nonneg(_join(path, "factor"), data["factor"])
    common = {
        "duration": _positive_duration(_join(path, "duration"), data["duration"]),
        "factor": factor,
        "queues": _names(_join(path, "queues"), data.get("queues", [])),
    }
    if relative:
        return Spike(offset=parse_duration(apath, relative.group(1)), **common)
    if not isinstance(at, str):
        raise ConfigError(f'{apath}: expected "HH:MM" (daily) or "+DURATION" (after the start)')
    return Spike(time_of_day=_seconds_of_day(apath, at), **common)


def _break(path: str, data: Any) -> Break:
    data = _mapping(path, data)
    _reject_unknown(path, data, ("after", "duration", "reason"))
    for key in ("after", "duration", "reason"):
        if key not in data:
            raise ConfigError(f"{_join(path, key)}: required")
    return Break(
        after=parse_duration(_join(path, "after"), data["after"]),
        duration=_positive_duration(_join(path, "duration"), data["duration"]),
        reason=_name(_join(path, "reason"), data["reason"]),
    )


def _not_ready(path: str, data: Any) -> NotReady:
    if data is None:
        return NotReady()
    data = _mapping(path, data)
    _reject_unknown(path, data, ("per_hour", "mean", "reasons"))
    reasons = _names(_join(path, "reasons"), data.get("reasons", ["admin"]))
    if not reasons:
        raise ConfigError(f"{_join(path, 'reasons')}: at least one reason code")
    return NotReady(
        per_hour=_nonneg(_join(path, "per_hour"), data.get("per_hour", 0.0)),
        mean=_positive_duration(_join(path, "mean"), data.get("mean", 300)),
        reasons=reasons,
    )


def _list(path: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
    return value


_TOP_KEYS = (
    "seed",
    "duration",
    "timezone",
    "sl_thresholds",
    "profile",
    "spikes",
    "queues",
    "agents",
    "breaks",
    "break_jitter",
    "not_ready",
)


def scenario_from_dict(data: Mapping[str, Any]) -> Scenario:
    """Validate a scenario mapping (the YAML file's top level)."""
    data = _mapping("", data)
    _reject_unknown("", data, _TOP_KEYS)
    queues_data = _mapping("queues", data.get("queues") or {})
    if not queues_data:
        raise ConfigError("queues: at least one queue is required")
    queues = tuple(
        _queue(_join("queues", _name(f"queues.{n}", n)), n, v) for n, v in queues_data.items()
    )
    agents = tuple(
        _agent_group(f"agents[{i}]", item, i)
        for i, item in enumerate(_list("agents", data.get("agents")))
    )
    scenario = Scenario(
        queues=queues,
        agents=agents,
        timezone=_timezone("timezone", data.get("timezone", "UTC")),
        profile=_profile("profile", data.get("profile")),
        spikes=tuple(
            _spike(f"spikes[{i}]", s) for i, s in enumerate(_list("spikes", data.get("spikes")))
        ),
        breaks=tuple(
            _break(f"breaks[{i}]", b) for i, b in enumerate(_list("breaks", data.get("breaks")))
        ),
        break_jitter=parse_duration("break_jitter", data.get("break_jitter", 0)),
        not_ready=_not_ready("not_ready", data.get("not_ready")),
        sl_thresholds=_thresholds("sl_thresholds", data.get("sl_thresholds", [20])),
        seed=None if data.get("seed") is None else _integer("seed", data["seed"], 0),
        duration=_optional_duration("duration", data.get("duration")),
    )
    _check_references(scenario)
    return scenario


def _check_references(scenario: Scenario) -> None:
    """Every queue named anywhere is defined, and every queue has someone to answer it."""
    defined = {q.name for q in scenario.queues}

    def known(path: str, name: str) -> None:
        if name not in defined:
            raise ConfigError(
                f"{path}: {name!r} is not a queue of this scenario ({', '.join(sorted(defined))})"
            )

    for q in scenario.queues:
        path = f"queues.{q.name}"
        if q.overflow_to is not None:
            known(f"{path}.overflow.to", q.overflow_to)
            if q.overflow_to == q.name:
                raise ConfigError(f"{path}.overflow.to: a queue cannot overflow to itself")
        for i, target in enumerate(q.transfer_to):
            known(f"{path}.transfer.to[{i}]", target)
            if target == q.name:
                raise ConfigError(f"{path}.transfer.to[{i}]: a queue cannot transfer to itself")
    served: set[str] = set()
    for i, group in enumerate(scenario.agents):
        for j, name in enumerate(group.queues):
            known(f"agents[{i}].queues[{j}]", name)
        if group.count:
            served.update(group.queues)
    for i, spike in enumerate(scenario.spikes):
        for j, name in enumerate(spike.queues):
            known(f"spikes[{i}].queues[{j}]", name)
    names = [g.name for g in scenario.agents]
    if len(set(names)) != len(names):
        raise ConfigError(f"agents: group names must be unique, got {names}")
    for q in scenario.queues:
        if q.name not in served:
            raise ConfigError(
                f"queues.{q.name}: no agent group serves it (add it to some agents[].queues)"
            )


# --- the built-in scenario (deploy/scenarios/office-day.yaml, without the comments) ---

DEFAULT_SCENARIO: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "sl_thresholds": [20],
    "profile": {
        "00:00": 0.0,
        "07:30": 0.0,
        "08:00": 0.4,
        "09:00": 1.0,
        "11:30": 1.0,
        "13:00": 0.9,
        "16:00": 0.8,
        "17:30": 0.4,
        "19:00": 0.15,
        "21:00": 0.05,
        "22:00": 0.0,
    },
    "spikes": [{"at": "12:00", "duration": "45m", "factor": 1.5, "queues": ["sales"]}],
    "queues": {
        "sales": {
            "arrivals_per_hour": 120,
            "talk": {"mean": "4m", "sigma": 0.6},
            "hold": {"probability": 0.2, "mean": "45s"},
            "acw": {"mean": "30s", "sigma": 0.5},
            "patience": "2m",
            "overflow": {"after": "3m", "to": "sales-overflow"},
            "transfer": {"probability": 0.05, "to": ["billing"]},
            "survey": 0.25,
            "redial": {"probability": 0.3, "mean": "5m"},
            "repeat": {"share": 0.05, "within": "24h"},
        },
        "sales-overflow": {
            "arrivals_per_hour": 0,
            "talk": {"mean": "4m", "sigma": 0.6},
            "acw": "30s",
            "patience": "3m",
            "max_wait": "10m",
            "survey": 0.25,
        },
        "support": {
            "arrivals_per_hour": 90,
            "priority": 1,
            "talk": {"mean": "6m", "sigma": 0.7},
            "hold": {"probability": 0.35, "mean": "1m"},
            "acw": {"mean": "1m", "sigma": 0.5},
            "patience": "4m",
            "max_wait": "15m",
            "transfer": {"probability": 0.08, "to": ["billing"]},
            "survey": 0.3,
            "redial": {"probability": 0.3, "mean": "10m"},
            "repeat": {"share": 0.1, "within": "24h"},
        },
        "billing": {
            "arrivals_per_hour": 30,
            "talk": {"mean": "5m", "sigma": 0.5},
            "acw": {"mean": "45s", "sigma": 0.5},
            "patience": "3m",
            "survey": 0.2,
            "redial": {"probability": 0.2, "mean": "10m"},
        },
        "chat": {
            "arrivals_per_hour": 45,
            "channel": "chat",
            "talk": {"mean": "8m", "sigma": 0.5},
            "acw": "20s",
            "patience": "5m",
            "survey": 0.4,
        },
    },
    "agents": [
        {
            "name": "sales",
            "count": 14,
            "queues": ["sales"],
            "shift": "07:45-16:45",
            "stagger": "1h",
        },
        {
            "name": "support",
            "count": 14,
            "queues": ["support"],
            "shift": "07:45-17:45",
            "stagger": "2h",
        },
        {
            "name": "blended",
            "count": 8,
            "queues": ["billing", "sales-overflow", "support"],
            "shift": "08:00-17:00",
            "stagger": "1h",
        },
        {"name": "chat", "count": 10, "queues": ["chat"], "shift": "08:00-17:00", "stagger": "1h"},
        {
            "name": "late",
            "count": 6,
            "queues": ["sales", "support", "billing", "chat"],
            "shift": "16:30-22:00",
        },
    ],
    "breaks": [
        {"after": "2h", "duration": "15m", "reason": "break"},
        {"after": "4h", "duration": "30m", "reason": "lunch"},
        {"after": "6.5h", "duration": "15m", "reason": "break"},
    ],
    "break_jitter": "45m",
    "not_ready": {"per_hour": 0.3, "mean": "4m", "reasons": ["admin", "coaching", "technical"]},
}
