"""The local broker tooling against real jars (beyond the session broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers import local_kafka
from consumers.local_kafka import LocalKafka

pytestmark = pytest.mark.kafka


def test_a_cluster_id_starting_with_a_dash_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Base64 ids start with "-" about once in 64 draws; the format tool must not take it
    # for an option.
    cluster_id = "-" + "A" * 21
    monkeypatch.setattr(local_kafka, "new_cluster_id", lambda: cluster_id)
    broker = LocalKafka(tmp_path, detach=False)
    try:
        broker.start(timeout=90.0)
        meta = (broker.data_dir / "meta.properties").read_text()
    finally:
        broker.stop()
    assert f"cluster.id={cluster_id}" in meta
