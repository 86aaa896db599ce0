"""Lots: which grant's credit an account holds, spent soonest-expiry-first.

Every function here runs inside a write transaction that already holds the lock on
the account whose lots it touches, so lots need no locks of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from computehub.credits import models as m


def spendable_lots(session: Session, account_id: int, now: datetime) -> Sequence[m.Lot]:
    """Unexpired lots with unreserved credit, in the order they are spent."""
    return session.scalars(
        select(m.Lot)
        .where(
            m.Lot.account_id == account_id,
            m.Lot.remaining > m.Lot.reserved,
            or_(m.Lot.expires_at.is_(None), m.Lot.expires_at > now),
        )
        .order_by(m.Lot.expires_at.asc().nulls_last(), m.Lot.id)
        .execution_options(populate_existing=True)
    ).all()


def take(
    session: Session, account_id: int, amount: Decimal, now: datetime
) -> list[tuple[m.Lot, Decimal]]:
    """Remove ``amount`` of unreserved credit from an account's lots (for transfers)."""
    taken: list[tuple[m.Lot, Decimal]] = []
    left = amount
    for lot in spendable_lots(session, account_id, now):
        if left <= 0:
            break
        part = min(lot.remaining - lot.reserved, left)
        lot.remaining -= part
        left -= part
        taken.append((lot, part))
    if left > 0:
        raise RuntimeError(f"account {account_id} lots are short of its available by {left}")
    return taken


def give(session: Session, account_id: int, source: m.Lot, amount: Decimal) -> None:
    """Add ``amount`` of ``source``'s grant to an account, merged into its lot of that grant."""
    lot = session.scalars(
        select(m.Lot).where(m.Lot.account_id == account_id, m.Lot.grant_id == source.grant_id)
    ).first()
    if lot is None:
        session.add(
            m.Lot(
                account_id=account_id,
                grant_id=source.grant_id,
                issuing_account_id=source.issuing_account_id,
                expires_at=source.expires_at,
                remaining=amount,
                reserved=Decimal(0),
            )
        )
    else:
        lot.remaining += amount


def due_lots(session: Session, account_id: int, now: datetime) -> Sequence[m.Lot]:
    """Expired lots that still have unreserved credit to give back."""
    return session.scalars(
        select(m.Lot)
        .where(
            m.Lot.account_id == account_id,
            m.Lot.expires_at <= now,
            m.Lot.remaining > m.Lot.reserved,
        )
        .order_by(m.Lot.expires_at, m.Lot.id)
        .execution_options(populate_existing=True)
    ).all()


def next_expiry(session: Session, account_id: int) -> tuple[datetime | None, Decimal]:
    """The soonest expiry among lots with unreserved credit, and how much expires then."""
    rows = session.execute(
        select(m.Lot.expires_at, m.Lot.remaining, m.Lot.reserved)
        .where(
            m.Lot.account_id == account_id,
            m.Lot.expires_at.is_not(None),
            m.Lot.remaining > m.Lot.reserved,
        )
        .order_by(m.Lot.expires_at)
    ).all()
    if not rows:
        return None, Decimal(0)
    first = rows[0][0]
    return first, sum((r[1] - r[2] for r in rows if r[0] == first), Decimal(0))
