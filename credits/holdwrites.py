"""The hold verbs' transactions: place, extend, settle and void, each in one place.

Every case runs here, the rare ones too: a replayed idempotency key, settling a hold
already settled, and credit that is due to expire (it is given back to its issuing
account first, and what a settlement or a void gives back of a lot already expired
expires at once). :class:`~computehub.credits.holds.HoldsMixin` runs these in a
:class:`~computehub.credits.rawop.RawOp` and turns an
:class:`~computehub.credits.holdwrites.Existing` answer (a replay) into the record it
names. Amounts are integer units here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from computehub.credits import lots, sharing
from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits.errors import (
    ConflictError,
    HoursLimitError,
    InsufficientCreditError,
    UnknownAccountError,
    UnknownHoldError,
    UnknownRateError,
)
from computehub.credits.money import (
    affordable_hours,
    from_units,
    price_per_hour,
    round_credits,
    to_units,
)
from computehub.credits.rawop import RawOp, check_person


@dataclass(frozen=True)
class Existing:
    """The operation was done before: answer with this hold (or its charge) as it is now."""

    hold_id: int
    charge: bool = False


@dataclass(slots=True)
class _Payer:
    """A hold's account, locked, after its due credit expired."""

    id: int
    name: str
    balance: int
    held: int
    next_expiry: Any  # aware datetime or None
    kind: str

    @property
    def available(self) -> Decimal:
        return from_units(self.balance - self.held)


@dataclass(slots=True)
class _Locked:
    """A hold, locked, with the resources it reserved: ``{resource: (count, rate units)}``."""

    id: int
    status: str
    hub: str
    amount: int
    hours: int
    job_id: str | None
    created_at: Any
    cancel_requested_at: Any
    resources: dict[str, tuple[int, int]]

    @property
    def per_hour(self) -> Decimal:
        return sum(
            (from_units(rate) * count for count, rate in self.resources.values()), Decimal(0)
        )

    def record(self, op: RawOp, account: str, status: str, hours: int, amount: int) -> r.Hold:
        """The hold as its verb leaves it."""
        return r.Hold(
            id=self.id,
            account=account,
            hub=self.hub,
            job_id=self.job_id,
            status=status,
            hours=from_units(hours),
            amount=from_units(amount),
            per_hour=self.per_hour,
            resources={res: count for res, (count, _) in sorted(self.resources.items())},
            rates={res: from_units(rate) for res, (_, rate) in sorted(self.resources.items())},
            created_at=op.time_out(self.created_at) or op.now,
            cancel_requested_at=op.time_out(self.cancel_requested_at),
        )


def _payer(op: RawOp, found: Any, name: str) -> _Payer:
    """A locked payer row (id, kind, balance, held, next expiry), its due credit expired."""
    payer_id, kind, balance, held, stored_expiry = found
    check_person(kind, name)
    expired, expiry = lots.expire_if_due(op, payer_id, op.time_out(stored_expiry))
    return _Payer(payer_id, name, balance - expired, held, expiry, kind)


def _lock_payer_of(op: RawOp, hold_id: int) -> _Payer:
    found = op.row(op.sql.lock_hold_payer, hold_id)
    if found is None:
        raise UnknownHoldError(hold_id)
    payer_id, name, kind, balance, held, stored_expiry = found
    return _payer(op, (payer_id, kind, balance, held, stored_expiry), name)


def _lock_hold(op: RawOp, hold_id: int) -> _Locked:
    rows = op.rows(op.sql.lock_hold, hold_id)
    if not rows:
        raise UnknownHoldError(hold_id)
    status, hub, amount, hours, job_id, created_at, cancel_requested_at = rows[0][:7]
    return _Locked(
        id=hold_id,
        status=status,
        hub=hub,
        amount=amount,
        hours=hours,
        job_id=job_id,
        created_at=created_at,
        cancel_requested_at=cancel_requested_at,
        resources={row[7]: (row[8], row[9]) for row in rows if row[7] is not None},
    )


def _same_hours(stored: int | None, hours: Decimal) -> bool:
    """Whether a replay asks for the hours first reserved (unknown before revision 0005)."""
    return stored is None or stored == to_units(hours)


def _rates(op: RawOp, hub: str, resources: Mapping[str, int]) -> dict[str, Decimal]:
    latest: dict[str, int | None] = {}
    for resource, rate in op.rows(op.driver.rates(len(resources)), hub, *resources, op.stamp):
        latest[resource] = rate
    found: dict[str, Decimal] = {}
    for resource in resources:
        units = latest.get(resource)
        if units is None:
            raise UnknownRateError(hub, resource)
        found[resource] = from_units(units)
    return found


