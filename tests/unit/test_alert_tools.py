"""`rules backtest` over a JSONL file and `rules export-prometheus` (promtool must accept it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from alerts.backtest import run_backtest
from alerts.signals import SIGNALS
from consumers.cli import main
from consumers.metrics_endpoint import ALERT_METRICS, SELF_METRICS
from consumers.queue_metrics import QUEUE_METRICS
from stream.decode import encode
from stream.events import CallAnswered, CallEnqueued

from .alert_builders import rules_from
from .engine_builders import T0
from .test_alert_evaluator import WAITING
from .test_alert_rules import GOOD, PACK


def events_file(tmp_path: Path) -> Path:
    """3 calls waiting from T0 (a growing queue), answered at T0 + 60."""
    events = [CallEnqueued(f"e{i}", T0 + i, "sales", f"c{i}", None) for i in range(3)]
    events += [CallAnswered(f"a{i}", T0 + 60, "sales", f"c{i}", "a1") for i in range(3)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(encode(e) for e in events) + b"\nnot json\n")
    return path


def test_backtest_fires_on_the_ticker_and_resolves(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, WAITING)
    with events_file(tmp_path).open("rb") as lines:
        result = run_backtest(rules, lines)
    assert result.events == 6 and result.invalid == [(7, "not_json")]
    timeline = [(n.at - T0, n.status, n.repeat) for n in result.notifications]
    # 3 waiting from T0+2; fired by the ticker 10 s later, no event needed; repeat after 1m
    assert timeline == [(12, "firing", False), (60, "resolved", False)]


def test_backtest_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(WAITING)
    assert main(["rules", "backtest", str(rules), str(events_file(tmp_path)), "--json"]) == 0
    lines = [orjson.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["status"], x["queue"], x["severity"]) for x in lines] == [
        ("firing", "sales", "warning"),
        ("resolved", "sales", "warning"),
    ]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (make prereqs)")
@pytest.mark.parametrize("text", [None, GOOD], ids=["pack", "overrides"])
def test_export_prometheus_passes_promtool(tmp_path: Path, text: str | None) -> None:
    source = PACK
    if text is not None:
        source = tmp_path / "rules.yaml"
        source.write_text(text)
    out = tmp_path / "prometheus-rules.yml"
    assert main(["rules", "export-prometheus", str(source), "-o", str(out)]) == 0
    checked = subprocess.run(
        ["promtool", "check", "rules", str(out)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    body = out.read_text()
    if text is not None:  # overrides become their own matchers, excluded from the base rule
        assert 'queue=~"sales\\\\-vip"' in body or 'queue=~"sales-vip"' in body
        assert "humanizePercentage" in body and 'ALERTS{alertname="sl"' in body


def test_every_metric_an_exported_prometheus_rule_reads_is_one_the_worker_exports() -> None:
    """alerts/signals.py names the worker's metrics in its PromQL (alerts cannot import the
    exporter): keep the two lists in step, or an exported rule would never fire."""
    exported = {m.name for m in (*QUEUE_METRICS, *SELF_METRICS, *ALERT_METRICS)}
    exported |= {f"{m.name}_bucket" for m in SELF_METRICS if m.kind == "histogram"}
    read = {
        name
        for signal in SIGNALS.values()
        if signal.promql
        for name in re.findall(r"callpulse_\w+", signal.promql)
    }
    assert read and read <= exported, sorted(read - exported)
