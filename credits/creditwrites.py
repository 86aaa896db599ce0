"""Grants, transfers and expiry: the transactions that move credit outside sessions.

Run by :class:`~computehub.credits.ledger.Ledger` in a
:class:`~computehub.credits.rawop.RawOp`, on the same lot machinery as the hold verbs
(:mod:`~computehub.credits.lots`). Amounts are integer units here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from computehub.credits import lots
from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits.errors import ConflictError, InsufficientCreditError
from computehub.credits.money import from_units, to_units
from computehub.credits.rawop import RawOp


def grant(
    op: RawOp,
    account: str,
    amount: Decimal,
    *,
    issuing_id: int,
    source: str,
    expires_at: datetime | None,
    note: str,
    idempotency_key: str | None,
) -> r.Grant:
    """The transaction of :meth:`~computehub.credits.ledger.Ledger.grant`."""
    sql = op.sql
    target = op.user_account(account)
    first = op.first_use(idempotency_key, m.EntryKind.GRANT)
    if first is not None:
        account_id, issuing, units, stored_expiry, stored_note, created = op.row(
            sql.grant_by_id, first[3]
        )
        op.replayed(
            idempotency_key,
            "grant",
            (account_id, issuing, from_units(units), op.time_out(stored_expiry), stored_note)
            == (target, issuing_id, amount, expires_at, note),
        )
        return r.Grant(
            id=first[3],
            account=account,
            source=source,
            amount=from_units(units),
            expires_at=op.time_out(stored_expiry),
            note=stored_note,
            created_at=_time(op, created),
        )
    if expires_at is not None and expires_at <= op.now:
        raise ValueError(f"expiry {expires_at.isoformat()} is not in the future")
    locked = op.row(sql.lock_account, target)
    op.refuse_archived(target, locked[2])
    units = to_units(amount)
    stored = op.driver.time_in(expires_at)
    grant_id = op.insert(sql.insert_grant, target, issuing_id, units, stored, note, op.stamp)
    op.run(sql.insert_lot, target, grant_id, issuing_id, stored, units, 0)
    op.run(sql.change_account, units, 0, target)
    op.move_system(issuing_id, -units)
    op.add_entry(
        m.EntryKind.GRANT, issuing_id, target, units, note, idempotency_key, grant_id=grant_id
    )
    lots.set_next_expiry(op, target, op.time_out(locked[5]))
    return r.Grant(
        id=grant_id,
        account=account,
        source=source,
        amount=amount,
        expires_at=expires_at,
        note=note,
        created_at=op.now,
    )


def transfer(
    op: RawOp,
    from_account: str,
    to_account: str,
    amount: Decimal,
    *,
    reason: str,
    idempotency_key: str | None,
) -> r.Transfer:
    """The transaction of :meth:`~computehub.credits.ledger.Ledger.transfer`."""
    sql = op.sql
    source = op.user_account(from_account)
    target = op.user_account(to_account)
    if source == target:
        raise ConflictError("a transfer needs two different accounts")
    first = op.first_use(idempotency_key, m.EntryKind.TRANSFER)
    if first is not None:
        done_id, from_id, to_id, units, created, first_reason = op.row(
            sql.transfer_by_entry, first[0]
        )
        op.replayed(
            idempotency_key,
            "transfer",
            (from_id, to_id, from_units(units), first_reason) == (source, target, amount, reason),
        )
        return r.Transfer(
            id=done_id,
            from_account=from_account,
            to_account=to_account,
            amount=from_units(units),
            created_at=_time(op, created),
        )
    locked = {row[0]: row for row in op.rows(sql.lock_two_accounts, *sorted((source, target)))}
    for account_id in sorted(locked):
        op.refuse_archived(account_id, locked[account_id][2])
    _id, _name, _kind, balance, held, stored_expiry = locked[source]
    expired, source_expiry = lots.expire_if_due(op, source, op.time_out(stored_expiry))
    available = from_units(balance - expired - held)
    if amount > available:
        raise InsufficientCreditError(from_account, available, amount)
    units = to_units(amount)
    for part in lots.take(op, source, units):
        lots.give(op, target, part)
    op.run(sql.change_account, -units, 0, source)
    op.run(sql.change_account, units, 0, target)
    entry_id = op.add_entry(m.EntryKind.TRANSFER, source, target, units, reason, idempotency_key)
    done_id = op.insert(sql.insert_transfer, entry_id, source, target, units, op.stamp)
    stored = {source: source_expiry, target: op.time_out(locked[target][5])}
    for account_id in sorted(stored):
        lots.set_next_expiry(op, account_id, stored[account_id])
    return r.Transfer(
        id=done_id,
        from_account=from_account,
        to_account=to_account,
        amount=amount,
        created_at=op.now,
    )


def expire(op: RawOp, account_id: int) -> None:
    """Give back an account's due credit.

    For :meth:`~computehub.credits.ledger.Ledger.expire` and the reads that find it due.
    """
    found = op.row(op.sql.lock_account, account_id)
    if found is not None:
        lots.expire_if_due(op, account_id, op.time_out(found[5]))


def _time(op: RawOp, stored: object) -> datetime:
    when = op.time_out(stored)
    if when is None:
        raise RuntimeError("a ledger row has no time")
    return when
