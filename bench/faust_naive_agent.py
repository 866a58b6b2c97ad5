"""The naive faust baseline of bench/worker_throughput.py: one ``@app.agent`` that takes the
events one at a time, decodes each with orjson and updates a plain dict.

It is what the architecture guide (decision 3) argues against, measured on the same topic
as the worker. Not a benchmark on its own: worker_throughput.py runs it as a subprocess::

    BENCH_BOOTSTRAP=HOST:PORT BENCH_TOPIC=T BENCH_EXPECTED=N BENCH_RESULT=out.json \\
        python bench/faust_naive_agent.py worker -l warning --web-port PORT

It writes ``{"count", "first", "last"}`` (wall-clock seconds of the first and the latest
event) to ``BENCH_RESULT`` about twice a second and when it has seen ``BENCH_EXPECTED``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import faust
import orjson

BOOTSTRAP = os.environ.get("BENCH_BOOTSTRAP", "127.0.0.1:9092")
TOPIC = os.environ.get("BENCH_TOPIC", "callpulse.events")
EXPECTED = int(os.environ.get("BENCH_EXPECTED", "0"))
RESULT = Path(os.environ.get("BENCH_RESULT", "faust-naive.json"))

app = faust.App(
    os.environ.get("BENCH_APP_ID", "callpulse-bench-naive"),
    broker=f"kafka://{BOOTSTRAP}",
    datadir=tempfile.mkdtemp(prefix="callpulse-bench-faust-"),
    store="memory://",
    consumer_auto_offset_reset="earliest",
)
# Raw bytes: decoding is the agent's own (orjson), as in the worker.
events = app.topic(TOPIC, key_serializer="raw", value_serializer="raw")
per_queue_type: dict[tuple[bytes, str], int] = {}
seen = {"count": 0, "first": 0.0, "last": 0.0}


def _write() -> None:
    tmp = RESULT.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(seen))
    tmp.replace(RESULT)  # the reader never sees half a file


@app.agent(events)
async def count(stream: faust.StreamT[bytes]) -> None:
    next_write = 0.0
    async for key, value in stream.items():
        event = orjson.loads(value)
        slot = (key, event["type"])
        per_queue_type[slot] = per_queue_type.get(slot, 0) + 1
        now = time.time()
        if not seen["count"]:
            seen["first"] = now
        seen["count"] += 1
        seen["last"] = now
        if now >= next_write or seen["count"] == EXPECTED:
            _write()
            next_write = now + 0.5


if __name__ == "__main__":
    app.main()
