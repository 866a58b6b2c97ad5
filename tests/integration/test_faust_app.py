"""The faust smoke app (consumers/smoke_app.py) as a real worker process on the real broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from consumers import smoke_app
from consumers.local_kafka import REPO_ROOT, LocalKafka, free_ports
from tests.integration.test_kafka_roundtrip import consume

pytestmark = pytest.mark.kafka

START_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Worker:
    proc: subprocess.Popen[bytes]
    web: str  # http://127.0.0.1:PORT
    log_file: Path
    data_dir: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


async def _web_answers(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _topics_exist(bootstrap: str, names: set[str]) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return names <= set(await admin.list_topics())
    finally:
        await admin.close()


async def _wait_ready(worker: Worker, bootstrap: str) -> None:
    # Ready = the web page answers and the app has created its input and output topics.
    topics = {smoke_app.INPUT_TOPIC, smoke_app.OUTPUT_TOPIC}
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if worker.proc.poll() is not None:
            pytest.fail(f"faust worker exited ({worker.proc.returncode}):\n{worker.log_tail()}")
        if await _web_answers(f"{worker.web}/smoke/") and await _topics_exist(bootstrap, topics):
            return
        await asyncio.sleep(0.25)
    pytest.fail(f"faust worker not ready in {START_TIMEOUT:g}s:\n{worker.log_tail()}")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@pytest.fixture
async def smoke_worker(kafka_broker: LocalKafka, tmp_path: Path) -> AsyncIterator[Worker]:
    (port,) = free_ports(1)
    data_dir = tmp_path / "faust-data"
    env = {
        **os.environ,
        "CALLPULSE_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "CALLPULSE_FAUST_DATADIR": str(data_dir),
    }
    cmd = [
        sys.executable, "-m", "faust", "-A", "consumers.smoke_app", "worker",
        "-l", "info", "--web-port", str(port), "--web-host", "127.0.0.1",
    ]  # fmt: skip
    log_file = tmp_path / "worker.log"
    with log_file.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker = Worker(proc, f"http://127.0.0.1:{port}", log_file, data_dir)
    try:
        await _wait_ready(worker, kafka_broker.bootstrap)
        yield worker
    finally:
        _stop(proc)


async def test_smoke_worker_forwards_records_and_serves_its_web_port(
    smoke_worker: Worker, kafka_broker: LocalKafka
) -> None:
    sent = [(f"q{n % 3}".encode(), {"n": n, "queue": f"q{n % 3}"}) for n in range(30)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    await producer.start()
    try:
        for key, value in sent:
            await producer.send_and_wait(smoke_app.INPUT_TOPIC, orjson.dumps(value), key=key)
    finally:
        await producer.stop()

    records = await consume(
        kafka_broker.bootstrap, smoke_app.OUTPUT_TOPIC, len(sent), group="test-smoke-out"
    )
    received = [(r.key, orjson.loads(r.value or b"")) for r in records]
    assert len(received) == len(sent), smoke_worker.log_tail()
    for key in {k for k, _ in sent}:
        # Per key: same records, same order, and the table's count numbers them 1..n.
        expected = [{**v, "seq": i} for i, v in enumerate((v for k, v in sent if k == key), 1)]
        assert [v for k, v in received if k == key] == expected

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{smoke_worker.web}/smoke/") as response,
    ):
        assert response.status == 200
        stats = await response.json()
    assert stats == {"app": smoke_app.APP_ID, "forwarded": len(sent)}


async def test_smoke_worker_keeps_its_state_out_of_the_repo(smoke_worker: Worker) -> None:
    assert smoke_worker.data_dir.is_dir()
    assert not any(REPO_ROOT.glob(f"{smoke_app.APP_ID}*")), "faust wrote a data dir in the repo"


async def test_smoke_worker_stops_cleanly_on_sigterm(smoke_worker: Worker) -> None:
    assert _stop(smoke_worker.proc) == 0, smoke_worker.log_tail()
