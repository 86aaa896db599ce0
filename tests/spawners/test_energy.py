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

from computehub.credits.ledger import Ledger
from computehub.extensions.energyhook import parse_comment
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
    elapsed, comment = out.splitlines()[-1].split("|", 1)
    return int(elapsed), comment


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
    for hub_name in ("lahore", "karachi"):
        own = [
            s
            for user in ("alice", "bob", "carol")
            for s in ledger.sessions(user)
            if s.hold.hub == hub_name
            and s.closed_at is not None
            and s.closed_at >= started
            and s.charged is not None
        ]
        assert report[hub_name].wh == sum((s.energy_wh or Decimal(0) for s in own), Decimal(0))
        assert report[hub_name].sessions == len(own)
    assert ledger.check().ok
