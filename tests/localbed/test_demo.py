"""The README's run command: the platform comes up, both hubs idle, and Ctrl-C stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from computehub.localbed.proc import free_port, pid_alive, read_pid

pytestmark = pytest.mark.integration


def start_demo(state: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "computehub"),
            "demo",
            "--state-dir",
            str(state),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 180
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith("Press Ctrl-C"):
            return proc, lines
        assert time.monotonic() < deadline, "\n".join(lines)
    raise AssertionError("demo exited:\n" + "\n".join(lines))


def stop_demo(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return out


def daemon_pids(state: Path) -> dict[str, int | None]:
    slurm = state / "slurm"
    return {
        "munged": read_pid(slurm / "munge" / "run" / "munged.pid"),
        "slurmctld lahore": read_pid(slurm / "lahore" / "run" / "slurmctld.pid"),
        "slurmd karachi": read_pid(slurm / "karachi" / "run" / "slurmd.pid"),
        "slurmdbd": read_pid(slurm / "slurmdbd" / "slurmdbd.pid"),
        "mariadb": read_pid(slurm / "mariadb" / "run" / "mysqld.pid"),
        "jupyterhub": read_pid(state / "hub" / "jupyterhub.pid"),
    }


def test_demo_runs_stops_and_restarts_from_its_state(bed_root: Path, notebook_env: Path) -> None:
    state = bed_root / "demo"
    port = free_port()
    proc, lines = start_demo(state, port)
    try:
        text = "\n".join(lines)
        assert f"computehub is running at http://127.0.0.1:{port}/" in text
        assert "lahore (4x h100, 2x a100: idle), karachi (4x a100, 4x 1g.10gb: idle)" in text
        assert (
            "log in as: ayesha (researcher, 50.00 credits), bilal (student, 10.00 credits), "
            "zara (operator, 5.00 credits)"
        ) in text
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hub/login", timeout=10) as r:
            assert r.status == 200
        for hub in ("lahore", "karachi"):
            env = {**os.environ, "SLURM_CONF": str(state / "slurm" / hub / "etc" / "slurm.conf")}
            states = subprocess.run(
                ["sinfo", "-h", "-p", "gpu", "-o", "%t"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            assert states == ["idle"]
        pids = daemon_pids(state)
        assert all(pid is not None and pid_alive(pid) for pid in pids.values()), pids
        key = (state / "slurm" / "munge" / "etc" / "munge.key").read_bytes()
    finally:
        out = stop_demo(proc)
    assert "[computehub] stopped" in out
    for name, pid in pids.items():
        assert pid is not None
        assert not pid_alive(pid), f"{name} still running after Ctrl-C"

    # A second run reuses the state: same munge key, same accounting database,
    # and the demo credits are not granted twice.
    proc, lines = start_demo(state, port)
    try:
        assert (state / "slurm" / "munge" / "etc" / "munge.key").read_bytes() == key
        assert any(line.startswith("[computehub] up in") for line in lines)
        assert "ayesha (researcher, 50.00 credits)" in "\n".join(lines)
    finally:
        stop_demo(proc)
