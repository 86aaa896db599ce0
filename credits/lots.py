"""Lots: which grant's credit an account holds, spent soonest-expiry-first.

The one implementation of reserving, releasing, moving and expiring credit, used by
every operation that moves credit (:mod:`~computehub.credits.holdwrites`,
:mod:`~computehub.credits.creditwrites`). Each function runs inside a write
transaction (:class:`~computehub.credits.rawop.RawOp`) that already holds the lock
on the account whose lots it touches, so lots need no locks of their own. Amounts are
integer units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from computehub.credits import models as m
from computehub.credits.money import from_units
from computehub.credits.rawop import RawOp


@dataclass(frozen=True)
class Taken:
    """Credit taken out of one lot (by a transfer), with what the receiving lot keeps."""

    units: int
    grant_id: int
    issuing_account_id: int
    expires_at: object  # as stored


def reserve(op: RawOp, hold_id: int, account_id: int, units: int, *, new: bool = True) -> None:
    """Reserve ``units`` of the account's unexpired lots for a hold, soonest expiry first.

    Args:
        new: the hold has no reservations yet (placing it, not extending it).
    """
    existing: set[int] = set()
    if not new:
        existing = {row[0] for row in op.rows(op.sql.allocated_lots, hold_id)}
    left = units
    reserved: list[tuple[int, int]] = []
    for lot_id, remaining, lot_reserved, *_ in op.rows(op.sql.spendable_lots, account_id, op.stamp):
        if left <= 0:
            break
        take = min(remaining - lot_reserved, left)
        reserved.append((lot_id, take))
        left -= take
    if left > 0:
        short = from_units(left)
        raise RuntimeError(f"account {account_id} lots are short of its available by {short}")
    if reserved:
        op.cursor.executemany(op.sql.reserve_lot, [(take, lot) for lot, take in reserved])
        fresh = [(hold_id, lot, take) for lot, take in reserved if lot not in existing]
        if fresh:
            op.cursor.executemany(op.sql.insert_allocation, fresh)
        grown = [(take, hold_id, lot) for lot, take in reserved if lot in existing]
        if grown:
            op.cursor.executemany(op.sql.grow_allocation, grown)
    op.run(op.sql.change_account, 0, units, account_id)


def release(op: RawOp, hold_id: int, charged: int) -> bool:
    """Undo a hold's reservations, spending ``charged`` of them soonest-expiry-first.

    Returns:
        Whether credit that can expire became unreserved (the next expiry may change).
    """
    left = charged
    expiring = False
    released: list[tuple[int, int, int]] = []
    for lot_id, allocated, expires_at in op.rows(op.sql.allocated_lots, hold_id):
        spent = min(allocated, left)
        released.append((allocated, spent, lot_id))
        left -= spent
        expiring = expiring or (expires_at is not None and spent < allocated)
    if left > 0:
        short = from_units(left)
        raise RuntimeError(f"hold {hold_id} reservations are short of its charge by {short}")
    if released:
        op.cursor.executemany(op.sql.release_lot, released)
    return expiring


def take(op: RawOp, account_id: int, units: int) -> list[Taken]:
    """Remove ``units`` of unreserved, unexpired credit from an account's lots (transfers)."""
    taken: list[Taken] = []
    left = units
    for lot_id, remaining, reserved, grant_id, issuing_id, expires_at in op.rows(
        op.sql.spendable_lots, account_id, op.stamp
    ):
        if left <= 0:
            break
        part = min(remaining - reserved, left)
        op.run(op.sql.take_lot, part, lot_id)
        left -= part
        taken.append(Taken(part, grant_id, issuing_id, expires_at))
    if left > 0:
        short = from_units(left)
        raise RuntimeError(f"account {account_id} lots are short of its available by {short}")
    return taken


def give(op: RawOp, account_id: int, part: Taken) -> None:
    """Add credit taken from a lot to an account, merged into its lot of the same grant."""
    found = op.row(op.sql.lot_of_grant, account_id, part.grant_id)
    if found is None:
        op.run(
            op.sql.insert_lot,
            account_id,
            part.grant_id,
            part.issuing_account_id,
            part.expires_at,
            part.units,
            0,
        )
    else:
        op.run(op.sql.give_lot, part.units, found[0])


def next_expiry(op: RawOp, account_id: int) -> datetime | None:
    """The soonest expiry among the account's lots with unreserved credit."""
    found = op.row(op.sql.next_expiry, account_id)
    return op.time_out(found[0] if found else None)


def set_next_expiry(op: RawOp, account_id: int, stored: datetime | None) -> datetime | None:
    """Recompute the account's next expiry and store it if it changed; return it."""
    soonest = next_expiry(op, account_id)
    if soonest != stored:
        op.run(op.sql.set_next_expiry, op.driver.time_in(soonest), account_id)
    return soonest


def expire_due(op: RawOp, account_id: int) -> tuple[int, datetime | None]:
    """Give back the account's expired, unreserved credit to its issuing accounts.

    One ``expiry`` row per lot, then the account's next expiry is recomputed.

    Returns:
        The units expired, and the account's next expiry now.
    """
    expired = 0
    for lot_id, remaining, reserved, issuing_id, grant_id, expires_at in op.rows(
        op.sql.due_lots, account_id, op.stamp
    ):
        units = remaining - reserved
        op.run(op.sql.expire_lot, lot_id)
        op.move_system(issuing_id, units)
        when = op.time_out(expires_at)
        op.add_entry(
            m.EntryKind.EXPIRY,
            account_id,
            issuing_id,
            units,
            f"credit expired at {when.isoformat() if when else '?'}",
            None,
            grant_id=grant_id,
        )
        expired += units
    if expired:
        op.run(op.sql.change_account, -expired, 0, account_id)
    soonest = next_expiry(op, account_id)
    op.run(op.sql.set_next_expiry, op.driver.time_in(soonest), account_id)
    return expired, soonest


def expire_if_due(
    op: RawOp, account_id: int, stored: datetime | None
) -> tuple[int, datetime | None]:
    """Expire due credit when the account's stored next expiry has come; else nothing.

    See :func:`~computehub.credits.lots.expire_due`.
    """
    if stored is None or stored > op.now:
        return 0, stored
    return expire_due(op, account_id)


def refresh_expiry(op: RawOp, account_id: int, stored: datetime | None) -> None:
    """After reserving or releasing: recompute the next expiry, expiring what is due."""
    soonest = next_expiry(op, account_id)
    if soonest is not None and soonest <= op.now:
        expire_due(op, account_id)
    elif soonest != stored:
        op.run(op.sql.set_next_expiry, op.driver.time_in(soonest), account_id)
