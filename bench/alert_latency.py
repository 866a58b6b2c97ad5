"""Event-to-Alertmanager latency: callpulse's stream-native rule vs the same condition as a
Prometheus alerting rule over callpulse's metrics, measured in the same run.

Everything is real and started here: a Kafka broker (unless ``--bootstrap``), one
``callpulse worker`` with a rule that has no sustain period (``calls_waiting >= 1`` on
queues ``lat-*``), Prometheus scraping that worker and evaluating the same rule
(``callpulse rules export-prometheus``) every ``--interval`` seconds (15 s), and one
Alertmanager that both send to, with ``group_wait: 0s`` and a webhook receiver run by this
script. Each trial puts one call into a fresh queue at a random instant (so the trials
sample every phase of Prometheus' scrape and evaluation cycle); the latency of a source is
the time from just before the event is produced to the webhook receiving that queue's
alert from Alertmanager (the ``source`` label tells the two apart, and Alertmanager groups
by it, so neither waits for the other).

    .venv/bin/python bench/alert_latency.py                  # ~3.5 minutes
    .venv/bin/python bench/alert_latency.py --trials 40 --interval 5   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml
from _common import (
    Progress,
    add_broker_arguments,
    bench_environment,
    percentile,
    print_header,
    unique_prefix,
)
from aiokafka import AIOKafkaProducer

from alerts.promexport import export_rules
from alerts.rules import load_rules
from consumers.local_kafka import free_ports
from consumers.processes import Child
from stream.decode import encode
from stream.events import CallEnqueued
from tests.webhook_receiver import WebhookReceiver

RULE = """\
rules:
  - name: backlog
    metric: calls_waiting
    comparison: ">="
    threshold: 1
    severity: warning
    queues: "lat-*"
    labels: {source: callpulse}
"""
SOURCES = ("callpulse", "prometheus")


def first_firings(receiver: WebhookReceiver) -> dict[tuple[str, str], float]:
    """The first arrival time of each (source, queue) firing."""
    first: dict[tuple[str, str], float] = {}
    for arrived, alert in list(receiver.alerts):
        if alert["status"] == "firing":
            labels = alert["labels"]
            first.setdefault((labels["source"], labels["queue"]), arrived)
    return first


def write_configs(tmp: Path, interval: float, ports: dict[str, int], receiver: int) -> None:
    (tmp / "rules.yaml").write_text(RULE)
    document, _ = export_rules(load_rules(tmp / "rules.yaml"))
    for group in document["groups"]:
        for rule in group["rules"]:
            rule["labels"]["source"] = "prometheus"
    (tmp / "prometheus-rules.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    every = f"{interval:g}s"
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": every, "evaluation_interval": every},
                "rule_files": [str(tmp / "prometheus-rules.yml")],
                "alerting": {
                    "alertmanagers": [
                        {"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}
                    ]
                },
                "scrape_configs": [
                    {
                        "job_name": "callpulse",
                        "static_configs": [{"targets": [f"127.0.0.1:{ports['worker']}"]}],
                    }
                ],
            }
        )
    )  # fmt: skip
    (tmp / "alertmanager.yml").write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "bench",
                    "group_by": ["alertname", "queue", "source"],
                    "group_wait": "0s",
                    "group_interval": "1m",
                    "repeat_interval": "4h",
                },
                "receivers": [
                    {
                        "name": "bench",
                        "webhook_configs": [
                            {"url": f"http://127.0.0.1:{receiver}/hook", "send_resolved": False}
                        ],
                    }
                ],
            }
        )
    )


def start_children(tmp: Path, bootstrap: str, ports: dict[str, int], prefix: str) -> list[Child]:
    worker_env = {
        "PATH": "/usr/bin:/bin",
        "CALLPULSE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "CALLPULSE_TOPICS__EVENTS": f"{prefix}.events",
        "CALLPULSE_TOPICS__DEAD_LETTER": f"{prefix}.dlq",
        "CALLPULSE_TOPICS__SNAPSHOTS": f"{prefix}.snapshots",
        "CALLPULSE_TOPICS__INTERVALS": f"{prefix}.intervals",
        "CALLPULSE_TOPICS__ALERTS": f"{prefix}.alerts",
        "CALLPULSE_TOPICS__PARTITIONS": "4",
        "CALLPULSE_WORKER__GROUP_ID": prefix,
        "CALLPULSE_WORKER__WEB_PORT": str(ports["worker"]),
        "CALLPULSE_WORKER__DATA_DIR": str(tmp / "worker-data"),
        "CALLPULSE_ALERTS__RULES_FILE": str(tmp / "rules.yaml"),
        "CALLPULSE_ALERTS__ALERTMANAGER_URLS": f"http://127.0.0.1:{ports['alertmanager']}",
    }
    repo = Path(__file__).resolve().parents[1]
    am = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if am is None or shutil.which("prometheus") is None:
        sys.exit("needs the Debian packages prometheus and prometheus-alertmanager")
    return [
        Child(
            "alertmanager",
            [am, f"--config.file={tmp / 'alertmanager.yml'}",
             f"--storage.path={tmp / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
             "--cluster.listen-address="],  # no HA peers: no gossip settle wait
            tmp / "alertmanager.log",
        ),
        Child(
            "worker",
            [sys.executable, "-m", "consumers.cli", "worker", "--log-level", "warning"],
            tmp / "worker.log",
            env=worker_env,
            cwd=repo,
        ),
        Child(
            "prometheus",
            ["prometheus", f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'prom-data'}",
             f"--web.listen-address=127.0.0.1:{ports['prometheus']}"],
            tmp / "prometheus.log",
        ),
    ]  # fmt: skip


def wait_http(url: str, children: list[Child], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if not child.alive():
                sys.exit(f"{child.name} exited; see {child.log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} not ready after {timeout:.0f}s")


async def run_trials(
    bootstrap: str, topic: str, trials: int, gap: float, sent: dict[str, float]
) -> None:
    """One call into a fresh queue per trial, at uniformly random gaps (mean ``gap``)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    await producer.start()
    rng = random.Random(5)
    progress = Progress("trials", trials, every=10.0)
    try:
        for i in range(trials):
            await asyncio.sleep(rng.uniform(0.0, 2 * gap))
            queue = f"lat-{i:04d}"
            now = time.time()
            event = CallEnqueued(f"lat-e{i}", now, queue, f"c{i}", None)
            sent[queue] = now  # just before the event leaves: the latency includes Kafka
            await producer.send_and_wait(topic, encode(event), key=queue.encode())
            progress.update(i + 1)
    finally:
        await producer.stop()


