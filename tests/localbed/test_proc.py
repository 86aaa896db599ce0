"""The bed signals a pid read from a file only while that pid is still the program's."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from computehub.localbed.proc import pid_alive, pid_of, stop_pid


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    # Until the child has exec'd, its command line is still this interpreter's.
    deadline = time.monotonic() + 10
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    while not cmdline.read_bytes().startswith(b"sleep\0") and time.monotonic() < deadline:
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


def test_a_pid_file_names_its_program(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    pidfile = tmp_path / "sleep.pid"
    pidfile.write_text(f"{sleeper.pid}\n")
    assert pid_of(pidfile, "sleep") == sleeper.pid
    assert pid_of(pidfile, "slapd", "sleep") == sleeper.pid


def test_a_reused_pid_is_not_signalled(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    pidfile = tmp_path / "slapd.pid"
    pidfile.write_text(f"{sleeper.pid}\n")
    assert pid_of(pidfile, "slapd") is None
    stop_pid(pid_of(pidfile, "slapd"))
    assert pid_alive(sleeper.pid)


def test_a_gone_pid_or_a_bad_file_is_none(tmp_path: Path) -> None:
    gone = subprocess.Popen(["sleep", "0"])
    gone.wait()
    cases = {"gone.pid": f"{gone.pid}\n", "garbage.pid": "not a pid\n", "one.pid": "1\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        assert pid_of(tmp_path / name, "sleep") is None, name
    assert pid_of(tmp_path / "missing.pid", "sleep") is None
