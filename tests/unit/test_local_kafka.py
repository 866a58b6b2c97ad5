"""The pure parts of consumers/local_kafka.py: no JVM, no Maven, no broker."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
from pathlib import Path

import pytest

from consumers import local_kafka
from consumers.local_kafka import (
    INSTALL_HINT,
    BrokerConfig,
    LocalKafka,
    ToolMissingError,
    class_data_sharing_opts,
    free_ports,
    is_broker_process,
    jars_ready,
    missing_tools_message,
    new_cluster_id,
    parse_java_major,
    port_is_free,
    render_server_properties,
    require_tools,
)


def parse_properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


# --- server.properties


def test_server_properties_describe_a_single_node_kraft_broker(tmp_path: Path) -> None:
    props = parse_properties(render_server_properties(BrokerConfig(19092, 19093, tmp_path)))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path)


def test_server_properties_fit_one_node_and_fast_tests(tmp_path: Path) -> None:
    props = parse_properties(render_server_properties(BrokerConfig(1, 2, tmp_path)))
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"


def test_auto_topic_creation_can_be_switched_on(tmp_path: Path) -> None:
    config = BrokerConfig(1, 2, tmp_path, auto_create_topics=True)
    assert parse_properties(render_server_properties(config))["auto.create.topics.enable"] == (
        "true"
    )


def test_bootstrap_is_host_and_client_port(tmp_path: Path) -> None:
    assert BrokerConfig(9092, 9093, tmp_path).bootstrap == "127.0.0.1:9092"


def test_cluster_id_is_a_url_safe_uuid() -> None:
    cluster_id = new_cluster_id()
    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert new_cluster_id() != cluster_id


# --- ports


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(3)
    assert len(set(ports)) == 3
    assert all(port_is_free(port) for port in ports)


def test_a_listening_port_is_not_free() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not port_is_free(listener.getsockname()[1])


# --- prerequisites


def test_missing_tools_message_says_what_to_install() -> None:
    message = missing_tools_message(["java", "mvn"])
    assert "java and mvn not found" in message
    assert "apt-get install openjdk-17-jre-headless maven" in message
    assert INSTALL_HINT in message


def test_require_tools_names_only_the_missing_ones() -> None:
    def which(tool: str) -> str | None:
        return "/usr/bin/java" if tool == "java" else None

    with pytest.raises(ToolMissingError, match=r"^mvn not found") as raised:
        require_tools(["java", "mvn"], which=which)
    assert INSTALL_HINT in str(raised.value)


def test_require_tools_passes_when_all_present() -> None:
    require_tools(["java", "mvn"], which=lambda tool: f"/usr/bin/{tool}")


def test_fetching_jars_without_maven_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn anywhere
    with pytest.raises(ToolMissingError, match=re.escape(INSTALL_HINT)):
        local_kafka.ensure_jars("4.1.1", cache=tmp_path / "cache")


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("something else", None),
    ],
)
def test_parse_java_major(output: str, major: int | None) -> None:
    assert parse_java_major(output) == major


# --- jar cache


def write_cache(libs: Path, version: str, jars: list[str], pom: str | None = None) -> None:
    libs.mkdir(parents=True)
    for jar in jars:
        (libs / jar).write_bytes(b"PK")
    marker = {"version": version, "pom": pom or local_kafka._pom_digest(), "jars": jars}
    (libs / local_kafka.MARKER_NAME).write_text(json.dumps(marker))


def test_cache_without_marker_is_not_ready(tmp_path: Path) -> None:
    (tmp_path / "kafka_2.13-4.1.1.jar").write_bytes(b"PK")
    assert not jars_ready(tmp_path, "4.1.1")


def test_complete_cache_is_ready(tmp_path: Path) -> None:
    write_cache(tmp_path / "libs", "4.1.1", ["kafka_2.13-4.1.1.jar", "kafka-clients-4.1.1.jar"])
    assert jars_ready(tmp_path / "libs", "4.1.1")


def test_cache_missing_a_jar_is_not_ready(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    write_cache(libs, "4.1.1", ["kafka_2.13-4.1.1.jar", "kafka-clients-4.1.1.jar"])
    (libs / "kafka-clients-4.1.1.jar").unlink()
    assert not jars_ready(libs, "4.1.1")


def test_cache_from_another_pom_is_not_ready(tmp_path: Path) -> None:
    write_cache(tmp_path / "libs", "4.1.1", ["kafka_2.13-4.1.1.jar"], pom="0" * 16)
    assert not jars_ready(tmp_path / "libs", "4.1.1")


def test_cache_location_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(local_kafka.CACHE_ENV, str(tmp_path))
    assert local_kafka.libs_dir("4.2.0") == tmp_path / "4.2.0" / "libs"
    monkeypatch.delenv(local_kafka.CACHE_ENV)
    assert local_kafka.libs_dir("4.2.0") == local_kafka.DEFAULT_CACHE_DIR / "4.2.0" / "libs"


# --- class data sharing


def test_first_run_dumps_classes_to_a_private_file(tmp_path: Path) -> None:
    archive = tmp_path / "broker-java17.jsa"
    opts, pending = class_data_sharing_opts(archive)
    assert pending is not None and pending.parent == tmp_path and pending != archive
    assert opts == [f"-XX:ArchiveClassesAtExit={pending}"]
    assert class_data_sharing_opts(archive)[1] != pending  # two first runs, two files


def test_later_runs_map_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "broker-java17.jsa"
    archive.write_bytes(b"jsa")
    assert class_data_sharing_opts(archive) == ([f"-XX:SharedArchiveFile={archive}"], None)


# --- run dir state


def test_empty_run_dir_is_not_running(tmp_path: Path) -> None:
    status = LocalKafka(tmp_path).status()
    assert not status.running
    assert status.describe() == "not running"


def test_a_stale_pid_is_never_signalled(tmp_path: Path) -> None:
    # The pid file names a live process that is not our broker: this test process.
    broker = LocalKafka(tmp_path)
    broker.pid_file.write_text(f"{os.getpid()}\n")
    assert not is_broker_process(os.getpid(), broker.props_file)
    assert not broker.status().running
    assert broker.stop() is False
    assert not broker.pid_file.exists()
