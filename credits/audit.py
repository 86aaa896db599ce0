"""Recomputing the ledger from its history, and reports over its charges."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Select, func, orm, select, text

from computehub.credits import models as m
from computehub.credits import records as r

_ZERO = Decimal(0)
#: Rows named per broken invariant, at most.
_SHOWN = 10


def _sums(db: orm.Session, query: Select[int, Decimal]) -> dict[int, Decimal]:
    # SUM keeps the column's type, so the stored integers are added exactly and come
    # back as Decimal through the column's type (Credits, Hours).
    return {key: total for key, total in db.execute(query)}


def check_ledger(db: orm.Session) -> r.CheckReport:
    """Compare every stored figure with what the journal, holds and lots say.

    Checks: each balance equals posted credits minus posted debits; each ``held``
    equals its open holds; lots add up to the balance and reservations to ``held``;
    each open hold's reservations and pending rows add up to its amount; all balances
    sum to zero; and every row satisfies every invariant the schema declares as a
    constraint (people's accounts never negative, lots never over-reserved, a charge
    at most its hold, ...), so a ledger whose constraints were bypassed, or that
    predates them, is caught too.
    """
    units = m.JournalEntry.amount
    posted = m.JournalEntry.pending.is_(False)
    credits = _sums(
        db,
        select(m.JournalEntry.credit_account_id, func.sum(units))
        .where(posted)
        .group_by(m.JournalEntry.credit_account_id),
    )
    debits = _sums(
        db,
        select(m.JournalEntry.debit_account_id, func.sum(units))
        .where(posted)
        .group_by(m.JournalEntry.debit_account_id),
    )
    open_holds = m.Hold.status == m.HoldStatus.OPEN
    held = _sums(
        db,
        select(m.Hold.account_id, func.sum(m.Hold.amount))
        .where(open_holds)
        .group_by(m.Hold.account_id),
    )
    lot_remaining = _sums(
        db,
        select(m.Lot.account_id, func.sum(m.Lot.remaining)).group_by(m.Lot.account_id),
    )
    lot_reserved = _sums(
        db,
        select(m.Lot.account_id, func.sum(m.Lot.reserved)).group_by(m.Lot.account_id),
    )
    differences: list[str] = []
    total = _ZERO
    accounts = db.scalars(select(m.Account).order_by(m.Account.id)).all()
    for account in accounts:
        total += account.balance
        expected = credits.get(account.id, _ZERO) - debits.get(account.id, _ZERO)
        if account.balance != expected:
            # Named as operators query it: the journal's table is ``transactions``.
            differences.append(
                f"{account.name}: balance {account.balance}, transactions say {expected}"
            )
        if account.held != held.get(account.id, _ZERO):
            differences.append(
                f"{account.name}: held {account.held}, open holds say {held.get(account.id, _ZERO)}"
            )
        if account.kind in (m.AccountKind.ISSUING, m.AccountKind.REVENUE):
            continue
        if lot_remaining.get(account.id, _ZERO) != account.balance:
            in_lots = lot_remaining.get(account.id, _ZERO)
            differences.append(f"{account.name}: balance {account.balance}, lots say {in_lots}")
        if lot_reserved.get(account.id, _ZERO) != account.held:
            reserved = lot_reserved.get(account.id, _ZERO)
            differences.append(f"{account.name}: held {account.held}, lots reserve {reserved}")
    if total != 0:
        differences.append(f"balances sum to {total}, not 0")
    differences += _check_holds(db)
    differences += _check_constraints(db)
    entries = db.scalar(select(func.count()).select_from(m.JournalEntry)) or 0
    return r.CheckReport(accounts=len(accounts), entries=entries, differences=differences)


def _check_constraints(db: orm.Session) -> list[str]:
    """Rows that break a CHECK constraint of the models, or a charge above its hold."""
    differences = []
    for table in m.Base.metadata.sorted_tables:
        key = list(table.primary_key.columns)
        for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
            if not isinstance(constraint, CheckConstraint):
                continue
            rows = db.execute(
                select(*key).where(text(f"NOT ({constraint.sqltext})")).order_by(*key)
            ).all()
            if rows:
                ids = ", ".join("/".join(str(part) for part in row) for row in rows[:_SHOWN])
                more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
                differences.append(f"{table.name} {ids}{more}: breaks {constraint.name}")
    over = db.scalars(
        select(m.Charge.id)
        .join(m.Hold, m.Hold.id == m.Charge.hold_id)
        .where(m.Charge.amount > m.Hold.amount)
        .order_by(m.Charge.id)
    ).all()
    if over:
        ids = ", ".join(str(charge_id) for charge_id in over[:_SHOWN])
        differences.append(f"charges {ids}: break {m.CHARGE_WITHIN_HOLD}")
    return differences


def _check_holds(db: orm.Session) -> list[str]:
    differences = []
    allocated = _sums(
        db,
        select(m.HoldAllocation.hold_id, func.sum(m.HoldAllocation.amount))
        .join(m.Hold, m.Hold.id == m.HoldAllocation.hold_id)
        .where(m.Hold.status == m.HoldStatus.OPEN)
        .group_by(m.HoldAllocation.hold_id),
    )
    pending: dict[int, Decimal] = defaultdict(Decimal)
    for hold_id, kind, amount in db.execute(
        select(m.JournalEntry.hold_id, m.JournalEntry.kind, m.JournalEntry.amount).where(
            m.JournalEntry.pending.is_(True)
        )
    ):
        if hold_id is None:
            continue
        pending[hold_id] += -amount if kind == m.EntryKind.RELEASE else amount
    for hold in db.scalars(select(m.Hold).order_by(m.Hold.id)):
        if hold.status == m.HoldStatus.OPEN:
            if allocated.get(hold.id, _ZERO) != hold.amount:
                reserved = allocated.get(hold.id, _ZERO)
                differences.append(f"hold {hold.id}: amount {hold.amount}, lots reserve {reserved}")
            if pending[hold.id] != hold.amount:
                differences.append(
                    f"hold {hold.id}: amount {hold.amount}, pending rows say {pending[hold.id]}"
                )
        elif pending[hold.id] - _charged(db, hold) != 0:
            differences.append(f"hold {hold.id}: {hold.status} but its pending rows do not balance")
    return differences


def _charged(db: orm.Session, hold: m.Hold) -> Decimal:
    if hold.status != m.HoldStatus.SETTLED:
        return _ZERO
    return db.scalars(select(m.Charge.amount).where(m.Charge.hold_id == hold.id)).one()


def report_charges(
    db: orm.Session, *, since: datetime | None, until: datetime, by: str
) -> list[r.ReportRow]:
    """Charges in ``[since, until)`` summed by account, hub or resource."""
    period = [m.Charge.created_at < until]
    if since is not None:
        period.append(m.Charge.created_at >= since)
    rows: dict[str, list[Decimal | int]] = {}
    if by == "resource":
        for resource, cost, hours, _charge_id in db.execute(
            select(m.Usage.resource, m.Usage.cost, m.Usage.hours, m.Usage.charge_id)
            .join(m.Charge, m.Charge.id == m.Usage.charge_id)
            .where(*period)
        ):
            row = rows.setdefault(resource, [_ZERO, _ZERO, 0])
            row[0] += cost
            row[1] += hours
            row[2] += 1
    elif by in ("account", "hub"):
        key_column = m.Account.name if by == "account" else m.Charge.hub
        charges = db.execute(
            select(key_column, m.Charge.id, m.Charge.amount)
            .join(m.Account, m.Account.id == m.Charge.account_id)
            .where(*period)
        ).all()
        usage_hours = _usage_hours(db)
        for key, charge_id, amount in charges:
            row = rows.setdefault(key, [_ZERO, _ZERO, 0])
            row[0] += amount
            row[1] += usage_hours.get(charge_id, _ZERO)
            row[2] += 1
    else:
        raise ValueError(f"report by account, hub or resource, not {by!r}")
    return [
        r.ReportRow(
            key=key, credits=Decimal(v[0]), resource_hours=Decimal(v[1]), sessions=int(v[2])
        )
        for key, v in sorted(rows.items())
    ]


def _usage_hours(db: orm.Session) -> dict[int, Decimal]:
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for charge_id, hours in db.execute(select(m.Usage.charge_id, m.Usage.hours)):
        totals[charge_id] += hours
    return totals
