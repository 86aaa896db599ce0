"""Each person's use of a course's pool, for the instructor's page: one read, nothing written.

Counted from the holds placed on the pool (the spawner places a session's hold as its
user) and their charges, grouped by who placed them: what settled sessions were
charged, what running ones hold now, how many sessions, and the latest start or end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, select

from computehub.credits import models as m
from computehub.credits import queries
from computehub.credits.core import LedgerCore


@dataclass(frozen=True)
class PoolUse:
    """One person's use of a pool.

    Attributes:
        username: who placed the holds.
        charged: what their settled sessions were charged.
        held: what their running sessions hold now (extensions included).
        sessions: holds they placed on the pool, whatever became of them.
        last_activity: their latest session start or end; ``None`` without a session.
    """

    username: str
    charged: Decimal = Decimal(0)
    held: Decimal = Decimal(0)
    sessions: int = 0
    last_activity: datetime | None = None

    @property
    def used(self) -> Decimal:
        """What they took from the pool: charges plus what running sessions hold."""
        return self.charged + self.held


class CourseUseMixin(LedgerCore):
    """Read-only figures of a pool per person."""

    def pool_use(self, account: str) -> dict[str, PoolUse]:
        """Everyone who placed a hold on ``account``, with their use of it.

        Raises:
            UnknownAccountError: no such account.
        """
        is_open = m.Hold.status == m.HoldStatus.OPEN
        with self._read() as db:
            row = queries.account(db, account)
            found = db.execute(
                select(
                    m.Hold.created_by,
                    func.sum(m.Charge.amount),
                    func.sum(case((is_open, m.Hold.amount))),
                    func.count(m.Hold.id),
                    func.max(m.Hold.created_at),
                    func.max(case((~is_open, m.Hold.updated_at))),
                )
                .outerjoin(m.Charge, m.Charge.hold_id == m.Hold.id)
                .where(m.Hold.account_id == row.id)
                .group_by(m.Hold.created_by)
            ).all()
        return {
            user: PoolUse(
                username=user,
                charged=charged or Decimal(0),
                held=held or Decimal(0),
                sessions=int(count),
                last_activity=_latest(started, ended),
            )
            for user, charged, held, count, started, ended in found
        }


def _latest(started: datetime | None, ended: datetime | None) -> datetime | None:
    return max((value for value in (started, ended) if value is not None), default=None)
