"""Service-level variants and the other KPIs on small scenarios computed by hand."""

from __future__ import annotations

import pytest

from stream.engine import Engine
from stream.kpis import SL_VARIANTS

from .engine_builders import T0, Feed, config


def scenario(**defaults: object) -> Feed:
    """Nine calls, all in the 5m window read at T0 + 60 (window start T0 − 230, span 290):

    call  enqueued  outcome          wait  notes
    c1    0         answered @10     10    <= 20, <= 30
    c2    0         answered @25     25    > 20, <= 30
    c3    0         answered @40     40
    c4    0         abandoned @3      3    short (<= 5), <= 20
    c5    0         abandoned @15    15    <= 20
    c6    0         abandoned @50    50
    c7    0         left @60         60    timeout
    c8    30        waiting          30 at read: a live miss for T = 20, not for T = 30
    c9    50        waiting          10 at read

    O = 7, AN = 3, AB = 3, S = 1 (c4).
    """
    feed = Feed(Engine(config(defaults={"sl_thresholds": [20, 30], **defaults})))
    for call in ("c1", "c2", "c3", "c4", "c5", "c6", "c7"):
        feed.enq(0, call)
    feed.abd(3, "c4")
    feed.ans(10, "c1")
    feed.abd(15, "c5")
    feed.ans(25, "c2")
    feed.enq(30, "c8")
    feed.ans(40, "c3")
    feed.enq(50, "c9")
    feed.abd(50, "c6")
    feed.left(60, "c7")
    return feed


NOW = T0 + 60

