"""The ledger's reads for statements: every row of a few holds, in a fixed number of queries.

:func:`~computehub.credits.statement.build` turns the rows into line items; this module
only reads them (holds, their resources, journal entries, charges, usage and energy).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import orm, select

from computehub.credits import models as m
from computehub.credits import queries
from computehub.credits import statement as st
from computehub.credits.core import LedgerCore
from computehub.credits.errors import UnknownHoldError


class StatementsMixin(LedgerCore):
    """Statements of sessions; nothing here writes."""

    def statement(self, hold_id: int) -> st.Statement:
        """One session's statement.

        Raises:
            UnknownHoldError: no such hold.
        """
        with self._read() as db:
            found = _rows(db, [hold_id])
        if not found:
            raise UnknownHoldError(hold_id)
        return st.build(found[0])

    def statements(self, hold_ids: Sequence[int]) -> dict[int, st.Statement]:
        """The statements of the holds named (unknown ids are left out)."""
        with self._read() as db:
            return {rows.hold_id: st.build(rows) for rows in _rows(db, hold_ids)}

    def account_statement(
        self,
        account: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        user: str | None = None,
    ) -> list[st.Statement]:
        """The statements of an account's sessions placed in ``[since, until)``, oldest first.

        Args:
            account: the paying account.
            since: first instant of the period (default: the beginning).
            until: end of the period, excluded (default: no end).
            user: only the sessions this user started.

        Raises:
            UnknownAccountError: no such account.
        """
        with self._read() as db:
            row = queries.account(db, account)
            query = select(m.Hold.id).where(m.Hold.account_id == row.id)
            if until is not None:
                query = query.where(m.Hold.created_at < until)
            if since is not None:
                query = query.where(m.Hold.created_at >= since)
            if user is not None:
                query = query.where(m.Hold.created_by == user)
            ids = list(db.scalars(query.order_by(m.Hold.created_at, m.Hold.id)))
            return [st.build(rows) for rows in _rows(db, ids)]


def _rows(db: orm.Session, hold_ids: Sequence[int]) -> list[st.LedgerRows]:
    """The ledger's rows of each hold, in the order of ``hold_ids``."""
    wanted = list(dict.fromkeys(hold_ids))
    if not wanted:
        return []
    holds = {
        hold.id: (hold, name)
        for hold, name in db.execute(
            select(m.Hold, m.Account.name)
            .join(m.Account, m.Account.id == m.Hold.account_id)
            .where(m.Hold.id.in_(wanted))
        )
    }
    resources: dict[int, list[st.ResourceRow]] = defaultdict(list)
    for res in db.scalars(select(m.HoldResource).where(m.HoldResource.hold_id.in_(wanted))):
        resources[res.hold_id].append(st.ResourceRow(res.resource, res.count, res.rate))
    entries: dict[int, list[st.EntryRow]] = defaultdict(list)
    for entry in db.scalars(
        select(m.JournalEntry).where(m.JournalEntry.hold_id.in_(wanted)).order_by(m.JournalEntry.id)
    ):
        assert entry.hold_id is not None  # selected by it
        entries[entry.hold_id].append(
            st.EntryRow(
                entry.id, entry.kind, entry.amount, entry.created_at, entry.hours, entry.reason
            )
        )
    charges = {
        charge.hold_id: charge
        for charge in db.scalars(select(m.Charge).where(m.Charge.hold_id.in_(wanted)))
    }
    usage: dict[int, list[st.UsageRow]] = defaultdict(list)
    by_charge = {charge.id: hold_id for hold_id, charge in charges.items()}
    if by_charge:
        for use in db.scalars(select(m.Usage).where(m.Usage.charge_id.in_(list(by_charge)))):
            usage[by_charge[use.charge_id]].append(
                st.UsageRow(use.resource, use.hours, use.rate, use.cost)
            )
    energy = {
        row.hold_id: row
        for row in db.scalars(select(m.SessionEnergy).where(m.SessionEnergy.hold_id.in_(wanted)))
    }
    busy = {
        row.hold_id: row.busy_hours
        for row in db.scalars(select(m.SessionGpuBusy).where(m.SessionGpuBusy.hold_id.in_(wanted)))
    }
    found = []
    for hold_id in wanted:
        if hold_id not in holds:
            continue
        hold, account = holds[hold_id]
        charge = charges.get(hold_id)
        measured = energy.get(hold_id)
        found.append(
            st.LedgerRows(
                hold_id=hold_id,
                account=account,
                hub=hold.hub,
                job_id=hold.job_id,
                status=hold.status,
                user=hold.created_by,
                placed_at=hold.created_at,
                closed_at=None if hold.status == m.HoldStatus.OPEN else hold.updated_at,
                hours=hold.hours,
                amount=hold.amount,
                resources=tuple(resources[hold_id]),
                entries=tuple(entries[hold_id]),
                charge=None
                if charge is None
                else st.ChargeRow(charge.amount, charge.cost, charge.created_at),
                usage=tuple(usage[hold_id]),
                end_note=hold.end_note,
                energy_recorded=measured is not None,
                energy_wh=None if measured is None else measured.wh,
                gpu_busy_hours=busy.get(hold_id),
                server_name=hold.server_name,
                energy_source=None if measured is None else measured.source,
            )
        )
    return found
