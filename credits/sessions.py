"""Read-only views of sessions (holds with their charges) and ledger-wide totals.

These serve the credits service: an account's sessions page by page, a user's running
session for the notebook widget, and the figures its Prometheus metrics report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, orm, select

from computehub.credits import convert, queries
from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits.core import LedgerCore
from computehub.credits.errors import UnknownHoldError

#: The columns :func:`~computehub.credits.convert.hold_of_columns` makes a hold from.
_HOLD_COLUMNS = (
    m.Hold.id,
    m.Hold.hub,
    m.Hold.job_id,
    m.Hold.status,
    m.Hold.hours,
    m.Hold.amount,
    m.Hold.created_at,
    m.Hold.cancel_requested_at,
)


class SessionsMixin(LedgerCore):
    """Queries over holds and charges; nothing here writes."""

    def sessions(
        self,
        account: str,
        *,
        limit: int = 50,
        before: int | None = None,
        user: str | None = None,
    ) -> list[r.Session]:
        """An account's sessions, newest first, ``limit`` at a time (page with ``before``).

        Args:
            account: the account that pays for the sessions.
            limit: at most this many sessions.
            before: only holds with a smaller id (the last id of the previous page).
            user: only sessions this user started.

        Raises:
            UnknownAccountError: no such account.
        """
        with self._read() as db:
            row = queries.account(db, account)
            query = select(m.Hold.id).where(m.Hold.account_id == row.id)
            if before is not None:
                query = query.where(m.Hold.id < before)
            if user is not None:
                query = query.where(m.Hold.created_by == user)
            ids = db.scalars(query.order_by(m.Hold.id.desc()).limit(limit)).all()
            return [self._session_record(db, hold_id) for hold_id in ids]

    def holds_to_reconcile(self, named: Iterable[int] = ()) -> list[tuple[r.Hold, str]]:
        """The open holds and the holds ``named``, each with who placed it, oldest first.

        For reconciliation with Slurm (``named``: the hold ids in queued jobs' names):
        one read of the holds, with their accounts and resources, however many there
        are. Ids above the highest hold id are dropped before the read (job names are
        anyone's to choose).
        """
        with self._read() as db:
            highest = db.scalar(select(func.max(m.Hold.id))) or 0
            wanted = sorted({hold_id for hold_id in named if 0 < hold_id <= highest})
            condition = m.Hold.status == m.HoldStatus.OPEN
            if wanted:
                condition = or_(condition, m.Hold.id.in_(wanted))
            # Columns, not ORM objects: a pass after an outage reads ten thousand holds,
            # and building (and tracking) an entity per hold cost most of the read.
            rows = db.execute(
                select(
                    *_HOLD_COLUMNS,
                    m.Hold.created_by,
                    m.Account.name,
                    m.HoldResource.resource,
                    m.HoldResource.count,
                    m.HoldResource.rate,
                )
                .join(m.Account, m.Account.id == m.Hold.account_id)
                .outerjoin(m.HoldResource, m.HoldResource.hold_id == m.Hold.id)
                .where(condition)
                .order_by(m.Hold.id, m.HoldResource.resource)
            ).all()
            width = len(_HOLD_COLUMNS)
            holds: dict[int, tuple[Any, str, str]] = {}
            rates: dict[int, dict[str, tuple[int, Decimal]]] = defaultdict(dict)
            for row in rows:
                values: tuple[Any, ...] = tuple(row)
                columns = values[:width]
                created_by, account, resource, count, rate = values[width:]
                hold_id = columns[0]
                holds[hold_id] = (columns, account, created_by)
                if resource is not None:
                    rates[hold_id][resource] = (count, rate)
            return [
                (convert.hold_of_columns(columns, account, rates[hold_id]), created_by)
                for hold_id, (columns, account, created_by) in holds.items()
            ]

    def session(self, hold_id: int) -> r.Session:
        """One session by its hold.

        Raises:
            UnknownHoldError: no such hold.
        """
        with self._read() as db:
            if db.get(m.Hold, hold_id) is None:
                raise UnknownHoldError(hold_id)
            return self._session_record(db, hold_id)

    def current_session(self, username: str, server_name: str | None = None) -> r.Session | None:
        """The user's most recent open hold with a Slurm job attached, if any.

        Args:
            username: who placed the hold.
            server_name: only that server's session (``""``: the default server's);
                None: the latest of any of the user's servers.
        """
        query = select(m.Hold.id).where(
            m.Hold.created_by == username,
            m.Hold.status == m.HoldStatus.OPEN,
            m.Hold.job_id.is_not(None),
        )
        if server_name is not None:
            query = query.where(m.Hold.server_name == server_name)
        with self._read() as db:
            hold_id = db.scalar(query.order_by(m.Hold.created_at.desc(), m.Hold.id.desc()).limit(1))
            return None if hold_id is None else self._session_record(db, hold_id)

    def totals(self) -> r.Totals:
        """Credits granted, held and charged, for monitoring (a few aggregate queries)."""
        with self._read() as db:
            granted = {
                str(source): Decimal(amount or 0)
                for source, amount in db.execute(
                    select(m.Account.scope, func.sum(m.Grant.amount))
                    .join(m.Account, m.Account.id == m.Grant.issuing_account_id)
                    .group_by(m.Account.scope)
                )
            }
            held: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
            open_holds: dict[str, int] = defaultdict(int)
            for hub, count in db.execute(
                select(m.Hold.hub, func.count())
                .where(m.Hold.status == m.HoldStatus.OPEN)
                .group_by(m.Hold.hub)
            ):
                open_holds[hub] = int(count)
            # Open holds are the running and queued sessions: few rows, summed here.
            for hub, resource, count, rate, hours in db.execute(
                select(
                    m.Hold.hub,
                    m.HoldResource.resource,
                    m.HoldResource.count,
                    m.HoldResource.rate,
                    m.Hold.hours,
                )
                .join(m.HoldResource, m.HoldResource.hold_id == m.Hold.id)
                .where(m.Hold.status == m.HoldStatus.OPEN)
            ):
                held[(hub, resource)] += rate * count * hours
            charged = {
                hub: Decimal(amount or 0)
                for hub, amount in db.execute(
                    select(m.Charge.hub, func.sum(m.Charge.amount)).group_by(m.Charge.hub)
                )
            }
            usage_cost: dict[tuple[str, str], Decimal] = {}
            usage_hours: dict[tuple[str, str], Decimal] = {}
            for hub, resource, cost, hours in db.execute(
                select(
                    m.Charge.hub, m.Usage.resource, func.sum(m.Usage.cost), func.sum(m.Usage.hours)
                )
                .join(m.Charge, m.Charge.id == m.Usage.charge_id)
                .group_by(m.Charge.hub, m.Usage.resource)
            ):
                usage_cost[(hub, resource)] = Decimal(cost or 0)
                usage_hours[(hub, resource)] = Decimal(hours or 0)
        return r.Totals(
            granted=granted,
            held=dict(held),
            open_holds=dict(open_holds),
            charged=charged,
            usage_cost=usage_cost,
            usage_hours=usage_hours,
        )

    def _session_record(self, db: orm.Session, hold_id: int) -> r.Session:
        hold = db.get_one(m.Hold, hold_id)
        charge = db.scalars(select(m.Charge).where(m.Charge.hold_id == hold_id)).first()
        energy = db.get(m.SessionEnergy, hold_id)
        return r.Session(
            hold=self._hold_record(db, hold_id),
            created_by=hold.created_by,
            closed_at=None if hold.status == m.HoldStatus.OPEN else hold.updated_at,
            charged=None if charge is None else charge.amount,
            cost=None if charge is None else charge.cost,
            end_note=hold.end_note,
            energy_wh=None if energy is None else energy.wh,
            energy_recorded=energy is not None,
            server_name=hold.server_name,
            energy_source=None if energy is None else energy.source,
        )
