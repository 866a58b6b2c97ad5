"""Event time: windows, late events, today, intervals, business days across DST."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from stream.calendar import BusinessCalendar
from stream.engine import Engine

from .engine_builders import T0, Feed, config


def local(tz: str, *args: int, fold: int = 0) -> float:
    return datetime(*args, tzinfo=ZoneInfo(tz), fold=fold).timestamp()


def test_window_holds_whole_buckets_of_the_last_length() -> None:
    feed = Feed()
    feed.enq(0, "c1")  # bucket T0 .. T0 + 10 of the 5m window
    feed.abd(5, "c1")
    feed.enq(300, "c2")
    # Read at T0 + 305: buckets from T0 + 10 on; c1 (enqueued and abandoned at T0..T0+5) is
    # out, read at T0 + 299 (buckets from T0 − 10) it is in.
    assert feed.state.window("5m", T0 + 305)["entered"] == 1
    assert feed.state.window("5m", T0 + 305)["offered"] == 0
    assert feed.state.window("15m", T0 + 305)["offered"] == 1


def test_reads_before_stream_time_are_reads_at_stream_time() -> None:
    feed = Feed()
    feed.enq(0, "c1")
    feed.enq(100, "c2")
    assert feed.state.window("5m", T0 + 50) == feed.state.window("5m", T0 + 100)
    assert feed.state.longest_wait(T0) == 100.0


def test_an_idle_window_empties_but_counts_the_waiting_time() -> None:
    feed = Feed()
    feed.enq(0, "c1")
    later = feed.state.window("5m", T0 + 1000)
    assert later["entered"] == 0
    # The call waited through the whole window so far: it starts at T0 + 710, span 290.
    assert later["queue_length_seconds"] == pytest.approx(290.0)
    assert later["max_queue_length"] == 1
    assert later["max_wait_seconds"] == 1000.0


def test_late_event_is_in_today_and_its_open_interval_not_in_windows() -> None:
    feed = Feed()  # grace 60 s, 15-minute intervals
    feed.enq(1000, "c1")
    feed.enq(1000 - 61, "c2")  # late: 61 s before stream time
    feed.enq(1000 - 60, "c3")  # exactly at the grace: on time
    state = feed.state
    assert state.anomalies["late"] == 1
    assert state.window("5m", T0 + 1000)["entered"] == 2
    assert state.today(T0 + 1000)["entered"] == 3
    # Interval [T0 + 900, T0 + 1800) is still open: it gets all three.
    feed.enq(1860, "c4")  # stream time reaches 1800 + grace: it closes
    (summary,) = feed.engine.take_closed()
    assert (summary.start, summary.end) == (T0 + 900, T0 + 1800)
    assert summary.counters["entered"] == 3
    # Late for a closed interval: counted as late, not added, not emitted again.
    feed.enq(1799, "c5")
    assert state.anomalies["late"] == 2
    assert feed.engine.take_closed() == []
    assert state.today(T0 + 1860)["entered"] == 5
    assert state.totals["entered"] == 5


def test_late_outcome_still_updates_the_live_state() -> None:
    feed = Feed()
    feed.enq(0, "c1")
    feed.enq(200, "c2")
    feed.ans(100, "c1")  # late (200 − 60 = 140 > 100)
    state = feed.state
    assert state.calls_waiting == 1 and state.calls_in_service == 1
    assert state.window("5m", T0 + 200)["answered"] == 0
    assert state.today(T0 + 200)["answered"] == 1
    # Time-weighted values follow the live state as known: c1 waited 100 s, in the window too.
    assert state.window("5m", T0 + 200)["queue_length_seconds"] == pytest.approx(100.0)


def test_out_of_order_event_within_grace_lands_in_its_bucket() -> None:
    feed = Feed()
    feed.enq(0, "c1")
    feed.enq(305, "c2")
    feed.abd(295, "c1")  # on time (grace 60), in a bucket before the latest one
    state = feed.state
    # The 5m window read at T0 + 305 starts at T0 + 10: the abandon (T0 + 295) is in it.
    assert state.window("5m", T0 + 305)["abandoned"] == 1
    # Read at T0 + 600 (starts at T0 + 310): out again; the wait still counts up to 295.
    assert state.window("5m", T0 + 600)["abandoned"] == 0
    assert state.window("15m", T0 + 305)["queue_length_seconds"] == pytest.approx(295.0)


def test_interval_closes_once_on_stream_time() -> None:
    feed = Feed()
    feed.enq(10, "c1")
    feed.ans(20, "c1")
    feed.enq(900 + 59, "c2")  # the interval ends at 900, closes at 960
    assert feed.engine.take_closed() == []
    feed.enq(960, "c3")
    closed = feed.engine.take_closed()
    assert [(s.start, s.end) for s in closed] == [(T0, T0 + 900)]
    assert closed[0].counters["answered"] == 1
    assert closed[0].kpis["asa_seconds"] == 10.0
    assert closed[0].kpis["avg_queue_length"] == pytest.approx(10 / 900)
    assert closed[0].counters["max_queue_length"] == 1
    feed.enq(961, "c4")
    assert feed.engine.take_closed() == []
    assert feed.engine.advance(T0 + 960) == []


def test_advance_closes_idle_queues_and_flush_closes_the_rest_once() -> None:
    engine = Engine(config())
    feed = Feed(engine)
    feed.agent(0, "a1", "available")
    feed.enq(100, "c1")
    feed.abd(130, "c1")
    # Idle until T0 + 2000: [T0, +900) and [+900, +1800) close (the agent was there).
    closed = engine.advance(T0 + 2000)
    assert [(s.start - T0, s.end - T0) for s in closed] == [(0, 900), (900, 1800)]
    assert closed[0].counters["abandoned"] == 1
    assert closed[1].counters["agents_available_seconds"] == 900.0
    assert engine.advance(T0 + 2000) == []
    # An event of a closed interval that is on time for stream time is counted as late,
    # still goes to the windows, and is not added to the closed interval.
    feed.enq(1700, "c2")
    assert feed.state.anomalies["late"] == 1
    assert feed.state.window("5m", T0 + 1700)["entered"] == 1
    # Intervals exist up to the one holding stream time or the last one advance() closed:
    # nothing is left for flush().
    assert engine.flush() == []
    feed.enq(2000, "c3")
    flushed = engine.flush()
    assert [(s.start - T0, s.end - T0) for s in flushed] == [(1800, 2700)]
    assert flushed[0].counters["entered"] == 1
    assert engine.flush() == []


def test_intervals_without_anything_are_not_emitted() -> None:
    engine = Engine(config())
    feed = Feed(engine)
    feed.enq(0, "c1")
    feed.abd(10, "c1")
    feed.enq(5 * 3600, "c2")  # hours later; nothing waited in between
    closed = engine.take_closed()
    assert [(s.start - T0) for s in closed] == [0]


def test_one_hour_intervals_follow_local_hours() -> None:
    engine = Engine(config(interval="1h", defaults={"timezone": "Asia/Kolkata"}))
    feed = Feed(engine)
    start = local("Asia/Kolkata", 2026, 6, 1, 9, 10)
    feed.t0 = start
    feed.enq(0, "c1")
    feed.abd(60, "c1")
    (summary,) = engine.flush()
    assert summary.start == local("Asia/Kolkata", 2026, 6, 1, 9)  # 03:30 UTC
    assert summary.end - summary.start == 3600


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        ("America/New_York", (2026, 3, 8), 23),
        ("America/New_York", (2026, 11, 1), 25),
        ("Europe/Berlin", (2026, 3, 29), 23),
        ("Europe/Berlin", (2026, 10, 25), 25),
        ("Europe/Berlin", (2026, 6, 1), 24),
    ],
)
def test_business_days_across_dst(tz: str, day: tuple[int, int, int], hours: int) -> None:
    calendar = BusinessCalendar(tz, "00:00", 3600)
    noon = local(tz, *day, 12)
    start, end = calendar.day_bounds(noon)
    assert start == local(tz, *day)
    assert end - start == hours * 3600
    bounds = [start]
    while bounds[-1] < end:
        bounds.append(calendar.interval_bounds(bounds[-1])[1])
    assert len(bounds) - 1 == hours
    assert {b - a for a, b in itertools.pairwise(bounds)} == {3600}


def test_new_york_fall_back_has_two_one_am_intervals() -> None:
    calendar = BusinessCalendar("America/New_York", "00:00", 3600)
    first = local("America/New_York", 2026, 11, 1, 1, 30, fold=0)
    second = local("America/New_York", 2026, 11, 1, 1, 30, fold=1)
    assert second - first == 3600
    assert calendar.interval_bounds(first)[0] == local("America/New_York", 2026, 11, 1, 1)
    assert calendar.interval_bounds(second)[0] == local("America/New_York", 2026, 11, 1, 1, fold=1)


def test_spring_forward_gap_interval_and_day_start() -> None:
    ny = BusinessCalendar("America/New_York", "00:00", 3600)
    # 02:00 does not exist on 2026-03-08: the 01:00 interval ends at 03:00 EDT.
    one_am = local("America/New_York", 2026, 3, 8, 1, 30)
    assert ny.interval_bounds(one_am) == (
        local("America/New_York", 2026, 3, 8, 1),
        local("America/New_York", 2026, 3, 8, 3),
    )
    # A business day starting at 02:30 starts at the first instant after the gap that day.
    berlin = BusinessCalendar("Europe/Berlin", "02:30", 900)
    start, end = berlin.day_bounds(local("Europe/Berlin", 2026, 3, 29, 12))
    assert start == datetime(2026, 3, 29, 1, 0, tzinfo=UTC).timestamp()  # 03:00 CEST
    assert end == local("Europe/Berlin", 2026, 3, 30, 2, 30)


def test_today_resets_at_the_local_business_day_start() -> None:
    engine = Engine(
        config(defaults={"timezone": "America/New_York", "business_day_start": "06:00"})
    )
    feed = Feed(engine, t0=local("America/New_York", 2026, 11, 1, 5, 0))
    feed.enq(0, "c1")  # 05:00 EST on Nov 1: still the business day of Oct 31
    feed.abd(1800, "c1")
    feed.enq(3600 + 60, "c2")  # 06:01: a new business day
    today = feed.state.today(feed.t0 + 3600 + 60)
    assert today["entered"] == 1 and today["abandoned"] == 0
    assert feed.state.totals["entered"] == 2
    # That business day (Nov 1 06:00 EST to Nov 2 06:00 EST) lasts 24 h; the one
    # before it, which contained the fall-back, lasted 25 h.
    calendar = BusinessCalendar("America/New_York", "06:00", 900)
    start, end = calendar.day_bounds(feed.t0 + 3600 + 60)
    assert end - start == 24 * 3600
    start, end = calendar.day_bounds(feed.t0)
    assert end - start == 25 * 3600


def test_one_day_interval_is_the_business_day_on_a_fall_back_day() -> None:
    """A 1d interval is the business day even when its start (01:30) falls in the
    repeated hour: the second 01:30 is not a boundary (the start is its first occurrence)."""
    tz = "America/New_York"
    engine = Engine(config(interval="1d", defaults={"timezone": tz, "business_day_start": "01:30"}))
    feed = Feed(engine, t0=local(tz, 2026, 11, 1, 1, 30))
    feed.enq(60, "c1")
    feed.abd(3600 + 60, "c1")  # 01:31 EST: after the second 01:30
    (summary,) = engine.flush()
    assert summary.start == feed.t0
    assert summary.end == local(tz, 2026, 11, 2, 1, 30)
    assert summary.end - summary.start == 25 * 3600
    # Shorter intervals keep both occurrences of a grid time as boundaries.
    calendar = BusinessCalendar(tz, "01:30", 3600)
    assert calendar.interval_bounds(feed.t0 + 3600 + 60)[0] == local(tz, 2026, 11, 1, 1, 30, fold=1)
