"""Reconcile the ledger's open holds with what Slurm says, on every hub.

Runs beside the hub as a JupyterHub-managed service (``python -m
computehub.spawners.reconcile``), at start and then periodically:

* a hold whose job has ended (it left the queue while the hub was down, or the
  spawner lost track of it) is settled from Slurm's accounting, once;
* a hold with no job that is older than a grace period (the start died before
  sbatch answered) is voided;
* a notebook job that no open hold pays for is cancelled and logged, once it is
  older than the grace period (a start may have submitted it and not yet recorded
  its job id in the hold).

A hub whose controller does not answer is skipped: nothing is settled, voided or
cancelled on a guess. :func:`plan` decides, without I/O.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from computehub.credits.ledger import Ledger
from computehub.credits.records import Hold
from computehub.sitefile import load_site
from computehub.spawners.accounting import JobUsage
from computehub.spawners.billing import ledger_for, ledger_url
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import SlurmClient, SlurmError, SlurmUnavailableError

log = logging.getLogger("computehub.reconcile")

#: Every notebook job's name starts with this (see spawners/batch.py).
JOB_NAME_PREFIX = "jupyterhub-"


@dataclass(frozen=True)
class Settle:
    hold: Hold
    usage: JobUsage


@dataclass(frozen=True)
class Void:
    hold: Hold
    reason: str


@dataclass(frozen=True)
class Cancel:
    hub: str
    job_id: str


Action = Settle | Void | Cancel


def plan(
    holds: Sequence[Hold],
    queued: Mapping[str, Mapping[str, datetime]],
    usage: Mapping[tuple[str, str], JobUsage | None],
    now: datetime,
    grace: timedelta,
) -> list[Action]:
    """What to do, from the open holds, the jobs in each hub's queue and their accounting.

    Args:
        holds: the ledger's open holds.
        queued: per reachable hub, the notebook jobs Slurm still has (any live state),
            with their submit times.
        usage: accounting records of ended jobs, by (hub, job id); None when not final.
        now: the current time (UTC).
        grace: how long a hold may wait for its job id before it is voided, and a
            job for a hold that pays for it before it is cancelled.
    """
    actions: list[Action] = []
    paid: dict[str, set[str]] = {}
    for hold in holds:
        if hold.hub not in queued:
            continue  # that hub's controller did not answer: decide nothing
        if hold.job_id is None:
            if now - hold.created_at > grace:
                actions.append(Void(hold, "the start never reached Slurm"))
            continue
        paid.setdefault(hold.hub, set()).add(hold.job_id)
        if hold.job_id in queued[hold.hub]:
            continue
        record = usage.get((hold.hub, hold.job_id))
        if record is not None and record.complete:
            actions.append(Settle(hold, record))
    for hub, jobs in queued.items():
        for job_id in sorted(set(jobs) - paid.get(hub, set()), key=int):
            if now - jobs[job_id] > grace:
                actions.append(Cancel(hub, job_id))
    return actions


async def reconcile_once(
    registry: HubRegistry,
    ledger: Ledger,
    slurm: SlurmClient,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    grace: timedelta = timedelta(minutes=10),
) -> list[Action]:
    """Look at every hub once and carry out the plan; returns what was done.

    Args:
        registry: the hubs.
        ledger: the credit ledger.
        slurm: the Slurm client.
        now: the clock (UTC).
        grace: see :func:`plan`.
    """
    holds = await asyncio.to_thread(ledger.open_holds)
    queued: dict[str, dict[str, datetime]] = {}
    for hub in registry.names():
        try:
            queued[hub] = await slurm.live_jobs(hub, JOB_NAME_PREFIX)
        except SlurmUnavailableError as err:
            log.warning("Hub %s not reconciled: its scheduler does not answer (%s)", hub, err)
        except SlurmError as err:
            log.warning("Hub %s not reconciled: squeue failed (%s)", hub, err)
    usage: dict[tuple[str, str], JobUsage | None] = {}
    for hold in holds:
        if hold.job_id and hold.hub in queued and hold.job_id not in queued[hold.hub]:
            try:
                usage[(hold.hub, hold.job_id)] = await slurm.usage(hold.hub, hold.job_id)
            except SlurmError as err:
                log.warning("sacct failed for %s/%s: %s", hold.hub, hold.job_id, err)
    actions = plan(holds, queued, usage, now(), grace)
    for action in actions:
        await _carry_out(action, registry, ledger, slurm)
    return actions


async def _carry_out(
    action: Action, registry: HubRegistry, ledger: Ledger, slurm: SlurmClient
) -> None:
    if isinstance(action, Settle):
        hold, record = action.hold, action.usage
        resource = next(iter(hold.resources))
        gres = registry[hold.hub].gres_type(resource) if hold.hub in registry else None
        charge = await asyncio.to_thread(
            ledger.settle,
            hold.id,
            record.resource_hours(resource, gres),
            actor="reconciler",
            idempotency_key=f"settle:{hold.hub}:{hold.job_id}",
            reason=f"session {hold.hub}/{hold.job_id} {record.state.lower()} (reconciled)",
        )
        log.info(
            "Settled hold %s (%s/%s): charged %s", hold.id, hold.hub, hold.job_id, charge.amount
        )
    elif isinstance(action, Void):
        await asyncio.to_thread(
            ledger.void_hold,
            action.hold.id,
            action.reason,
            actor="reconciler",
            idempotency_key=f"void:{action.hold.id}",
        )
        log.info("Voided hold %s: %s", action.hold.id, action.reason)
    else:
        await slurm.cancel(action.hub, action.job_id)
        log.warning("Cancelled job %s/%s: no credit hold pays for it", action.hub, action.job_id)


async def run(site_path: str, interval_s: float, once: bool) -> None:
    """Reconcile now, then every ``interval_s`` seconds (until cancelled)."""
    site = load_site(site_path)
    registry = HubRegistry(site)
    ledger = ledger_for(ledger_url(site))
    slurm = SlurmClient(registry)
    while True:
        try:
            await reconcile_once(registry, ledger, slurm)
        except Exception:
            log.exception("Reconciliation failed; trying again in %s s", interval_s)
        if once:
            return
        await asyncio.sleep(interval_s)


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m computehub.spawners.reconcile --site FILE [--interval S] [--once]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--site", required=True, help="the site file")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between passes")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s reconcile] %(message)s"
    )
    asyncio.run(run(args.site, args.interval, args.once))
    return 0


if __name__ == "__main__":
    sys.exit(main())
