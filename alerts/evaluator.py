"""The alert state machine: rules x queues -> firing / resolved notifications. Pure.

Each (rule, queue) keeps, per level, ``inactive -> pending -> firing``:

- a level starts **pending** when the value breaches its threshold, and **fires** once it
  has breached for ``for`` seconds (at once when ``for`` is 0); a pending level whose
  value stops breaching is inactive again;
- a firing level stays firing until the value no longer breaches its **clear**
  threshold (hysteresis), or evidence is missing: no value, fewer calls than
  ``min_volume`` in the window, or outside the rule's business hours;
- the alert of the pair is its highest firing level. Escalation resolves the warning and
  fires the critical; de-escalation resolves the critical and fires the warning again;
- a firing alert is announced again every ``repeat`` (``repeat=True`` notifications).

Time is the evaluation instant ``now`` the caller passes, clamped to at least the queue's
stream time and never backwards per queue, so the same events and the same evaluation
instants give the same timeline live and in a backtest. The state of a queue's alerts is
plain JSON (:meth:`Evaluator.snapshot`) that travels with the queue's checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stream.queue import QueueState

from .rules import Params, Rule, RuleSet
from .signals import SIGNALS, QueueView

INACTIVE, PENDING, FIRING = 0, 1, 2
FIRING_STATUS, RESOLVED_STATUS = "firing", "resolved"


@dataclass(slots=True)
class Track:
    """One (rule, queue): per-level phase and start, and the alert it announced."""

    phases: list[int]
    since: list[float]
    active: int = -1  # index of the announced level, -1: none
    started: float = 0.0  # startsAt of the announced alert
    notified: float = 0.0  # last announcement (for repeat)
    value: float | None = None  # last value read (for resolved summaries)

    @classmethod
    def new(cls, levels: int) -> Track:
        return cls([INACTIVE] * levels, [0.0] * levels)

    def to_json(self) -> list[Any]:
        return [self.phases, self.since, self.active, self.started, self.notified, self.value]

    @classmethod
    def from_json(cls, data: list[Any]) -> Track:
        phases, since, active, started, notified, value = data
        return cls(list(phases), list(since), active, started, notified, value)


@dataclass(frozen=True, slots=True)
class Notification:
    rule: str
    queue: str
    severity: str
    status: str  # "firing" or "resolved"
    starts_at: float  # event time the alert started
    ends_at: float | None  # event time it resolved (None while firing)
    at: float  # evaluation instant that produced it
    value: float | None
    threshold: float
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    repeat: bool = False  # a still-firing reminder, not a state change

    @property
    def fingerprint(self) -> str:
        return f"{self.rule}|{self.queue}|{self.severity}"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "queue": self.queue,
            "severity": self.severity,
            "status": self.status,
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "at": self.at,
            "value": self.value,
            "threshold": self.threshold,
            "labels": self.labels,
            "annotations": self.annotations,
            "repeat": self.repeat,
        }


def human_duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


class Evaluator:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._tracks: dict[str, dict[str, Track]] = {}  # queue -> rule name -> track
        self._clock: dict[str, float] = {}  # queue -> last evaluation instant
        self.changed: set[str] = set()  # queues whose alert state changed (to checkpoint)

    # --- evaluation ----------------------------------------------------------------------

    def evaluate(self, state: QueueState, now: float) -> list[Notification]:
        """Evaluate every rule that selects ``state``'s queue at ``now``."""
        queue = state.name
        t = max(now, state.stream_time or now, self._clock.get(queue, now))
        self._clock[queue] = t
        view = QueueView(state, t)
        tracks = self._tracks.setdefault(queue, {})
        out: list[Notification] = []
        for rule in self.rules.rules:
            if not rule.selects(queue):
                continue
            params = rule.params_for(queue)
            track = tracks.get(rule.name)
            if track is None or len(track.phases) != len(params.levels):
                track = tracks[rule.name] = Track.new(len(params.levels))
            value = self._value(rule, params, view)
            before = track.phases[:]
            self._step(rule, params, track, value, t)
            if track.phases != before:
                self.changed.add(queue)
            out += self._announce(rule, params, track, queue, value, t)
        return out

    def _value(self, rule: Rule, params: Params, view: QueueView) -> float | None:
        """The rule's value, or None when there is no evidence to judge by."""
        if params.calendar is not None and not self.rules.calendars[params.calendar].is_open(
            view.now
        ):
            return None
        value = SIGNALS[rule.metric].read(view, rule.window or "")
        if value is None or (
            params.min_volume and view.volume(rule.window or "") < params.min_volume
        ):
            return None
        return value

    @staticmethod
    def _step(rule: Rule, params: Params, track: Track, value: float | None, t: float) -> None:
        if value is not None:
            track.value = value
        for i, level in enumerate(params.levels):
            phase = track.phases[i]
            if value is None:
                phase = INACTIVE
            elif phase == FIRING:
                if not rule.breaches(value, level.clear):
                    phase = INACTIVE
            elif rule.breaches(value, level.threshold):
                if phase == INACTIVE:
                    phase, track.since[i] = PENDING, t
                if t - track.since[i] >= params.sustain:
                    phase = FIRING
            else:
                phase = INACTIVE
            track.phases[i] = phase

    def _announce(
        self, rule: Rule, params: Params, track: Track, queue: str, value: float | None, t: float
    ) -> list[Notification]:
        top = max((i for i, p in enumerate(track.phases) if p == FIRING), default=-1)
        out: list[Notification] = []
        if top != track.active:
            if track.active >= 0:
                old = min(track.active, len(params.levels) - 1)
                out.append(self._note(rule, params, track, queue, old, RESOLVED_STATUS, t))
            track.active = top
            if top >= 0:
                track.started = track.notified = t
                out.append(self._note(rule, params, track, queue, top, FIRING_STATUS, t))
        elif top >= 0 and t - track.notified >= params.repeat:
            track.notified = t
            out.append(self._note(rule, params, track, queue, top, FIRING_STATUS, t, repeat=True))
        return out

    def _note(
        self,
        rule: Rule,
        params: Params,
        track: Track,
        queue: str,
        index: int,
        status: str,
        t: float,
        repeat: bool = False,
    ) -> Notification:
        level = params.levels[index]
        labels = {
            "alertname": rule.name,
            "queue": queue,
            "severity": level.severity,
            **params.labels,
        }
        fields = {
            "queue": queue,
            "rule": rule.name,
            "metric": rule.metric,
            "window": rule.window or "now",
            "severity": level.severity,
            "value": track.value if track.value is not None else float("nan"),
            "threshold": level.threshold,
            "clear": level.clear,
            "for": human_duration(params.sustain),
        }
        annotations = {}
        for key, template in rule.annotations.items():
            try:
                annotations[key] = template.format_map(fields)
            except (ValueError, TypeError):  # a format spec that does not fit the value
                annotations[key] = template
        return Notification(
            rule=rule.name,
            queue=queue,
            severity=level.severity,
            status=status,
            starts_at=track.started,
            ends_at=t if status == RESOLVED_STATUS else None,
            at=t,
            value=track.value,
            threshold=level.threshold,
            labels=labels,
            annotations=annotations,
            repeat=repeat,
        )

    # --- what is firing ------------------------------------------------------------------

    def firing(self) -> Iterator[Notification]:
        """Every alert firing now (for Alertmanager re-sends and the firing gauge)."""
        by_name = self.rules.by_name
        for queue, tracks in self._tracks.items():
            for name, track in tracks.items():
                rule = by_name.get(name)
                if rule is None or track.active < 0:
                    continue
                params = rule.params_for(queue)
                index = min(track.active, len(params.levels) - 1)
                t = self._clock.get(queue, track.notified)
                yield self._note(rule, params, track, queue, index, FIRING_STATUS, t, True)

    # --- persistence (with the queue's checkpoint) ---------------------------------------

    def snapshot(self, queue: str) -> dict[str, Any] | None:
        tracks = self._tracks.get(queue)
        if queue not in self._clock:
            return None
        return {
            "clock": self._clock[queue],
            "rules": {name: track.to_json() for name, track in (tracks or {}).items()},
        }

    def restore(self, queue: str, data: dict[str, Any] | None) -> None:
        self.forget(queue)
        if not data:
            return
        self._clock[queue] = float(data["clock"])
        self._tracks[queue] = {
            name: Track.from_json(saved)
            for name, saved in data["rules"].items()
            if name in self.rules.by_name  # a rule removed since: its state goes with it
        }

    def forget(self, queue: str) -> None:
        self._tracks.pop(queue, None)
        self._clock.pop(queue, None)
