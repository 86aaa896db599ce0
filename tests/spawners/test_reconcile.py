"""Reconciliation against the real bed: ended jobs settled once, unpaid portal jobs
cancelled, and nothing else touched, whatever users name their jobs."""

from __future__ import annotations

import asyncio
import pwd
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.sitefile import load_site
from computehub.spawners.reconcile import Action, Cancel, Reconciler, Settle, reconcile_once
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import SlurmClient
from tests.support.slurmjobs import job_state, operator_submit, portal_submit, slurm_out

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(hub: Any) -> Iterator[Ledger]:
    with Ledger(hub.ledger_url) as opened:
        yield opened


@pytest.fixture
def clean(slurm_bed: SlurmBed) -> Iterator[None]:
    yield
    for cluster in slurm_bed.clusters.values():
        cluster.cancel_all()


def uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


async def test_reconcile_settles_ended_sessions_and_cancels_unpaid_portal_jobs(
    hub: Any, slurm_bed: SlurmBed, site_file: Path, ledger: Ledger, clean: None
) -> None:
    registry = HubRegistry(load_site(site_file))
    slurm = SlurmClient(registry)
    lahore, karachi = slurm_bed.clusters["lahore"], slurm_bed.clusters["karachi"]
    # A session whose job ended while nobody watched (its hold still open).
    hold = ledger.place_hold("alice", "lahore", {"gpu:h100": 1}, "1", actor="alice")
    ended = portal_submit(
        lahore, "alice", uid("alice"), hold.id, gres="gpu:h100:1", command="sleep 2"
    )
    ledger.attach_job(hold.id, "lahore", ended)
    # A portal job whose hold was voided: nobody pays for it.
    voided = ledger.place_hold("bob", "karachi", {"cpu": 1}, "1", actor="bob")
    ledger.void_hold(voided.id, "test: the start was refused", actor="test")
    unpaid = portal_submit(karachi, "bob", uid("bob"), voided.id)
    # bob's own job in his partition is none of the platform's business.
    own = operator_submit(karachi, "bob", "--job-name=train", "--wrap", "sleep 300")
    deadline = time.monotonic() + 60
    done: list[Action] = []
    while time.monotonic() < deadline:
        done += await reconcile_once(registry, ledger, slurm, grace=timedelta(0))
        if ledger.hold(hold.id).status == "settled" and any(
            isinstance(a, Cancel) and a.job_id == unpaid for a in done
        ):
            break
        await asyncio.sleep(1)
    # The hub's own reconciler service may have settled it first: either way, once.
    assert [a for a in done if isinstance(a, Cancel) and (a.hub, a.job_id) == ("karachi", unpaid)]
    assert ledger.hold(hold.id).status == "settled"
    assert job_state(karachi, unpaid).startswith("CANCELLED")
    assert slurm_out(karachi, "squeue", "-h", "-j", own, "-o", "%T") in ("PENDING", "RUNNING")
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


async def test_odd_jobs_named_like_sessions_do_not_stop_a_pass(
    hub: Any, slurm_bed: SlurmBed, site_file: Path, ledger: Ledger, clean: None
) -> None:
    """bob's held array job and a het job named jupyterhub-*: the pass settles carol's.

    (The bed's guard refuses such names from bob himself; root submits them for him, as
    an unguarded cluster would let him.)
    """
    registry = HubRegistry(load_site(site_file))
    lahore = slurm_bed.clusters["lahore"]
    array = operator_submit(
        lahore, "bob", "--hold", "--array=0-1", "--job-name=jupyterhub-x", "--wrap", "sleep 1"
    )
    hold = ledger.place_hold("carol", "lahore", {"cpu": 1}, "1", actor="carol")
    het = operator_submit(
        lahore,
        "bob",
        "--hold",
        f"--job-name=jupyterhub-lahore-{hold.id}",  # carol's hold, bob's job
        script="#!/bin/bash\n#SBATCH --ntasks=1\n#SBATCH hetjob\n#SBATCH --ntasks=1\nsleep 1\n",
    )
    ended = portal_submit(lahore, "carol", uid("carol"), hold.id, command="sleep 1")
    ledger.attach_job(hold.id, "lahore", ended)
    slurm = SlurmClient(registry)
    deadline = time.monotonic() + 60
    while ledger.hold(hold.id).status == "open":
        await reconcile_once(registry, ledger, slurm, grace=timedelta(0))
        assert time.monotonic() < deadline, "carol's ended session was never settled"
        await asyncio.sleep(1)
    report = await Reconciler(registry, ledger, slurm, grace=timedelta(0)).pass_once()
    assert not report.failed, report.failed
    assert report.foreign >= 3  # the array job, the het job's two components
    queued = slurm_out(lahore, "squeue", "-h", "-u", "bob", "-o", "%i|%j|%T")
    assert f"{array}_[0-1]|jupyterhub-x|PENDING" in queued.splitlines()
    assert f"{het}+0|jupyterhub-lahore-{hold.id}|PENDING" in queued.splitlines()


