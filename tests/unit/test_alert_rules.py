"""Rules files: the pack in deploy/ is valid, and errors name the file, line and key."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from alerts.rules import load_rules
from alerts.source import RuleError
from consumers.cli import main

from .alert_builders import rules_from

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "deploy" / "alerts.yaml"

GOOD = """\
defaults:
  repeat: 30m
  labels: {team: cc}
calendars:
  office:
    timezone: Europe/Berlin
    weekly: {mon-fri: "08:00-18:00"}
    holidays: ["2026-12-25"]
rules:
  - name: sl
    metric: service_level
    window: 15m
    comparison: "<"
    levels:
      warning: {threshold: 0.8, clear: 0.85}
      critical: {threshold: 0.6}
    for: 2m
    min_volume: 10
    queues: ["sales*", support]
    calendar: office
    overrides:
      sales-vip: {threshold: 0.9, clear: 0.95, severity: critical, for: 30s}
      "sales-*": {min_volume: 5, labels: {team: sales}}
    annotations:
      summary: "{queue} SL {value:.0%} < {threshold:.0%}"
"""


def test_the_rule_pack_is_valid() -> None:
    rules = load_rules(PACK)
    names = {r.name for r in rules.rules}
    assert {"service_level_low", "abandon_rate_high", "longest_wait_high"} <= names
    assert {"no_agents_while_calls_wait", "staffing_gap", "feed_silent", "call_stuck"} <= names


def test_a_full_rule_parses_with_overrides(tmp_path: Path) -> None:
    rule = rules_from(tmp_path, GOOD).rules[0]
    assert rule.selects("sales-eu") and rule.selects("support") and not rule.selects("billing")
    base = rule.params_for("support")
    assert (base.sustain, base.min_volume, base.repeat, base.calendar) == (120, 10, 1800, "office")
    assert [(lv.severity, lv.threshold, lv.clear) for lv in base.levels] == [
        ("warning", 0.8, 0.85),
        ("critical", 0.6, 0.6),
    ]
    vip = rule.params_for("sales-vip")  # the exact name wins over the glob
    assert [(lv.severity, lv.threshold) for lv in vip.levels] == [("critical", 0.9)]
    assert vip.sustain == 30 and vip.min_volume == 10
    eu = rule.params_for("sales-eu")
    assert eu.min_volume == 5 and eu.labels == {"team": "sales"} and eu.levels == base.levels


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("for: 2m", "for: soon", ":17: rules[0].for: expected a duration"),
        ("metric: service_level", "metric: service_levle", ":11: rules[0].metric: unknown metric"),
        ("window: 15m", "window: 10m", ":12: rules[0].window: service_level needs a window"),
        ('comparison: "<"', 'comparison: "=<"', ":13: rules[0].comparison: '=<' is not"),
        (
            "threshold: 0.8, clear: 0.85",
            "threshold: 0.8, clear: 0.7",
            ":15: rules[0].levels.warning.clear",
        ),
        ("calendar: office", "calendar: shop", ":20: rules[0].calendar: unknown calendar 'shop'"),
        (
            "min_volume: 10",
            "min_volum: 10",
            ":18: rules[0].min_volum: unknown key (did you mean 'min_volume'?)",
        ),
        (
            '{mon-fri: "08:00-18:00"}',
            '{mon-fry: "08:00-18:00"}',
            ":7: calendars.office.weekly.mon-fry",
        ),
        ('"2026-12-25"', '"2026-13-25"', ":8: calendars.office.holidays[0]: expected a date"),
        # a YAML timestamp (a datetime, not a date) would match no day: rejected, not ignored
        (
            '"2026-12-25"',
            "2026-12-25 00:00:00",
            ":8: calendars.office.holidays[0]: expected a whole day YYYY-MM-DD, without a time",
        ),
        ('"2026-12-25"', "2026-12-25T10:00:00Z", ":8: calendars.office.holidays[0]: expected a"),
        ('"2026-12-25"', '"2026-12-25 00:00"', ":8: calendars.office.holidays[0]: expected a date"),
        ("{value:.0%}", "{valeu:.0%}", ":25: rules[0].annotations.summary: unknown field {valeu}"),
        ("{min_volume: 5,", "{min_volume: -5,", ":23: rules[0].overrides.sales-*.min_volume"),
        (
            "critical: {threshold: 0.6}",
            "critical: {threshold: 0.9}",
            ":14: rules[0].levels: critical",
        ),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    with pytest.raises(RuleError) as caught:
        rules_from(tmp_path, GOOD.replace(old, new, 1))
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "rules.yaml") + ":"), message
    assert expected in message, message


def test_yaml_syntax_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"rules.yaml:3: not valid YAML"):
        rules_from(tmp_path, "rules:\n  - name: [\n")
    twice = GOOD + GOOD.split("rules:\n")[1]
    with pytest.raises(
        RuleError, match=r"rules\[1\]: duplicate rule name 'sl' \(first at line 10\)"
    ):
        rules_from(tmp_path, twice)


def test_rules_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(PACK)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("for: 2m", "for: -1"))
    assert main(["rules", "check", str(bad)]) == 1
    assert f"{bad}:17: rules[0].for:" in capsys.readouterr().err


def test_calendar_follows_local_time_across_dst(tmp_path: Path) -> None:
    office = rules_from(tmp_path, GOOD).calendars["office"]

    def at(*args: int) -> bool:
        return office.is_open(datetime(*args, tzinfo=UTC).timestamp())

    # Berlin is UTC+1 in winter, UTC+2 in summer: 08:00 local moves from 07:00Z to 06:00Z.
    assert not at(2026, 3, 27, 6, 30) and at(2026, 3, 27, 7, 0)  # Friday before the change
    assert at(2026, 3, 30, 6, 0) and not at(2026, 3, 30, 5, 59)  # Monday after (CEST)
    assert at(2026, 10, 23, 15, 59) and not at(2026, 10, 23, 16, 0)  # Friday, CEST: 18:00=16Z
    assert at(2026, 10, 26, 16, 59) and not at(2026, 10, 26, 17, 0)  # Monday, CET: 18:00=17Z
    assert not at(2026, 3, 28, 10, 0)  # Saturday
    assert not at(2026, 12, 25, 10, 0) and date(2026, 12, 25) in office.holidays
