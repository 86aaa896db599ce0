"""benchmarks/steady_state.py with 20 sessions for a minute on its own bed: correct, not timed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from computehub.localbed.proc import MissingComponentError, find_binary
from tests.support.bedtools import component_missing

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "steady_state.py"
SESSIONS = 20
POLL_S = 10


def found(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in ``text`` (which must have it)."""
    match = re.search(pattern, text)
    assert match is not None, (pattern, text)
    return match[1]


def test_twenty_running_sessions_cost_one_squeue_per_poll_interval_and_the_ledger_is_clean() -> (
    None
):
    try:
        find_binary("slurmctld", "slurmctld")
    except MissingComponentError as err:
        component_missing(err)
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--sessions",
            str(SESSIONS),
            "--minutes",
            "1",
            "--poll-interval",
            str(POLL_S),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
        env=dict(os.environ),
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert f"still running at the end: {SESSIONS}/{SESSIONS}" in out, out
    assert "ledger check: clean" in out, out
    # Every session is polled every 10 s (about 120 polls in the minute); the hub's
    # shared listing answers them all with at most one squeue per poll interval.
    intervals = float(found(r"per poll interval \(10 s, ([0-9.]+) intervals\)", out))
    commands = found(r"Slurm commands: (.*)", out)
    listing = re.search(r"squeue \(shared listing\): (\d+)", commands)
    reads = int(listing[1]) if listing else 0
    assert 1 <= reads <= intervals + 1, out
    # Nothing else asks Slurm about the running sessions: no squeue per session.
    assert "squeue (other)" not in commands, out
