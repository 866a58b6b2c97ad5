"""Smoke app: the smallest faust worker that proves the stack works end to end.

It consumes JSON records from ``callpulse.smoke.in``, counts them per key in a faust
table (a changelog topic on the broker, state under the data dir), and forwards each
record with its per-key sequence number to ``callpulse.smoke.out``. ``GET /smoke/`` on
the web port reports how many records it forwarded. Nothing in callpulse depends on it;
tests/integration/test_faust_app.py runs it as a real worker process::

    CALLPULSE_KAFKA_BOOTSTRAP=127.0.0.1:9092 \\
        python -m faust -A consumers.smoke_app worker -l info --web-port 6066

Environment: ``CALLPULSE_KAFKA_BOOTSTRAP`` (default 127.0.0.1:9092) and
``CALLPULSE_FAUST_DATADIR`` (default a directory under the system temp dir, so a worker
never writes state into the repository).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import faust
import orjson
from faust.web import Request, Response, View

APP_ID = "callpulse-smoke"
INPUT_TOPIC = "callpulse.smoke.in"
OUTPUT_TOPIC = "callpulse.smoke.out"
PARTITIONS = 3

BOOTSTRAP = os.environ.get("CALLPULSE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
DATA_DIR = os.environ.get("CALLPULSE_FAUST_DATADIR") or os.path.join(tempfile.gettempdir(), APP_ID)

app = faust.App(
    APP_ID,
    broker=f"kafka://{BOOTSTRAP}",
    datadir=DATA_DIR,
    topic_partitions=PARTITIONS,
    topic_replication_factor=1,
    store="memory://",
)

# internal=True: faust creates the topic (with PARTITIONS) before subscribing, because
# the local broker does not auto-create topics.
# Raw bytes in and out: decoding is ours (orjson), as on the real hot path.
RAW = {"key_serializer": "raw", "value_serializer": "raw"}
source = app.topic(INPUT_TOPIC, partitions=PARTITIONS, internal=True, **RAW)
sink = app.topic(OUTPUT_TOPIC, partitions=PARTITIONS, **RAW)
seen_per_key = app.Table("smoke-seen-per-key", default=int, partitions=PARTITIONS)
forwarded = {"records": 0}  # this worker only; read by the web page


@app.agent(source)
async def forward(stream: faust.StreamT[bytes]) -> None:
    await sink.maybe_declare()  # the agent owns its output topic
    async for event in stream.events():
        key = event.key.decode()  # str keys: the table's changelog key is JSON
        seen_per_key[key] += 1
        record: dict[str, Any] = orjson.loads(event.value)
        record["seq"] = seen_per_key[key]
        await sink.send(key=event.key, value=orjson.dumps(record))
        forwarded["records"] += 1


@app.page("/smoke/")
class SmokeStats(View):
    async def get(self, request: Request) -> Response:
        return self.json({"app": APP_ID, "forwarded": forwarded["records"]})
