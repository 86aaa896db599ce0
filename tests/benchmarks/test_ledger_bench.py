"""benchmarks/ledger.py's PostgreSQL half at a small size: correct, not timed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from computehub.localbed.proc import MissingComponentError, find_binary
from tests.support.bedtools import component_missing

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "ledger.py"
SMALL = ["--only", "postgresql", "--pg-pairs", "32", "--rounds", "1"]
SMALL += ["--entries", "1000", "--reads", "20", "--pg-fsync", "off"]
COUNTS = r"  (ledger|psycopg)\s+(\d+\.\d statements, \d+\.\d round trips)"


def test_the_ledger_sends_what_bare_psycopg_sends_and_both_write_a_clean_ledger() -> None:
    try:
        find_binary("initdb", "postgresql")
    except MissingComponentError as err:
        component_missing(err)
    done = subprocess.run(
        [sys.executable, str(BENCH), *SMALL],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    for writers in (1, 16):
        assert f"synchronous_commit=on, fsync=off, {writers} writer(s)" in out, out
    counts = dict(re.findall(COUNTS, out))
    # The same statements and round trips a pair: no pool ping, nothing through the ORM.
    assert counts["ledger"] == counts["psycopg"], out
    assert "(0.0 through SQLAlchemy's execute)" in out
    # The anchor's rows as well as the ledger's (one database) add up.
    assert "postgresql: check clean" in out
