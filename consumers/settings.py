"""Worker settings: one YAML file, every key overridable by an environment variable.

Sections (all optional; every key is documented in docs/configuration.md):

- ``kafka``   — how to reach the cluster (bootstrap servers, SASL / TLS);
- ``topics``  — topic names, partitions and replication for the topics the worker creates;
- ``worker``  — consumer group, web bind address, batching, flush interval, input bounds;
- ``engine``  — the KPI engine (windows, grace, per-queue SL settings): stream/config.py;
- ``alerts``  — the rules file and where notifications go (docs/alerts.md).

Environment overrides use ``CALLPULSE_<SECTION>__<KEY>`` (double underscore between levels),
e.g. ``CALLPULSE_KAFKA__BOOTSTRAP_SERVERS=broker:9092`` or
``CALLPULSE_ENGINE__DEFAULTS__SL_TARGET=0.9``. A key whose field is a string takes the
variable's text as it is (a password may hold ``#``, ``*`` or ``&``, which YAML would cut or
reinterpret); every other key is read as YAML, so numbers, booleans and lists keep their
type. Secrets (:data:`SECRET_KEYS`) are never printed: not by ``repr``, not in an error
message, and ``redacted()`` gives a copy safe to log.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from stream.config import (
    ConfigError,
    EngineConfig,
    QueueConfig,
    _integer,
    _mapping,
    _positive_duration,
    _reject_unknown,
    engine_config_from_dict,
)

ENV_PREFIX = "CALLPULSE_"
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# Keys whose values are never shown: not in repr (field(repr=False)), errors or logs.
SECRET_KEYS = frozenset({"sasl_password", "webhook_secret"})


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "callpulse"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)  # secret: never logged
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True


@dataclass(frozen=True, slots=True)
class TopicSettings:
    events: str = "callpulse.events"
    dead_letter: str = "callpulse.events.dlq"
    snapshots: str = "callpulse.snapshots"
    intervals: str = "callpulse.intervals"
    alerts: str = "callpulse.alerts"
    partitions: int = 12
    replication_factor: int = 1


DEFAULT_STAFFING_WINDOW = "15m"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    group_id: str = "callpulse"
    # Static group membership (KIP-345): a worker restarted under the same id takes its
    # partitions back without a rebalance. Unique per worker (e.g. the pod name).
    instance_id: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    flush_interval_seconds: float = 1.0
    batch_max_records: int = 5000
    max_message_bytes: int = 65536
    max_queues: int = 5000
    max_label_length: int = 64
    data_dir: str | None = None
    # Windows whose staffing gauges /metrics exports (comma-separated names, or "all");
    # none set: 15m when it is a window, else all (docs/metrics.md, staffing).
    staffing_windows: str | None = None

    def staffing_scopes(self, windows: tuple[str, ...]) -> frozenset[str]:
        """The window names of ``staffing_windows`` among ``windows`` (validated)."""
        text = self.staffing_windows
        if text is None:
            return frozenset({DEFAULT_STAFFING_WINDOW} if DEFAULT_STAFFING_WINDOW in windows
                             else windows)  # fmt: skip
        if text.strip() == "all":
            return frozenset(windows)
        names = frozenset(n.strip() for n in text.split(",") if n.strip())
        unknown = sorted(names - set(windows))
        if unknown:
            raise ConfigError(
                f"worker.staffing_windows: {', '.join(unknown)} is not a window "
                f"(windows: {', '.join(windows)}; or 'all')"
            )
        return names


@dataclass(frozen=True, slots=True)
class AlertSettings:
    rules_file: str | None = None  # no file: no alerting
    alertmanager_urls: str | None = None  # comma-separated base URLs (every cluster member)
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)  # secret: never logged
    timeout_seconds: float = 5.0
    resend_interval_seconds: float = 60.0
    tick_interval_seconds: float = 1.0
    buffer_size: int = 10000
    generator_url: str | None = None  # default: the worker's /metrics URL


@dataclass(frozen=True, slots=True)
class Settings:
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    worker: WorkerSettings = WorkerSettings()
    engine: EngineConfig = field(default_factory=EngineConfig)
    alerts: AlertSettings = AlertSettings()

    def redacted(self) -> dict[str, Any]:
        """A dict of the settings that is safe to log (secrets masked)."""
        return {name: _masked(getattr(self, name)) for name in FLAT_SECTIONS}


def _masked(section: Any) -> dict[str, Any]:
    out = {f.name: getattr(section, f.name) for f in fields(section)}
    for key in SECRET_KEYS.intersection(out):
        if out[key]:
            out[key] = "***"
    return out


# The sections that are flat dataclasses of scalars (engine has its own reader).
FLAT_SECTIONS: dict[str, type] = {
    "kafka": KafkaSettings,
    "topics": TopicSettings,
    "worker": WorkerSettings,
    "alerts": AlertSettings,
}


def _shown(key: str, value: Any) -> str:
    """``value`` for an error message, unless ``key`` names a secret."""
    return "a secret value" if key.rsplit(".", 1)[-1] in SECRET_KEYS else repr(value)


def _scalar_section(cls: type, path: str, data: Any) -> Any:
    """Build a flat settings dataclass, checking each value against the field's default type."""
    data = _mapping(path, data)
    names = tuple(f.name for f in fields(cls))
    _reject_unknown(path, data, names)
    default = cls()
    values: dict[str, Any] = {}
    for name, raw in data.items():
        key = f"{path}.{name}"
        current = getattr(default, name)
        if name.endswith("_seconds"):
            values[name] = _positive_duration(key, raw)
        elif isinstance(current, bool):
            if not isinstance(raw, bool):
                raise ConfigError(f"{key}: expected true or false, got {raw!r}")
            values[name] = raw
        elif isinstance(current, int):
            values[name] = _integer(key, raw, 1)
        elif raw is None or isinstance(raw, str):
            values[name] = raw
        else:
            what = type(raw).__name__
            raise ConfigError(
                f"{key}: expected a string (quote it in YAML), got {_shown(key, raw)} ({what})"
            )
    return replace(default, **values)


