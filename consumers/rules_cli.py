"""``callpulse rules``: check a rules file, backtest it over events, export it to Prometheus.

The work is in alerts/ (pure); this module only reads files and prints.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from alerts.rules import RuleSet, load_rules
from alerts.source import RuleError
from stream.config import ConfigError, EngineConfig

from .settings import load_settings


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate a rules file (exit 1 on errors)")
    backtest = actions.add_parser("backtest", help="the firing/resolved timeline over events")
    export = actions.add_parser(
        "export-prometheus", help="equivalent Prometheus alerting rules (promtool-valid)"
    )
    for sub in (check, backtest, export):
        sub.add_argument("rules", help="rules YAML file (docs/alerts.md)")
        sub.add_argument(
            "--config", "-c", help="worker settings YAML, for the engine's windows and queues"
        )
    backtest.add_argument("events", help="canonical events, one JSON object per line")
    backtest.add_argument("--tick", type=float, default=1.0, help="ticker step in seconds")
    backtest.add_argument(
        "--drain", type=float, default=0.0, help="keep ticking SECONDS after the last event"
    )
    backtest.add_argument("--json", action="store_true", help="one JSON notification per line")
    export.add_argument("--output", "-o", help="write here instead of stdout")


def _engine(path: str | None) -> EngineConfig:
    if path is None:
        return EngineConfig()
    return load_settings(path, environ={}).engine


def run(args: argparse.Namespace) -> int:
    try:
        engine = _engine(args.config)
        rules = load_rules(args.rules, engine)
    except (RuleError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.action == "check":
        print(f"{args.rules}: {len(rules.rules)} rules, {len(rules.calendars)} calendars: OK")
        return 0
    if args.action == "export-prometheus":
        return _export(rules, args.output)
    return _backtest(rules, engine, args)


def _export(rules: RuleSet, output: str | None) -> int:
    from alerts.promexport import render_rules

    text = render_rules(rules)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _backtest(rules: RuleSet, engine: EngineConfig, args: argparse.Namespace) -> int:
    from alerts.backtest import run_backtest

    try:
        with open(args.events, "rb") as lines:
            result = run_backtest(rules, lines, engine, tick=args.tick, drain=args.drain)
    except OSError as error:
        print(f"error: {args.events}: {error.strerror}", file=sys.stderr)
        return 1
    for number, reason in result.invalid:
        print(f"{args.events}:{number}: skipped invalid event ({reason})", file=sys.stderr)
    for note in result.notifications:
        if args.json:
            sys.stdout.write(orjson.dumps(note.to_json()).decode() + "\n")
            continue
        when = datetime.fromtimestamp(note.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = "REPEAT" if note.repeat else note.status.upper()
        value = "-" if note.value is None else f"{note.value:.4g}"
        summary = note.annotations.get("summary", "")
        print(
            f"{when}  {status:<8} {note.rule:<28} {note.queue:<16} {note.severity:<8} "
            f"value={value:<8} {summary}"
        )
    print(f"# {result.events} events, {len(result.notifications)} notifications", file=sys.stderr)
    if rules.worker_rules:  # consumer lag and dead letters exist only in a running worker
        names = ", ".join(rule.name for rule in rules.worker_rules)
        print(f"# not backtested (pipeline health of a live worker): {names}", file=sys.stderr)
    return 0
