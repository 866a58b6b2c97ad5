"""Duplicates, out-of-order outcomes and every anomaly kind of docs/kpis.md."""

from __future__ import annotations

import pytest

from stream.engine import Engine
from stream.events import AgentState, AgentStateChanged, CallEnqueued
from stream.queue import ANOMALY_KINDS

from .engine_builders import T0, Feed, config


def anomalies(feed: Feed) -> dict[str, int]:
    return {kind: n for kind, n in feed.state.anomalies.items() if n}


def test_every_kind_is_reported_from_the_start() -> None:
    feed = Feed()
    feed.enq(0, "c1")
    assert set(feed.state.anomalies) == set(ANOMALY_KINDS)
    assert anomalies(feed) == {}


def test_redelivered_event_is_applied_once() -> None:
    feed = Feed()
    event = feed.enq(0, "c1")
    feed.apply(event)
    answered = feed.ans(10, "c1")
    feed.apply(answered)
    assert feed.state.totals["entered"] == 1 and feed.state.totals["answered"] == 1
    assert anomalies(feed) == {"duplicate": 2}


def test_phase_duplicates_with_another_id() -> None:
    feed = Feed()
    feed.enq(0, "c1")
    feed.enq(1, "c1")
    feed.ans(10, "c1")
    feed.ans(11, "c1")
    feed.end(50, "c1", talk=40)
    feed.end(51, "c1", talk=40)
    feed.acw(60, "c1", acw=10)
    feed.acw(61, "c1", acw=10)
    totals = feed.state.totals
    assert (totals["entered"], totals["answered"], totals["handled"]) == (1, 1, 1)
    assert totals["acw_seconds"] == 10
    assert anomalies(feed) == {"duplicate": 4}
    # Duplicates do not move stream time.
    assert feed.state.stream_time == T0 + 60


def test_second_transfer_or_survey_is_counted_once_without_anomaly() -> None:
    feed = Feed()
    feed.enq(0, "c1")
    feed.ans(5, "c1")
    feed.xfer(10, "c1")
    feed.xfer(20, "c1")
    feed.survey(30, "c1", csat=5)
    feed.survey(40, "c1", csat=1)
    totals = feed.state.totals
    assert totals["transferred"] == 1 and totals["csat_responses"] == 1
    assert totals["csat_sum"] == 5
    assert anomalies(feed) == {}
    assert feed.state.stream_time == T0 + 40


def test_late() -> None:
    feed = Feed()
    feed.enq(100, "c1")
    feed.enq(0, "c2")
    assert anomalies(feed) == {"late": 1}


def test_negative_wait_is_clamped() -> None:
    feed = Feed()
    feed.enq(10, "c1")
    feed.abd(5, "c1")
    totals = feed.state.totals
    assert totals["abandoned"] == 1 and totals["abandoned_wait_seconds"] == 0.0
    assert totals["short_abandoned"] == 1
    assert anomalies(feed) == {"negative_wait": 1}
    assert feed.state.calls_waiting == 0


def test_conflicting_outcome_is_ignored() -> None:
    feed = Feed()
    feed.enq(0, "c1")
    feed.ans(10, "c1")
    feed.abd(12, "c1")
    totals = feed.state.totals
    assert (totals["offered"], totals["answered"], totals["abandoned"]) == (1, 1, 0)
    assert anomalies(feed) == {"conflicting_outcome": 1}


def test_outcome_before_enqueue_is_parked_then_counted_at_its_own_time() -> None:
    feed = Feed()
    feed.enq(0, "c0")
    feed.ans(30, "c1")  # its enqueue comes next
    assert feed.state.stream_time == T0  # a parked outcome does not move stream time yet
    assert feed.state.calls_in_service == 1  # but the live state follows the answer
    feed.enq(12, "c1")
    state = feed.state
    assert state.stream_time == T0 + 30
    window = state.window("5m", T0 + 30)
    assert (window["answered"], window["answered_wait_seconds"]) == (1, 18.0)
    assert window["queue_length_seconds"] == pytest.approx(30 + 18)  # c0 30 s, c1 18 s
    assert state.calls_waiting == 1  # c0 only
    assert anomalies(feed) == {}


def test_outcome_without_enqueue_is_dropped_after_grace() -> None:
    feed = Feed()
    feed.enq(0, "c0")
    feed.abd(10, "c1")  # unknown call
    feed.enq(70, "c2")  # stream time 70 = 10 + grace: not yet
    assert anomalies(feed) == {}
    feed.enq(71, "c3")
    assert anomalies(feed) == {"outcome_without_enqueue": 1}
    assert feed.state.totals["abandoned"] == 0
    # Its enqueue, arriving now, counts as entered but the call does not wait.
    feed.enq(75, "c1")
    assert feed.state.totals["entered"] == 4 and feed.state.calls_waiting == 3
    # An outcome that arrives already expired is dropped at once.
    feed.abd(0, "c9")
    assert anomalies(feed) == {"outcome_without_enqueue": 2}


