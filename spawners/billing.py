"""The hub's side of paying for a session: the one place that knows the billing rules.

The spawner, the reconciler and the hub's extend and estimate handlers all pay
through here, so the rules live once: the idempotency keys of each money movement
(:func:`start_key`, :func:`settle_key`, :func:`void_key`, :func:`extend_key`), how a
session's choice counts in units of its resources (:func:`units`), the charge from
Slurm's accounting (:func:`usage_charge`, :func:`settle_usage`), which resource a
session's job runs on (:func:`job_resource`) and the sentences that refuse an
unfunded start or extension. Every ledger call runs in a worker thread so the hub's
event loop never waits on the database (the ledger is synchronous and knows nothing
of Slurm).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING

from computehub.credits.errors import (
    ArchivedCourseError,
    CourseShareError,
    InsufficientCreditError,
    UnknownCourseError,
)
from computehub.credits.holds import Settlement
from computehub.credits.ledger import Ledger
from computehub.credits.money import affordable_hours
from computehub.credits.records import Charge, CourseLimit, CourseShare, Estimate, Hold
from computehub.paths import default_ledger_url
from computehub.sitefile import Site

if TYPE_CHECKING:  # options imports units() from here: no import back at run time
    from computehub.spawners.accounting import JobUsage
    from computehub.spawners.options import SessionRequest

log = logging.getLogger("computehub.billing")

#: Account roles whose members may charge the account for a session.
CHARGING_ROLES = ("owner", "member", "instructor")
#: A course's students charge its pool too, within their share (the ledger checks it).
STUDENT_CHARGING_ROLE = "student"


def may_charge(kind: str, role: str | None) -> bool:
    """Whether a member with ``role`` may charge an account of ``kind`` for a session."""
    return role in CHARGING_ROLES or (kind == "course" and role == STUDENT_CHARGING_ROLE)


#: The Slurm GRES type a resource is requested and accounted as (None for ``cpu``).
GresOf = Callable[[str], "str | None"]


def units(gpu_type: str | None, gpus: int) -> int:
    """How many units of its resource a session takes.

    A GPU resource (a whole GPU or a MIG slice) counts the GPUs or slices asked for; a
    CPU-only session is one unit (the ``cpu`` rate is per session-hour).
    """
    return gpus if gpu_type else 1


def per_hour(rates: Mapping[str, Decimal], resources: Mapping[str, int]) -> Decimal:
    """What a session with these resources costs an hour at these rates."""
    return sum((rates[resource] * count for resource, count in resources.items()), Decimal(0))


def job_resource(resources: Mapping[str, int]) -> tuple[str, int]:
    """The resource a session's job runs on (its partition and GRES), and its count.

    A session has one resource today; with more, it is the GPU (or MIG) resource, the
    others riding along (CPU, memory).
    """
    for resource, count in resources.items():
        if resource != "cpu":
            return resource, count
    return "cpu", resources["cpu"]


def start_key(username: str) -> str:
    """A fresh idempotency key for the hold of a start (each start is a new hold)."""
    return f"start:{username}:{uuid.uuid4()}"


def void_key(hold_id: int) -> str:
    """The idempotency key of voiding a hold: one per hold, whoever voids it."""
    return f"void:{hold_id}"


def extend_key(hold_id: int) -> str:
    """A fresh idempotency key for one extension of a hold."""
    return f"extend:{hold_id}:{uuid.uuid4()}"


def start_refusal(err: InsufficientCreditError, per_hour: Decimal, hours: Decimal) -> str:
    """The sentence refusing a start the account can't fund (HTTP 402)."""
    fundable = (
        f"; it can fund up to {err.affordable_hours} h" if err.affordable_hours is not None else ""
    )
    return (
        f"Not enough credits in {err.account}: {err.available} available, "
        f"this session needs {err.requested} ({per_hour} credits/h for {hours} h)"
        f"{fundable}."
    )


def archived_refusal(err: ArchivedCourseError) -> str:
    """The sentence refusing a start charged to an archived course (HTTP 409)."""
    return (
        f"The course {err.course} was archived on {err.archived_at:%Y-%m-%d}: its credits "
        "can't pay for new sessions. Choose another account to pay from."
    )


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _when(limit_resets: object) -> str:
    return f"{limit_resets:%A %d %B %Y at %H:%M} UTC"


