"""Placing and settling holds on the driver's cursor: the common case, fast.

These are the statements of :meth:`~computehub.credits.holds.HoldsMixin.place_hold`
and :meth:`~computehub.credits.holds.HoldsMixin.settle`, in the same order, with the
same locks and checks, run as hand-written SQL (:mod:`~computehub.credits.rawsql`)
in a transaction begun like every other write (``BEGIN IMMEDIATE`` on SQLite).

The cases that are rare and need more machinery raise :class:`Fallback`, and the
caller runs the general (ORM) implementation instead, in a new transaction, so they
behave exactly as before: a replayed idempotency key (the first result is rebuilt),
settling a hold already settled, and credit that is due to expire (it is given back
to its issuing account first). Amounts are integer units (``money.to_units``) here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits.errors import (
    ConflictError,
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
from computehub.credits.names import revenue_name
from computehub.credits.rawsql import Cursor, Driver


class Fallback(Exception):  # noqa: N818 (a signal, not an error)
    """A case left to the general implementation; the transaction is rolled back."""


@dataclass
class RawOp:
    """One write transaction on a driver cursor: its time, actor and system changes."""

    cursor: Cursor
    driver: Driver
    now: datetime
    actor: str
    system_deltas: dict[int, int] = field(default_factory=dict)
    #: ``now`` as the time columns store it.
    stamp: Any = field(init=False)

    def __post_init__(self) -> None:
        self.stamp = self.driver.time_in(self.now)

    def row(self, sql: str, *params: object) -> Any:
        """The first row of a query (a tuple), or ``None``."""
        self.cursor.execute(sql, params)
        return self.cursor.fetchone()

    def insert(self, sql: str, *params: object) -> int:
        """Run an ``INSERT ... RETURNING id``; return the id."""
        self.cursor.execute(sql, params)
        new_id: int = self.cursor.fetchone()[0]
        return new_id

    def move_system(self, account_id: int, units: int) -> None:
        """Add ``units`` to a system account's balance when the transaction ends."""
        self.system_deltas[account_id] = self.system_deltas.get(account_id, 0) + units

    def flush_system(self) -> None:
        """One increment per system account, in id order (see ``core`` on deadlocks)."""
        for account_id in sorted(self.system_deltas):
            if self.system_deltas[account_id]:
                self.cursor.execute(
                    self.driver.sql.move_system, (self.system_deltas[account_id], account_id)
                )

    def post(
        self,
        kind: m.TxKind,
        debit: int,
        credit: int,
        units: int,
        reason: str,
        key: str | None,
        *,
        pending: bool,
        hold_id: int,
    ) -> int:
        """Append one row to the transactions table; return its id."""
        return self.insert(
            self.driver.sql.insert_transaction,
            kind.value,
            pending,
            debit,
            credit,
            units,
            hold_id,
            None,
            self.actor,
            reason,
            self.stamp,
            key,
        )


def _first_use(op: RawOp, key: str | None, kind: m.TxKind) -> Any:
    """The ``(kind, hold_id)`` an idempotency key was first used for, if any.

    Raises:
        ConflictError: the key was used for another kind of transaction.
    """
    if key is None:
        return None
    found = op.row(op.driver.sql.key, key)
    if found is not None and found[0] != kind:
        raise ConflictError(f"idempotency key {key!r} was used for a {found[0]}")
    return found


def _check_payer(op: RawOp, kind: str, name: str, stored_expiry: object) -> datetime | None:
    """Refuse a system account; return the payer's next expiry, falling back if it is due."""
    if m.AccountKind(kind).is_system:
        raise ConflictError(f"{name!r} is a system account; use a grant")
    expiry = op.driver.time_out(stored_expiry)
    if expiry is not None and expiry <= op.now:
        raise Fallback  # due credit is given back first, by the general path
    return expiry


def _rates(op: RawOp, hub: str, resources: Mapping[str, int]) -> dict[str, Decimal]:
    latest: dict[str, int | None] = {}
    op.cursor.execute(op.driver.rates(len(resources)), (hub, *resources, op.stamp))
    for resource, rate in op.cursor.fetchall():
        latest[resource] = rate
    found: dict[str, Decimal] = {}
    for resource in resources:
        units = latest.get(resource)
        if units is None:
            raise UnknownRateError(hub, resource)
        found[resource] = from_units(units)
    return found