# Per threshold: A_T, B_T, M_T = (1, 2, 1) for T = 20 and (2, 2, 0) for T = 30.
EXPECTED = {
    # T = 20, plain: O + M = 8, AN = 3, AN + AB + M = 7, O − B + M = 6, A + B = 3.
    "service_level:20:answered_within_over_offered": 1 / 8,
    "service_level:20:answered_within_over_answered": 1 / 3,
    "service_level:20:answered_within_over_answered_abandoned": 1 / 7,
    "service_level:20:answered_within_over_offered_minus_abandoned_within": 1 / 6,
    "service_level:20:answered_abandoned_within_over_offered": 3 / 8,
    # T = 20 without short abandons: O' = 6, AB' = 2, B' = B − S = 1 (S-threshold 5 <= 20).
    "service_level:20:answered_within_over_offered_excl_short": 1 / 7,
    "service_level:20:answered_within_over_answered_excl_short": 1 / 3,
    "service_level:20:answered_within_over_answered_abandoned_excl_short": 1 / 6,
    "service_level:20:answered_within_over_offered_minus_abandoned_within_excl_short": 1 / 6,
    "service_level:20:answered_abandoned_within_over_offered_excl_short": 2 / 7,
    # T = 30, plain: O + M = 7, AN + AB + M = 6, O − B + M = 5, A + B = 4.
    "service_level:30:answered_within_over_offered": 2 / 7,
    "service_level:30:answered_within_over_answered": 2 / 3,
    "service_level:30:answered_within_over_answered_abandoned": 2 / 6,
    "service_level:30:answered_within_over_offered_minus_abandoned_within": 2 / 5,
    "service_level:30:answered_abandoned_within_over_offered": 4 / 7,
    # T = 30 without short abandons: O' = 6, AB' = 2, B' = 1.
    "service_level:30:answered_within_over_offered_excl_short": 2 / 6,
    "service_level:30:answered_within_over_answered_excl_short": 2 / 3,
    "service_level:30:answered_within_over_answered_abandoned_excl_short": 2 / 5,
    "service_level:30:answered_within_over_offered_minus_abandoned_within_excl_short": 2 / 5,
    "service_level:30:answered_abandoned_within_over_offered_excl_short": 3 / 6,
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_each_service_level_formula(key: str) -> None:
    kpis = scenario().state.kpis("5m", NOW, staffing=False)
    assert kpis[key] == pytest.approx(EXPECTED[key])


def test_every_variant_is_reported_per_threshold() -> None:
    kpis = scenario().state.kpis("5m", NOW, staffing=False)
    for threshold in ("20", "30"):
        for variant in SL_VARIANTS:
            assert f"service_level:{threshold}:{variant}" in kpis
    assert kpis["service_level"] == kpis["service_level:20:answered_within_over_offered"]


def test_headline_follows_the_configured_formula() -> None:
    feed = scenario(sl_formula="answered_within_over_answered_excl_short")
    kpis = feed.state.kpis("5m", NOW, staffing=False)
    assert kpis["service_level"] == pytest.approx(1 / 3)


def test_short_abandon_threshold_above_t_removes_no_abandon_within_t() -> None:
    # S-threshold 25 > T = 20: short abandons are c4 (3 s) and c5 (15 s), S = 2, and the
    # abandons within 20 s without the short ones are B' = 0. O' = 5, AB' = 1, M = 1.
    kpis = scenario(short_abandon_seconds=25).state.kpis("5m", NOW, staffing=False)
    prefix = "service_level:20:"
    assert kpis[prefix + "answered_within_over_offered_excl_short"] == pytest.approx(1 / 6)
    assert kpis[prefix + "answered_within_over_answered_abandoned_excl_short"] == 1 / 5
    assert kpis[prefix + "answered_abandoned_within_over_offered_excl_short"] == 1 / 6
    assert kpis[prefix + "answered_within_over_offered_minus_abandoned_within_excl_short"] == 1 / 6


def test_other_kpis_of_the_scenario() -> None:
    state = scenario().state
    kpis = state.kpis("5m", NOW, staffing=False)
    assert kpis["abandon_ratio"] == pytest.approx(3 / 7)
    assert kpis["abandon_ratio_excl_short"] == pytest.approx(2 / 6)
    assert kpis["asa_seconds"] == pytest.approx((10 + 25 + 40) / 3)
    assert kpis["avg_wait_seconds"] == pytest.approx((10 + 25 + 40 + 3 + 15 + 50 + 60) / 7)
    assert kpis["avg_abandon_seconds"] == pytest.approx((3 + 15 + 50) / 3)
    assert kpis["max_wait_seconds"] == 60.0
    assert kpis["arrival_rate_per_second"] == pytest.approx(9 / 290)
    # ∫ L dt: the seven outcomes' waits (203 s) + c8 (30 s) + c9 (10 s) so far.
    assert kpis["avg_queue_length"] == pytest.approx(243 / 290)
    assert kpis["max_queue_length"] == 7  # right after the seven enqueues at T0
    counters = state.window("5m", NOW).as_dict()
    assert counters["offered"] == 7
    assert counters["left"] == 1 and counters["flowed_out"] == 0
    assert counters["queue_length_seconds"] == pytest.approx(243)
    assert state.live_misses(NOW) == {20.0: 1, 30.0: 0}
    assert state.longest_wait(NOW) == 30.0


def test_handle_times_transfers_surveys_and_repeat_callers() -> None:
    feed = Feed()
    feed.enq(0, "c1", caller="+1")
    feed.enq(1, "c2", caller="+1")  # a repeat of +1
    feed.enq(2, "c3", caller="+2")
    feed.enq(3, "c4")
    for call, t in (("c1", 10), ("c2", 11)):
        feed.ans(t, call)
    feed.xfer(20, "c1")
    feed.end(100, "c1", talk=80, hold=10)
    feed.end(111, "c2", talk=100, hold=0)
    feed.acw(130, "c1", acw=30)
    feed.survey(140, "c1", csat=5, nps=10, resolved=True)
    feed.survey(141, "c2", csat=3, nps=6, resolved=False)
    kpis = feed.state.kpis("1h", T0 + 150, staffing=False)
    assert kpis["aht_seconds"] == pytest.approx((80 + 10 + 100 + 30) / 2)
    assert kpis["avg_talk_seconds"] == 90.0
    assert kpis["avg_hold_seconds"] == 5.0
    assert kpis["avg_acw_seconds"] == 15.0
    assert kpis["transfer_ratio"] == 0.5
    assert kpis["repeat_caller_ratio"] == pytest.approx(1 / 3)
    assert kpis["csat_avg"] == 4.0
    assert kpis["csat_satisfied_ratio"] == 0.5
    assert kpis["nps"] == 0.0  # one promoter, one detractor
    assert kpis["resolved_ratio"] == 0.5


def test_occupancy_from_agent_state_time() -> None:
    feed = Feed()
    feed.agent(0, "a1", "available")
    feed.agent(10, "a1", "on_contact")
    feed.agent(70, "a1", "after_call_work")
    feed.agent(90, "a1", "available")
    feed.agent(0, "a2", "not_ready")
    # At T0 + 100: available 10 + 10, on_contact 60, acw 20 -> (60 + 20) / (80 + 20).
    kpis = feed.state.kpis("5m", T0 + 100, staffing=False)
    assert kpis["occupancy_ratio"] == pytest.approx(0.8)
    counters = feed.state.window("5m", T0 + 100).as_dict()
    assert counters["agents_not_ready_seconds"] == pytest.approx(100)
    assert feed.state.agents_by_state() == {
        "logged_in": 0,
        "available": 1,
        "on_contact": 0,
        "after_call_work": 0,
        "not_ready": 1,
    }
    assert feed.state.agents_staffed() == 1


def test_empty_denominators_have_no_value() -> None:
    feed = Feed()
    feed.agent(0, "a1", "not_ready")
    kpis = feed.state.kpis("5m", T0 + 10)
    for key in (
        "service_level",
        "abandon_ratio",
        "asa_seconds",
        "aht_seconds",
        "avg_wait_seconds",
        "max_wait_seconds",
        "transfer_ratio",
        "occupancy_ratio",
        "repeat_caller_ratio",
        "csat_avg",
        "nps",
        "resolved_ratio",
        *(f"service_level:20:{v}" for v in SL_VARIANTS),
    ):
        assert kpis[key] is None, key
    assert kpis["arrival_rate_per_second"] == 0.0
    assert kpis["agents_required"] == 0  # no arrivals: nobody needed
    assert kpis["predicted_service_level"] is None


def test_live_misses_count_before_any_outcome() -> None:
    feed = Feed()
    feed.enq(0, "c1")
    feed.enq(15, "c2")
    # At T0 + 30: c1 waited 30 s > 20 (a miss), c2 15 s (not yet).
    kpis = feed.state.kpis("5m", T0 + 30, staffing=False)
    assert kpis["service_level:20:answered_within_over_offered"] == 0.0
    assert kpis["service_level:20:answered_within_over_answered"] is None
    assert kpis["max_wait_seconds"] == 30.0
    # The same calls read later: both are misses, and still no outcome.
    assert feed.state.live_misses(T0 + 100) == {20.0: 2}


def test_staffing_keys_for_windows_only() -> None:
    feed = scenario()
    feed.agent(0, "a1", "available")
    feed.end(61, "c1", talk=50)
    window = feed.state.kpis("5m", T0 + 61)
    assert window["agents_required"] is not None
    assert window["staffing_gap"] == window["agents_required"] - 1
    assert "agents_required" not in feed.state.kpis("today", T0 + 61)
    assert "agents_required" not in feed.state.kpis("5m", T0 + 61, staffing=False)