def share_refusal(err: CourseShareError, *, extension: bool = False) -> str:
    """The sentence refusing a start (or an extension) past a student's share (HTTP 402)."""
    which = {
        "weekly cap": "weekly cap",
        "allowance": "allowance for the term",
        "equal share": "share of the pool for the term",
    }.get(err.kind, err.kind)
    if err.resets_at is not None:
        reset = f"It resets on {_when(err.resets_at)}."
    else:
        reset = (
            f"It does not reset before the term ends on {err.ends_on:%d %B %Y}; "
            "the course's instructor can raise it."
        )
    what, instead = (
        ("extension", "Ask for fewer hours.")
        if extension
        else ("session", "Choose a shorter or smaller session, or another account to pay from.")
    )
    return (
        f"Your {which} on course {err.course} is {_plain(err.limit)} credits: you have used "
        f"{_plain(err.used)}, {_plain(err.left)} left, and this {what} needs "
        f"{_plain(err.requested)}. {reset} {instead}"
    )


def share_left(course: str, limit: CourseLimit) -> str:
    """What a student may still spend under one limit: the form's and the widget's line."""
    window = " this week" if limit.resets_at is not None else " this term"
    return f"course {course}: {_plain(limit.left)} of {_plain(limit.limit)} credits left{window}"


def within_share(figures: Estimate, share: CourseShare | None) -> tuple[Estimate, str | None]:
    """An estimate as a student's share of a course's pool leaves it, and the limit's line.

    What the student may spend is the least of the pool's available credit and what
    their limits leave (as :meth:`Billing.hold` is checked), so the spawn form never
    calls a start sufficient that the ledger refuses. Anyone else's estimate is as is.
    """
    binding = None if share is None else share.binding
    if share is None or binding is None:
        return figures, None
    available = min(figures.available, binding.left)
    limited = replace(
        figures,
        available=available,
        affordable_hours=affordable_hours(available, figures.per_hour),
    )
    return limited, share_left(share.course, binding)


def archived_end_note(course: str, archived_at: datetime) -> str:
    """Why a session charged to a course ended when the course was archived (its user sees it)."""
    return (
        f"The course {course} was archived on {archived_at:%Y-%m-%d}: its credits pay for no "
        "more session time, so this session was stopped and charged for the time it ran."
    )


def extend_refusal(err: InsufficientCreditError, hours: Decimal) -> str:
    """The sentence refusing an extension the account can't fund (HTTP 402)."""
    return (
        f"Not enough credits in {err.account}: {err.available} available, "
        f"{err.requested} needed for {hours} more h"
    )


def settle_key(hold_id: int) -> str:
    """The idempotency key of a hold's settlement: one per hold, whoever settles it.

    Keyed by hold, not by job: Slurm reuses job ids, and the spawner and the reconciler
    settle the same hold with the same key (the second gets the first's charge).
    """
    return f"settle:hold:{hold_id}"


