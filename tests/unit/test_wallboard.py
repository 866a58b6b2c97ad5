"""The wallboard model (`callpulse top`, `make demo`): metrics text -> rows -> a frame."""

from __future__ import annotations

from consumers.top import Scrape, frame, normalise_url, observe
from consumers.wallboard import AlertChanges, build_board, parse, render_table

WORKER_A = """\
# TYPE callpulse_calls_waiting gauge
callpulse_calls_waiting{queue="sales"} 7
# TYPE callpulse_longest_wait_seconds gauge
callpulse_longest_wait_seconds{queue="sales"} 95.4
# TYPE callpulse_agents gauge
callpulse_agents{queue="sales",state="available"} 0
callpulse_agents{queue="sales",state="on_contact"} 30
callpulse_agents{queue="sales",state="not_ready"} 2
# TYPE callpulse_service_level_target_ratio gauge
callpulse_service_level_target_ratio{queue="sales"} 0.8
# TYPE callpulse_service_level_ratio gauge
callpulse_service_level_ratio{queue="sales",window="2m",threshold="20",variant="v"} 0.55
callpulse_service_level_ratio{queue="sales",window="2m",threshold="60",variant="v"} 0.9
callpulse_service_level_ratio{queue="sales",window="5m",threshold="20",variant="v"} 0.7
# TYPE callpulse_abandon_ratio gauge
callpulse_abandon_ratio{queue="sales",window="2m"} 0.25
# TYPE callpulse_asa_seconds gauge
callpulse_asa_seconds{queue="sales",window="2m"} 41
# TYPE callpulse_aht_seconds gauge
callpulse_aht_seconds{queue="sales",window="2m"} 190
# TYPE callpulse_window_calls gauge
callpulse_window_calls{queue="sales",window="2m",kind="offered"} 40
callpulse_window_calls{queue="sales",window="2m",kind="answered"} 30
# TYPE callpulse_alerts_firing gauge
callpulse_alerts_firing{queue="sales",rule="abandon_rate_high",severity="warning"} 1
callpulse_alerts_firing{queue="sales",rule="service_level_low",severity="critical"} 1
"""

WORKER_B = """\
# TYPE callpulse_calls_waiting gauge
callpulse_calls_waiting{queue="billing"} 0
# TYPE callpulse_service_level_target_ratio gauge
callpulse_service_level_target_ratio{queue="billing"} 0.9
# TYPE callpulse_service_level_ratio gauge
callpulse_service_level_ratio{queue="billing",window="2m",threshold="20",variant="v"} 0.88
# TYPE callpulse_alerts_firing gauge
"""


def board(window: str = "2m", *bodies: str):
    return build_board([parse(body) for body in bodies or (WORKER_A, WORKER_B)], window)


def test_rows_merge_workers_and_take_the_window_and_the_smallest_threshold() -> None:
    b = board()
    assert [row.queue for row in b.rows] == ["billing", "sales"]
    sales = b.rows[1]
    assert (sales.waiting, sales.longest_wait, sales.sl, sales.sl_threshold) == (7, 95.4, 0.55, 20)
    assert (sales.abandon, sales.asa, sales.aht, sales.offered) == (0.25, 41, 190, 40)
    assert sales.agents == {"available": 0, "on_contact": 30, "not_ready": 2}
    assert sales.alerts == [("service_level_low", "critical"), ("abandon_rate_high", "warning")]
    assert b.windows == ("2m", "5m") and b.show_alerts


def test_service_level_state_against_the_target() -> None:
    b = board()
    assert [row.sl_state() for row in b.rows] == ["near", "below"]
    assert board("5m").rows[1].sl_state() == "below"  # 0.7 < 0.8 - 0.05
    assert board("1h").rows[1].sl_state() == "none"  # not exported: no value, no colour


def test_table_fits_the_width_and_colours_only_when_asked() -> None:
    b = board()
    wide = render_table(b, width=200)
    assert wide[0].split()[:2] == ["QUEUE", "WAITING"] and "ALERTS" in wide[0]
    assert "55.0% /80%" in wide[2] and "service_level_low, abandon_rate_high" in wide[2]
    assert "1m35s" in wide[2]
    narrow = render_table(b, width=60)
    assert all(len(line) <= 60 for line in narrow)
    assert "QUEUE" in narrow[0] and "SL 2m /TARGET" in narrow[0] and "AHT" not in narrow[0]
    assert all("\x1b[" not in line for line in wide)
    assert any("\x1b[31m" in line for line in render_table(b, colour=True))  # red: below


def test_no_alert_column_without_alerting_and_a_hint_without_queues() -> None:
    plain = board("2m", WORKER_A.split("# TYPE callpulse_alerts_firing")[0])
    assert not plain.show_alerts and "ALERTS" not in render_table(plain)[0]
    empty = render_table(build_board([], "2m"))
    assert "no queues yet" in empty[-1]


def test_frame_reports_unreachable_workers_and_unknown_windows() -> None:
    scrapes = [
        Scrape("http://a/metrics", parse(WORKER_A)),
        Scrape("http://b/metrics", None, "connection refused"),
    ]
    lines, b = frame(scrapes, "10m", 200, False, header=["demo: hello"])
    text = "\n".join(lines)
    assert "workers 1/2 answering" in lines[0] and lines[1] == "demo: hello"
    assert "http://b/metrics: connection refused" in text
    assert "--window 10m: not exported; try 2m, 5m" in text
    assert [row.queue for row in b.rows] == ["sales"]


def test_alert_changes_report_starts_and_ends_after_the_first_board() -> None:
    changes = AlertChanges(keep=3)
    quiet = WORKER_A.split("callpulse_alerts_firing{")[0]
    one = quiet + 'callpulse_alerts_firing{queue="sales",rule="r",severity="warning"} 1\n'
    assert changes.observe(board("2m", one)) == []  # baseline: already firing is not new
    assert changes.observe(board("2m", quiet), now=0) == ["00:00:00  resolved  r  sales  warning"]
    assert changes.observe(board("2m", one), now=0) == ["00:00:00  FIRING    r  sales  warning"]
    assert changes.observe(board("2m", one)) == []
    assert (changes.started, changes.ended, len(changes.lines)) == (1, 1, 2)


def test_a_worker_that_did_not_answer_does_not_resolve_its_alerts() -> None:
    changes = AlertChanges()
    ok = [Scrape("a", parse(WORKER_A))]
    observe(ok, board(), changes)
    failed = [Scrape("a", None, "timeout")]
    assert observe(failed, build_board([], "2m"), changes) == []
    assert observe(ok, board(), changes) == []
    assert changes.ended == 0


def test_urls_get_a_scheme_and_the_metrics_path() -> None:
    assert normalise_url("127.0.0.1:6066") == "http://127.0.0.1:6066/metrics"
    assert normalise_url("https://w:1/custom") == "https://w:1/custom"
