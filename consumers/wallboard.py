"""The wallboard's model: workers' /metrics text -> one row per queue -> a text frame.

Pure functions, no terminal and no network, so ``callpulse top`` (the live loop) and the
tests share them. Each queue is exported by exactly one worker (docs/metrics.md), so
rows from several workers are simply merged.

Alerts: the column appears when some worker exports ``callpulse_alerts_firing{queue,
rule,severity}`` (even with no sample yet); a queue's firing rules (value > 0) are listed
there, most severe first, and :class:`AlertChanges` keeps the recent starts and ends
seen from one frame to the next. Nothing else is needed from the alerting side.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

ALERTS_METRIC = "callpulse_alerts_firing"
SEVERITY_ORDER = {"critical": 0, "page": 0, "error": 1, "warning": 2, "info": 3}
NEAR_TARGET = 0.05  # SL this far below its target is "near" (yellow), further is red

# ANSI SGR codes
RESET, BOLD, DIM, RED, GREEN, YELLOW, CYAN = "0", "1", "2", "31", "32", "33", "36"

Labels = dict[str, str]
Samples = dict[str, list[tuple[Labels, float]]]


@dataclass(slots=True)
class QueueRow:
    queue: str
    waiting: float | None = None
    longest_wait: float | None = None
    agents: dict[str, float] = field(default_factory=dict)  # state -> count
    sl: float | None = None
    sl_threshold: float | None = None
    target: float | None = None
    abandon: float | None = None
    asa: float | None = None
    aht: float | None = None
    offered: float | None = None  # calls with an outcome in the window
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (rule, severity)

    def sl_state(self) -> str:
        """ "ok", "near", "below" against the target, or "none" (no value or no target)."""
        if self.sl is None or self.target is None:
            return "none"
        if self.sl >= self.target:
            return "ok"
        return "near" if self.sl >= self.target - NEAR_TARGET else "below"


@dataclass(slots=True)
class Board:
    rows: list[QueueRow]
    window: str
    windows: tuple[str, ...]  # the windows the workers export
    show_alerts: bool


def parse(text: str) -> Samples:
    """Sample name -> [(labels, value)] of one exposition body."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        out.setdefault(family.name, [])  # a family listed without samples still counts
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def _threshold(labels: Labels) -> float:
    try:
        return float(labels.get("threshold", "inf"))
    except ValueError:
        return math.inf


def build_board(bodies: Iterable[Samples], window: str) -> Board:
    rows: dict[str, QueueRow] = {}
    windows: set[str] = set()
    show_alerts = False

    def row(labels: Labels) -> QueueRow:
        name = labels["queue"]
        found = rows.get(name)
        if found is None:
            found = rows[name] = QueueRow(name)
        return found

    for samples in bodies:
        show_alerts = show_alerts or ALERTS_METRIC in samples
        for labels, value in samples.get("callpulse_calls_waiting", []):
            row(labels).waiting = value
        for labels, value in samples.get("callpulse_longest_wait_seconds", []):
            row(labels).longest_wait = value
        for labels, value in samples.get("callpulse_agents", []):
            row(labels).agents[labels.get("state", "?")] = value
        for labels, value in samples.get("callpulse_service_level_target_ratio", []):
            row(labels).target = value
        for labels, value in samples.get("callpulse_service_level_ratio", []):
            windows.add(labels.get("window", ""))
            if labels.get("window") != window:
                continue
            target = row(labels)
            # The first (smallest) threshold is the queue's headline service level.
            threshold = _threshold(labels)
            if target.sl_threshold is None or threshold < target.sl_threshold:
                target.sl, target.sl_threshold = value, threshold
        for metric, attribute in (
            ("callpulse_abandon_ratio", "abandon"),
            ("callpulse_asa_seconds", "asa"),
            ("callpulse_aht_seconds", "aht"),
        ):
            for labels, value in samples.get(metric, []):
                windows.add(labels.get("window", ""))
                if labels.get("window") == window:
                    setattr(row(labels), attribute, value)
        for labels, value in samples.get("callpulse_window_calls", []):
            if labels.get("window") == window and labels.get("kind") == "offered":
                row(labels).offered = value
        for labels, value in samples.get(ALERTS_METRIC, []):
            if value > 0 and "queue" in labels:
                row(labels).alerts.append((labels.get("rule", "?"), labels.get("severity", "")))
    for queue_row in rows.values():
        queue_row.alerts.sort(key=lambda a: (SEVERITY_ORDER.get(a[1], 9), a[0]))
    windows.discard("")
    return Board(
        rows=[rows[name] for name in sorted(rows)],
        window=window,
        windows=tuple(sorted(windows, key=_window_order)),
        show_alerts=show_alerts,
    )


def _window_order(name: str) -> tuple[int, float, str]:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        return (0, float(name[:-1]) * units[name[-1]], name)
    except (KeyError, ValueError, IndexError):
        return (1, 0.0, name)  # "today" and other names last


Alert = tuple[str, str, str]  # (queue, rule, severity)


def firing(board: Board) -> set[Alert]:
    return {(row.queue, rule, severity) for row in board.rows for rule, severity in row.alerts}


