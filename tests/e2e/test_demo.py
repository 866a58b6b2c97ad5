"""`callpulse demo` as `make demo` runs it: everything comes up, the wallboard shows the
four queues, and Ctrl-C (SIGINT) stops every process it started, leaving none behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from consumers.local_kafka import REPO_ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

START_TIMEOUT = 120.0
STOP_TIMEOUT = 90.0
QUEUES = ("billing", "chat", "sales", "support")


def descendants(root: int) -> set[int]:
    """Every live process below ``root`` (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Output:
    """The demo's stdout, read in a thread so the test can wait for lines."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._lock:
                self.text += line

    def join(self) -> None:
        self._thread.join(5)

    def wait_for(self, proc: subprocess.Popen[str], *needles: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            with self._lock:
                if all(needle in self.text for needle in needles):
                    return
            time.sleep(0.2)
        raise AssertionError(f"demo output lacks {needles}:\n{self.text}")


def test_demo_starts_everything_and_ctrl_c_leaves_nothing_running(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "consumers.cli", "demo", "--run-dir", str(tmp_path)]
    ports = ["--kafka-port", "0", "--web-port", "0"]
    ports += ["--prometheus-port", "0", "--alertmanager-port", "0"]
    proc = subprocess.Popen(
        [*argv, *ports],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output = Output(proc)
    started: set[int] = set()
    try:
        # Not a terminal: the demo prints plain frames; the first one with every queue.
        output.wait_for(proc, "metrics http://127.0.0.1:", *QUEUES)
        started = descendants(proc.pid)
        assert len(started) >= 3  # at least the broker, the worker and the simulator
        proc.send_signal(signal.SIGINT)
        code = proc.wait(STOP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output.join()
    assert code == 0, output.text
    assert "nothing left running" in output.text
    assert not [pid for pid in started if alive(pid)], output.text
    for log in ("worker.log", "simulator.log", "kafka/kafka.log"):
        assert (tmp_path / log).stat().st_size > 0
    # Prometheus and Alertmanager are optional: started when installed, else named.
    for name, binary in (("Prometheus", "prometheus"), ("Alertmanager", "prometheus-alertmanager")):
        if shutil.which(binary):
            assert f"{name} http://127.0.0.1:" in output.text
        else:
            assert "not installed, going on without: " in output.text
