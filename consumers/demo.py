"""``callpulse demo`` (what ``make demo`` runs): the whole stack on this machine.

1. a fresh local Kafka broker (run/demo/kafka; its data is wiped at every start, so each
   demo begins from an empty cluster);
2. Alertmanager, when installed (deploy/alertmanager);
3. a worker with deploy/demo.yaml (four queues with their SL targets) and the demo's
   alert rules (deploy/demo/alerts.yaml), delivering to that Alertmanager;
4. Prometheus, when installed (deploy/prometheus), scraping the worker;
5. the simulator with deploy/scenarios/demo.yaml: 20 minutes of history at once, then
   live, with a lunchtime rush on sales that fires an alert and resolves it;
6. the wallboard (``callpulse top``) in this terminal, with alert starts and ends.

Ctrl-C (or SIGTERM) stops everything it started, in order, and checks that nothing is
left. Every process logs to run/demo/NAME.log.

Why the story is compressed rather than the clock (no ``--speed 60``): workers refuse
events more than 300 s ahead of their clock and read their windows at the wall clock, so
a stream that runs faster than time would be dead-lettered or fall outside the windows.
Instead the history goes out at once (the windows are full when the wallboard comes up)
and the rush is short and measured on a 2-minute window, so the whole story fits in
about four minutes of real time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

from .local_kafka import (
    DEFAULT_VERSION,
    REPO_ROOT,
    LocalKafka,
    LocalKafkaError,
    free_ports,
    port_is_free,
)
from .processes import Child
from .top import frame, live, observe, scrape_all, use_colour
from .wallboard import AlertChanges

DEPLOY = REPO_ROOT / "deploy"
WORKER_CONFIG = DEPLOY / "demo.yaml"
SCENARIO = DEPLOY / "scenarios" / "demo.yaml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
ALERT_RULES = DEPLOY / "demo" / "alerts.yaml"
DEFAULT_RUN_DIR = REPO_ROOT / "run" / "demo"
HOST = "127.0.0.1"
# The scenario's rush starts at +19m: one minute before the live part begins.
HISTORY = "20m"
PLAIN_FRAME_EVERY = 10.0  # seconds between frames when stdout is not a terminal
PLAIN_SCRAPE_EVERY = 2.0  # seconds between scrapes for alert changes, ditto
PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")  # Debian's name first


class DemoError(RuntimeError):
    """The demo cannot go on; the message says what failed and where its log is."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Start a local Kafka broker, Alertmanager and Prometheus (when installed), a "
        "callpulse worker and the call simulator, and show the live wallboard: a lunchtime "
        "rush on sales fires an alert within about a minute, which resolves within about "
        "three. Ctrl-C stops everything it started. Logs: RUN_DIR/*.log."
    )
    parser.add_argument(
        "--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="logs and data (default run/demo)"
    )
    parser.add_argument(
        "--kafka-port", type=int, default=9092, help="broker port if free (default 9092; else any)"
    )
    parser.add_argument(
        "--kafka-version",
        default=DEFAULT_VERSION,
        help=f"Kafka version (default {DEFAULT_VERSION})",
    )
    parser.add_argument(
        "--web-port",
        type=int,
        default=6066,
        help="worker /metrics port if free (default 6066; else any)",
    )
    parser.add_argument(
        "--prometheus-port", type=int, default=9090, help="if free (default 9090; else any)"
    )
    parser.add_argument(
        "--alertmanager-port", type=int, default=9093, help="if free (default 9093; else any)"
    )
    parser.add_argument(
        "--no-prometheus", action="store_true", help="do not start Prometheus / Alertmanager"
    )
    parser.add_argument(
        "--window",
        default="2m",
        help="the wallboard's window (default 2m, the one the demo's alert rules watch; "
        "5m, 15m, 1h and today are exported too)",
    )
    parser.add_argument(
        "--for",
        dest="run_for",
        type=float,
        metavar="SECONDS",
        help="stop by itself after this many seconds (default: until Ctrl-C)",
    )


# --- small helpers ------------------------------------------------------------------------


