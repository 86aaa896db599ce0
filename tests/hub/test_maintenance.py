"""Maintenance notices: the file both the hub and the credits service read, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from computehub import maintenance
from computehub.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"
NOW = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)


def test_a_notice_is_written_read_and_ended(tmp_path: Path) -> None:
    path = tmp_path / "state" / maintenance.FILE_NAME
    assert maintenance.read(path) == {}
    notice = maintenance.start("karachi", "  Cooling work  ", "zara", path, clock=lambda: NOW)
    assert notice == maintenance.Maintenance("karachi", "Cooling work", "zara", NOW)
    maintenance.start("lahore", "Power test", "zara", path, clock=lambda: NOW)
    assert set(maintenance.read(path)) == {"karachi", "lahore"}
    assert path.stat().st_mode & 0o777 == 0o644
    assert maintenance.end("karachi", path) is True
    assert maintenance.end("karachi", path) is False
    assert set(maintenance.read(path)) == {"lahore"}
    assert not list(path.parent.glob(".hub-maintenance-*"))  # no temporary file left


@pytest.mark.parametrize(
    ("message", "words"),
    [
        pytest.param("   ", "empty", id="empty"),
        pytest.param("x" * 501, "at most 500", id="too long"),
        pytest.param("two\nlines", "one line", id="line break"),
        pytest.param("nul\x00", "one line", id="NUL"),
    ],
)
def test_a_message_people_can_not_read_is_refused(tmp_path: Path, message: str, words: str) -> None:
    path = tmp_path / maintenance.FILE_NAME
    with pytest.raises(maintenance.MaintenanceError, match=words):
        maintenance.start("karachi", message, "zara", path)
    assert not path.exists()


@pytest.mark.parametrize(
    "text", ["not json", "{}", '{"hubs": {"x": {"message": ""}}}', '{"hubs": []}']
)
def test_a_file_this_module_did_not_write_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / maintenance.FILE_NAME
    path.write_text(text)
    with pytest.raises(maintenance.MaintenanceError, match="can't be read"):
        maintenance.read(path)


def test_the_cli_puts_a_hub_in_and_out_of_maintenance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--site", str(EXAMPLE), "--state-dir", str(tmp_path), "--actor", "zara"]
    assert main(["hubs", "maintenance", "karachi", "--message", "Cooling work", *common]) == 0
    assert "karachi: in maintenance" in capsys.readouterr().out
    data = json.loads((tmp_path / maintenance.FILE_NAME).read_text())
    assert data["hubs"]["karachi"]["message"] == "Cooling work"
    assert data["hubs"]["karachi"]["by"] == "zara"
    assert main(["hubs", "maintenance", *common]) == 0
    assert "karachi: in maintenance since" in capsys.readouterr().out
    assert main(["hubs", "maintenance", "karachi", "--off", *common]) == 0
    assert "out of maintenance" in capsys.readouterr().out
    assert maintenance.read(tmp_path / maintenance.FILE_NAME) == {}
    assert main(["hubs", "maintenance", *common]) == 0
    assert "no hub is in maintenance" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["quetta", "--message", "x"], "no hub 'quetta'", id="unknown hub"),
        pytest.param(["karachi"], "give --message", id="no action"),
        pytest.param(["--off"], "name the hub", id="no hub"),
        pytest.param(["karachi", "--message", " "], "empty", id="empty message"),
    ],
)
def test_the_cli_refuses_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    common = ["--site", str(EXAMPLE), "--state-dir", str(tmp_path)]
    assert main(["hubs", "maintenance", *args, *common]) == 1
    err = capsys.readouterr().err
    assert words in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / maintenance.FILE_NAME).exists()