def place_hold(
    op: RawOp,
    account: str,
    hub: str,
    resources: Mapping[str, int],
    hours: Decimal,
    *,
    revenue_id: int,
    idempotency_key: str | None,
    job_id: str | None,
    server_name: str = "",
) -> r.Hold | Existing:
    """The transaction of :meth:`~computehub.credits.holds.HoldsMixin.place_hold`."""
    sql = op.sql
    first = op.first_use(idempotency_key, m.EntryKind.HOLD)
    if first is not None:
        hold_id: int = first[2]
        payer, placed_hub, placed_job = op.row(sql.hold_placed, hold_id)
        placed = dict(op.rows(sql.hold_resources, hold_id))
        op.replayed(
            idempotency_key,
            "hold",
            (payer, placed_hub, placed) == (account, hub, dict(resources))
            and _same_hours(first[4], hours)
            and job_id in (None, placed_job),
        )
        return Existing(hold_id)
    if job_id is not None:
        taken = op.row(sql.job_taken, hub, job_id)
        if taken is not None:
            raise ConflictError(f"job {job_id} on {hub} already has hold {taken[0]}")
    found = op.row(sql.lock_account_by_name, account)
    if found is None:
        raise UnknownAccountError(account)
    op.refuse_archived(found[0], found[1])
    payer = _payer(op, found, account)
    rates = _rates(op, hub, resources)
    per_hour = price_per_hour(rates, resources)
    amount = round_credits(per_hour * hours)
    units = to_units(amount)
    if payer.kind == m.AccountKind.COURSE:
        sharing.refuse_over_share(op, payer.id, account, payer.balance, units)
    if amount > payer.available:
        raise InsufficientCreditError(
            account, payer.available, amount, affordable_hours(payer.available, per_hour)
        )
    hold_id = op.insert(
        sql.insert_hold,
        payer.id,
        hub,
        job_id,
        m.HoldStatus.OPEN.value,
        to_units(hours),
        units,
        op.stamp,
        op.stamp,
        op.actor,
        server_name,
    )
    op.cursor.executemany(
        sql.insert_hold_resource,
        [(hold_id, res, count, to_units(rates[res])) for res, count in resources.items()],
    )
    lots.reserve(op, hold_id, payer.id, units)
    if payer.next_expiry is not None:
        lots.refresh_expiry(op, payer.id, payer.next_expiry)
    op.add_entry(
        m.EntryKind.HOLD,
        payer.id,
        revenue_id,
        units,
        f"{hours} h on {hub}",
        idempotency_key,
        pending=True,
        hold_id=hold_id,
        hours=to_units(hours),
    )
    return r.Hold(
        id=hold_id,
        account=account,
        hub=hub,
        job_id=job_id,
        status=m.HoldStatus.OPEN,
        hours=hours,
        amount=amount,
        per_hour=per_hour,
        resources=dict(sorted(resources.items())),
        rates={res: rates[res] for res in sorted(resources)},
        created_at=op.now,
    )


def extend_hold(
    op: RawOp,
    hold_id: int,
    hours: Decimal,
    *,
    revenue_ids: dict[str, int],
    idempotency_key: str | None,
    max_hours: Decimal | None,
) -> r.Hold | Existing:
    """The transaction of :meth:`~computehub.credits.holds.HoldsMixin.extend_hold`."""
    first = op.first_use(idempotency_key, m.EntryKind.EXTEND)
    if first is not None:
        op.replayed(
            idempotency_key, "extension", first[2] == hold_id and _same_hours(first[4], hours)
        )
        return Existing(hold_id)
    payer = _lock_payer_of(op, hold_id)
    hold = _lock_hold(op, hold_id)
    if hold.status != m.HoldStatus.OPEN:
        raise ConflictError(f"hold {hold_id} is {hold.status}")
    op.refuse_archived(payer.id, payer.kind)
    if max_hours is not None and from_units(hold.hours) + hours > max_hours:
        raise HoursLimitError(hold_id, max_hours, from_units(hold.hours), hours)
    per_hour = hold.per_hour
    amount = round_credits(per_hour * hours)
    units = to_units(amount)
    if payer.kind == m.AccountKind.COURSE:
        # The same check as a start's, against the share of whoever placed the hold.
        sharing.refuse_over_share(
            op, payer.id, payer.name, payer.balance, units, person=sharing.placer_of(op, hold_id)
        )
    if amount > payer.available:
        raise InsufficientCreditError(
            payer.name, payer.available, amount, affordable_hours(payer.available, per_hour)
        )
    lots.reserve(op, hold_id, payer.id, units, new=False)
    op.run(op.sql.extend_hold, to_units(hours), units, op.stamp, hold_id)
    lots.refresh_expiry(op, payer.id, payer.next_expiry)
    op.add_entry(
        m.EntryKind.EXTEND,
        payer.id,
        op.revenue_id(hold.hub, revenue_ids),
        units,
        f"+{hours} h",
        idempotency_key,
        pending=True,
        hold_id=hold_id,
        hours=to_units(hours),
    )
    return hold.record(
        op, payer.name, m.HoldStatus.OPEN, hold.hours + to_units(hours), hold.amount + units
    )


