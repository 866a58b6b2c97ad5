"""The ``callpulse`` command line.

Each subcommand lives in its own module, which provides two functions::

    def configure(parser: argparse.ArgumentParser) -> None   # add its arguments
    def run(args: argparse.Namespace) -> int                 # do it; exit status

To add a subcommand (worker, report, simulate, replay, rules, top ...), add one
``Command`` line to ``COMMANDS``. Only the chosen command's module is imported, so
``callpulse --help`` stays fast however heavy (faust, aiohttp ...) the commands are.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str  # one line, shown by `callpulse --help`
    module: str  # defines configure(parser) and run(args)


COMMANDS: tuple[Command, ...] = (
    Command(
        "kafka",
        "run a local Apache Kafka broker for development (start|stop|status|fetch)",
        "consumers.local_kafka",
    ),
    Command(
        "report",
        "KPIs per queue (and per interval) from a file of events, offline",
        "consumers.report",
    ),
    Command(
        "worker",
        "consume events, keep per-queue KPIs, serve Prometheus /metrics",
        "consumers.worker",
    ),
    Command(
        "rules",
        "alert rules: check a file, backtest it over events, export it to Prometheus",
        "consumers.rules_cli",
    ),
    Command(
        "simulate",
        "simulate a contact center: realistic events to Kafka or a JSONL file",
        "consumers.simulate",
    ),
    Command(
        "replay",
        "publish a JSONL file of events to Kafka, keyed by queue, in original or scaled timing",
        "consumers.replay",
    ),
    Command(
        "top",
        "live terminal wallboard of running workers' /metrics",
        "consumers.top",
    ),
    Command(
        "demo",
        "the whole stack on this machine: broker, worker, simulator, wallboard",
        "consumers.demo",
    ),
)


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The full parser; only ``selected``'s module is imported to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="callpulse",
        description="callpulse: real-time contact-center monitoring on Kafka.",
        epilog="Run `callpulse COMMAND --help` for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        if command.name == selected:
            module = importlib.import_module(command.module)
            module.configure(sub)
            sub.set_defaults(run=module.run)
    return parser


def _selected_command(argv: Sequence[str]) -> str | None:
    names = {command.name for command in COMMANDS}
    return next((arg for arg in argv if arg in names), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_selected_command(argv)).parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