async def test_a_job_named_for_a_closed_hold_is_cancelled_at_once(
    hub: Any, slurm_bed: SlurmBed, site_file: Path, ledger: Ledger, clean: None
) -> None:
    """A job for a voided hold (its user raced the portal with its ticket) gets no grace
    period, however young (finding 3); the reconciler's own grace is the default."""
    registry = HubRegistry(load_site(site_file))
    karachi = slurm_bed.clusters["karachi"]
    voided = ledger.place_hold("bob", "karachi", {"cpu": 1}, "1", actor="bob")
    ledger.void_hold(voided.id, "test: the portal's sbatch was refused", actor="test")
    raced = portal_submit(karachi, "bob", uid("bob"), voided.id)
    done = await reconcile_once(registry, ledger, SlurmClient(registry))
    assert (
        Cancel("karachi", raced, f"no open hold pays for it (its hold {voided.id} is voided)")
        in done
    )
    deadline = time.monotonic() + 30
    while not job_state(karachi, raced).startswith("CANCELLED"):
        assert time.monotonic() < deadline, "the job was not cancelled"
        await asyncio.sleep(0.5)


async def test_another_users_job_named_for_a_hold_is_never_its_job(
    hub: Any, slurm_bed: SlurmBed, site_file: Path, ledger: Ledger, clean: None
) -> None:
    """alice's hub died during her start (no job id on her hold); bob's job, named for
    her hold (an unguarded cluster lets him), ran and ended. It is not hers: her hold is
    voided, not settled from bob's usage (finding 4)."""
    registry = HubRegistry(load_site(site_file))
    lahore = slurm_bed.clusters["lahore"]
    hold = ledger.place_hold("alice", "lahore", {"cpu": 1}, "1", actor="alice")
    bobs = operator_submit(
        lahore, "bob", f"--job-name=jupyterhub-lahore-{hold.id}", "--wrap", "sleep 1"
    )
    deadline = time.monotonic() + 60
    while not job_state(lahore, bobs).startswith("COMPLETED"):
        assert time.monotonic() < deadline, "bob's job never ended"
        await asyncio.sleep(0.5)
    slurm = SlurmClient(registry)
    while ledger.hold(hold.id).status == "open":
        await reconcile_once(registry, ledger, slurm, grace=timedelta(0))
        assert time.monotonic() < deadline, "alice's hold was never closed"
        await asyncio.sleep(1)
    assert ledger.hold(hold.id).status == "voided"
    assert ledger.hold(hold.id).job_id is None


async def test_a_pass_reads_the_ledger_once_whatever_the_job_names(
    slurm_bed: SlurmBed, site_file: Path, tmp_path: Path, clean: None
) -> None:
    """carol names held jobs for closed holds and for holds that don't exist (an
    unguarded cluster lets her): a pass still reads its holds once (finding 10).

    A ledger of its own, whose holds are zed's: nothing in the bed's queues is its to
    act on, so the pass's only ledger statements are its read of the holds.
    """
    registry = HubRegistry(load_site(site_file))
    lahore = slurm_bed.clusters["lahore"]
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        ledger.sync_rates({("lahore", "cpu"): Decimal("0.5")}, actor="test")
        ledger.ensure_personal_account("zed", actor="test")
        ledger.grant("zed", "100", actor="test", idempotency_key="test:zed")
        closed = []
        for _ in range(3):
            hold = ledger.place_hold("zed", "lahore", {"cpu": 1}, "1", actor="zed")
            ledger.void_hold(hold.id, "test", actor="test")
            closed.append(hold.id)
        for hold_id in [*closed, 10**9, 10**9 + 1, 10**12]:
            name = f"--job-name=jupyterhub-lahore-{hold_id}"
            operator_submit(lahore, "carol", "--hold", name, "--wrap", "true")
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(ledger.engine, "before_cursor_execute", count)
        try:
            report = await Reconciler(registry, ledger, SlurmClient(registry)).pass_once()
        finally:
            event.remove(ledger.engine, "before_cursor_execute", count)
    assert not report.failed, report.failed
    assert report.actions == []
    assert report.foreign >= 6
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # The highest hold id, then the holds with their creators; then the energy step's one
    # read of the settled sessions still without energy (docs/energy.md).
    assert len(reads) == 3, reads
    assert [r for r in reads if "session_energy" in r] == reads[2:], reads
    assert all(str(10**9) not in s for s in statements)  # ids above the highest: not looked up


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_holds_a_pass_needs_are_one_read(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Ledger.holds_to_reconcile: the open holds and the named ones, with their creators,
    resources and rates, in one transaction of two statements, on both databases."""
    url = (
        f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    with Ledger(url) as ledger:
        ledger.sync_rates(
            {("lahore", "cpu"): Decimal("0.5"), ("lahore", "gpu:h100"): Decimal(10)},
            actor="test",
        )
        for user in ("zed", "yan"):
            ledger.ensure_personal_account(user, actor="test")
            ledger.grant(user, "100", actor="test", idempotency_key=f"test:{user}")
        running = ledger.place_hold("zed", "lahore", {"gpu:h100": 2}, "1", actor="zed")
        voided = ledger.place_hold("yan", "lahore", {"cpu": 1}, "1", actor="yan")
        ledger.void_hold(voided.id, "test", actor="test")
        unnamed = ledger.place_hold("yan", "lahore", {"cpu": 1}, "2", actor="yan")
        ledger.void_hold(unnamed.id, "test", actor="test")
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(ledger.engine, "before_cursor_execute", count)
        try:
            found = ledger.holds_to_reconcile([voided.id, 10**9, 10**15])
        finally:
            event.remove(ledger.engine, "before_cursor_execute", count)
        assert [(hold.id, hold.status, user) for hold, user in found] == [
            (running.id, "open", "zed"),
            (voided.id, "voided", "yan"),
        ]
        assert found[0][0] == ledger.hold(running.id)  # the same record, resources and rates
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2, reads
