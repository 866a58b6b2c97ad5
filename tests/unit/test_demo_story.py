"""The story `make demo` tells, checked offline in event time.

The demo runs deploy/scenarios/demo.yaml live with 20 minutes of history sent at once,
the worker settings of deploy/demo.yaml and the rules of deploy/demo/alerts.yaml. The
scenario is deterministic for its seed, so the alert backtest over the same events gives
the timeline a new user will see: quiet history, sales' service level alert firing soon
after the wallboard comes up, everything resolved a few minutes later, then quiet again.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from alerts.backtest import run_backtest
from alerts.evaluator import Notification
from alerts.rules import load_rules
from consumers.demo import ALERT_RULES, HISTORY, SCENARIO, WORKER_CONFIG
from consumers.settings import load_settings
from stream.config import parse_duration
from stream.decode import encode
from stream.scenario import scenario_from_dict
from stream.simulator import Simulation

START = 1_795_449_600.0  # any instant: the demo's scenario is flat and around the clock
LIVE = START + parse_duration("history", HISTORY)  # when the wallboard comes up
RUN = 40 * 60.0


def timeline() -> list[Notification]:
    engine = load_settings(WORKER_CONFIG).engine
    rules = load_rules(ALERT_RULES, engine)
    scenario = scenario_from_dict(yaml.safe_load(Path(SCENARIO).read_text()))
    assert scenario.seed is not None, "the demo's story needs a fixed seed"
    events = Simulation(scenario, START, RUN, scenario.seed).events()
    notes = run_backtest(rules, (encode(e) for e in events), engine).notifications
    return [n for n in notes if not n.repeat]


def test_the_demo_alert_fires_after_the_wallboard_comes_up_and_resolves_within_minutes() -> None:
    notes = timeline()
    assert notes, "the demo's rush fires no alert"
    assert all(n.at >= LIVE + 20 for n in notes), "an alert changed before the wallboard"
    first = notes[0]
    assert (first.rule, first.queue, first.status) == ("service_level_low", "sales", "firing")
    assert first.at <= LIVE + 90
    assert {n.queue for n in notes} == {"sales"}
    fired = [n for n in notes if n.status == "firing"]
    resolved = [n for n in notes if n.status == "resolved"]
    assert sorted((n.rule, n.severity) for n in fired) == sorted(
        (n.rule, n.severity) for n in resolved
    ), "every alert that fired resolves"
    assert max(n.at for n in notes) <= LIVE + 200, "resolved within about three minutes"


def test_the_demo_runs_the_scenario_the_worker_is_configured_for() -> None:
    settings = load_settings(WORKER_CONFIG)
    scenario = scenario_from_dict(yaml.safe_load(Path(SCENARIO).read_text()))
    assert {q.name for q in scenario.queues} == set(settings.engine.queues)
    rules = load_rules(ALERT_RULES, settings.engine)
    assert {rule.window for rule in rules.rules} <= {name for name, _ in settings.engine.windows}
