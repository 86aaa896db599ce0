"""The ledger's reads for notices: each account a person spends from, as notices see it.

:func:`~computehub.credits.notices.notices` turns these figures into sentences; this
module only reads: the person's accounts with their figures, then per account its
credit that can expire and its latest charges.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select

from computehub.credits import models as m
from computehub.credits import queries
from computehub.credits.core import LedgerCore
from computehub.credits.notices import COURSE_SPENDING_ROLE, TYPICAL_OF, Figures, spends

if TYPE_CHECKING:
    from computehub.credits.ledger import Ledger


class NoticesMixin(LedgerCore):
    """The per-account reads notices need; nothing here writes."""

    def expiring_credit(self, account: str) -> list[tuple[datetime, Decimal]]:
        """``(expires_at, credits)`` of the account's unreserved credit that can expire.

        Soonest first; credit already expired is not listed (the next operation on the
        account gives it back).

        Raises:
            UnknownAccountError: no such account.
        """
        with self._read() as db:
            row = queries.account(db, account)
            lots = db.execute(
                select(m.Lot.expires_at, m.Lot.remaining, m.Lot.reserved)
                .where(
                    m.Lot.account_id == row.id,
                    m.Lot.expires_at.is_not(None),
                    m.Lot.expires_at > self._now(),
                    m.Lot.remaining > m.Lot.reserved,
                )
                .order_by(m.Lot.expires_at, m.Lot.id)
            ).all()
        # The columns' type turns stored units into credits; an expression would not.
        return [(at, left - held) for at, left, held in lots if at is not None]

    def recent_charges(self, account: str, limit: int = TYPICAL_OF) -> list[Decimal]:
        """What the account's latest ``limit`` charged sessions cost, newest first.

        Raises:
            UnknownAccountError: no such account.
        """
        with self._read() as db:
            row = queries.account(db, account)
            return list(
                db.scalars(
                    select(m.Charge.amount)
                    .where(m.Charge.account_id == row.id, m.Charge.amount > 0)
                    .order_by(m.Charge.created_at.desc(), m.Charge.id.desc())
                    .limit(limit)
                )
            )


def notice_figures(ledger: Ledger, username: str) -> list[Figures]:
    """The accounts ``username`` spends from, with what their notices need.

    ``available`` is what the person can spend now: for a course's student no more
    than their share of the pool leaves, as the spawn form counts it.
    """
    figures: list[Figures] = []
    for balance in ledger.accounts_for_user(username):
        if not spends(balance.kind, balance.role):
            continue
        available = balance.available
        if balance.kind == "course" and balance.role == COURSE_SPENDING_ROLE:
            share = ledger.course_share(balance.account, username)
            binding = None if share is None else share.binding
            if binding is not None:
                available = min(available, binding.left)
        figures.append(
            Figures(
                account=balance.account,
                kind=balance.kind,
                role=balance.role,
                available=available,
                expiring=ledger.expiring_credit(balance.account),
                recent_charges=ledger.recent_charges(balance.account),
            )
        )
    return figures
