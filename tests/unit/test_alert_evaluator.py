"""The alert state machine over a real queue state: sustain, hysteresis, minimum volume,
severity escalation, repeat, calendars (across DST changes), restart in the middle of
``for``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.evaluator import Evaluator
from alerts.rules import RuleSet

from .alert_builders import Run, rules_from
from .engine_builders import T0

WAITING = """\
rules:
  - name: waiting
    metric: calls_waiting
    comparison: ">="
    levels:
      warning: {threshold: 3, clear: 2}
      critical: {threshold: 5, clear: 4}
    for: 10s
    repeat: 1m
    annotations: {summary: "{queue}: {value:.0f} waiting (>= {threshold:.0f})"}
"""


def waiting_rules(tmp_path: Path, text: str = WAITING) -> RuleSet:
    return rules_from(tmp_path, text)


def enqueue(run: Run, t: float, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        run.feed.enq(t, f"c{i}")


def test_sustain_then_fire_once_then_resolve(tmp_path: Path) -> None:
    run = Run(waiting_rules(tmp_path))
    enqueue(run, 0, 3)
    assert run.at(0) == [] and run.at(9) == []  # pending, not yet 10 s
    [fired] = run.at(10)
    assert (fired.status, fired.severity, fired.starts_at, fired.value) == (
        "firing",
        "warning",
        T0 + 10,
        3,
    )
    assert fired.labels == {"alertname": "waiting", "queue": "sales", "severity": "warning"}
    assert fired.annotations["summary"] == "sales: 3 waiting (>= 3)"
    assert run.at(11) == []  # no storm
    run.feed.ans(12, "c0")
    run.feed.ans(12, "c1")  # 1 waiting: past the clear threshold (>= 2 holds) -> resolved
    [resolved] = run.at(12)
    assert (resolved.status, resolved.starts_at, resolved.ends_at) == ("resolved", T0 + 10, T0 + 12)


def test_a_dip_during_for_restarts_the_sustain(tmp_path: Path) -> None:
    run = Run(waiting_rules(tmp_path))
    enqueue(run, 0, 3)
    run.at(0)
    run.feed.ans(5, "c0")
    run.at(5)  # 2 waiting: pending reset
    run.feed.enq(6, "c9")
    run.at(6)
    assert run.at(15) == [] and run.at(16)[0].status == "firing"


def test_hysteresis_holds_between_clear_and_threshold(tmp_path: Path) -> None:
    run = Run(waiting_rules(tmp_path))
    enqueue(run, 0, 3)
    run.at(0), run.at(10)
    run.feed.ans(11, "c0")  # 2 waiting: below the threshold, not past the clear -> firing
    assert run.at(11) == []
    run.feed.ans(12, "c1")  # 1 waiting: cleared
    assert [n.status for n in run.at(12)] == ["resolved"]


def test_escalation_and_de_escalation(tmp_path: Path) -> None:
    run = Run(waiting_rules(tmp_path))
    enqueue(run, 0, 5)
    run.at(0)
    assert [(n.status, n.severity) for n in run.at(10)] == [("firing", "critical")]
    run.feed.ans(20, "c0")
    run.feed.ans(20, "c1")  # 3 waiting: critical clears (holds at >= 4), warning breaches
    assert [(n.status, n.severity) for n in run.at(20)] == [
        ("resolved", "critical"),
        ("firing", "warning"),
    ]
    enqueue(run, 30, 2, start=10)  # 5 again: critical needs its own 10 s
    assert run.at(30) == []
    assert [(n.status, n.severity) for n in run.at(40)] == [
        ("resolved", "warning"),
        ("firing", "critical"),
    ]


def test_repeat_interval(tmp_path: Path) -> None:
    run = Run(waiting_rules(tmp_path))
    enqueue(run, 0, 3)
    for t in range(0, 200, 1):
        run.at(t)
    assert run.timeline() == [
        (10, "firing", "warning"),
        (70, "repeat", "warning"),
        (130, "repeat", "warning"),
        (190, "repeat", "warning"),
    ]


MIN_VOLUME = """\
rules:
  - name: abandon
    metric: abandon_ratio
    window: 5m
    comparison: ">"
    threshold: 0.5
    min_volume: 4
"""


def test_minimum_volume(tmp_path: Path) -> None:
    run = Run(rules_from(tmp_path, MIN_VOLUME))
    for i in range(3):
        run.feed.enq(i, f"c{i}")
        run.feed.abd(i + 1, f"c{i}")
    assert run.at(5) == []  # 100 % abandoned, but only 3 offered
    run.feed.enq(6, "c3")
    run.feed.ans(7, "c3")
    assert [n.status for n in run.at(7)] == ["firing"]  # 4 offered, 75 %
    # The window slides past the calls: no evidence any more -> resolved.
    assert [n.status for n in run.at(7 + 400)] == ["resolved"]


CALENDAR = """\
calendars:
  office:
    timezone: Europe/Berlin
    weekly: {mon-fri: "08:00-18:00"}
rules:
  - name: waiting
    metric: calls_waiting
    comparison: ">"
    threshold: 0
    calendar: office
