"""Run the event tools (`callpulse simulate`, `callpulse replay`) as a user would: a
subprocess with the test's topics in its environment, as the worker gets them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .worker_harness import REPO, Topics

TOOL_TIMEOUT = 120.0


def run_tool(bootstrap: str, topics: Topics, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **topics.env(bootstrap)}
    return subprocess.run(
        [sys.executable, "-m", "consumers.cli", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def simulate_file(path: Path, *argv: str) -> list[bytes]:
    """Simulated events as JSONL lines (the defaults: the hour before now, at once)."""
    done = subprocess.run(
        [sys.executable, "-m", "consumers.cli", "simulate", "-o", str(path), "-q", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return path.read_bytes().splitlines()
