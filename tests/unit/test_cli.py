"""The `callpulse` command line: help texts and the kafka subcommand's offline paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers import cli


def test_help_lists_every_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert command.name in out
        assert command.help.split()[0] in out


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([])
    assert exited.value.code == 2


@pytest.mark.parametrize("action", ["start", "stop", "status", "fetch"])
def test_every_kafka_action_explains_itself(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["kafka", action, "--help"])
    assert exited.value.code == 0
    assert "--run-dir" in capsys.readouterr().out


def test_kafka_start_offers_port_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["kafka", "start", "--help"])
    out = capsys.readouterr().out
    assert "--port" in out and "--version" in out


def test_status_of_a_fresh_run_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["kafka", "status", "--run-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().out.strip() == "not running"


def test_stop_without_a_broker_is_a_no_op(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["kafka", "stop", "--run-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "not running"
