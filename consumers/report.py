"""``callpulse report EVENTS.jsonl``: the KPI engine offline over a file of canonical events.

Reads one JSON event per line (a file, or ``-`` for stdin), applies every event with the
same engine the worker runs (agent events to every queue they name), and prints KPIs per
queue for the whole input, or per closed interval (``--interval 15m|1h|1d``; ``1d`` is the
queue's business day), as a table, CSV or JSON. Bad lines are counted by reason and
summarised on stderr, never silently dropped; ``--strict`` makes any bad line an error.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import IO, Any

import orjson

from stream.config import ConfigError, EngineConfig, engine_config_from_dict
from stream.counters import Counters
from stream.decode import decode
from stream.engine import Engine
from stream.events import InvalidEvent
from stream.kpis import compute_kpis

from .settings import load_settings

# (column title, KPI or counter key, kind) for the table and CSV; JSON carries everything.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("offered", "offered", "count"),
    ("answered", "answered", "count"),
    ("abandoned", "abandoned", "count"),
    ("SL", "service_level", "ratio"),
    ("abandon", "abandon_ratio", "ratio"),
    ("ASA s", "asa_seconds", "seconds"),
    ("AHT s", "aht_seconds", "seconds"),
    ("avg wait s", "avg_wait_seconds", "seconds"),
    ("max wait s", "max_wait_seconds", "seconds"),
    ("occupancy", "occupancy_ratio", "ratio"),
    ("CSAT", "csat_avg", "number"),
    ("NPS", "nps", "number"),
)


class Row(dict[str, Any]):
    """One output row: queue, optional interval bounds, counters and KPIs."""


def read_events(lines: Iterable[bytes], rejected: Counter[str]) -> Iterator[Any]:
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        try:
            yield decode(line)
        except InvalidEvent as error:
            rejected[error.reason] += 1


def run_engine(
    config: EngineConfig, lines: Iterable[bytes], per_interval: bool
) -> tuple[list[Row], Counter[str]]:
    engine = Engine(config)
    rejected: Counter[str] = Counter()
    summaries = []
    for event in read_events(lines, rejected):
        engine.apply(event)
        if per_interval:
            summaries += engine.take_closed()
    if per_interval:
        summaries += engine.flush()
        rows = [
            _row(s.queue, s.counters, s.kpis, start=s.start, end=s.end)
            for s in sorted(summaries, key=lambda s: (s.queue, s.start))
        ]
        return rows, rejected
    rows = []
    for name in sorted(engine.queues):
        state = engine.queues[name]
        kpis = compute_kpis(state.totals, state.cfg, span=None)
        rows.append(_row(name, state.totals, kpis))
    return rows, rejected


def _row(
    queue: str,
    counters: Counters,
    kpis: dict[str, float | None],
    start: float | None = None,
    end: float | None = None,
) -> Row:
    row = Row(queue=queue)
    if start is not None:
        row["start"], row["end"] = start, end
    row["counters"] = counters.as_dict()
    row["kpis"] = kpis
    return row


def _cell(row: Row, key: str, kind: str) -> str:
    value = row["counters"].get(key) if kind == "count" else row["kpis"].get(key)
    if value is None:
        return "-"
    if kind == "count":
        return str(int(value))
    if kind == "ratio":
        return f"{100 * value:.1f}%"
    return f"{value:.1f}"


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _header(per_interval: bool) -> list[str]:
    return ["queue", *(["start (UTC)"] if per_interval else []), *(c[0] for c in COLUMNS)]


def _cells(row: Row, per_interval: bool) -> list[str]:
    lead = [row["queue"], *([_iso(row["start"])] if per_interval else [])]
    return lead + [_cell(row, key, kind) for _, key, kind in COLUMNS]


def format_table(rows: list[Row], per_interval: bool) -> str:
    table = [_header(per_interval)] + [_cells(r, per_interval) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = []
    for n, line in enumerate(table):
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def format_csv(rows: list[Row], per_interval: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_header(per_interval))
    writer.writerows(_cells(r, per_interval) for r in rows)
    return out.getvalue()


def format_json(rows: list[Row], per_interval: bool) -> str:
    return orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"


FORMATS = {"table": format_table, "csv": format_csv, "json": format_json}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the KPI engine offline over a JSONL file of canonical events (docs/events.md) "
        "and print KPIs per queue, for the whole file or per interval. The service level "
        "column is each queue's configured formula (docs/kpis.md)."
    )
    parser.add_argument("events", help="JSONL file of canonical events, or - for stdin")
    parser.add_argument(
        "--interval",
        help="KPIs per closed interval of this length (e.g. 15m, 1h; 1d = business day) "
        "instead of one row per queue for the whole file",
    )
    parser.add_argument("--format", choices=sorted(FORMATS), default="table")
    parser.add_argument(
        "--config", "-c", help="YAML settings; its `engine` section sets queues and windows"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if any line is invalid")


def _engine_config(args: argparse.Namespace) -> EngineConfig:
    config = load_settings(args.config, environ={}).engine if args.config else EngineConfig()
    if args.interval:
        # validated like the config key (it must divide a day): "interval: ..." on error
        interval = engine_config_from_dict({"interval": args.interval}).interval_seconds
        config = replace(config, interval_seconds=interval)
    return config


def _open(path: str) -> IO[bytes]:
    return sys.stdin.buffer if path == "-" else open(path, "rb")


def run(args: argparse.Namespace) -> int:
    try:
        config = _engine_config(args)
    except ConfigError as error:
        print(f"callpulse report: {error}", file=sys.stderr)
        return 2
    try:
        source = _open(args.events)
    except OSError as error:
        print(f"callpulse report: cannot read {args.events}: {error.strerror}", file=sys.stderr)
        return 2
    with source:
        rows, rejected = run_engine(config, source, per_interval=bool(args.interval))
    sys.stdout.write(FORMATS[args.format](rows, bool(args.interval)))
    if rejected:
        detail = ", ".join(f"{reason} {n}" for reason, n in sorted(rejected.items()))
        print(
            f"callpulse report: skipped {sum(rejected.values())} bad lines ({detail})",
            file=sys.stderr,
        )
        return 1 if args.strict else 0
    return 0
