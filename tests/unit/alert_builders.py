"""Helpers for the alert tests: rules from YAML text, and an evaluator driven by a Feed."""

from __future__ import annotations

import textwrap
from pathlib import Path

from alerts.evaluator import Evaluator, Notification
from alerts.rules import RuleSet, load_rules

from .engine_builders import T0, Feed


def rules_from(tmp_path: Path, text: str, name: str = "rules.yaml") -> RuleSet:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_rules(path)


class Run:
    """A Feed plus an evaluator; ``at(t)`` evaluates at T0 + t and keeps what it said."""

    def __init__(self, rules: RuleSet, queue: str = "sales") -> None:
        self.feed = Feed(queue=queue)
        self.evaluator = Evaluator(rules)
        self.log: list[Notification] = []

    def at(self, t: float) -> list[Notification]:
        out = self.evaluator.evaluate(self.feed.state, T0 + t)
        self.log += out
        return out

    def timeline(self) -> list[tuple[float, str, str]]:
        """(seconds after T0, status or 'repeat', severity)."""
        return [(n.at - T0, "repeat" if n.repeat else n.status, n.severity) for n in self.log]