def wait_all(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.5)


def report(sent: dict[str, float], first: dict[tuple[str, str], float]) -> None:
    stats = {}
    print(f"\n{'source':<12} {'alerts':>7} {'p50 s':>8} {'p90 s':>8} {'p99 s':>8} {'max s':>8}")
    for source in SOURCES:
        lat = [first[(source, q)] - t for q, t in sent.items() if (source, q) in first]
        stats[source] = (percentile(lat, 0.5), percentile(lat, 0.99))
        print(
            f"{source:<12} {len(lat):>4}/{len(sent):<3}"
            f"{percentile(lat, 0.5):>8.3f} {percentile(lat, 0.9):>8.3f} "
            f"{percentile(lat, 0.99):>8.3f} {max(lat, default=float('nan')):>8.3f}"
        )
    (cp50, cp99), (pp50, pp99) = stats["callpulse"], stats["prometheus"]
    print(f"\nPrometheus / callpulse: p50 {pp50 / cp50:.0f}x, p99 {pp99 / cp99:.0f}x")
    print(f"target p99 < 1 s (callpulse): {'met' if cp99 < 1.0 else 'NOT met'} ({cp99:.3f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=120, help="calls, one per fresh queue")
    parser.add_argument("--gap", type=float, default=1.0, help="mean seconds between trials")
    parser.add_argument(
        "--interval", type=float, default=15.0, help="Prometheus scrape + evaluation interval"
    )
    add_broker_arguments(parser)
    args = parser.parse_args(argv)
    print_header("alert latency: event -> Alertmanager -> webhook, callpulse vs Prometheus")
    print(
        f"setup:   {args.trials} trials, mean gap {args.gap:g}s, Prometheus scrape and "
        f"evaluation every {args.interval:g}s, Alertmanager group_wait 0s"
    )
    with bench_environment(args) as (bootstrap, tmp):
        receiver = WebhookReceiver()
        worker_port, prom_port, am_port = free_ports(3)
        ports = {"worker": worker_port, "prometheus": prom_port, "alertmanager": am_port}
        write_configs(tmp, args.interval, ports, receiver.port)
        prefix = unique_prefix("alerts")
        children = start_children(tmp, bootstrap, ports, prefix)
        try:
            wait_http(f"http://127.0.0.1:{am_port}/-/ready", children)
            wait_http(f"http://127.0.0.1:{prom_port}/-/ready", children)
            wait_http(f"http://127.0.0.1:{worker_port}/readyz", children)
            sent: dict[str, float] = {}
            started = time.monotonic()
            asyncio.run(run_trials(bootstrap, f"{prefix}.events", args.trials, args.gap, sent))
            # Prometheus needs up to a scrape plus an evaluation interval, and a little more
            wait_all(lambda: len(first_firings(receiver)) >= 2 * len(sent), 2 * args.interval + 15)
            print(f"trials:  {time.monotonic() - started:.0f}s including the wait for Prometheus")
            report(sent, first_firings(receiver))
        finally:
            for child in reversed(children):
                child.stop(timeout=10.0)
            receiver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