def _check_kafka(kafka: KafkaSettings) -> None:
    if kafka.security_protocol not in SECURITY_PROTOCOLS:
        raise ConfigError(
            f"kafka.security_protocol: must be one of {', '.join(SECURITY_PROTOCOLS)}, "
            f"got {kafka.security_protocol!r}"
        )
    if kafka.security_protocol.startswith("SASL"):
        if kafka.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigError(
                f"kafka.sasl_mechanism: must be one of {', '.join(SASL_MECHANISMS)} with "
                f"{kafka.security_protocol}, got {kafka.sasl_mechanism!r}"
            )
        if not kafka.sasl_username or not kafka.sasl_password:
            raise ConfigError(
                "kafka.sasl_username / kafka.sasl_password: both are required with "
                f"{kafka.security_protocol}"
            )


def settings_from_dict(data: Mapping[str, Any]) -> Settings:
    data = _mapping("", data)
    _reject_unknown("", data, tuple(f.name for f in fields(Settings)))
    kafka = _scalar_section(KafkaSettings, "kafka", data.get("kafka", {}))
    _check_kafka(kafka)
    topics = _scalar_section(TopicSettings, "topics", data.get("topics", {}))
    worker = _scalar_section(WorkerSettings, "worker", data.get("worker", {}))
    engine = engine_config_from_dict(_mapping("engine", data.get("engine", {})), "engine")
    alerts = _scalar_section(AlertSettings, "alerts", data.get("alerts", {}))
    worker.staffing_scopes(tuple(name for name, _ in engine.windows))  # names are windows
    return Settings(kafka=kafka, topics=topics, worker=worker, engine=engine, alerts=alerts)


def apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Overlay ``CALLPULSE_A__B=value`` variables onto the nested dict ``data`` (a copy)."""
    merged: dict[str, Any] = _deep_copy(data)
    for name, text in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        node = merged
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(keys)} overrides a value that is not a map")
            node = child
        if not text:
            node[keys[-1]] = None
        elif _is_text(keys):
            node[keys[-1]] = text
        else:
            try:
                node[keys[-1]] = yaml.safe_load(text)
            except yaml.YAMLError as error:
                raise ConfigError(f"{name}: not a valid YAML value ({error.problem})") from None
    return merged


def _is_text(keys: Sequence[str]) -> bool:
    """Whether the key at ``keys`` takes the environment text as it is: a string field, or
    a key unknown in a known section (rejected later by name, its value never parsed)."""
    if keys[0] in FLAT_SECTIONS:
        if len(keys) != 2:
            return True  # nothing in a flat section is nested: rejected later, by name
        section: type = FLAT_SECTIONS[keys[0]]
    elif (keys[:2] == ["engine", "defaults"] and len(keys) == 3) or (
        keys[:2] == ["engine", "queues"] and len(keys) == 4
    ):
        section = QueueConfig
    else:
        return False
    hint = get_type_hints(section).get(keys[-1])
    return (
        hint is None
        or hint is str
        or (isinstance(hint, types.UnionType) and set(hint.__args__) == {str, type(None)})
    )


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def read_yaml_mapping(path: str | Path, label: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is an empty one); errors
    name ``label`` and, for bad YAML, the line."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ConfigError(f"{label}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{label}:{where}: not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: the top level must be a mapping")
    return data


def load_settings(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the YAML file (if any), overlay the environment, validate."""
    data = read_yaml_mapping(path, str(path)) if path is not None else {}
    merged = apply_env_overrides(data, os.environ if environ is None else environ)
    return settings_from_dict(merged)
