"""Command-line options shared by the event tools (simulate, replay): where Kafka is,
which topic, how fast, and instants such as ``--start``.

Kafka settings come from the same place as the worker's (``--config`` YAML plus the
``CALLPULSE_*`` environment variables, docs/configuration.md), so a tool reaches the
cluster exactly as the workers do; ``--bootstrap`` and ``--topic`` are shortcuts.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from datetime import datetime

from stream.config import ConfigError, parse_duration

from .settings import Settings, load_settings

_RELATIVE = re.compile(r"^(?:now)?\s*([+-])\s*(.+)$")


class OptionError(ValueError):
    """A bad command-line value; the message names the option."""


def add_kafka_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kafka (ignored with --output)")
    group.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="worker settings YAML for the kafka and topics sections (docs/configuration.md); "
        "CALLPULSE_KAFKA__* / CALLPULSE_TOPICS__* variables apply as for the worker",
    )
    group.add_argument(
        "--bootstrap", metavar="HOST:PORT", help="shortcut for kafka.bootstrap_servers"
    )
    group.add_argument("--topic", help="shortcut for topics.events (default callpulse.events)")
    group.add_argument(
        "--create-topics",
        action="store_true",
        help="create the worker's topics if they are missing (as a worker would at start)",
    )


def kafka_settings(args: argparse.Namespace) -> Settings:
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        raise OptionError(f"--config: {error}") from None
    if args.bootstrap:
        settings = replace(
            settings, kafka=replace(settings.kafka, bootstrap_servers=args.bootstrap)
        )
    if args.topic:
        settings = replace(settings, topics=replace(settings.topics, events=args.topic))
    return settings


def speed(text: str) -> float:
    """argparse type for ``--speed``: a number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def duration(text: str) -> float:
    """argparse type for durations: ``90``, ``90s``, ``15m``, ``1.5h``, ``1d``."""
    try:
        return parse_duration("value", text)
    except ConfigError:
        raise argparse.ArgumentTypeError(
            f'expected a duration such as "90s", "15m", "1h", "1d", got {text!r}'
        ) from None


def parse_instant(option: str, text: str, now: float) -> float:
    """Epoch seconds from ``now``, ``-2h`` / ``now-2h`` / ``+10m``, epoch seconds, or an
    ISO 8601 date-time with an offset (``2026-11-23T08:00:00+01:00``)."""
    text = text.strip()
    if text == "now":
        return now
    relative = _RELATIVE.match(text)
    if relative:
        try:
            offset = parse_duration(option, relative.group(2))
        except ConfigError:
            raise OptionError(f"{option}: bad offset {text!r} (e.g. -2h, now-30m, +10m)") from None
        return now + offset if relative.group(1) == "+" else now - offset
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise OptionError(
            f"{option}: expected now, -2h, epoch seconds or an ISO date-time with offset, "
            f"got {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise OptionError(f"{option}: {text!r} has no UTC offset (add Z or +01:00)")
    return moment.timestamp()