def _reserve(op: RawOp, hold_id: int, account_id: int, units: int) -> None:
    """Reserve from the account's lots, soonest expiry first (``core._reserve``, new hold)."""
    left = units
    reserved: list[tuple[int, int]] = []
    op.cursor.execute(op.driver.sql.spendable_lots, (account_id, op.stamp))
    for lot_id, remaining, lot_reserved in op.cursor.fetchall():
        if left <= 0:
            break
        take = min(remaining - lot_reserved, left)
        reserved.append((lot_id, take))
        left -= take
    if left > 0:
        short = from_units(left)
        raise RuntimeError(f"account {account_id} lots are short of its available by {short}")
    if reserved:
        op.cursor.executemany(op.driver.sql.reserve_lot, [(take, lot) for lot, take in reserved])
        op.cursor.executemany(
            op.driver.sql.insert_allocation, [(hold_id, lot, take) for lot, take in reserved]
        )
    op.cursor.execute(op.driver.sql.change_account, (0, units, account_id))


def _release(op: RawOp, hold_id: int, charged: int) -> bool:
    """Undo the hold's reservations, spending ``charged`` (``core._release``).

    Returns:
        Whether credit that can expire became unreserved (the next expiry may change).

    Raises:
        Fallback: before writing anything, when credit that is already due would
            become unreserved (it expires at once: the general path's job).
    """
    left = charged
    expiring = False
    released: list[tuple[int, int, int]] = []
    op.cursor.execute(op.driver.sql.allocated_lots, (hold_id,))
    for lot_id, allocated, stored_expiry in op.cursor.fetchall():
        spent = min(allocated, left)
        released.append((allocated, spent, lot_id))
        left -= spent
        if stored_expiry is not None and spent < allocated:
            expiring = True
            expires_at = op.driver.time_out(stored_expiry)
            if expires_at is not None and expires_at <= op.now:
                raise Fallback
    if left > 0:
        short = from_units(left)
        raise RuntimeError(f"hold {hold_id} reservations are short of its charge by {short}")
    if released:
        op.cursor.executemany(op.driver.sql.release_lot, released)
    return expiring