def test_end_without_answer_and_acw_without_end() -> None:
    feed = Feed()
    feed.end(10, "c1", talk=10)
    feed.acw(20, "c2", acw=5)
    totals = feed.state.totals
    assert totals["handled"] == 1 and totals["talk_seconds"] == 10
    assert totals["acw_seconds"] == 5
    assert anomalies(feed) == {"end_without_answer": 1, "acw_without_end": 1}


def test_stuck_calls_expire_after_max_wait() -> None:
    feed = Feed(Engine(config(max_wait=120)))
    feed.enq(0, "c1")
    feed.enq(50, "c2")
    feed.ans(60, "c2")
    feed.enq(121, "c3")  # c1 has waited 121 s > 120
    state = feed.state
    assert state.calls_waiting == 1  # c3
    assert anomalies(feed) == {"stuck_call_expired": 1}
    # It left the waiting timeline at enqueue + max_wait.
    assert state.window("15m", T0 + 121)["queue_length_seconds"] == pytest.approx(120 + 10)
    feed.enq(200, "c4")  # c2 in service since 60, its end lost: 140 s > 120
    assert state.calls_in_service == 0
    assert anomalies(feed) == {"stuck_call_expired": 2}


def test_queue_full_refuses_the_call() -> None:
    feed = Feed(Engine(config(max_waiting_calls=1)))
    feed.enq(0, "c1")
    feed.enq(1, "c2")
    assert feed.state.calls_waiting == 1 and feed.state.totals["entered"] == 2
    assert anomalies(feed) == {"queue_full": 1}


def test_stale_agent_event_is_ignored() -> None:
    feed = Feed()
    feed.agent(10, "a1", "available")
    feed.agent(5, "a1", "not_ready")
    assert feed.state.agents_by_state()["available"] == 1
    assert anomalies(feed) == {"stale_agent_event": 1}


def test_logout_mid_call() -> None:
    feed = Feed()
    feed.agent(0, "a1", "available")
    feed.enq(1, "c1")
    feed.ans(2, "c1", agent="a1")
    feed.agent(3, "a1", "logged_out")
    assert feed.state.calls_in_service == 1
    assert feed.state.agents_staffed() == 0
    assert anomalies(feed) == {"logout_mid_call": 1}


def test_agent_event_fans_out_or_follows_the_record_key() -> None:
    engine = Engine(config())
    event = AgentStateChanged("x1", T0, "a1", AgentState.AVAILABLE, ("sales", "support"))
    engine.apply(event)
    assert engine.queues["support"].agents_staffed() == 1
    keyed = Engine(config())
    keyed.apply(event, only_queue="support")
    assert list(keyed.queues) == ["support"]


def test_misrouted_event_is_counted_not_applied() -> None:
    engine = Engine(config())
    engine.apply(CallEnqueued("x1", T0, "sales", "c1"), only_queue="support")
    state = engine.queues["support"]
    assert state.anomalies["misrouted"] == 1 and state.calls_waiting == 0
    assert "sales" not in engine.queues


def test_repeat_caller_window() -> None:
    feed = Feed(Engine(config(defaults={"repeat_caller_hours": 1})))
    feed.enq(0, "c1", caller="+1")
    feed.enq(3600, "c2", caller="+1")  # 1 h later: a repeat
    feed.enq(7201, "c3", caller="+1")  # 1 h 1 s after c2: not
    feed.enq(7202, "c4", caller="+2")
    totals = feed.state.totals
    assert (totals["repeat_entered"], totals["entered_with_caller_id"]) == (1, 4)


def test_answers_without_enqueue_keep_memory_bounded() -> None:
    """Outcomes without their enqueue never move stream time, so no rotation by time ever
    runs: the call tables must still stay within their size limits (checked on insert),
    and calls in service are capped like waiting calls (anomaly service_full)."""
    limits = {"max_recent_ids": 1000, "max_waiting_calls": 200, "max_parked_outcomes": 100}
    feed = Feed(Engine(config(**limits)))
    n = 20_000
    for i in range(n):
        feed.ans(i, f"c{i}")
    state = feed.state
    assert state.stream_time is None
    assert state.calls_in_service == 200
    assert anomalies(feed) == {"service_full": n - 200, "outcome_without_enqueue": n - 100}
    assert len(state._parked) == 100
    # Two generations of at most limit + 1 new ids; phases also keep the live calls'.
    assert len(state._ids) <= 1000 + 2
    assert len(state._phases) <= 2 * (1000 // 2 + 1 + 200 + 100)


def test_service_full_refuses_the_call_in_service() -> None:
    feed = Feed(Engine(config(max_waiting_calls=1)))
    feed.enq(0, "c1")
    feed.ans(1, "c1")
    feed.enq(2, "c2")
    feed.ans(3, "c2")  # counted, but not tracked in service
    assert feed.state.totals["answered"] == 2 and feed.state.calls_in_service == 1
    feed.end(10, "c2", talk=7)  # an answered call: no end_without_answer
    assert anomalies(feed) == {"service_full": 1}
