"""Reconciliation against the real bed: ended jobs settled once, orphan jobs cancelled."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.sitefile import load_site
from computehub.spawners.reconcile import Cancel, Settle, reconcile_once
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import SlurmClient

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(hub: Any) -> Iterator[Ledger]:
    with Ledger(hub.ledger_url) as opened:
        yield opened


def submit(bed: SlurmBed, hub_name: str, user: str, wrap: str, gres: str = "") -> str:
    argv = [
        "sudo",
        "-n",
        "-u",
        user,
        "--preserve-env=SLURM_CONF",
        "sbatch",
        "--parsable",
        f"--job-name=jupyterhub-{hub_name}",
        "--time=5",
        "--output=/dev/null",
    ]
    if gres:
        argv.append(f"--gres={gres}")
    return subprocess.run(
        [*argv, "--wrap", wrap],
        env=bed.clusters[hub_name].env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def state(bed: SlurmBed, hub_name: str, job_id: str) -> str:
    return subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State"],
        env=bed.clusters[hub_name].env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


async def test_reconcile_settles_ended_sessions_and_cancels_orphans(
    hub: Any, slurm_bed: SlurmBed, site_file: Path, ledger: Ledger
) -> None:
    registry = HubRegistry(load_site(site_file))
    slurm = SlurmClient(registry)
    # A session whose job ended while nobody watched (its hold still open).
    ended = submit(slurm_bed, "lahore", "alice", "sleep 2", "gpu:h100:1")
    hold = ledger.place_hold("alice", "lahore", {"gpu:h100": 1}, "1", actor="alice")
    ledger.attach_job(hold.id, "lahore", ended)
    # A notebook job nobody pays for.
    orphan = submit(slurm_bed, "karachi", "bob", "sleep 300")
    deadline = time.monotonic() + 60
    done: list[Any] = []
    while time.monotonic() < deadline:
        done += await reconcile_once(registry, ledger, slurm, grace=timedelta(0))
        if ledger.hold(hold.id).status == "settled" and any(
            isinstance(a, Cancel) and a.job_id == orphan for a in done
        ):
            break
        await asyncio.sleep(1)
    # The hub's own reconciler service may have settled it first: either way, once.
    assert [a for a in done if isinstance(a, Cancel) and (a.hub, a.job_id) == ("karachi", orphan)]
    assert ledger.hold(hold.id).status == "settled"
    assert state(slurm_bed, "karachi", orphan).startswith("CANCELLED")
    # Once: another pass finds nothing more to do for them.
    again = await reconcile_once(registry, ledger, slurm, grace=timedelta(0))
    assert not [a for a in again if isinstance(a, Settle) and a.hold.id == hold.id]
    charges = [
        e
        for e in ledger.history("alice", limit=1000)
        if e.kind == "charge" and e.hold_id == hold.id
    ]
    assert len(charges) == 1
    assert ledger.check().ok
