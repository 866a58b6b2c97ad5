"""`callpulse report`: the offline engine over a JSONL file, as table, CSV and JSON."""

from __future__ import annotations

import csv
import io

import orjson

from consumers.cli import main
from stream.decode import encode
from stream.events import CallAbandoned, CallAnswered, CallEnded, CallEnqueued

T = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC, 13:20 into a 15-minute interval


def _events_file(tmp_path, extra: bytes = b"") -> str:
    events = [
        CallEnqueued("e1", T, "sales", "c1"),
        CallAnswered("e2", T + 10, "sales", "c1", "a1"),
        CallEnqueued("e3", T + 20, "sales", "c2"),
        CallEnded("e4", T + 110, "sales", "c1", "a1", 90.0, 10.0),
        CallAbandoned("e5", T + 50, "sales", "c2"),
        # next 15-minute interval (starts at T + 100 s)
        CallEnqueued("e6", T + 200, "sales", "c3"),
        CallAnswered("e7", T + 230, "sales", "c3", "a1"),
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(encode(e) for e in events) + b"\n" + extra)
    return str(path)


def test_whole_file_table(tmp_path, capsys):
    assert main(["report", _events_file(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["queue", "offered", "answered", "abandoned"]
    sales = lines[2].split()
    # 3 offered (2 answered, 1 abandoned); within 20 s: c1 (10 s) only -> SL 1/3
    assert sales[:5] == ["sales", "3", "2", "1", "33.3%"]
    assert sales[5] == "33.3%"  # abandon ratio
    assert sales[6] == "20.0"  # ASA: (10 + 30) / 2


def test_per_interval_json_has_every_kpi(tmp_path, capsys):
    assert main(["report", _events_file(tmp_path), "--interval", "15m", "--format", "json"]) == 0
    rows = orjson.loads(capsys.readouterr().out)
    assert [(r["queue"], r["start"]) for r in rows] == [("sales", T - 800), ("sales", T + 100)]
    first, second = rows
    assert first["counters"]["offered"] == 2 and second["counters"]["offered"] == 1
    assert first["kpis"]["service_level:20:answered_within_over_offered"] == 0.5
    assert second["kpis"]["service_level:20:answered_within_over_answered"] == 0.0  # 30 s wait


def test_csv_and_bad_lines_are_reported_not_dropped(tmp_path, capsys):
    path = _events_file(tmp_path, extra=b"{oops\n" + b'{"v":1}\n')
    assert main(["report", path, "--format", "csv"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(captured.out)))
    assert rows[1][0] == "sales" and rows[1][1] == "3"
    assert "skipped 2 bad lines (missing_field 1, not_json 1)" in captured.err
    assert main(["report", path, "--strict"]) == 1


def test_bad_interval_names_the_option(tmp_path, capsys):
    assert main(["report", _events_file(tmp_path), "--interval", "7m"]) == 2
    assert "interval" in capsys.readouterr().err
