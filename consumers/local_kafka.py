"""A local single-node Apache Kafka broker (KRaft) for development and tests.

The broker's jars come from Maven Central through ``deploy/kafka/pom.xml`` and are cached
(``.cache/kafka/<version>/libs``, or ``$CALLPULSE_KAFKA_CACHE/<version>/libs``). A run dir
holds everything about one broker::

    server.properties   rendered from BrokerConfig
    data/               KRaft storage (formatted once, kept across restarts)
    kafka.log           the broker's stdout/stderr (log4j2 -> stdout)
    kafka.pid           pid of the running broker
    broker.json         ports, version and paths of the last start

``LocalKafka`` starts, probes, stops and reports on one broker; the pytest fixture
``kafka_broker``, ``callpulse kafka ...`` and the Makefile all go through it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
POM_FILE = DEPLOY_DIR / "pom.xml"
LOG4J2_CONFIG = DEPLOY_DIR / "log4j2.xml"
DEFAULT_RUN_DIR = REPO_ROOT / "run" / "kafka"
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "kafka"
CACHE_ENV = "CALLPULSE_KAFKA_CACHE"

DEFAULT_VERSION = "4.1.1"
DEFAULT_PORT = 9092
HOST = "127.0.0.1"
MIN_JAVA = 17
INSTALL_HINT = "apt-get install openjdk-17-jre-headless maven"
MARKER_NAME = ".complete"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

# Small heap and no big pre-touch: a dev broker on a 2-core box should start in seconds.
BROKER_JVM_OPTS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# The format tool runs for a second; the client compiler alone starts it faster.
TOOL_JVM_OPTS = ("-Xmx256m", "-XX:TieredStopAtLevel=1")


class LocalKafkaError(RuntimeError):
    """Base for local-broker failures; the message is meant for a human."""


class ToolMissingError(LocalKafkaError):
    """java or mvn is missing or too old."""


class BrokerStartError(LocalKafkaError):
    """The broker did not come up; the message ends with the tail of kafka.log."""


# --- prerequisites ------------------------------------------------------------------------


def missing_tools_message(missing: Sequence[str]) -> str:
    names = " and ".join(missing)
    return (
        f"{names} not found on PATH: the local Kafka broker needs Java {MIN_JAVA}+ (java) "
        f"and Maven (mvn, to fetch the broker's jars). Install them with:\n"
        f"    {INSTALL_HINT}"
    )


def require_tools(tools: Sequence[str], which: Callable[[str], str | None] = shutil.which) -> None:
    missing = [tool for tool in tools if which(tool) is None]
    if missing:
        raise ToolMissingError(missing_tools_message(missing))


def parse_java_major(version_output: str) -> int | None:
    """Major version from ``java -version`` output ("17.0.15" -> 17, "1.8.0_392" -> 8)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match[1])
    if major == 1 and match[2] is not None:
        major = int(match[2])
    return major


def check_java_version(java: str = "java") -> str:
    """The JVM's version string ("17.0.15"); raises if it is older than Java 17."""
    # Kafka 4.x brokers are compiled for Java 17; an older JVM fails with an obscure
    # UnsupportedClassVersionError deep in the log, so say it up front.
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    output = result.stderr + result.stdout
    major = parse_java_major(output)
    if major is not None and major < MIN_JAVA:
        raise ToolMissingError(
            f"java is version {major}; the Kafka broker needs Java {MIN_JAVA}+. "
            f"Install it with:\n    {INSTALL_HINT}"
        )
    match = re.search(r'version "([^"]+)"', output)
    return match[1] if match else "unknown"


# --- jars ---------------------------------------------------------------------------------


def cache_root() -> Path:
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else DEFAULT_CACHE_DIR


def libs_dir(version: str, cache: Path | None = None) -> Path:
    return (cache or cache_root()) / version / "libs"


def _pom_digest() -> str:
    return hashlib.sha256(POM_FILE.read_bytes()).hexdigest()[:16]


