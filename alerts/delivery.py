"""Delivery of notifications: Alertmanager v2 API and an optional signed webhook.

Nothing is dropped silently: each receiver has a bounded buffer, failed posts are
retried with exponential backoff (0.5 s doubling to at most 30 s, and to at most half the
re-send interval so that alerts do not expire on an Alertmanager that comes back), and
every failure and every notification pushed out of a full buffer is counted (and logged).

Alertmanager expects its clients to re-send firing alerts (it resolves an alert whose
``endsAt`` passes): firing alerts are posted with ``endsAt = now + 4 x resend_interval``
and re-sent every ``resend_interval`` from the evaluator's firing set; a resolved alert is
posted with its ``endsAt``. Its buffer keeps the latest state per alert, so a long outage
costs one entry per alert, not one per re-send.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import orjson

from .evaluator import FIRING_STATUS, Notification

log = logging.getLogger("callpulse.alerts")

SIGNATURE_HEADER = "X-Callpulse-Signature"
TIMESTAMP_HEADER = "X-Callpulse-Timestamp"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alertmanager_alert(note: Notification, generator_url: str, ends_at: float) -> dict:
    return {
        "labels": note.labels,
        "annotations": note.annotations,
        "startsAt": iso(note.starts_at),
        "endsAt": iso(ends_at),
        "generatorURL": generator_url,
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``timestamp.body`` (the timestamp stops replays)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(slots=True)
class ReceiverStats:
    sent: int = 0
    failures: int = 0
    dropped: int = 0
    buffered: int = 0


@dataclass(slots=True)
class DeliveryConfig:
    alertmanager_urls: tuple[str, ...] = ()
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)  # never shown
    timeout: float = 5.0
    resend_interval: float = 60.0
    buffer_size: int = 10_000
    generator_url: str = ""
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    poll_interval: float = 0.5  # how often the loop looks at retries and re-sends

    @property
    def backoff_cap(self) -> float:
        return min(self.backoff_max, max(self.backoff_min, self.resend_interval / 2))


@dataclass(slots=True)
class _Backoff:
    low: float
    high: float
    delay: float = 0.0
    next_try: float = 0.0

    def failed(self) -> None:
        self.delay = min(max(self.delay * 2, self.low), self.high)
        self.next_try = time.monotonic() + self.delay

    def ok(self) -> None:
        self.delay = self.next_try = 0.0


class Delivery:
    """Owns the receivers' buffers; :meth:`run` posts them until cancelled."""

    def __init__(self, config: DeliveryConfig, firing: Callable[[], Iterable[Notification]]):
        self.config = config
        self._firing = firing
        self._am: OrderedDict[str, Notification] = OrderedDict()  # fingerprint -> latest
        self._hook: deque[Notification] = deque()
        self.stats = {"alertmanager": ReceiverStats(), "webhook": ReceiverStats()}
        self._wake = asyncio.Event()
        self._backoff = {
            name: _Backoff(config.backoff_min, config.backoff_cap)
            for name in ("alertmanager", "webhook")
        }

    def submit(self, notes: Iterable[Notification]) -> None:
        for note in notes:
            if self.config.alertmanager_urls and not note.repeat:
                self._am.pop(note.fingerprint, None)
                self._am[note.fingerprint] = note
                self._bound(self._am, "alertmanager")
            if self.config.webhook_url:
                self._hook.append(note)
                self._bound(self._hook, "webhook")
        self._wake.set()

    @property
    def undelivered(self) -> int:
        """Notifications still buffered for a receiver."""
        return len(self._am) + len(self._hook)

    def _bound(self, buffer: OrderedDict | deque, receiver: str) -> None:
        while len(buffer) > self.config.buffer_size:
            lost = buffer.popleft() if isinstance(buffer, deque) else buffer.popitem(last=False)[1]
            self.stats[receiver].dropped += 1
            log.error("alert buffer full, dropped %s %s for %s", lost.status, lost.rule, receiver)
        self.stats[receiver].buffered = len(buffer)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        next_resend = time.monotonic() + self.config.resend_interval
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_interval)
                self._wake.clear()
                if self.config.alertmanager_urls and time.monotonic() >= next_resend:
                    next_resend = time.monotonic() + self.config.resend_interval
                    for note in self._firing():
                        self._am.setdefault(note.fingerprint, note)
                await self._post_alertmanager(session)
                await self._post_webhook(session)

    async def _post_alertmanager(self, session: aiohttp.ClientSession) -> None:
        backoff = self._backoff["alertmanager"]
        if not self._am or time.monotonic() < backoff.next_try:
            return
        batch = list(self._am.values())
        ttl = time.time() + 4 * self.config.resend_interval
        body = orjson.dumps(
            [
                alertmanager_alert(
                    n, self.config.generator_url, ttl if n.status == FIRING_STATUS else n.ends_at
                )
                for n in batch
            ]
        )
        sent = False
        for url in self.config.alertmanager_urls:  # every Alertmanager of the cluster
            sent = await self._post("alertmanager", session, f"{url.rstrip('/')}/api/v2/alerts",
                                    body, {}) or sent  # fmt: skip
        if sent:
            backoff.ok()
            for note in batch:
                if self._am.get(note.fingerprint) is note:
                    del self._am[note.fingerprint]
            self.stats["alertmanager"].sent += len(batch)
        else:
            backoff.failed()
        self.stats["alertmanager"].buffered = len(self._am)

    async def _post_webhook(self, session: aiohttp.ClientSession) -> None:
        backoff = self._backoff["webhook"]
        url = self.config.webhook_url
        while url and self._hook and time.monotonic() >= backoff.next_try:
            note = self._hook[0]
            body = orjson.dumps(note.to_json())
            headers = {"Content-Type": "application/json"}
            if self.config.webhook_secret:
                stamp = str(int(time.time()))
                headers[TIMESTAMP_HEADER] = stamp
                headers[SIGNATURE_HEADER] = sign(self.config.webhook_secret, stamp, body)
            if not await self._post("webhook", session, url, body, headers):
                backoff.failed()
                break
            backoff.ok()
            self._hook.popleft()
            self.stats["webhook"].sent += 1
        self.stats["webhook"].buffered = len(self._hook)

    async def _post(
        self, receiver: str, session: aiohttp.ClientSession, url: str, body: bytes, headers: dict
    ) -> bool:
        try:
            async with session.post(
                url, data=body, headers={"Content-Type": "application/json", **headers}
            ) as response:
                if response.status < 300:
                    return True
                detail = f"HTTP {response.status}: {(await response.text())[:200]}"
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            detail = repr(error)
        self.stats[receiver].failures += 1
        log.warning("alert delivery to %s failed (will retry): %s", receiver, detail)
        return False


__all__ = ["Delivery", "DeliveryConfig", "ReceiverStats", "alertmanager_alert", "sign"]