class AlertChanges:
    """Alerts that started or ended between two boards, newest last (the wallboard's
    "recent alert changes" lines). The first board only sets the baseline, so attaching
    to a worker with alerts already firing does not report them as new."""

    def __init__(self, keep: int = 6) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self.started = 0
        self.ended = 0
        self._last: set[Alert] | None = None

    def observe(self, board: Board, now: float | None = None) -> list[str]:
        """The lines this board adds (also kept in :attr:`lines`)."""
        current = firing(board)
        previous, self._last = self._last, current
        if previous is None:
            return []
        clock = time.strftime("%H:%M:%S", time.localtime(now))
        new = [
            f"{clock}  {'FIRING' if up else 'resolved':<8}  {rule}  {queue}  {severity}"
            for up, alerts in ((True, current - previous), (False, previous - current))
            for queue, rule, severity in sorted(alerts)
        ]
        self.started += len(current - previous)
        self.ended += len(previous - current)
        self.lines.extend(new)
        return new


# --- formatting ------------------------------------------------------------------------


def fmt_seconds(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    seconds = round(value)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1%}"


def fmt_count(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0f}"


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: int
    priority: int  # dropped from the lowest up when the terminal is too narrow
    align: str = ">"


def _sl_colour(state: str) -> str:
    return {"ok": GREEN, "near": YELLOW, "below": RED}.get(state, DIM)


def _wait_colour(row: QueueRow) -> str:
    threshold = row.sl_threshold or 20.0
    wait = row.longest_wait or 0.0
    if wait > 3 * threshold:
        return RED
    return YELLOW if wait > threshold else ""


def _cells(row: QueueRow, show_alerts: bool) -> list[tuple[str, str]]:
    """(text, colour) per column, in COLUMNS order."""
    state = row.sl_state()
    sl_text = fmt_ratio(row.sl)
    if row.target is not None:
        sl_text += f" /{row.target:.0%}"
    cells = [
        (row.queue, BOLD if state == "below" else ""),
        (fmt_count(row.waiting), BOLD if (row.waiting or 0) > 0 else DIM),
        (fmt_seconds(row.longest_wait), _wait_colour(row)),
        (fmt_count(row.agents.get("available")), ""),
        (fmt_count(row.agents.get("on_contact")), ""),
        (fmt_count(row.agents.get("after_call_work")), ""),
        (fmt_count(row.agents.get("not_ready")), ""),
        (sl_text, _sl_colour(state)),
        (fmt_ratio(row.abandon), ""),
        (fmt_seconds(row.asa), ""),
        (fmt_seconds(row.aht), ""),
        (fmt_count(row.offered), DIM),
    ]
    if show_alerts:
        worst = row.alerts[0][1] if row.alerts else ""
        text = ", ".join(rule for rule, _ in row.alerts) or "-"
        colour = RED if SEVERITY_ORDER.get(worst, 9) <= 1 else YELLOW if row.alerts else DIM
        cells.append((text, colour))
    return cells


def columns(window: str, show_alerts: bool) -> list[Column]:
    cols = [
        Column("QUEUE", 16, 100, "<"),
        Column("WAITING", 7, 90),
        Column("LONGEST", 8, 85),
        Column("AVAIL", 5, 80),
        Column("ON CALL", 7, 75),
        Column("ACW", 4, 50),
        Column("NOT RDY", 7, 55),
        Column(f"SL {window} /TARGET", 16, 95),
        Column("ABANDON", 7, 70),
        Column("ASA", 7, 60),
        Column("AHT", 7, 40),
        Column(f"CALLS {window}", 9, 30),
    ]
    if show_alerts:
        cols.append(Column("ALERTS", 24, 65, "<"))
    return cols


def paint(text: str, colour: str, use_colour: bool) -> str:
    if not use_colour or not colour:
        return text
    return f"\x1b[{colour}m{text}\x1b[{RESET}m"


def render_table(board: Board, width: int = 200, colour: bool = False) -> list[str]:
    """Header line and one line per queue, columns dropped to fit ``width``."""
    cols = columns(board.window, board.show_alerts)
    rows = [_cells(row, board.show_alerts) for row in board.rows]
    # Widen columns to their longest cell, then drop low-priority ones until it fits.
    widths = [
        max([col.width, len(col.title), *(len(r[i][0]) for r in rows)])
        for i, col in enumerate(cols)
    ]
    keep = list(range(len(cols)))
    while len(keep) > 1 and sum(widths[i] + 2 for i in keep) - 2 > width:
        keep.remove(min(keep, key=lambda i: cols[i].priority))

    def line(cells: list[tuple[str, str]], header: bool = False) -> str:
        parts = []
        for i in keep:
            text, hue = cells[i]
            width_i = widths[i]
            text = text[:width_i]
            padded = f"{text:{cols[i].align}{width_i}}"
            parts.append(paint(padded, CYAN if header else hue, colour))
        return "  ".join(parts).rstrip()

    out = [line([(c.title, "") for c in cols], header=True)]
    out += [line(cells) for cells in rows]
    if not rows:
        out.append(paint("(no queues yet: the workers have not seen any event)", DIM, colour))
    return out