def pick_port(preferred: int) -> int:
    return preferred if preferred and port_is_free(preferred) else free_ports(1)[0]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_http(url: str, child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise DemoError(failure(child, "exited"))
        if http_ok(url):
            return
        time.sleep(0.25)
    raise DemoError(
        f"{child.name} not ready at {url} after {timeout:g}s; {child.log_path}:\n{child.log_tail()}"
    )


def find_binary(names: Sequence[str]) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


def failure(child: Child, what: str) -> str:
    return f"{child.name} {what}; {child.log_path} ends with:\n{child.log_tail()}"


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


@contextlib.contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the demo like Ctrl-C does (cleanly, via ``finally``)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def ignore_interrupts() -> None:
    # A second Ctrl-C must not cut the clean-up short and leave processes behind.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


# --- the stack ----------------------------------------------------------------------------


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_dir: Path = args.run_dir.resolve()
        self.broker = LocalKafka(self.run_dir / "kafka", version=args.kafka_version, detach=True)
        self.children: list[Child] = []
        self.addresses: list[str] = []
        self.bootstrap = ""
        self.metrics_url = ""
        self.alertmanager_url = ""
        self.changes = AlertChanges()

    def python(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "consumers.cli", *args]

    def start_broker(self) -> None:
        if self.broker.status().running:  # left over by a demo that was killed outright
            self.broker.stop()
        shutil.rmtree(self.broker.data_dir, ignore_errors=True)  # every demo starts empty
        self.broker.port = pick_port(self.args.kafka_port)
        say(f"starting Kafka {self.args.kafka_version} (log: {self.broker.log_file}) ...")
        self.bootstrap = self.broker.start(timeout=90.0).bootstrap or ""
        self.addresses.append(f"Kafka {self.bootstrap}")

    def start_alertmanager(self) -> None:
        binary = None if self.args.no_prometheus else find_binary(ALERTMANAGER_BINARIES)
        if binary is None:
            return
        port = pick_port(self.args.alertmanager_port)
        child = self.spawn(
            "alertmanager",
            [
                binary,
                f"--config.file={ALERTMANAGER_CONFIG}",
                f"--storage.path={self.run_dir / 'alertmanager-data'}",
                f"--web.listen-address={HOST}:{port}",
                "--cluster.listen-address=",  # no HA gossip on 0.0.0.0:9094
            ],
        )
        if self._ready("Alertmanager", f"http://{HOST}:{port}/-/ready", child):
            self.alertmanager_url = f"http://{HOST}:{port}"
            self.addresses.append(f"Alertmanager {self.alertmanager_url}")

    def start_worker(self) -> None:
        port = pick_port(self.args.web_port)
        env = {
            **os.environ,
            "CALLPULSE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "CALLPULSE_WORKER__WEB_PORT": str(port),
            "CALLPULSE_WORKER__DATA_DIR": str(self.run_dir / "worker-data"),
            "CALLPULSE_ALERTS__RULES_FILE": str(ALERT_RULES),
        }
        if self.alertmanager_url:
            env["CALLPULSE_ALERTS__ALERTMANAGER_URLS"] = self.alertmanager_url
        worker = self.spawn("worker", self.python("worker", "--config", str(WORKER_CONFIG)), env)
        say(f"starting the worker (log: {worker.log_path}) ...")
        wait_http(f"http://{HOST}:{port}/readyz", worker, timeout=90.0)
        self.metrics_url = f"http://{HOST}:{port}/metrics"
        self.addresses.append(f"metrics {self.metrics_url}")

    def start_prometheus(self) -> None:
        binary = None if self.args.no_prometheus else find_binary(PROMETHEUS_BINARIES)
        if binary is None:
            return
        port = pick_port(self.args.prometheus_port)
        worker_target = self.metrics_url.split("//")[1].split("/")[0]
        am_target = self.alertmanager_url.split("//")[-1] or "127.0.0.1:9"  # :9 = discard
        config = self.run_dir / "prometheus.yml"
        text = PROMETHEUS_CONFIG.read_text().replace("127.0.0.1:6066", worker_target)
        config.write_text(text.replace("127.0.0.1:9093", am_target))
        child = self.spawn(
            "prometheus",
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.run_dir / 'prometheus-data'}",
                f"--web.listen-address={HOST}:{port}",
                "--log.level=warn",
            ],
        )
        if self._ready("Prometheus", f"http://{HOST}:{port}/-/ready", child):
            self.addresses.append(f"Prometheus http://{HOST}:{port}")

    def report_missing(self) -> None:
        if self.args.no_prometheus:
            return
        missing = [
            package
            for package, names in (
                ("prometheus", PROMETHEUS_BINARIES),
                ("prometheus-alertmanager", ALERTMANAGER_BINARIES),
            )
            if find_binary(names) is None
        ]
        if missing:
            say(
                f"not installed, going on without: {', '.join(missing)} "
                f"(Debian/Ubuntu: apt-get install {' '.join(missing)}); the wallboard and "
                "the worker's /metrics show everything, alerts included"
            )

    def _ready(self, name: str, url: str, child: Child) -> bool:
        try:
            wait_http(url, child, timeout=30.0)
        except DemoError as error:
            say(f"{name} did not start, going on without it: {error}")
            return False
        return True

    def start_simulator(self) -> None:
        argv = self.python(
            "simulate",
            "--scenario",
            str(SCENARIO),
            "--config",
            str(WORKER_CONFIG),
            "--bootstrap",
            self.bootstrap,
            f"--start=now-{HISTORY}",
            "--duration",
            "24h",
            "--speed",
            "1",
            "--catch-up",
            "--truth",
            str(self.run_dir / "truth.json"),
        )
        child = self.spawn("simulator", argv)
        say(f"starting the simulator ({child.log_path}): {HISTORY} of history, then live")
        time.sleep(1.0)
        if not child.alive():
            raise DemoError(failure(child, "exited"))

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name, argv, self.run_dir / f"{name}.log", env=env, cwd=REPO_ROOT)
        self.children.append(child)
        return child

    # --- showing and stopping

    def check_children(self) -> None:
        for child in self.children:
            if not child.alive():
                raise DemoError(failure(child, f"stopped ({child.proc.returncode})"))

    def address_lines(self) -> list[str]:
        """Two addresses a line, so the header fits a 100-column terminal."""
        pairs = [self.addresses[i : i + 2] for i in range(0, len(self.addresses), 2)]
        return ["    ".join(pair) for pair in pairs]

    def header(self) -> list[str]:
        self.check_children()
        return [
            *(f"demo: {line}" for line in self.address_lines()),
            "demo: a lunchtime rush on sales: an alert fires in ~1 min, all resolved by ~3 min",
            f"demo: logs in {self.run_dir}/*.log    Ctrl-C stops everything",
        ]

    def show(self) -> None:
        ends = None if self.args.run_for is None else time.monotonic() + self.args.run_for
        done: Callable[[], bool] = lambda: ends is not None and time.monotonic() >= ends  # noqa: E731
        if sys.stdout.isatty():
            live(
                [self.metrics_url],
                self.args.window,
                1.0,
                use_colour("auto", sys.stdout),
                self.header,
                until=done,
                changes=self.changes,
            )
        else:
            self.show_plain(done)

    def show_plain(self, done: Callable[[], bool]) -> None:
        """Not a terminal (a log, CI): alert changes as they happen, and a whole frame
        every PLAIN_FRAME_EVERY seconds, instead of redrawing a screen."""
        next_frame = 0.0
        with ThreadPoolExecutor(max_workers=1) as pool:
            while not done():
                scrapes = scrape_all([self.metrics_url], pool)
                lines, board = frame(scrapes, self.args.window, 160, False, self.header())
                for change in observe(scrapes, board, self.changes):
                    say(change)
                if time.monotonic() >= next_frame:
                    print("\n".join(lines), flush=True)
                    next_frame = time.monotonic() + PLAIN_FRAME_EVERY
                time.sleep(PLAIN_SCRAPE_EVERY)

    def stop(self) -> list[str]:
        """Stop everything, newest first, the broker last; returns what is still running."""
        leftovers = []
        for child in reversed(self.children):
            child.stop(timeout=30.0 if child.name == "worker" else 10.0)
            if child.alive() or child.group_alive():
                leftovers.append(f"{child.name} (process group {child.pgid})")
        with contextlib.suppress(LocalKafkaError, OSError):
            self.broker.stop()
        status = self.broker.status()
        if status.running:
            leftovers.append(f"kafka (pid {status.pid})")
        return leftovers


def run(args: argparse.Namespace) -> int:
    demo = Demo(args)
    code = 0
    interrupted = False
    try:
        with interrupts_as_keyboard_interrupt():
            try:
                demo.start_broker()
                demo.report_missing()
                demo.start_alertmanager()
                demo.start_worker()
                demo.start_prometheus()
                demo.start_simulator()
                for line in demo.address_lines():
                    say(line)
                demo.show()
            except KeyboardInterrupt:
                interrupted = True
    except (DemoError, LocalKafkaError) as error:
        print(f"callpulse demo: {error}", file=sys.stderr)
        code = 1
    finally:
        ignore_interrupts()
        if demo.addresses or demo.children:
            say(
                "stopping "
                + ", ".join([*(c.name for c in reversed(demo.children)), "kafka"])
                + " ..."
            )
        leftovers = demo.stop()
        if leftovers:
            print(f"callpulse demo: still running: {', '.join(leftovers)}", file=sys.stderr)
            code = 1
        else:
            say(f"stopped; nothing left running. Logs: {demo.run_dir}")
        if demo.metrics_url:
            say(
                f"alerts seen on the wallboard: {demo.changes.started} started, "
                f"{demo.changes.ended} ended"
            )
    return 0 if interrupted and code == 0 else code