"""


def test_calendar_silences_outside_hours(tmp_path: Path) -> None:
    # T0 is Monday 2026-06-01 00:00Z = 02:00 in Berlin (closed); 08:00 local is T0 + 6 h.
    run = Run(rules_from(tmp_path, CALENDAR))
    run.feed.enq(0, "c0")
    assert run.at(0) == [] and run.at(6 * 3600 - 1) == []
    assert [n.status for n in run.at(6 * 3600)] == ["firing"]
    assert [n.status for n in run.at(16 * 3600)] == ["resolved"]  # 18:00 local: closed


def test_restart_in_the_middle_of_for(tmp_path: Path) -> None:
    rules = waiting_rules(tmp_path)
    run = Run(rules)
    enqueue(run, 0, 3)
    run.at(0), run.at(5)
    # The queue's state and its alert state go through a checkpoint (JSON) and come back.
    engine_snapshot = orjson.loads(orjson.dumps(run.feed.engine.snapshot()))
    alert_snapshot = orjson.loads(orjson.dumps(run.evaluator.snapshot("sales")))
    restarted = Run(rules)
    restarted.feed.engine.restore(engine_snapshot)
    restarted.evaluator.restore("sales", alert_snapshot)
    assert restarted.at(9) == []
    assert [n.starts_at for n in restarted.at(10)] == [T0 + 10]  # the sustain kept its start
    # and a restart while firing says nothing new (no duplicate 'firing')
    again = Run(rules)
    again.feed.engine.restore(orjson.loads(orjson.dumps(restarted.feed.engine.snapshot())))
    again.evaluator.restore("sales", restarted.evaluator.snapshot("sales"))
    assert again.at(11) == []
    again.feed._ids = itertools.count(100)  # event ids unseen by the restored queue
    again.feed.ans(12, "c0")
    again.feed.ans(12, "c1")
    assert [(n.status, n.ends_at) for n in again.at(12)] == [("resolved", T0 + 12)]


def test_a_repeat_is_saved_so_a_restore_does_not_remind_early(tmp_path: Path) -> None:
    # Checkpoint the way the worker does: only when the evaluator marks the queue changed.
    rules = waiting_rules(tmp_path)
    run = Run(rules)
    enqueue(run, 0, 3)
    saved = {}
    for t in range(0, 80):
        run.at(t)
        if run.evaluator.changed:
            saved = {
                "engine": run.feed.engine.snapshot(),
                "alerts": run.evaluator.snapshot("sales"),
            }
            run.evaluator.changed.clear()
    assert run.timeline() == [(10, "firing", "warning"), (70, "repeat", "warning")]
    restarted = Run(rules)
    restarted.feed.engine.restore(orjson.loads(orjson.dumps(saved["engine"])))
    restarted.evaluator.restore("sales", orjson.loads(orjson.dumps(saved["alerts"])))
    for t in range(80, 140):
        restarted.at(t)
    assert restarted.timeline() == [(130, "repeat", "warning")]  # not at 80: the 70 was saved


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.sampled_from(["enq", "ans"])), min_size=1, max_size=60
    )
)
def test_timeline_is_well_formed_and_deterministic(steps: list[tuple[int, str]]) -> None:
    """Alternating firing/resolved per severity, never two alerts of a rule at once, and
    the same events at the same instants give the same timeline."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rules = waiting_rules(Path(tmp))

    def play() -> list[tuple]:
        run = Run(rules)
        run.feed.agent(0, "a1", "available", ["sales"])  # the queue exists from the start
        t, waiting, n = 0.0, [], 0
        for gap, action in steps:
            t += gap
            if action == "enq":
                run.feed.enq(t, f"c{n}")
                waiting.append(f"c{n}")
                n += 1
            elif waiting:
                run.feed.ans(t, waiting.pop(0))
            run.at(t)
        return [(x.at, x.status, x.severity, x.repeat) for x in run.log]

    first = play()
    assert first == play()
    active: str | None = None
    for _, status, severity, repeat in first:
        if repeat:
            assert active == severity
        elif status == "firing":
            assert active is None
            active = severity
        else:
            assert active == severity
            active = None


def test_evaluator_ignores_state_of_removed_rules(tmp_path: Path) -> None:
    evaluator = Evaluator(waiting_rules(tmp_path))
    evaluator.restore("sales", {"clock": T0, "rules": {"gone": [[2], [T0], 0, T0, T0, 1.0]}})
    assert list(evaluator.firing()) == []


@pytest.mark.parametrize(
    ("friday", "monday", "utc_hours"),
    [
        # spring forward (29 March 2026): CET (UTC+1) on Friday, CEST (UTC+2) on Monday
        (datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC), (7, 17, 6, 16)),
        # fall back (25 October 2026): CEST on Friday, CET on Monday
        (datetime(2026, 10, 23, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC), (6, 16, 7, 17)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_calendar_across_a_dst_weekend(
    tmp_path: Path, friday: datetime, monday: datetime, utc_hours: tuple[int, ...]
) -> None:
    """A call waits all weekend: the alert fires at 08:00 and resolves at 18:00 Berlin
    time on both sides of the change, so the UTC instants move by an hour."""
    run = Run(rules_from(tmp_path, CALENDAR))
    start = friday.timestamp() - T0
    run.feed.enq(start, "c0")
    t = start
    while t < monday.timestamp() - T0 + 86400:
        run.at(t)
        t += 900  # a 15-minute ticker is enough to see the hour
    expected = [
        (day + timedelta(hours=hour), status)
        for day, hour, status in zip(
            (friday, friday, monday, monday), utc_hours, ("firing", "resolved") * 2, strict=True
        )
    ]
    changes = [n for n in run.log if not n.repeat]
    assert [(datetime.fromtimestamp(n.at, UTC), n.status) for n in changes] == expected