def usage_charge(
    hold: Hold, usage: JobUsage, gres_of: GresOf
) -> tuple[dict[str, Decimal], list[str]]:
    """The resource-hours to charge a hold for its job's runs, and problems to alert on.

    Each of the hold's resources is charged from the accounting of its GRES type
    (``gres_of``). A run that ran while Slurm's accounting counts none of its GPUs is
    charged the count the hold paid for (never 0); each such run is named in the
    problems, and so is a job that ran more than once (requeued: every run is charged).
    """
    used: dict[str, Decimal] = {}
    problems: list[str] = []
    for resource, requested in hold.resources.items():
        gres_type = gres_of(resource)
        used |= usage.resource_hours(resource, gres_type, requested=requested)
        problems += [
            f"run of job {run.job_id} submitted at {run.submitted} ran {run.elapsed_s} s but "
            f"accounting counts no {gres_type or resource} in it: "
            f"charged as the {requested} requested"
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


async def settle_usage(
    ledger: Ledger,
    hold: Hold,
    usage: JobUsage,
    gres_of: GresOf,
    *,
    actor: str,
    reconciled: bool = False,
) -> Charge:
    """Charge what the job used (every run, from Slurm accounting); release the rest.

    The spawner and the reconciler settle a hold with the same key: the second gets
    the first's charge. Problems and an overrun are logged as ALERTs.
    """
    item = _settlement(hold, usage, gres_of, reconciled)
    charge = await asyncio.to_thread(
        ledger.settle,
        item.hold_id,
        item.used,
        actor=actor,
        idempotency_key=item.idempotency_key,
        reason=item.reason,
    )
    if (alert := overrun(hold, charge)) is not None:
        log.error("%s", alert)
    return charge


def _settlement(hold: Hold, usage: JobUsage, gres_of: GresOf, reconciled: bool) -> Settlement:
    """What :func:`settle_usage` charges for ``usage`` (its problems logged as ALERTs)."""
    used, problems = usage_charge(hold, usage, gres_of)
    for problem in problems:
        log.error("ALERT: hold %s (%s/%s): %s", hold.id, hold.hub, usage.job_id, problem)
    if reconciled:
        how = " (reconciled)"
    else:
        how = f" in {len(usage.runs)} runs" if len(usage.runs) > 1 else ""
    return Settlement(
        hold.id,
        used,
        settle_key(hold.id),
        f"session {hold.hub}/{usage.job_id} {usage.state.lower()} after {usage.elapsed_s} s{how}",
    )


async def settle_usages(
    ledger: Ledger,
    ended: Sequence[tuple[Hold, JobUsage]],
    gres_of: GresOf,
    *,
    actor: str,
) -> list[Charge]:
    """Settle many reconciled sessions as :func:`settle_usage` does, in one transaction.

    All or nothing (see ``Ledger.settle_many``): on an error nothing is settled.
    """
    items = [_settlement(hold, usage, gres_of, reconciled=True) for hold, usage in ended]
    charges = await asyncio.to_thread(ledger.settle_many, items, actor=actor)
    for (hold, _), charge in zip(ended, charges, strict=True):
        if (alert := overrun(hold, charge)) is not None:
            log.error("%s", alert)
    return charges


async def settle_in_full(ledger: Ledger, hold: Hold, *, actor: str) -> Charge:
    """Charge the whole hold: its job is gone and Slurm's accounting never completed."""
    return await asyncio.to_thread(
        ledger.settle,
        hold.id,
        full_hold_usage(hold),
        actor=actor,
        idempotency_key=settle_key(hold.id),
        reason=f"session {hold.hub}/{hold.job_id}: Slurm's accounting never completed; "
        "charged the funded time (overdue)",
    )


async def void(ledger: Ledger, hold_id: int, reason: str, *, actor: str) -> Hold:
    """Release a hold whose job never ran."""
    return await asyncio.to_thread(
        ledger.void_hold, hold_id, reason, actor=actor, idempotency_key=void_key(hold_id)
    )


async def extend(
    ledger: Ledger, hold_id: int, hours: Decimal, max_hours: Decimal, *, actor: str
) -> Hold:
    """Add ``hours`` to a hold, up to ``max_hours`` in all.

    Raises:
        InsufficientCreditError: the account can't fund them (:func:`extend_refusal`).
        HoursLimitError: the hold would pass ``max_hours``.
        CourseShareError: a course's student past their share
            (:func:`share_refusal` with ``extension=True``).
        ArchivedCourseError: the account is an archived course's.
    """
    return await asyncio.to_thread(
        ledger.extend_hold,
        hold_id,
        hours,
        actor=actor,
        idempotency_key=extend_key(hold_id),
        max_hours=max_hours,
    )


#: The last archived-state read per (ledger, account): when it began, what it said.
_ARCHIVED: dict[tuple[int, str], tuple[float, datetime | None]] = {}


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
    #: What the user may spend from each chargeable account, as read with the accounts:
    #: its available credit, and for a course's student no more than their share left.
    available: dict[str, Decimal] = field(default_factory=dict)
    #: The limit that leaves a student least on each course they may charge, in words.
    notes: dict[str, str] = field(default_factory=dict)
    #: Each chargeable account's kind (personal, project, course).
    kinds: dict[str, str] = field(default_factory=dict)


class Billing:
    """Holds and charges for one user's sessions."""

    def __init__(self, ledger: Ledger, username: str) -> None:
        self.ledger = ledger
        self.username = username

    async def standing(self) -> Standing:
        """The accounts this user may charge (personal first, created if new) and courses.

        One read of the user's accounts, with their figures (a second only the first
        time, after the personal account is created), and one of their archived courses:
        an archived course opens no course-only resource (a start charged to it is refused
        with :func:`archived_refusal`).
        """

        def lookup() -> Standing:
            balances = self.ledger.accounts_for_user(self.username)
            if not any(b.kind == "personal" and b.role == "owner" for b in balances):
                self.ledger.ensure_personal_account(self.username, actor="spawner")
                balances = self.ledger.accounts_for_user(self.username)
            archived = {
                c.id for c in self.ledger.courses(user=self.username) if c.archived_at is not None
            }
            chargeable = [b for b in balances if may_charge(b.kind, b.role)]
            chargeable.sort(key=lambda b: (b.account != self.username, b.account))
            available = {b.account: b.available for b in chargeable}
            notes: dict[str, str] = {}
            for b in chargeable:
                if b.kind != "course" or b.role != STUDENT_CHARGING_ROLE:
                    continue
                share = self.ledger.course_share(b.account, self.username)
                binding = None if share is None else share.binding
                if binding is not None:
                    available[b.account] = min(b.available, binding.left)
                    notes[b.account] = share_left(b.account, binding)
            return Standing(
                accounts=[b.account for b in chargeable],
                courses=frozenset(
                    b.account for b in balances if b.kind == "course" and b.account not in archived
                ),
                available=available,
                notes=notes,
                kinds={b.account: b.kind for b in chargeable},
            )

        return await asyncio.to_thread(lookup)

    async def hold(self, req: SessionRequest, server_name: str = "") -> Hold:
        """Reserve rate * count * hours, for the JupyterHub server ``server_name`` ("": default).

        Raises:
            InsufficientCreditError: the account can't fund it (:func:`start_refusal`).
            CourseShareError: a course's student past their share (:func:`share_refusal`).
            ArchivedCourseError: the account is an archived course's (:func:`archived_refusal`).
        """
        return await asyncio.to_thread(
            self.ledger.place_hold,
            req.account,
            req.hub,
            dict(req.resources),
            req.hours,
            actor=self.username,
            idempotency_key=start_key(self.username),
            server_name=server_name,
        )

    async def share(self, account: str) -> CourseShare | None:
        """The user's limits on a course's pool (``None`` for an account that is no course)."""
        return await asyncio.to_thread(self.ledger.course_share, account, self.username)

    async def estimate(self, req: SessionRequest) -> Estimate:
        """The ledger's price of the session and what its account funds (no hold)."""
        return await asyncio.to_thread(
            self.ledger.estimate, req.account, req.hub, dict(req.resources), req.hours
        )

    async def estimate_within_share(self, req: SessionRequest) -> tuple[Estimate, str | None]:
        """The estimate as the user's share of a course's pool leaves it, and the limit's line.

        See :func:`within_share`; an account that is no course, or a member its limits
        don't bind, gets the ledger's estimate and no line.
        """
        figures = await self.estimate(req)
        return within_share(figures, await self.share(figures.account))

    async def archived(self, account: str, max_age: float = 0.0) -> datetime | None:
        """When ``account``'s course was archived; ``None`` while it is not (or no course).

        ``max_age``: an answer read from this ledger less than that many seconds ago
        serves (every running session of a course polls this: one read per course per
        poll interval, not one per session); 0 reads now.
        """
        known = _ARCHIVED.get((id(self.ledger), account))
        if known is not None and time.monotonic() - known[0] < max_age:
            return known[1]

        def lookup() -> datetime | None:
            try:
                return self.ledger.course(account).archived_at
            except UnknownCourseError:
                return None

        read_at = time.monotonic()
        archived_at = await asyncio.to_thread(lookup)
        _ARCHIVED[(id(self.ledger), account)] = (read_at, archived_at)
        return archived_at

    async def attach(self, hold_id: int, hub: str, job_id: str) -> Hold:
        """Record the Slurm job a hold pays for (its name ``jupyterhub-<hub>-<hold>`` too)."""
        return await asyncio.to_thread(
            self.ledger.attach_job, hold_id, hub, job_id, actor=self.username
        )

    async def void(self, hold_id: int, reason: str) -> Hold:
        """Release a hold whose job never ran (submission refused, nothing started)."""
        return await void(self.ledger, hold_id, reason, actor="spawner")

    async def settle(self, hold: Hold, usage: JobUsage, gres_of: GresOf) -> Charge:
        """Charge what the job used (every run, from Slurm accounting); release the rest."""
        return await settle_usage(self.ledger, hold, usage, gres_of, actor="spawner")

    async def request_cancel(self, hold_id: int) -> None:
        """Record that the platform wants the hold's job ended (survives the hub forgetting it)."""
        await asyncio.to_thread(self.ledger.request_cancel, hold_id, actor="spawner")

    async def note_end(self, hold_id: int, note: str) -> None:
        """Record why the session ended, for its user (shown on the spawn form)."""
        await asyncio.to_thread(self.ledger.note_session_end, hold_id, note, actor="spawner")

    async def record_gpu_busy(self, hold_id: int, busy_hours: Decimal) -> None:
        """Record the session's GPU-busy hours (a statistic for the console, never billed)."""
        await asyncio.to_thread(self.ledger.record_gpu_busy, hold_id, busy_hours, actor="spawner")
