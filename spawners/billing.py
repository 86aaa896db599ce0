"""The spawner's side of paying for a session: hold, attach, settle or void.

A thin async wrapper around the ledger (which is synchronous and knows nothing
of Slurm): every call runs in a worker thread so the hub's event loop never
waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from computehub.credits.ledger import Ledger
from computehub.credits.records import Charge, Hold
from computehub.paths import default_ledger_url
from computehub.sitefile import Site
from computehub.spawners.accounting import JobUsage
from computehub.spawners.options import SessionRequest

log = logging.getLogger("computehub.billing")

#: Account roles whose members may charge the account for a session.
CHARGING_ROLES = ("owner", "member", "instructor")


def settle_key(hold_id: int) -> str:
    """The idempotency key of a hold's settlement: one per hold, whoever settles it.

    Keyed by hold, not by job: Slurm reuses job ids, and the spawner and the reconciler
    settle the same hold with the same key (the second gets the first's charge).
    """
    return f"settle:hold:{hold_id}"


def usage_charge(
    hold: Hold, usage: JobUsage, gres_type: str | None
) -> tuple[dict[str, Decimal], list[str]]:
    """The resource-hours to charge a hold for its job's runs, and problems to alert on.

    A run that ran while Slurm's accounting counts none of its GPUs is charged the
    count the hold paid for (never 0); each such run is named in the problems, and so
    is a job that ran more than once (requeued: every run is charged).
    """
    resource = next(iter(hold.resources))
    requested = hold.resources[resource]
    used = usage.resource_hours(resource, gres_type, requested=requested)
    problems = [
        f"run of job {run.job_id} submitted at {run.submitted} ran {run.elapsed_s} s but "
        f"accounting counts no {gres_type or resource} in it: charged as the {requested} requested"
        for run in usage.unaccounted(resource, gres_type)
    ]
    if usage.requeued:
        problems.append(
            f"job {usage.job_id} was requeued: its {len(usage.runs)} runs "
            f"({usage.elapsed_s} s in all) are charged"
        )
    return used, problems


def overrun(hold: Hold, charge: Charge) -> str | None:
    """An alert when a session cost more than its hold (the charge is capped at the hold)."""
    if charge.cost <= charge.amount:
        return None
    return (
        f"ALERT: hold {hold.id} ({hold.hub}/{hold.job_id}): the session cost {charge.cost}, "
        f"more than its hold of {hold.amount}; {charge.cost - charge.amount} credits went "
        "unpaid (a job that ran past its funded time: requeued, or its limit raised)"
    )


def full_hold_usage(hold: Hold) -> dict[str, Decimal]:
    """Resource-hours that price to the whole hold (its funded time at its counts)."""
    return {resource: count * hold.hours for resource, count in hold.resources.items()}


@cache
def ledger_for(url: str) -> Ledger:
    """One ledger (engine and connection pool) per database URL in this process."""
    return Ledger(url)


def ledger_url(site: Site) -> str:
    """The ledger's database: the site file's, else ``$COMPUTEHUB_DB_URL`` or SQLite."""
    return site.ledger.db_url or default_ledger_url()


def site_rates(site: Site) -> dict[tuple[str, str], Decimal]:
    """Every rate of the site file, keyed by (hub, resource)."""
    return {
        (hub, resource): rate
        for hub, spec in site.hubs.items()
        for resource, rate in spec.rates.items()
    }


def sync_site_rates(site: Site) -> int:
    """Record the site file's rates in the ledger (a new row only where one changed)."""
    return len(ledger_for(ledger_url(site)).sync_rates(site_rates(site), actor="site-file"))


@dataclass(frozen=True)
class Standing:
    """A user's place in the ledger: accounts they may charge, courses they belong to."""

    #: The accounts the user may charge, their personal account first.
    accounts: list[str]
    courses: frozenset[str]
    #: Each chargeable account's available credit, as read with the accounts.
    available: dict[str, Decimal] = field(default_factory=dict)


class Billing:
    """Holds and charges for one user's sessions."""

    def __init__(self, ledger: Ledger, username: str) -> None:
        self.ledger = ledger
        self.username = username

    async def standing(self) -> Standing:
        """The accounts this user may charge (personal first, created if new) and courses.

        One read of the user's accounts, with their figures (a second only the first
        time, after the personal account is created).
        """

        def lookup() -> Standing:
            balances = self.ledger.accounts_for_user(self.username)
            if not any(b.kind == "personal" and b.role == "owner" for b in balances):
                self.ledger.ensure_personal_account(self.username, actor="spawner")
                balances = self.ledger.accounts_for_user(self.username)
            chargeable = [b for b in balances if b.role in CHARGING_ROLES]
            chargeable.sort(key=lambda b: (b.account != self.username, b.account))
            return Standing(
                accounts=[b.account for b in chargeable],
                courses=frozenset(b.account for b in balances if b.kind == "course"),
                available={b.account: b.available for b in chargeable},
            )

        return await asyncio.to_thread(lookup)

    async def hold(self, req: SessionRequest, key: str) -> Hold:
        """Reserve rate * count * hours; ``InsufficientCreditError`` when not funded."""
        units = req.gpus if req.gpu_type else 1
        return await asyncio.to_thread(
            self.ledger.place_hold,
            req.account,
            req.hub,
            {req.resource: units},
            req.hours,
            actor=self.username,
            idempotency_key=key,
        )

    async def attach(self, hold_id: int, hub: str, job_id: str) -> Hold:
        """Record the Slurm job a hold pays for (its name ``jupyterhub-<hub>-<hold>`` too)."""
        return await asyncio.to_thread(
            self.ledger.attach_job, hold_id, hub, job_id, actor=self.username
        )

    async def void(self, hold_id: int, reason: str) -> Hold:
        """Release a hold whose job never ran (submission refused, nothing started)."""
        return await asyncio.to_thread(
            self.ledger.void_hold,
            hold_id,
            reason,
            actor="spawner",
            idempotency_key=f"void:{hold_id}",
        )

    async def settle(self, hold: Hold, usage: JobUsage, gres_type: str | None) -> Charge:
        """Charge what the job used (every run, from Slurm accounting); release the rest."""
        used, problems = usage_charge(hold, usage, gres_type)
        for problem in problems:
            log.error("ALERT: hold %s (%s/%s): %s", hold.id, hold.hub, usage.job_id, problem)
        runs = f" in {len(usage.runs)} runs" if len(usage.runs) > 1 else ""
        charge = await asyncio.to_thread(
            self.ledger.settle,
            hold.id,
            used,
            actor="spawner",
            idempotency_key=settle_key(hold.id),
            reason=f"session {hold.hub}/{usage.job_id} {usage.state.lower()} after "
            f"{usage.elapsed_s} s{runs}",
        )
        if (alert := overrun(hold, charge)) is not None:
            log.error("%s", alert)
        return charge

    async def request_cancel(self, hold_id: int) -> None:
        """Record that the platform wants the hold's job ended (survives the hub forgetting it)."""
        await asyncio.to_thread(self.ledger.request_cancel, hold_id, actor="spawner")

    async def note_end(self, hold_id: int, note: str) -> None:
        """Record why the session ended, for its user (shown on the spawn form)."""
        await asyncio.to_thread(self.ledger.note_session_end, hold_id, note, actor="spawner")
