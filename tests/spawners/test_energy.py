"""Energy per session on the real bed: the node's prolog and epilog read the fake GPUs.

Each bed node's Prolog and Epilog run ``computehub-energy-hook`` as root on fake GPUs
whose energy counters advance at a known power (``computehub.localbed.energy``); the
epilog records the job's watt-hours as its AdminComment and the hub's reconciler (every
10 s here) records them in the ledger, after the session was settled.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from computehub.credits import models as m
from computehub.credits.ledger import Ledger
from computehub.extensions.energyhook import SIMULATED, EnergyNote, parse_comment
from computehub.localbed.bed import SlurmBed
from computehub.localbed.energy import power_w
from tests.support.sessions import stop, wait_ready

pytestmark = pytest.mark.integration

#: How long each session runs.
RUN_S = 120
#: The energy window (Prolog to Epilog: the GPU allocated) is longer than Slurm's elapsed
#: time by the job's completing phase (its processes ending after the cancel) and the
#: hook's start-up: measured 1.2-1.6 s on this bed.
COMPLETING_S = 4


@pytest.fixture
def ledger(hub: Any) -> Iterator[Ledger]:
    with Ledger(hub.ledger_url) as opened:
        yield opened


def _elapsed(bed: SlurmBed, hub_name: str, job_id: str) -> tuple[int, str]:
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "ElapsedRaw,AdminComment"],
        env=bed.clusters[hub_name].env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    if not out:
        return 0, ""  # not in accounting yet
    elapsed, comment = out.splitlines()[-1].split("|", 1)
    return int(elapsed or 0), comment


def _wait_energy(ledger: Ledger, hold_id: int, timeout: float = 90) -> Decimal | None:
    deadline = time.monotonic() + timeout
    while (recorded := ledger.energy_of(hold_id)) is None:
        assert time.monotonic() < deadline, f"no energy recorded for hold {hold_id}"
        time.sleep(1)
    return recorded.wh


def test_a_sessions_wh_is_power_times_time_and_the_report_sums_them(
    hub: Any, slurm_bed: SlurmBed, ledger: Ledger, clean: None
) -> None:
    """A whole H100 on lahore and a 1g.10gb MIG slice (a seventh of its A100) on karachi."""
    started = datetime.now(UTC) - timedelta(minutes=1)
    sessions = {
        "alice": ("lahore", "h100", "h100"),
        "carol": ("karachi", "a100:1g.10gb", "1g.10gb"),
    }
    for user, (hub_name, gpu, _) in sessions.items():
        status, body = hub.api(
            "POST",
            f"/users/{user}/server",
            {"hub": hub_name, "gpu_type": gpu, "gpus": 1, "hours": "1"},
        )
        assert status in (201, 202), body
    servers = {user: wait_ready(hub, user) for user in sessions}
    time.sleep(RUN_S)
    for user in sessions:
        stop(hub, user)
    for user, (hub_name, _, gres_type) in sessions.items():
        state = servers[user]["state"]
        wh = _wait_energy(ledger, state["hold_id"])
        assert ledger.hold(state["hold_id"]).status == "settled"
        elapsed, comment = _elapsed(slurm_bed, hub_name, state["job_id"])
        note = parse_comment(comment)
        assert note is not None
        assert wh is not None
        assert note.wh == wh
        # The session's Wh is the GPU's power (a seventh of the A100's for the slice) over
        # the time the node measured, within 1 %...
        window = note.seconds
        assert float(wh) == pytest.approx(power_w(gres_type) * window / 3600, rel=0.01)
        # ...and that time is Slurm's elapsed time (whole seconds) plus the job's completing
        # phase.
        assert elapsed - 1 <= window <= elapsed + COMPLETING_S, (user, window, elapsed)
        session = ledger.session(state["hold_id"])
        assert (session.energy_wh, session.energy_recorded) == (wh, True)
    until = datetime.now(UTC) + timedelta(minutes=1)
    report = {row.key: row for row in ledger.energy_report(started, until, "hub")}
    # Every session settled in the period, the other tests' too (the bed is shared), read
    # here from the charges and each one's own energy record.
    with ledger.engine.connect() as db:
        settled = db.execute(
            select(m.Charge.hub, m.Charge.hold_id).where(
                m.Charge.created_at >= started, m.Charge.created_at < until
            )
        ).all()
    for hub_name in ("lahore", "karachi"):
        own = [hold_id for hub_of, hold_id in settled if hub_of == hub_name]
        measured = [ledger.energy_of(hold_id) for hold_id in own]
        wh = sum((e.wh for e in measured if e is not None and e.wh is not None), Decimal(0))
        assert report[hub_name].wh == wh
        assert report[hub_name].sessions == len(own)
    assert ledger.check().ok


def _sbatch(bed: SlurmBed, hub_name: str, gres: str, seconds: int) -> str:
    return subprocess.run(
        [
            "sbatch",
            "--parsable",
            f"--gres=gpu:{gres}",
            "-o",
            "/dev/null",
            "--wrap",
            f"sleep {seconds}",
        ],
        env=bed.clusters[hub_name].env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def _comment(bed: SlurmBed, hub_name: str, job_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not (comment := _elapsed(bed, hub_name, job_id)[1]):
        assert time.monotonic() < deadline, f"job {job_id} got no AdminComment"
        time.sleep(0.5)
    return comment


def test_the_epilog_records_any_gpu_jobs_energy_and_unknown_without_a_start(
    slurm_bed: SlurmBed,
) -> None:
    """Plain jobs: two A100s at 300 W each; a job whose start reading is lost."""
    pair = _sbatch(slurm_bed, "karachi", "a100:2", 8)
    lost = _sbatch(slurm_bed, "lahore", "h100:1", 8)
    spool = slurm_bed.clusters["lahore"].base / "spool" / "energy" / f"lahore-{lost}.json"
    deadline = time.monotonic() + 30
    while not spool.exists():
        assert time.monotonic() < deadline, "the prolog kept no start reading"
        time.sleep(0.2)
    assert spool.stat().st_mode & 0o777 == 0o600
    spool.unlink()  # as if the node lost it: the figure must be unknown, not 0
    note = parse_comment(_comment(slurm_bed, "karachi", pair))
    assert note is not None
    assert note.wh is not None
    assert note.gpus == 2
    assert float(note.wh) == pytest.approx(2 * power_w("a100") * note.seconds / 3600, rel=0.01)
    # The bed's GPUs are the fake layer (its hook runs with --allow-fake-gpus): every
    # figure it writes says so, the unknown one too.
    assert note.source == SIMULATED
    assert parse_comment(_comment(slurm_bed, "lahore", lost)) == EnergyNote(
        None, 0, 1, "no-start-reading", SIMULATED
    )
