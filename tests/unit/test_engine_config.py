"""engine_config_from_dict: shapes, defaults, and errors that name the key."""

from __future__ import annotations

from typing import Any

import pytest

from stream.config import (
    ConfigError,
    EngineConfig,
    QueueConfig,
    engine_config_from_dict,
    parse_duration,
)


def test_empty_mapping_gives_the_defaults() -> None:
    assert engine_config_from_dict({}) == EngineConfig()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90.0), (1.5, 1.5), ("90s", 90.0), ("15m", 900.0), ("1h", 3600.0), ("1d", 86400.0)],
)
def test_durations(value: Any, seconds: float) -> None:
    assert parse_duration("x", value) == seconds
    assert parse_duration("x", "1.5h") == 5400.0


def test_full_shape() -> None:
    cfg = engine_config_from_dict(
        {
            "windows": ["5m", "1h"],
            "window_slots": 60,
            "grace": "2m",
            "interval": "30m",
            "dedupe_horizon": "5m",
            "max_wait": "12h",
            "max_waiting_calls": 500,
            "defaults": {"sl_thresholds": [20, "30s"], "timezone": "Europe/Berlin"},
            "queues": {"vip": {"sl_target": 0.9, "business_day_start": "07:30"}},
        }
    )
    assert cfg.windows == (("5m", 300.0), ("1h", 3600.0))
    assert (cfg.window_slots, cfg.grace_seconds, cfg.interval_seconds) == (60, 120.0, 1800.0)
    assert (cfg.dedupe_horizon_seconds, cfg.max_wait_seconds) == (300.0, 43200.0)
    assert cfg.default_queue.sl_thresholds == (20.0, 30.0)
    vip = cfg.queue("vip")
    assert vip == QueueConfig(
        sl_thresholds=(20.0, 30.0),
        sl_target=0.9,
        timezone="Europe/Berlin",
        business_day_start="07:30",
    )
    assert cfg.queue("other") == cfg.default_queue


def test_windows_as_a_mapping() -> None:
    cfg = engine_config_from_dict({"windows": {"short": 60, "long": "2h"}})
    assert cfg.windows == (("short", 60.0), ("long", 7200.0))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"grase": 60}, "grase: unknown key (did you mean 'grace'?)"),
        ({"queues": {"s": {"sl_taget": 0.9}}}, "queues.s.sl_taget: unknown key (did you mean"),
        ({"queues": {"s": {"sl_target": 1.5}}}, "queues.s.sl_target: must be in (0, 1]"),
        ({"defaults": {"sl_target": "high"}}, "defaults.sl_target: expected a number"),
        ({"defaults": {"sl_formula": "answered_over_offered"}}, "defaults.sl_formula: "),
        ({"defaults": {"timezone": "Mars/Olympus"}}, "defaults.timezone: unknown IANA"),
        (
            {"defaults": {"business_day_start": "7:30"}},
            'defaults.business_day_start: expected local time "HH:MM"',
        ),
        (
            {"defaults": {"sl_thresholds": [30, 20]}},
            "defaults.sl_thresholds: must be strictly increasing",
        ),
        (
            {"defaults": {"sl_thresholds": [20, 20]}},
            "defaults.sl_thresholds: must be strictly increasing",
        ),
        ({"defaults": {"sl_thresholds": [0]}}, "defaults.sl_thresholds[0]: must be > 0"),
        ({"defaults": {"sl_thresholds": []}}, "defaults.sl_thresholds: expected a non-empty list"),
        ({"defaults": {"short_abandon_seconds": -1}}, "defaults.short_abandon_seconds: must be"),
        ({"defaults": {"repeat_caller_hours": 0}}, "defaults.repeat_caller_hours: must be > 0"),
        ({"interval": "7m"}, "interval: must be whole seconds >= 60 that divide a day"),
        ({"interval": 30}, "interval: must be whole seconds >= 60"),
        ({"grace": "soon"}, "grace: expected a duration"),
        ({"grace": True}, "grace: expected a duration"),
        ({"window_slots": 0}, "window_slots: must be in 1..3600"),
        ({"window_slots": 2.5}, "window_slots: expected an integer"),
        ({"max_waiting_calls": 0}, "max_waiting_calls: must be >= 1"),
        ({"windows": []}, "windows: at least one window is required"),
        ({"windows": ["5m", "5m"]}, "windows: window names must be unique"),
        ({"windows": {"today": 60}}, 'windows: "today" is reserved'),
        ({"windows": {"5m": 0}}, "windows.5m: must be > 0"),
        ({"queues": ["sales"]}, "queues: expected a mapping"),
    ],
)
def test_errors_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        engine_config_from_dict(data)
    assert str(err.value).startswith(message), str(err.value)


def test_error_lists_the_allowed_values() -> None:
    with pytest.raises(ConfigError) as err:
        engine_config_from_dict({"defaults": {"sl_formula": "answered_within_over_ofered"}})
    text = str(err.value)
    assert "did you mean 'answered_within_over_offered'" in text
    assert "answered_abandoned_within_over_offered_excl_short" in text  # the allowed list


def test_path_prefix() -> None:
    with pytest.raises(ConfigError, match=r"^engine\.grace: "):
        engine_config_from_dict({"grace": -1}, path="engine")