def settle(
    op: RawOp,
    hold_id: int,
    usage: Mapping[str, Decimal],
    *,
    revenue_ids: dict[str, int],
    idempotency_key: str | None,
    reason: str,
) -> r.Charge | Existing:
    """The transaction of :meth:`~computehub.credits.holds.HoldsMixin.settle`.

    A hold settled before answers with its charge.
    """
    sql = op.sql
    first = op.first_use(idempotency_key, m.EntryKind.CHARGE)
    if first is not None:
        first_usage = {res: from_units(used) for res, used in op.rows(sql.charged_usage, hold_id)}
        op.replayed(
            idempotency_key, "settlement", first[2] == hold_id and first_usage == dict(usage)
        )
        return Existing(hold_id, charge=True)
    payer = _lock_payer_of(op, hold_id)
    hold = _lock_hold(op, hold_id)
    if hold.status == m.HoldStatus.SETTLED:
        return Existing(hold_id, charge=True)
    if hold.status != m.HoldStatus.OPEN:
        raise ConflictError(f"hold {hold_id} is {hold.status}; it cannot be charged")
    rates = {res: rate for res, (_count, rate) in hold.resources.items()}
    unknown = sorted(set(usage) - set(rates))
    if unknown:
        raise ConflictError(f"hold {hold_id} did not reserve {', '.join(unknown)}")
    costs = {res: round_credits(used * from_units(rates[res])) for res, used in usage.items()}
    cost = sum(costs.values(), Decimal(0))
    hold_amount = from_units(hold.amount)
    charged = min(cost, hold_amount)
    charged_units = to_units(charged)
    unreserved_expiring = lots.release(op, hold_id, charged_units)
    op.run(sql.change_account, -charged_units, -hold.amount, payer.id)
    revenue_id = op.revenue_id(hold.hub, revenue_ids)
    op.move_system(revenue_id, charged_units)
    entry_id = op.add_entry(
        m.EntryKind.CHARGE,
        payer.id,
        revenue_id,
        charged_units,
        reason,
        idempotency_key,
        hold_id=hold_id,
    )
    if hold.amount > charged_units:
        op.add_entry(
            m.EntryKind.RELEASE,
            payer.id,
            revenue_id,
            hold.amount - charged_units,
            reason or "unused part of the hold",
            None,
            pending=True,
            hold_id=hold_id,
        )
    charge_id = op.insert(
        sql.insert_charge,
        hold_id,
        entry_id,
        payer.id,
        hold.hub,
        charged_units,
        to_units(cost),
        op.stamp,
    )
    if usage:
        op.cursor.executemany(
            sql.insert_usage,
            [
                (charge_id, res, to_units(used), rates[res], to_units(costs[res]))
                for res, used in usage.items()
            ],
        )
    op.run(sql.close_hold, m.HoldStatus.SETTLED.value, op.stamp, hold_id)
    if unreserved_expiring or payer.next_expiry is not None:
        lots.refresh_expiry(op, payer.id, payer.next_expiry)
    return r.Charge(
        id=charge_id,
        hold_id=hold_id,
        account=payer.name,
        hub=hold.hub,
        amount=charged,
        cost=cost,
        released=hold_amount - charged,
        usage=dict(sorted(usage.items())),
        created_at=op.now,
    )


def void_hold(
    op: RawOp,
    hold_id: int,
    reason: str,
    *,
    revenue_ids: dict[str, int],
    idempotency_key: str | None,
) -> r.Hold | Existing:
    """The transaction of :meth:`~computehub.credits.holds.HoldsMixin.void_hold`.

    A hold voided before answers as it is.
    """
    first = op.first_use(idempotency_key, m.EntryKind.RELEASE)
    if first is not None:
        op.replayed(idempotency_key, "void", first[2] == hold_id)
        return Existing(hold_id)
    found = op.row(op.sql.lock_hold_payer, hold_id)
    if found is None:
        raise UnknownHoldError(hold_id)
    payer_id, name, _kind, _balance, _held, stored_expiry = found
    hold = _lock_hold(op, hold_id)
    if hold.status == m.HoldStatus.VOIDED:
        return Existing(hold_id)
    if hold.status != m.HoldStatus.OPEN:
        raise ConflictError(f"hold {hold_id} is {hold.status}; it cannot be voided")
    lots.release(op, hold_id, 0)
    op.run(op.sql.change_account, 0, -hold.amount, payer_id)
    op.add_entry(
        m.EntryKind.RELEASE,
        payer_id,
        op.revenue_id(hold.hub, revenue_ids),
        hold.amount,
        reason,
        idempotency_key,
        pending=True,
        hold_id=hold_id,
    )
    op.run(op.sql.close_hold, m.HoldStatus.VOIDED.value, op.stamp, hold_id)
    lots.refresh_expiry(op, payer_id, op.time_out(stored_expiry))
    return hold.record(op, name, m.HoldStatus.VOIDED, hold.hours, hold.amount)
