"""Shared fixtures.

``kafka_broker``: one real single-node Kafka broker (consumers/local_kafka.py) for the
whole test session, in a temp dir, on free ports. Tests that use it are marked
``@pytest.mark.kafka``. Set ``CALLPULSE_KAFKA_VERSION`` (e.g. 4.2.0) to run the suite
against another broker version.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from consumers.local_kafka import DEFAULT_VERSION, LocalKafka, LocalKafkaError

VERSION_ENV = "CALLPULSE_KAFKA_VERSION"
SLOW_MARKERS = ("kafka", "e2e")
# What the session's broker was, for the closing summary (proof the broker tests ran here).
_started_brokers: list[str] = []


def pytest_report_header() -> str:
    import stream

    return f"engine: {stream.ENGINE.describe()}"  # compiled (mypyc) or pure Python


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Fast tests first (stable sort): a broken unit test shows before any broker starts.
    items.sort(key=lambda item: any(item.get_closest_marker(m) for m in SLOW_MARKERS))


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    version = os.environ.get(VERSION_ENV, DEFAULT_VERSION)
    # detach=False: the broker dies with the test process, even if pytest is killed.
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), version=version, detach=False)
    try:
        broker.start(timeout=90.0)
    except LocalKafkaError as exc:
        broker.stop()
        # Fail, never skip: a suite that silently skips its broker tests proves nothing.
        pytest.fail(f"the local Kafka {version} broker did not start:\n{exc}", pytrace=False)
    _started_brokers.append(f"Kafka {version} at {broker.bootstrap} (log: {broker.log_file})")
    yield broker
    broker.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = [
        report
        for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed")
        if report.when == "call" and any(m in report.keywords for m in SLOW_MARKERS)
    ]
    for broker in _started_brokers:
        terminalreporter.write_line(f"broker started by this run: {broker}")
    terminalreporter.write_line(f"tests that ran against the real broker / processes: {len(ran)}")
