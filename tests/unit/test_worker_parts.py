"""Fast tests of the worker's pure parts: settings, the record handler, the exposition."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from alerts.delivery import DeliveryConfig
from consumers.checkpoint import decode_checkpoint, encode_checkpoint
from consumers.exposition import ExpositionWriter, MetricInfo, format_value
from consumers.inbound import Limits, OwnedPartition, QueueCount, RecordHandler, Rejected
from consumers.metrics_endpoint import ALERT_METRICS, SELF_METRICS, MetricsEndpoint
from consumers.queue_metrics import QUEUE_METRICS, RenderOptions, scopes_for
from consumers.self_metrics import Histogram, WorkerStats
from consumers.settings import ConfigError, apply_env_overrides, load_settings, settings_from_dict
from stream.config import EngineConfig
from stream.decode import encode
from stream.engine import Engine
from stream.events import CallAnswered, CallEnqueued

T = 1_790_000_000.0


# --- settings ------------------------------------------------------------------------


def test_defaults_are_valid_and_bind_to_loopback():
    settings = settings_from_dict({})
    assert settings.worker.web_host == "127.0.0.1"
    assert settings.kafka.security_protocol == "PLAINTEXT"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"kafka": {"bootstrap_server": "x"}}, "kafka.bootstrap_server"),
        ({"worker": {"web_port": "eighty"}}, "worker.web_port"),
        ({"worker": {"flush_interval_seconds": -1}}, "worker.flush_interval_seconds"),
        ({"kafka": {"security_protocol": "TLS"}}, "kafka.security_protocol"),
        ({"kafka": {"security_protocol": "SASL_SSL"}}, "kafka.sasl_mechanism"),
        ({"engine": {"defaults": {"sl_target": 7}}}, "engine.defaults.sl_target"),
        ({"topic": {}}, "topic"),
    ],
)
def test_invalid_settings_name_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        settings_from_dict(data)


def test_environment_overrides_nested_keys_with_yaml_types():
    merged = apply_env_overrides(
        {"worker": {"web_port": 1}},
        {
            "CALLPULSE_WORKER__WEB_PORT": "7000",
            "CALLPULSE_KAFKA__SSL_CHECK_HOSTNAME": "false",
            "CALLPULSE_ENGINE__DEFAULTS__SL_TARGET": "0.9",
            "UNRELATED": "1",
        },
    )
    settings = settings_from_dict(merged)
    assert settings.worker.web_port == 7000
    assert settings.kafka.ssl_check_hostname is False
    assert settings.engine.default_queue.sl_target == 0.9


def test_secrets_are_masked_in_the_loggable_form(tmp_path):
    path = tmp_path / "callpulse.yaml"
    path.write_text(
        "kafka:\n  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-512\n"
        "  sasl_username: svc\n  sasl_password: hunter2\n"
    )
    settings = load_settings(path, environ={})
    assert settings.kafka.sasl_password == "hunter2"
    assert "hunter2" not in repr(settings.redacted())


SASL = {
    "CALLPULSE_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
    "CALLPULSE_KAFKA__SASL_MECHANISM": "PLAIN",
    "CALLPULSE_KAFKA__SASL_USERNAME": "svc",
}
SECRETS = ["12345678", "*Hunter2pass", "Pa ss # word", "&x y", "yes", "[a, b]", "{k: v}", "null"]


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("section, key", [("kafka", "sasl_password"), ("alerts", "webhook_secret")])
def test_secret_from_the_environment_is_taken_verbatim_and_never_shown(secret, section, key):
    secret += "-tail"  # long enough not to appear in a repr by chance
    variable = f"CALLPULSE_{section.upper()}__{key.upper()}"
    settings = load_settings(
        None, environ={**SASL, "CALLPULSE_KAFKA__SASL_PASSWORD": "pw", variable: secret}
    )
    assert getattr(getattr(settings, section), key) == secret
    assert secret not in repr(settings)
    assert secret not in repr(settings.redacted())


@pytest.mark.parametrize("secret", ["*Hunter2pass", "12345678", "Pa ss # word"])
def test_secrets_never_appear_in_error_messages(secret, tmp_path):
    # Misplaced or mistyped secrets fail by key name, without echoing the value.
    cases = [
        {**SASL, "CALLPULSE_KAFKA__SASL_PASSWORD__X": secret},
        {**SASL, "CALLPULSE_KAFKA__SASL_PASWORD": secret},
        {**SASL, "CALLPULSE_ALERTS__WEBHOOK_SECRET__X": secret},
    ]
    for environ in cases:
        with pytest.raises(ConfigError) as error:
            load_settings(None, environ=environ)
        assert secret not in str(error.value), environ
    path = tmp_path / "callpulse.yaml"
    path.write_text("kafka:\n  sasl_password: 12345678\nalerts:\n  webhook_secret: [87654321]\n")
    with pytest.raises(ConfigError, match=r"kafka\.sasl_password: expected a string") as error:
        load_settings(path, environ={})
    assert "12345678" not in str(error.value)
    path.write_text("alerts:\n  webhook_secret: [87654321]\n")
    with pytest.raises(ConfigError, match=r"alerts\.webhook_secret: expected a string") as error:
        load_settings(path, environ={})
    assert "87654321" not in str(error.value)


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1))
def test_any_environment_text_is_a_string_fields_value(text):
    environ = {**SASL, "CALLPULSE_KAFKA__SASL_PASSWORD": text, "CALLPULSE_WORKER__DATA_DIR": text}
    settings = load_settings(None, environ=environ)
    assert settings.kafka.sasl_password == text and settings.worker.data_dir == text
    assert repr(settings.kafka) == repr(replace(settings.kafka, sasl_password=None))


def test_string_fields_from_the_environment_are_not_yaml():
    merged = apply_env_overrides(
        {},
        {
            "CALLPULSE_WORKER__INSTANCE_ID": "1",  # YAML would make it an int (rejected)
            "CALLPULSE_TOPICS__EVENTS": "on",  # ... a bool
            "CALLPULSE_ENGINE__DEFAULTS__TIMEZONE": "Europe/Berlin",
            "CALLPULSE_ENGINE__QUEUES__SALES__SL_FORMULA": "answered_within_over_answered",
            "CALLPULSE_ALERTS__WEBHOOK_URL": "",  # empty: unset
        },
    )
    settings = settings_from_dict(merged)
    assert settings.worker.instance_id == "1"
    assert settings.topics.events == "on"
    assert settings.engine.default_queue.timezone == "Europe/Berlin"
    assert settings.engine.queue("sales").sl_formula == "answered_within_over_answered"
    assert settings.alerts.webhook_url is None


def test_webhook_secret_is_not_in_the_delivery_config_repr():
    assert "s3cret-key" not in repr(DeliveryConfig(webhook_secret="s3cret-key"))


def test_yaml_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("worker:\n  web_port: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: line \d+"):
        load_settings(path, environ={})


# --- the record handler --------------------------------------------------------------


def _handler(max_queues: int = 10) -> tuple[RecordHandler, OwnedPartition]:
    config = EngineConfig()
    handler = RecordHandler(config, Limits(65536, max_queues, 64), QueueCount())
    return handler, OwnedPartition(0, Engine(config))


def test_valid_record_is_applied_and_marks_the_queue_dirty():
    handler, part = _handler()
    ts = handler.handle(part, 5, b"sales", encode(CallEnqueued("e1", T, "sales", "c1")))
    assert ts == T
    assert part.engine.queues["sales"].calls_waiting == 1
    assert part.dirty == {"sales"} and part.last_offset == 5


def test_records_already_in_the_restored_snapshot_are_skipped():
    handler, part = _handler()
    part.restored_offsets["sales"] = 9
    value = encode(CallEnqueued("e1", T, "sales", "c1"))
    assert handler.handle(part, 9, b"sales", value) is None
    assert "sales" not in part.engine.queues and handler.skipped == 1
    assert handler.handle(part, 10, b"sales", value) == T


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (None, b"{}", "missing_key"),
        (b"\xff\xfe", b"{}", "bad_queue_name"),
        (b"x" * 65, b"{}", "bad_queue_name"),
        (b" sales", b"{}", "bad_queue_name"),
        (b"sales", b"nope", "not_json"),
        (b"sales", b"x" * 70000, "oversize"),
        (b"support", encode(CallEnqueued("e", T, "sales", "c")), "key_mismatch"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(key, value, reason):
    handler, part = _handler()
    with pytest.raises(Rejected) as info:
        handler.handle(part, 1, key, value)
    assert info.value.reason == reason and info.value.detail
    assert not part.engine.queues


def test_queue_cap_rejects_new_queues_but_keeps_known_ones():
    handler, part = _handler(max_queues=2)
    for n, queue in enumerate(("a", "b")):
        handler.handle(part, n, queue.encode(), encode(CallEnqueued(f"e{n}", T, queue, "c")))
    with pytest.raises(Rejected, match="queue_limit"):
        handler.handle(part, 3, b"c", encode(CallEnqueued("e3", T, "c", "c")))
    answered = encode(CallAnswered("e4", T + 1, "a", "c", "agent"))
    assert handler.handle(part, 4, b"a", answered) == T + 1


def test_checkpoint_round_trip():
    saved = decode_checkpoint(encode_checkpoint(42, {"version": 1, "queues": {}}))
    assert saved.offset == 42 and saved.state == {"version": 1, "queues": {}}


# --- exposition ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3"), (0.25, "0.25"), (float("inf"), "+Inf"), (float("nan"), "NaN"), (-2, "-2")],
)
def test_format_value(value, text):
    assert format_value(value) == text


@given(st.floats() | st.integers(-(10**18), 10**18) | st.booleans())
def test_format_value_round_trips_without_a_trailing_dot_zero(value):
    text = format_value(value)
    parsed = float(text)  # Prometheus' parser takes "+Inf", "NaN", "1e+20" too
    assert parsed == float(value) or (value != value and parsed != parsed)
    assert not text.endswith(".0")


def test_writer_groups_samples_by_family_and_skips_missing_values():
    out = ExpositionWriter()
    a = MetricInfo("callpulse_a", "gauge", "A.", ("queue",))
    out.sample(a, '{queue="x"}', 1)
    out.sample(a, '{queue="y"}', None)
    out.sample(MetricInfo("callpulse_b_total", "counter", "B."), "", 2)
    out.sample(a, '{queue="z"}', 3)
    text = out.render()
    assert text.count("# TYPE callpulse_a gauge") == 1
    assert 'callpulse_a{queue="y"}' not in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert [s.value for s in families["callpulse_a"].samples] == [1, 3]


def test_histogram_is_cumulative():
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.5, 0.5, 5.0):
        h.observe(v)
    assert h.cumulative() == [("0.1", 1), ("1.0", 3), ("+Inf", 4)]
    assert h.count == 4 and h.total == pytest.approx(6.05)


def test_metrics_body_parses_and_every_queue_metric_is_documented():
    engine = Engine(EngineConfig())
    engine.apply(CallEnqueued("e1", T, 'sa"les', "c1"))
    engine.apply(CallAnswered("e2", T + 12, 'sa"les', "c1", "a1"))
    endpoint = MetricsEndpoint(
        owned=lambda: [OwnedPartition(0, engine)],
        stats=WorkerStats(),
        options=RenderOptions(scopes_for(("5m", "15m", "1h"))),
        lag=lambda p: 0,
        counts=lambda: (2, 0),
    )
    body, gzipped = asyncio.run(endpoint.body(accept_gzip=False))
    assert not gzipped
    samples = {
        s.name: s
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
        if s.labels.get("queue") == 'sa"les'
    }
    assert samples["callpulse_calls_answered_total"].value == 1
    assert samples["callpulse_answered_wait_seconds_total"].value == 12
    docs = Path("docs/metrics.md").read_text(encoding="utf-8")
    missing = [m.name for m in (*QUEUE_METRICS, *SELF_METRICS) if f"`{m.name}`" not in docs]
    assert not missing, f"undocumented metrics: {missing}"
    # ... and every metric the tables document exists
    exported = {m.name for m in (*QUEUE_METRICS, *SELF_METRICS, *ALERT_METRICS)}
    documented = set(re.findall(r"^\| `(callpulse_\w+)`", docs, flags=re.MULTILINE))
    assert documented == exported, f"docs only: {documented - exported}"


def test_shipped_example_config_is_valid():
    settings = load_settings("deploy/callpulse.yaml", environ={})
    assert settings.engine.queue("sales").sl_target == 0.9
    assert settings.engine.queue("other").sl_target == 0.8


def test_client_options_carry_sasl_and_tls_settings():
    from consumers.kafka_options import client_options
    from consumers.settings import KafkaSettings

    plain = client_options(KafkaSettings(bootstrap_servers="k:9092"), "consumer")
    assert plain == {
        "bootstrap_servers": "k:9092",
        "client_id": "callpulse-consumer",
        "security_protocol": "PLAINTEXT",
    }
    secure = client_options(
        KafkaSettings(
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="svc",
            sasl_password="s3cret",
            ssl_check_hostname=False,
        ),
        "producer",
    )
    assert secure["sasl_mechanism"] == "SCRAM-SHA-512"
    assert secure["sasl_plain_username"] == "svc" and secure["sasl_plain_password"] == "s3cret"
    assert secure["ssl_context"].check_hostname is False
