"""``callpulse top``: a live terminal wallboard of one or more workers' /metrics.

Every ``--interval`` seconds it scrapes each ``--url`` (in parallel), merges the queues
(consumers/wallboard.py) and redraws the screen, with the alerts that started or ended
since it attached listed under the table; ``--once`` prints a single frame and exits.
Ctrl-C restores the terminal and exits with status 0.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TextIO

from .wallboard import (
    DIM,
    RED,
    AlertChanges,
    Board,
    Samples,
    build_board,
    paint,
    parse,
    render_table,
)

DEFAULT_URL = "http://127.0.0.1:6066/metrics"
SCRAPE_TIMEOUT = 3.0
ALT_SCREEN_ON, ALT_SCREEN_OFF = "\x1b[?1049h\x1b[?25l", "\x1b[?25h\x1b[?1049l"
HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"


@dataclass(slots=True)
class Scrape:
    url: str
    samples: Samples | None
    error: str | None = None


def normalise_url(text: str) -> str:
    """``127.0.0.1:6066`` -> ``http://127.0.0.1:6066/metrics``."""
    url = text if "://" in text else f"http://{text}"
    scheme, rest = url.split("://", 1)
    if "/" not in rest:
        url = f"{scheme}://{rest}/metrics"
    return url


def scrape(url: str, timeout: float = SCRAPE_TIMEOUT) -> Scrape:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
        return Scrape(url, parse(body.decode("utf-8")))
    except urllib.error.HTTPError as error:
        return Scrape(url, None, f"HTTP {error.code}")
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Scrape(url, None, str(reason))
    except ValueError as error:  # not the Prometheus text format
        return Scrape(url, None, f"not a metrics page ({error})")


def scrape_all(urls: Sequence[str], pool: ThreadPoolExecutor) -> list[Scrape]:
    return list(pool.map(scrape, urls))


def frame(
    scrapes: Sequence[Scrape],
    window: str,
    width: int,
    colour: bool,
    header: Sequence[str] = (),
    now: float | None = None,
    changes: Sequence[str] = (),
) -> tuple[list[str], Board]:
    """The lines of one screen; ``changes``: recent alert starts and ends."""
    board = build_board((s.samples for s in scrapes if s.samples is not None), window)
    clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    ok = sum(s.samples is not None for s in scrapes)
    lines = [
        f"callpulse top  {clock}  SL window {window}  workers {ok}/{len(scrapes)} answering",
        *header,
    ]
    for s in scrapes:
        if s.error:
            lines.append(paint(f"  {s.url}: {s.error}", RED, colour))
    if board.windows and window not in board.windows:
        lines.append(
            paint(f"  --window {window}: not exported; try {', '.join(board.windows)}", RED, colour)
        )
    lines.append("")
    lines += render_table(board, width, colour)
    if changes:
        lines += ["", paint("recent alert changes:", DIM, colour), *(f"  {c}" for c in changes)]
    lines.append("")
    lines.append(
        paint(
            "SL colours: green >= target, yellow within 5 points, red below.  Ctrl-C quits.",
            DIM,
            colour,
        )
    )
    return lines, board


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "A live wallboard in the terminal: one row per queue with calls waiting, longest "
        "wait, agents by state, service level against its target, abandon rate, ASA, AHT "
        "(and firing alerts, when the workers export them), read from the workers' "
        "Prometheus /metrics. Rows from several workers are merged."
    )
    parser.add_argument(
        "--url",
        action="append",
        metavar="URL",
        help=f"a worker's metrics endpoint, repeatable (default {DEFAULT_URL}); "
        "HOST:PORT is enough",
    )
    parser.add_argument(
        "--window",
        default="15m",
        help="the sliding window of SL, abandon, ASA, AHT: one the workers export, e.g. "
        "5m, 15m, 1h, today (default 15m)",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between refreshes (default 1)"
    )
    parser.add_argument("--once", action="store_true", help="print one frame and exit")
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colours: auto = when stdout is a terminal and NO_COLOR is unset (default)",
    )


def use_colour(choice: str, stream: TextIO) -> bool:
    if choice == "auto":
        return stream.isatty() and not os.environ.get("NO_COLOR")
    return choice == "always"


def observe(scrapes: Sequence[Scrape], board: Board, changes: AlertChanges) -> list[str]:
    """Record alert starts and ends, only from complete scrapes: a worker that did not
    answer this time must not make its alerts look resolved."""
    if all(s.samples is not None for s in scrapes):
        return changes.observe(board)
    return []


def live(
    urls: Sequence[str],
    window: str,
    interval: float,
    colour: bool,
    header: Callable[[], Sequence[str]] = lambda: (),
    stream: TextIO = sys.stdout,
    until: Callable[[], bool] = lambda: False,
    changes: AlertChanges | None = None,
) -> None:
    """Redraw until Ctrl-C (KeyboardInterrupt, re-raised) or ``until()``; the terminal is
    restored either way."""
    changes = changes if changes is not None else AlertChanges()
    stream.write(ALT_SCREEN_ON)
    try:
        with ThreadPoolExecutor(max_workers=min(len(urls), 8)) as pool:
            while not until():
                started = time.monotonic()
                size = shutil.get_terminal_size()
                scrapes = scrape_all(urls, pool)
                lines, board = frame(
                    scrapes, window, size.columns, colour, header(), changes=changes.lines
                )
                observe(scrapes, board, changes)  # what changed shows from the next frame
                body = f"{CLEAR_LINE}\n".join(line for line in lines[: size.lines - 1])
                stream.write(f"{HOME}{body}{CLEAR_LINE}{CLEAR_BELOW}")
                stream.flush()
                time.sleep(max(interval - (time.monotonic() - started), 0.05))
    finally:
        stream.write(ALT_SCREEN_OFF)
        stream.flush()


def run(args: argparse.Namespace) -> int:
    urls = [normalise_url(u) for u in (args.url or [DEFAULT_URL])]
    if args.interval <= 0:
        print("callpulse top: --interval: must be > 0", file=sys.stderr)
        return 2
    colour = use_colour(args.color, sys.stdout)
    if args.once:
        with ThreadPoolExecutor(max_workers=min(len(urls), 8)) as pool:
            scrapes = scrape_all(urls, pool)
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 200
        lines, board = frame(scrapes, args.window, width, colour)
        print("\n".join(lines))
        if all(s.samples is None for s in scrapes):
            return 1
        return 2 if board.windows and args.window not in board.windows else 0
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way out
        live(urls, args.window, args.interval, colour)
    return 0
