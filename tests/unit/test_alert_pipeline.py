"""Pipeline-health rules: consumer lag and dead-letter rate of the worker itself."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.evaluator import Evaluator
from alerts.pipeline import PipelineHistory, PipelineSample
from alerts.promexport import export_rules
from alerts.source import RuleError
from consumers.alerting import AlertHook, default_generator_url, instance_label
from consumers.settings import WorkerSettings, settings_from_dict

from .alert_builders import rules_from

PIPELINE = """\
rules:
  - name: lag
    metric: consumer_lag_records
    comparison: ">"
    threshold: 1000
    clear: 100
    for: 10s
    annotations: {summary: "{instance} is {value:.0f} behind"}
  - name: dead_letters
    metric: dead_letter_ratio
    window: 60
    comparison: ">"
    severity: critical
    threshold: 0.1
    min_volume: 50
  - name: waiting
    metric: calls_waiting
    comparison: ">"
    threshold: 0
"""


def sample(at: float, consumed: int = 0, dead: int = 0, lag: int | None = 0) -> PipelineSample:
    return PipelineSample(at, consumed, dead, lag)


def test_rates_count_the_trailing_window_only() -> None:
    history = PipelineHistory(keep=60)
    history.record(sample(0, consumed=1000, dead=10))
    history.record(sample(30, consumed=1100, dead=20))  # half a window: 10 / 60 s, not / 30 s
    view = history.record(sample(30, consumed=1100, dead=20))
    assert view.rate("1m") == pytest.approx(10 / 60)
    assert view.ratio("1m") == pytest.approx(10 / 100) and view.volume("1m") == 100
    view = history.record(sample(90, consumed=1200, dead=20))
    # base is the sample at 30 (the newest at or before 90 - 60): 0 dead letters since
    assert view.rate("1m") == 0 and view.volume("1m") == 100
    assert len(history) == 2  # the baseline at 30 and the newest: older ones are dropped


@given(st.lists(st.tuples(st.floats(0.1, 30), st.integers(0, 50), st.integers(0, 5)), min_size=1))
def test_rate_matches_a_brute_force_count(steps: list[tuple[float, int, int]]) -> None:
    history, t, consumed, dead, kept = PipelineHistory(keep=60), 0.0, 0, 0, []
    for gap, more, bad in steps:
        t, consumed, dead = t + gap, consumed + more, dead + min(bad, more)
        kept.append(sample(t, consumed, dead))
        view = history.record(kept[-1])
    # brute force: the newest sample at or before t - 60, else the very first sample
    base = ([s for s in kept if s.at <= t - 60] or kept[:1])[-1]
    assert view.rate("1m") == pytest.approx((dead - base.dead_letters) / 60)
    assert view.volume("1m") == consumed - base.consumed


def test_consumer_lag_fires_per_worker_and_resolves(tmp_path: Path) -> None:
    evaluator = Evaluator(rules_from(tmp_path, PIPELINE), instance="10.0.0.7:6066")
    history = PipelineHistory(keep=60)

    def at(t: float, lag: int | None) -> list[tuple[str, str]]:
        notes = evaluator.evaluate_worker(history.record(sample(t, lag=lag)))
        return [(n.status, n.rule) for n in notes]

    assert at(0, 5000) == [] and at(9, 5000) == []  # sustain: 10 s
    assert at(10, 5000) == [("firing", "lag")]
    [firing] = evaluator.firing()
    assert firing.labels == {"alertname": "lag", "instance": "10.0.0.7:6066", "severity": "warning"}
    assert firing.queue == "" and firing.fingerprint == "lag|10.0.0.7:6066|warning"
    assert firing.annotations["summary"] == "10.0.0.7:6066 is 5000 behind"
    assert at(11, 500) == []  # hysteresis: above the clear threshold
    assert at(12, None) == [("resolved", "lag")]  # no partition owned: no evidence


def hook_on(host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **worker) -> AlertHook:
    """The alert hook of a worker on ``host`` with default settings except ``worker``."""
    monkeypatch.setattr(socket, "gethostname", lambda: host)
    rules = tmp_path / "rules.yaml"
    rules.write_text(PIPELINE)
    settings = settings_from_dict({"alerts": {"rules_file": str(rules)}, "worker": worker})
    return AlertHook(settings, lambda key, value: None)


def test_workers_with_default_settings_alert_under_distinct_instances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two pods, same settings (same web_host:web_port): each alert must stay its own,
    # or pod-b's resolve would close pod-a's alert in Alertmanager.
    firing = {}
    for host in ("pod-a", "pod-b"):
        hook, history = hook_on(host, tmp_path, monkeypatch), PipelineHistory(keep=60)
        for t in (0, 10):
            notes = hook.evaluator.evaluate_worker(history.record(sample(t, lag=5000)))
        [firing[host]] = notes
    assert firing["pod-a"].labels["instance"] == "pod-a:6066"
    assert firing["pod-b"].labels["instance"] == "pod-b:6066"
    assert firing["pod-a"].fingerprint != firing["pod-b"].fingerprint


def test_instance_id_names_the_worker_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = hook_on("pod-a", tmp_path, monkeypatch, instance_id="callpulse-0", web_port=7000)
    assert hook.evaluator.instance == "callpulse-0"
    assert instance_label(WorkerSettings(web_port=7000)) == "pod-a:7000"


def test_dead_letter_ratio_needs_volume(tmp_path: Path) -> None:
    evaluator = Evaluator(rules_from(tmp_path, PIPELINE), instance="w1")
    history = PipelineHistory(keep=60)
    history.record(sample(0))
    # 30 % dead letters but only 40 records: no evidence yet
    assert evaluator.evaluate_worker(history.record(sample(1, consumed=40, dead=12))) == []
    [note] = evaluator.evaluate_worker(history.record(sample(2, consumed=60, dead=18)))
    assert (note.status, note.severity, note.value) == ("firing", "critical", 0.3)
    # the bad burst slides out of the 60 s window: resolved
    [note] = evaluator.evaluate_worker(history.record(sample(70, consumed=200, dead=18)))
    assert note.status == "resolved"


def test_queue_evaluation_ignores_worker_rules(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, PIPELINE)
    assert [r.name for r in rules.worker_rules] == ["lag", "dead_letters"]
    assert not rules.by_name["lag"].selects("sales") and rules.by_name["waiting"].selects("sales")
    assert rules.by_name["dead_letters"].window == "1m"  # canonical: a PromQL range too


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("    queues: sales\n", "rules[0].queues: consumer_lag_records is about the worker"),
        ("    window: 5m\n", "rules[0].window: consumer_lag_records is a live value"),
    ],
)
def test_worker_rule_errors(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(RuleError, match=re.escape(expected)):
        rules_from(tmp_path, PIPELINE.replace("    for: 10s\n", "    for: 10s\n" + extra))


def test_dead_letter_window_is_a_whole_duration(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"rules\[1\].window: expected whole seconds"):
        rules_from(tmp_path, PIPELINE.replace("window: 60", "window: 1.5"))
    with pytest.raises(RuleError, match=r"rules\[1\].window: dead_letter_ratio needs a window"):
        rules_from(tmp_path, PIPELINE.replace("    window: 60\n", ""))


def test_worker_rules_export_by_instance(tmp_path: Path) -> None:
    document, _ = export_rules(rules_from(tmp_path, PIPELINE))
    exprs = {g["name"]: g["rules"][0]["expr"] for g in document["groups"]}
    assert exprs["callpulse-lag"] == (
        "(sum by (instance) (callpulse_consumer_lag) > 1000) or (sum by (instance) "
        '(callpulse_consumer_lag) > 100 and on (instance) ALERTS{alertname="lag",'
        'severity="warning",alertstate="firing"})'
    )
    assert "increase(callpulse_events_consumed_total[1m])) >= 50" in exprs["callpulse-dead_letters"]


def test_alerts_link_to_the_workers_metrics_by_a_usable_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-7")
    assert default_generator_url(WorkerSettings()) == "http://127.0.0.1:6066/metrics"
    every = WorkerSettings(web_host="0.0.0.0", web_port=7000)
    assert default_generator_url(every) == "http://worker-7:7000/metrics"
    assert default_generator_url(WorkerSettings(web_host="::1")) == "http://[::1]:6066/metrics"
