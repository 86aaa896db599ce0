"""benchmarks/reconcile.py at a small size: correct, not timed (the figures are its output)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "reconcile.py"


def test_a_small_reconcile_benchmark_settles_exactly_the_ended_sessions() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--sessions", "40"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "  settled 20 (expected 20), other actions 0, failed 0" in lines, done.stdout
    assert "  settled 0 (expected 0), other actions 0, failed 0" in lines, done.stdout
    assert "ledger check: clean" in lines
    first = lines[lines.index("  settled 20 (expected 20), other actions 0, failed 0") + 1]
    # One squeue per hub; one sacct for the 20 ended sessions' usage, one for their energy.
    assert first == "  Slurm calls: {'sacct': 2, 'squeue': 2}"