def jars_ready(libs: Path, version: str) -> bool:
    """True when a previous fetch of this version with this pom.xml completed."""
    try:
        marker = json.loads((libs / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return False
    if marker.get("version") != version or marker.get("pom") != _pom_digest():
        return False
    jars = marker.get("jars") or []
    return bool(jars) and all((libs / jar).is_file() for jar in jars)


def ensure_jars(version: str = DEFAULT_VERSION, cache: Path | None = None) -> Path:
    """Return the libs dir for ``version``, running Maven only if the cache is incomplete."""
    libs = libs_dir(version, cache)
    if jars_ready(libs, version):
        return libs
    require_tools(["mvn"])
    shutil.rmtree(libs, ignore_errors=True)  # drop a partial copy from an interrupted run
    for archive in libs.parent.glob("*.jsa*"):
        archive.unlink()  # class archives name the old jars: stale now
    print(f"callpulse: fetching Kafka {version} jars with Maven into {libs}", file=sys.stderr)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(POM_FILE),
        "dependency:copy-dependencies",
        f"-Dkafka.version={version}",
        f"-Dkafka.libs.dir={libs.resolve()}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # Maven 3.8 colours even in batch mode; its first [ERROR] line is the useful one.
        output = ANSI_ESCAPE.sub("", result.stdout + result.stderr)[:4000]
        raise LocalKafkaError(f"Maven could not fetch Kafka {version} ({' '.join(cmd)}):\n{output}")
    jars = sorted(p.name for p in libs.glob("*.jar"))
    marker = {"version": version, "pom": _pom_digest(), "jars": jars}
    (libs / MARKER_NAME).write_text(json.dumps(marker, indent=1))
    return libs


# --- configuration ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    port: int
    controller_port: int
    data_dir: Path
    host: str = HOST
    # Off on purpose: topics are a design decision here (the events topic is keyed and
    # partitioned by queue), and auto-creation would silently make a 1-partition topic
    # on a typo or race a consumer that subscribes before the topic exists.
    auto_create_topics: bool = False
    num_partitions: int = 1

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


def render_server_properties(config: BrokerConfig) -> str:
    host = config.host
    props: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@{host}:{config.controller_port}",
        "listeners": f"PLAINTEXT://{host}:{config.port},CONTROLLER://{host}:{config.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{config.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": config.data_dir,
        "num.partitions": config.num_partitions,
        "auto.create.topics.enable": str(config.auto_create_topics).lower(),
        # One node: every internal topic has one replica, and one partition each so the
        # first consumer group or transaction does not wait for 50 partitions to load.
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "transaction.state.log.num.partitions": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        # Tests join groups constantly; the default 3 s delay would be paid on every join.
        "group.initial.rebalance.delay.ms": 0,
    }
    lines = [f"{key}={value}" for key, value in props.items()]
    return (
        "# Generated by consumers/local_kafka.py; rewritten on every start.\n"
        + "\n".join(lines)
        + "\n"
    )


def new_cluster_id() -> str:
    """A KRaft cluster id: a UUID in URL-safe base64 without padding (22 chars)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct ports that are free now (all sockets held open while picking)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        # Same option the JVM sets, so a port in TIME_WAIT counts as free, as it will be.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def class_data_sharing_opts(archive: Path) -> tuple[list[str], Path | None]:
    """JVM options for AppCDS, and the file a first run dumps to (None if reusing one).

    The first broker's clean exit dumps the classes it loaded; later starts map them
    instead of loading and verifying them again, which cuts start-up by about 40%.
    """
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}"], None
    # A private name per run: two first runs at once must not write one file.
    pending = archive.with_name(f"{archive.name}.{uuid.uuid4().hex[:8]}.tmp")
    return [f"-XX:ArchiveClassesAtExit={pending}"], pending


# --- processes ----------------------------------------------------------------------------


def _process_state(pid: int) -> str | None:
    """Linux process state letter ('R', 'S', 'Z', ...) or None if there is no such pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def is_broker_process(pid: int, props_file: Path) -> bool:
    # A pid file can outlive its process and the pid be reused: only a live java running
    # kafka.Kafka with *this* run dir's server.properties is ours to signal.
    if _process_state(pid) in (None, "Z", "X"):
        return False
    args = _cmdline(pid)
    return "kafka.Kafka" in args and str(props_file) in args


def _wait_gone(pid: int, props_file: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_broker_process(pid, props_file):
            return True
        time.sleep(0.05)
    return not is_broker_process(pid, props_file)


def _die_with_parent() -> None:
    # Runs in the child before exec: if the test process dies (even by SIGKILL), the
    # kernel sends the broker SIGTERM, so a crashed test run leaves no stray broker.
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# --- readiness ----------------------------------------------------------------------------


def _accepts_tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def _metadata_has_brokers(bootstrap: str, timeout: float) -> bool:
    from aiokafka import AIOKafkaClient  # lazy: `callpulse --help` need not load aiokafka
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except KafkaError:
        return False
    finally:
        await client.close()


def probe_metadata(bootstrap: str, timeout: float = 5.0) -> bool:
    """A real Metadata request: True once the broker answers and lists itself."""
    # In a worker thread so this works even when the caller has an event loop running.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _metadata_has_brokers(bootstrap, timeout)).result()


def wait_until_ready(host: str, port: int, alive: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise BrokerStartError("the broker process exited during start-up")
        # TCP first: aiokafka logs an error per refused connection, which is just noise here.
        if _accepts_tcp(host, port) and probe_metadata(f"{host}:{port}"):
            return
        time.sleep(0.1)
    raise BrokerStartError(f"the broker did not answer a metadata request within {timeout:g}s")


# --- the broker ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str | None
    version: str | None
    log_file: Path

    def describe(self) -> str:
        if self.running:
            return f"running  {self.bootstrap}  (Kafka {self.version}, pid {self.pid})"
        return "not running"


class LocalKafka:
    """One broker, one run dir. Reuses a formatted data dir across restarts."""

    def __init__(
        self,
        run_dir: Path = DEFAULT_RUN_DIR,
        *,
        version: str = DEFAULT_VERSION,
        port: int = 0,
        cache: Path | None = None,
        detach: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.version = version
        self.port = port  # 0 = any free port
        self.cache = cache
        # detach: own session, survives the caller (CLI). Otherwise dies with the caller.
        self.detach = detach
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """HOST:PORT of the last start (for clients); empty if never started here."""
        return self._read_state().get("bootstrap", "")

    @property
    def props_file(self) -> Path:
        return self.run_dir / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "kafka.log"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "kafka.pid"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "broker.json"

    # --- public operations

    def start(self, timeout: float = 60.0) -> BrokerStatus:
        current = self.status()
        if current.running:
            return current
        require_tools(["java"])
        java_version = check_java_version()
        libs = ensure_jars(self.version, self.cache)
        archive = libs.parent / f"broker-java{java_version}.jsa"
        cds_opts, cds_pending = class_data_sharing_opts(archive)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = self._configure(cds_archive=archive, cds_pending=cds_pending)
        # The format tool shares the broker's classes: map an existing archive, never dump.
        self._format_storage(libs, cds_opts if cds_pending is None else [])
        pid = self._spawn(libs, cds_opts)
        try:
            wait_until_ready(config.host, config.port, lambda: self._alive(pid), timeout)
        except BrokerStartError as exc:
            self.stop()
            tail = f"--- {self.log_file} (tail) ---\n{self.log_tail()}"
            raise BrokerStartError(f"{exc}\n{tail}") from None
        return self.status()

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGTERM, wait, then SIGKILL. True if a running broker was stopped."""
        pid = self._read_pid()
        stopped = False
        if pid is not None and is_broker_process(pid, self.props_file):
            os.kill(pid, signal.SIGTERM)
            clean = _wait_gone(pid, self.props_file, timeout)
            if not clean:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, self.props_file, 5.0)
            self._publish_class_archive(clean)
            stopped = True
        if self._proc is not None:
            self._proc.wait(timeout=5.0)  # reap our child so it is not left a zombie
            self._proc = None
        self.pid_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> BrokerStatus:
        pid = self._read_pid()
        running = pid is not None and is_broker_process(pid, self.props_file)
        state = self._read_state() if running else {}
        return BrokerStatus(
            running=running,
            pid=pid if running else None,
            bootstrap=state.get("bootstrap"),
            version=state.get("version"),
            log_file=self.log_file,
        )

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log yet)"
        return "\n".join(text.splitlines()[-lines:])

    # --- steps of start()

    def _configure(self, cds_archive: Path, cds_pending: Path | None) -> BrokerConfig:
        if self.port:
            if not port_is_free(self.port):
                raise LocalKafkaError(
                    f"port {self.port} on {HOST} is in use; pick another with --port "
                    f"(0 = any free port)"
                )
            port, controller_port = self.port, free_ports(1)[0]
        else:
            port, controller_port = free_ports(2)
        config = BrokerConfig(port=port, controller_port=controller_port, data_dir=self.data_dir)
        self.props_file.write_text(render_server_properties(config))
        state = {
            "bootstrap": config.bootstrap,
            "port": port,
            "controller_port": controller_port,
            "version": self.version,
            "data_dir": str(self.data_dir),
            "log_file": str(self.log_file),
            "cds_archive": str(cds_archive),
            "cds_pending": str(cds_pending) if cds_pending else None,
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        return config

    def _format_storage(self, libs: Path, extra_jvm_opts: Sequence[str]) -> None:
        if (self.data_dir / "meta.properties").exists():
            return  # formatted by an earlier start: keep topics and offsets
        cmd = [
            "java",
            *TOOL_JVM_OPTS,
            *extra_jvm_opts,
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            "-cp",
            f"{libs}/*",
            "kafka.tools.StorageTool",
            "format",
            # One argument: an id may start with "-", which would read as an option.
            f"--cluster-id={new_cluster_id()}",
            "--config",
            str(self.props_file),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        with self.log_file.open("a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise BrokerStartError(
                f"formatting KRaft storage failed ({' '.join(cmd)}):\n"
                f"{(result.stdout + result.stderr)[-3000:]}"
            )

    def _spawn(self, libs: Path, extra_jvm_opts: Sequence[str]) -> int:
        cmd = [
            "java",
            *BROKER_JVM_OPTS,
            *extra_jvm_opts,
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(self.props_file),
        ]
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.run_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.detach,
                preexec_fn=None if self.detach else _die_with_parent,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        return self._proc.pid

    def _publish_class_archive(self, clean_exit: bool) -> None:
        state = self._read_state()
        pending, archive = state.get("cds_pending"), state.get("cds_archive")
        if not pending or not Path(pending).is_file():
            return
        if clean_exit and archive:
            os.replace(pending, archive)  # atomic: a reader sees no archive or a whole one
        else:
            Path(pending).unlink()  # a killed JVM may have left half an archive

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        return is_broker_process(pid, self.props_file)

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _read_state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}


# --- `callpulse kafka ...` ----------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``kafka`` subcommands to the ``callpulse kafka`` parser."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser(
        "start",
        help="start the broker in the background and print its bootstrap address",
        description="Fetch the jars if needed (Maven, cached), format storage on first use, "
        "start a single-node KRaft broker detached from this shell and wait until it "
        "answers a metadata request. Prints HOST:PORT. Does nothing if already running.",
    )
    start.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"client port on {HOST} (default {DEFAULT_PORT}; 0 = any free port)",
    )
    start.add_argument(
        "--version",
        default=DEFAULT_VERSION,
        help=f"Apache Kafka version from Maven Central (default {DEFAULT_VERSION})",
    )
    start.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the broker (default 60)"
    )
    actions.add_parser(
        "stop",
        help="stop the broker (SIGTERM, then SIGKILL after 20 s)",
        description="Stop the broker recorded in the run dir; a no-op if none is running.",
    )
    actions.add_parser(
        "status",
        help="say whether the broker is running, and where (exit 0 if running, else 1)",
        description="Print 'running HOST:PORT ...' or 'not running'. Exit 0 when running.",
    )
    fetch = actions.add_parser(
        "fetch",
        help="download the broker jars with Maven unless already cached",
        description=f"Copy the Kafka jars into the cache (${CACHE_ENV} or .cache/kafka) "
        "and print the libs dir. Runs Maven only if the cache is missing or incomplete.",
    )
    fetch.add_argument(
        "--version", default=DEFAULT_VERSION, help=f"Kafka version (default {DEFAULT_VERSION})"
    )
    for sub in actions.choices.values():
        sub.add_argument(
            "--run-dir",
            type=Path,
            default=DEFAULT_RUN_DIR,
            help=f"where pid, ports, data and kafka.log live (default {DEFAULT_RUN_DIR})",
        )


def run(args: argparse.Namespace) -> int:
    version = getattr(args, "version", DEFAULT_VERSION)
    broker = LocalKafka(args.run_dir, version=version, port=getattr(args, "port", 0))
    try:
        if args.action == "fetch":
            print(ensure_jars(version))
        elif args.action == "start":
            if broker.status().running:
                print("callpulse kafka start: already running", file=sys.stderr)
            print(broker.start(timeout=args.timeout).bootstrap)
        elif args.action == "stop":
            print("stopped" if broker.stop() else "not running")
        else:
            status = broker.status()
            print(status.describe())
            return 0 if status.running else 1
    except LocalKafkaError as exc:
        print(f"callpulse kafka {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0
