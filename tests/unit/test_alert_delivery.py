"""Delivery to a local HTTP receiver (a real aiohttp server): the Alertmanager v2 body,
re-sends while firing, the signed webhook, retries while the receiver is down, and the
bounded buffers that count what they push out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from alerts.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER, Delivery, DeliveryConfig, sign
from alerts.evaluator import Notification
from consumers.alerting import AlertHook
from consumers.settings import settings_from_dict

T = 1_780_000_000.0
FAST = {"backoff_min": 0.01, "backoff_max": 0.05, "poll_interval": 0.01}


def note(status: str = "firing", queue: str = "sales", repeat: bool = False) -> Notification:
    return Notification(
        rule="waiting",
        queue=queue,
        severity="warning",
        status=status,
        starts_at=T,
        ends_at=None if status == "firing" else T + 30,
        at=T if status == "firing" else T + 30,
        value=4.0,
        threshold=3.0,
        labels={"alertname": "waiting", "queue": queue, "severity": "warning"},
        annotations={"summary": f"{queue}: 4 waiting"},
        repeat=repeat,
    )


@dataclass
class Receiver:
    """Records every request; answers 503 while ``down``."""

    url: str = ""
    down: bool = False
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="down for maintenance")
        self.requests.append((dict(request.headers), await request.read()))
        self.paths.append(request.path)
        return web.Response(status=200)

    def bodies(self) -> list:
        return [orjson.loads(body) for _, body in self.requests]


@pytest_asyncio.fixture(loop_scope="function")  # the server runs on the test's loop
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    app = web.Application()
    app.router.add_post("/{path:.*}", got.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    got.url = f"http://127.0.0.1:{port}"
    yield got
    await runner.cleanup()


@contextlib.asynccontextmanager
async def running(
    config: DeliveryConfig, firing: Callable[[], Iterable[Notification]] = list
) -> AsyncIterator[Delivery]:
    delivery = Delivery(config, firing)
    task = asyncio.ensure_future(delivery.run())
    try:
        yield delivery
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for ``condition`` (a generous bound: this is not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def test_webhook_body_is_signed(receiver: Receiver) -> None:
    config = DeliveryConfig(webhook_url=f"{receiver.url}/hook", webhook_secret="s3cret", **FAST)
    async with running(config) as delivery:
        delivery.submit([note()])
        await until(lambda: len(receiver.requests) == 1)
    headers, body = receiver.requests[0]
    assert orjson.loads(body) == note().to_json()
    assert headers[SIGNATURE_HEADER] == sign("s3cret", headers[TIMESTAMP_HEADER], body)
    # the signature covers the body: any change breaks it
    assert headers[SIGNATURE_HEADER] != sign("s3cret", headers[TIMESTAMP_HEADER], body + b" ")
    assert delivery.stats["webhook"].sent == 1


async def test_webhook_without_secret_is_not_signed(receiver: Receiver) -> None:
    async with running(DeliveryConfig(webhook_url=receiver.url, **FAST)) as delivery:
        delivery.submit([note()])
        await until(lambda: len(receiver.requests) == 1)
    assert SIGNATURE_HEADER not in receiver.requests[0][0]


async def test_retries_while_down_then_delivers_everything_in_order(receiver: Receiver) -> None:
    receiver.down = True
    async with running(DeliveryConfig(webhook_url=receiver.url, **FAST)) as delivery:
        delivery.submit([note(queue=f"q{i}") for i in range(5)])
        await until(lambda: delivery.stats["webhook"].failures >= 3)
        assert delivery.stats["webhook"].buffered == 5 and receiver.requests == []
        receiver.down = False
        await until(lambda: len(receiver.requests) == 5)
    assert [b["queue"] for b in receiver.bodies()] == [f"q{i}" for i in range(5)]
    stats = delivery.stats["webhook"]
    assert (stats.sent, stats.dropped, stats.buffered) == (5, 0, 0)


async def test_full_buffer_counts_and_logs_what_it_pushes_out(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.down = True
    config = DeliveryConfig(webhook_url=receiver.url, buffer_size=3, **FAST)
    async with running(config) as delivery:
        with caplog.at_level(logging.ERROR, "callpulse.alerts"):
            delivery.submit([note(queue=f"q{i}") for i in range(5)])
        stats = delivery.stats["webhook"]
        assert (stats.dropped, stats.buffered) == (2, 3)
        assert len([r for r in caplog.records if "alert buffer full" in r.message]) == 2
        receiver.down = False
        await until(lambda: len(receiver.requests) == 3)
    assert [b["queue"] for b in receiver.bodies()] == ["q2", "q3", "q4"]  # the newest kept


async def test_alertmanager_body_and_latest_state_per_alert(receiver: Receiver) -> None:
    receiver.down = True
    config = DeliveryConfig(
        alertmanager_urls=(receiver.url,), generator_url="http://w1:6066/metrics", **FAST
    )
    async with running(config) as delivery:
        # firing then resolved while Alertmanager is down: one entry, the resolve
        delivery.submit([note("firing"), note("firing", queue="support")])
        delivery.submit([note("resolved"), note("firing", queue="support", repeat=True)])
        assert delivery.stats["alertmanager"].buffered == 2
        receiver.down = False
        await until(lambda: len(receiver.requests) == 1)
    headers, body = receiver.requests[0]
    assert headers["Content-Type"] == "application/json"
    assert receiver.paths == ["/api/v2/alerts"]
    sales, support = sorted(orjson.loads(body), key=lambda a: a["labels"]["queue"])
    assert sales == {
        "labels": {"alertname": "waiting", "queue": "sales", "severity": "warning"},
        "annotations": {"summary": "sales: 4 waiting"},
        "startsAt": "2026-05-28T20:26:40.000Z",
        "endsAt": "2026-05-28T20:27:10.000Z",  # the resolve time
        "generatorURL": "http://w1:6066/metrics",
    }
    assert seconds(support["endsAt"]) > T + 60  # firing: now + 4 x the re-send interval


async def test_firing_alerts_are_re_sent_to_alertmanager(receiver: Receiver) -> None:
    config = replace(
        DeliveryConfig(alertmanager_urls=(receiver.url,), **FAST), resend_interval=0.05
    )
    async with running(config, firing=lambda: [note(repeat=True)]) as delivery:
        delivery.submit([note()])
        await until(lambda: len(receiver.requests) >= 3)  # the first post, then re-sends
    assert all(
        b == [receiver.bodies()[0][0] | {"endsAt": b[0]["endsAt"]}] for b in receiver.bodies()
    )


async def test_a_stopping_worker_hands_buffered_alerts_to_the_receiver_first(
    receiver: Receiver, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {name: backlog, metric: calls_waiting, comparison: '>=', threshold: 1,"
        " severity: warning}\n"
    )
    settings = settings_from_dict(
        {"alerts": {"rules_file": str(rules), "webhook_url": receiver.url}}
    )
    hook = AlertHook(settings, lambda key, value: None)
    hook.start()
    hook.delivery.submit([note(status="resolved")])
    await hook.stop()
    assert [b["status"] for b in receiver.bodies()] == ["resolved"]
    assert hook.delivery.undelivered == 0
