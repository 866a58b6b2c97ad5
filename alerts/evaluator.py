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

Pipeline-health rules (consumer lag, dead-letter rate) go through the same machine with
the worker itself as the subject (:meth:`Evaluator.evaluate_worker`, label ``instance``).

Time is the evaluation instant ``now`` the caller passes, clamped to at least the queue's
stream time and never backwards per queue, so the same events and the same evaluation
instants give the same timeline live and in a backtest. The state of a queue's alerts is
plain JSON (:meth:`Evaluator.snapshot`) that travels with the queue's checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from stream.queue import QueueState

from .pipeline import PipelineView
from .rules import Params, Rule, RuleSet, human_duration
from .signals import SIGNALS, QueueView


class View(Protocol):
    """What a signal reads: a queue (QueueView) or the worker's pipeline (PipelineView)."""

    now: float

    def volume(self, window: str) -> float: ...


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
    queue: str  # empty for a pipeline-health alert (labels["instance"] names the worker)
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
    def subject(self) -> str:
        """The queue, or for a pipeline-health alert the worker instance."""
        return self.queue or self.labels.get("instance", "")

    @property
    def fingerprint(self) -> str:
        return f"{self.rule}|{self.subject}|{self.severity}"

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


class Evaluator:
    def __init__(self, rules: RuleSet, instance: str = "") -> None:
        self.rules = rules
        self.instance = instance  # the worker's label on pipeline-health alerts
        self._worker_tracks: dict[str, Track] = {}  # rule name -> track
        self._worker_clock = 0.0
        self._tracks: dict[str, dict[str, Track]] = {}  # queue -> rule name -> track
        self._clock: dict[str, float] = {}  # queue -> last evaluation instant
        self._selected: dict[str, list[Rule]] = {}  # queue -> the rules that select it
        self.changed: set[str] = set()  # queues whose alert state changed (to checkpoint)

    # --- evaluation ----------------------------------------------------------------------

    def evaluate(self, state: QueueState, now: float) -> list[Notification]:
        """Evaluate every rule that selects ``state``'s queue at ``now``."""
        queue = state.name
        t = max(now, state.stream_time or now, self._clock.get(queue, now))
        self._clock[queue] = t
        rules = self._selected.get(queue)
        if rules is None:  # glob matching once per queue, not per evaluation
            rules = self._selected[queue] = [r for r in self.rules.rules if r.selects(queue)]
        out, changed = self._run(rules, self._tracks.setdefault(queue, {}), queue,
                                 QueueView(state, t), t)  # fmt: skip
        if changed:
            self.changed.add(queue)
        return out

    def evaluate_worker(self, view: PipelineView) -> list[Notification]:
        """Evaluate the pipeline-health rules (one alert each per worker) at ``view.now``.

        Their state is the worker's own, not a queue's: it is not checkpointed (a restart
        announces a still-breaching condition again; Alertmanager merges it by labels)."""
        t = self._worker_clock = max(view.now, self._worker_clock)
        return self._run(self.rules.worker_rules, self._worker_tracks, "", view, t)[0]

    def _run(
        self, rules: Iterable[Rule], tracks: dict[str, Track], queue: str, view: View, t: float
    ) -> tuple[list[Notification], bool]:
        """Step ``rules`` for one subject (a queue, or the worker: ``queue`` empty)."""
        out: list[Notification] = []
        changed = False
        for rule in rules:
            params = rule.params_for(queue)
            track = tracks.get(rule.name)
            if track is None or len(track.phases) != len(params.levels):
                track = tracks[rule.name] = Track.new(len(params.levels))
            value = self._value(rule, params, view)
            before = track.phases[:]
            self._step(rule, params, track, value, t)
            notes = self._announce(rule, params, track, queue, value, t)
            # Saved with the queue: a phase change, or an announcement (a repeat moves the
            # repeat timer; the value goes along). A new value alone is not worth a
            # checkpoint on every tick: a restored one is at most one repeat old.
            changed = changed or bool(notes) or track.phases != before
            out += notes
        return out, changed

    def _value(self, rule: Rule, params: Params, view: View) -> float | None:
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
        subject = {"instance": self.instance} if rule.per_worker else {"queue": queue}
        labels = {"alertname": rule.name, **subject, "severity": level.severity, **params.labels}
        fields = {
            "queue": queue,
            "instance": self.instance,
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
        subjects = [(q, tracks, self._clock.get(q)) for q, tracks in self._tracks.items()]
        subjects.append(("", self._worker_tracks, self._worker_clock))
        for queue, tracks, clock in subjects:
            for name, track in tracks.items():
                rule = by_name.get(name)
                if rule is None or track.active < 0:
                    continue
                params = rule.params_for(queue)
                index = min(track.active, len(params.levels) - 1)
                t = track.notified if clock is None else clock
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
        self._selected.pop(queue, None)
