"""benchmarks/class_start.py with 20 people on its own bed: correct, not timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from computehub.localbed.proc import MissingComponentError, find_binary
from tests.support.bedtools import component_missing

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "class_start.py"
PEOPLE = 20


def test_a_class_of_twenty_is_ready_on_both_spawners_and_the_ledger_is_clean() -> None:
    try:
        find_binary("slurmctld", "slurmctld")
    except MissingComponentError as err:
        component_missing(err)
    done = subprocess.run(
        [sys.executable, str(BENCH), "--people", str(PEOPLE), "--window", "10"],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
        env=dict(os.environ),
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert out.count(f"start storm: {PEOPLE}/{PEOPLE} done") == 2, out
    assert out.count(f"stop storm: {PEOPLE}/{PEOPLE} done") == 2, out
    assert out.count("    refused: 0") == 4, out
    assert "ledger check: clean" in out
    # computehub reads the queue once per interval for every session: fewer job
    # queries than plain batchspawner's one per session per poll.
    assert "REQUEST_JOB_INFO_SINGLE" not in out.split("batchspawner SlurmSpawner:")[0]
