"""Run a tool's async main so that Ctrl-C (SIGINT) and SIGTERM end it cleanly.

Either signal cancels the main task: its ``finally`` blocks run (a producer flushes, a
file is closed, the summary is printed) instead of the process dying mid-write.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_cancellable(main: Coroutine[Any, Any, T]) -> T:
    async def runner() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await main
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return asyncio.run(runner())


async def checkpoint() -> None:
    """Let the loop run signal handlers in a loop that would otherwise never yield."""
    await asyncio.sleep(0)