def _refresh_expiry(op: RawOp, account_id: int, stored: datetime | None) -> None:
    """Recompute the account's next expiry (``core._refresh_expiry``).

    Credit already due to expire needs expiry transactions: the general path's job.
    The checks before any write (the payer's stored next expiry, :func:`_release`)
    make this fallback, after writes, a safety net only.
    """
    found = op.row(op.driver.sql.next_expiry, account_id)
    soonest = op.driver.time_out(found[0] if found else None)
    if soonest is not None and soonest <= op.now:
        raise Fallback
    if soonest != stored:
        op.cursor.execute(op.driver.sql.set_next_expiry, (op.driver.time_in(soonest), account_id))


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
) -> r.Hold:
    """``HoldsMixin.place_hold``'s transaction; a replayed key falls back."""
    sql = op.driver.sql
    if _first_use(op, idempotency_key, m.TxKind.HOLD) is not None:
        raise Fallback  # the general path checks the replay matches and rebuilds the hold
    if job_id is not None:
        taken = op.row(sql.job_taken, hub, job_id)
        if taken is not None:
            raise ConflictError(f"job {job_id} on {hub} already has hold {taken[0]}")
    found = op.row(sql.lock_account_by_name, account)
    if found is None:
        raise UnknownAccountError(account)
    payer_id, kind, balance, held, stored_expiry = found
    expiry = _check_payer(op, kind, account, stored_expiry)
    rates = _rates(op, hub, resources)
    per_hour = price_per_hour(rates, resources)
    amount = round_credits(per_hour * hours)
    available = from_units(balance) - from_units(held)
    if amount > available:
        raise InsufficientCreditError(
            account, available, amount, affordable_hours(available, per_hour)
        )
    units = to_units(amount)
    hold_id = op.insert(
        sql.insert_hold,
        payer_id,
        hub,
        job_id,
        m.HoldStatus.OPEN.value,
        to_units(hours),
        units,
        op.stamp,
        op.stamp,
        op.actor,
    )
    op.cursor.executemany(
        sql.insert_hold_resource,
        [(hold_id, res, count, to_units(rates[res])) for res, count in resources.items()],
    )
    _reserve(op, hold_id, payer_id, units)
    if expiry is not None:
        _refresh_expiry(op, payer_id, expiry)
    op.post(
        m.TxKind.HOLD,
        payer_id,
        revenue_id,
        units,
        f"{hours} h on {hub}",
        idempotency_key,
        pending=True,
        hold_id=hold_id,
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


def settle(
    op: RawOp,
    hold_id: int,
    usage: Mapping[str, Decimal],
    *,
    revenue_ids: Mapping[str, int],
    idempotency_key: str | None,
    reason: str,
) -> r.Charge:
    """``HoldsMixin.settle``'s transaction; a replay or a settled hold falls back.

    Args:
        revenue_ids: the revenue accounts already known, by hub name (a cache).
    """
    sql = op.driver.sql
    first = _first_use(op, idempotency_key, m.TxKind.CHARGE)
    if first is not None:
        if first[1] != hold_id:
            raise ConflictError(f"idempotency key {idempotency_key!r} was used for another hold")
        raise Fallback  # a replay: the general path rebuilds the first charge
    found = op.row(sql.lock_hold_payer, hold_id)
    if found is None:
        raise UnknownHoldError(hold_id)
    account_id: int = found[0]
    name: str = found[1]
    expiry = _check_payer(op, found[2], name, found[5])
    op.cursor.execute(sql.lock_hold_rates, (hold_id,))
    rows = op.cursor.fetchall()
    status, hub, hold_units = rows[0][:3]
    if status == m.HoldStatus.SETTLED:
        raise Fallback  # settled already (another key): the general path returns its charge
    if status != m.HoldStatus.OPEN:
        raise ConflictError(f"hold {hold_id} is {status}; it cannot be charged")
    held_rates: dict[str, int] = {row[3]: row[4] for row in rows if row[3] is not None}
    unknown = sorted(set(usage) - set(held_rates))
    if unknown:
        raise ConflictError(f"hold {hold_id} did not reserve {', '.join(unknown)}")
    costs = {
        res: round_credits(hours * from_units(held_rates[res])) for res, hours in usage.items()
    }
    cost = sum(costs.values(), Decimal(0))
    hold_amount = from_units(hold_units)
    charged = min(cost, hold_amount)
    charged_units = to_units(charged)
    unreserved_expiring = _release(op, hold_id, charged_units)
    op.cursor.execute(sql.change_account, (-charged_units, -hold_units, account_id))
    revenue_id = _revenue_id(op, hub, revenue_ids)
    op.move_system(revenue_id, charged_units)
    tx = op.post(
        m.TxKind.CHARGE,
        account_id,
        revenue_id,
        charged_units,
        reason,
        idempotency_key,
        pending=False,
        hold_id=hold_id,
    )
    if hold_units > charged_units:
        op.post(
            m.TxKind.RELEASE,
            account_id,
            revenue_id,
            hold_units - charged_units,
            reason or "unused part of the hold",
            None,
            pending=True,
            hold_id=hold_id,
        )
    charge_id = op.insert(
        sql.insert_charge,
        hold_id,
        tx,
        account_id,
        hub,
        charged_units,
        to_units(cost),
        op.stamp,
    )
    if usage:
        op.cursor.executemany(
            sql.insert_usage,
            [
                (charge_id, res, to_units(hours), held_rates[res], to_units(costs[res]))
                for res, hours in usage.items()
            ],
        )
    op.cursor.execute(sql.close_hold, (m.HoldStatus.SETTLED.value, op.stamp, hold_id))
    if unreserved_expiring or expiry is not None:
        _refresh_expiry(op, account_id, expiry)
    return r.Charge(
        id=charge_id,
        hold_id=hold_id,
        account=name,
        hub=hub,
        amount=charged,
        cost=cost,
        released=hold_amount - charged,
        usage=dict(sorted(usage.items())),
        created_at=op.now,
    )


def _revenue_id(op: RawOp, hub: str, known: Mapping[str, int]) -> int:
    name = revenue_name(hub)
    cached = known.get(name)
    if cached is not None:
        return cached
    found = op.row(op.driver.sql.account_id, name)
    if found is None:
        raise RuntimeError(f"the revenue account of hub {hub!r} is missing")
    revenue_id: int = found[0]
    return revenue_id
