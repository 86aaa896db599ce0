"""Turning the ledger's rows into the records its operations return."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from computehub.credits import models as m
from computehub.credits import records as r


def balance(row: m.Account, expiring: Decimal = Decimal(0)) -> r.Balance:
    return r.Balance(
        account=row.name,
        kind=row.kind,
        balance=row.balance,
        held=row.held,
        available=row.balance - row.held,
        next_expiry_at=row.next_expiry_at,
        expiring=expiring,
    )


def with_role(balance: r.Balance, role: str) -> r.Balance:
    return r.Balance(
        account=balance.account,
        kind=balance.kind,
        balance=balance.balance,
        held=balance.held,
        available=balance.available,
        next_expiry_at=balance.next_expiry_at,
        expiring=balance.expiring,
        role=role,
    )


def rate(row: m.Rate) -> r.RateEntry:
    return r.RateEntry(
        hub=row.hub,
        resource=row.resource,
        rate=row.rate,
        effective_at=row.effective_at,
        recorded_by=row.recorded_by,
    )


def entry(row: m.JournalEntry, account_id: int, names: Mapping[int, str]) -> r.Entry:
    incoming = row.credit_account_id == account_id
    return r.Entry(
        id=row.id,
        kind=row.kind,
        pending=row.pending,
        amount=row.amount,
        change=row.amount if incoming else -row.amount,
        counterparty=names[row.debit_account_id if incoming else row.credit_account_id],
        actor=row.actor,
        reason=row.reason,
        created_at=row.created_at,
        hold_id=row.hold_id,
    )


def hold_of_columns(
    columns: Sequence[Any], account: str, held_rates: Mapping[str, tuple[int, Decimal]]
) -> r.Hold:
    """A hold from its columns ``(id, hub, job_id, status, hours, amount, created_at,
    cancel_requested_at)``, as :func:`~computehub.credits.convert.hold` makes it from the
    ORM object."""
    hold_id, hub, job_id, status, hours, amount, created_at, cancel_requested_at = columns
    return r.Hold(
        id=hold_id,
        account=account,
        hub=hub,
        job_id=job_id,
        status=status,
        hours=hours,
        amount=amount,
        per_hour=sum((rate * count for count, rate in held_rates.values()), Decimal(0)),
        resources={res: count for res, (count, _) in sorted(held_rates.items())},
        rates={res: rate for res, (_, rate) in sorted(held_rates.items())},
        created_at=created_at,
        cancel_requested_at=cancel_requested_at,
    )


def hold(hold: m.Hold, account: str, held_rates: Mapping[str, tuple[int, Decimal]]) -> r.Hold:
    return r.Hold(
        id=hold.id,
        account=account,
        hub=hold.hub,
        job_id=hold.job_id,
        status=hold.status,
        hours=hold.hours,
        amount=hold.amount,
        per_hour=sum((rate * count for count, rate in held_rates.values()), Decimal(0)),
        resources={res: count for res, (count, _) in sorted(held_rates.items())},
        rates={res: rate for res, (_, rate) in sorted(held_rates.items())},
        created_at=hold.created_at,
        cancel_requested_at=hold.cancel_requested_at,
    )
