"""The rows the operator console sums (:mod:`~computehub.credits.console`), read from the ledger.

Reads only; a few queries per call, each over one table's rows for the period (charges
and their usage), the funding sources (grants, expiries, lots) or the people's
accounts. The sums are :mod:`~computehub.credits.console`'s, so they are tested
without a database.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, orm, select
from sqlalchemy.orm import aliased

from computehub.credits import console as cs
from computehub.credits import models as m
from computehub.credits.core import LedgerCore
from computehub.credits.energy import SIMULATED


class ConsoleMixin(LedgerCore):
    """Reads for the operator console; nothing here writes."""

    def console_sessions(self, since: datetime, until: datetime) -> list[cs.SessionRow]:
        """Every session settled in ``[since, until)``, oldest first."""
        with self._read() as db:
            charges = db.execute(
                select(
                    m.Charge.hold_id,
                    m.Charge.hub,
                    m.Charge.amount,
                    m.Charge.created_at,
                    m.Hold.amount,
                    m.Hold.end_note,
                    m.Account.name,
                    m.Account.kind,
                    m.SessionEnergy.wh,
                    m.SessionGpuBusy.busy_hours,
                    m.SessionEnergy.source,
                )
                .join(m.Hold, m.Hold.id == m.Charge.hold_id)
                .join(m.Account, m.Account.id == m.Charge.account_id)
                .outerjoin(m.SessionEnergy, m.SessionEnergy.hold_id == m.Charge.hold_id)
                .outerjoin(m.SessionGpuBusy, m.SessionGpuBusy.hold_id == m.Charge.hold_id)
                .where(m.Charge.created_at >= since, m.Charge.created_at < until)
                .order_by(m.Charge.created_at, m.Charge.id)
            ).all()
            usage: dict[int, dict[str, Decimal]] = defaultdict(dict)
            for hold_id, resource, hours in db.execute(
                select(m.Charge.hold_id, m.Usage.resource, m.Usage.hours)
                .join(m.Charge, m.Charge.id == m.Usage.charge_id)
                .where(m.Charge.created_at >= since, m.Charge.created_at < until)
            ):
                usage[hold_id][resource] = hours
            resources: dict[int, set[str]] = defaultdict(set)
            for hold_id, resource in db.execute(
                select(m.HoldResource.hold_id, m.HoldResource.resource)
                .join(m.Charge, m.Charge.hold_id == m.HoldResource.hold_id)
                .where(m.Charge.created_at >= since, m.Charge.created_at < until)
            ):
                resources[hold_id].add(resource)
            categories = self._categories(db)
        rows = []
        for hold_id, hub, charged, at, held, note, account, kind, wh, busy, source in charges:
            used = usage.get(hold_id, {})
            rows.append(
                cs.SessionRow(
                    hold_id=hold_id,
                    hub=hub,
                    account_kind=kind,
                    category=categories.get(account),
                    gpu_type=cs.gpu_type(resources.get(hold_id, set()) | set(used)),
                    gpu_hours=sum(
                        (h for r, h in used.items() if r.startswith(("gpu:", "mig:"))),
                        Decimal(0),
                    ),
                    charged=charged,
                    held=held,
                    culled=cs.culled(note),
                    settled_at=at,
                    # The node's measurement (migration 0010); None until it arrives, or
                    # when the node could not measure it.
                    wh=wh,
                    # The server's self-reported busy time, clamped by the hub (migration
                    # 0011); None when the server never reported it.
                    gpu_busy_hours=busy,
                    # The demo's energy hook reads simulated GPUs (docs/energy.md).
                    wh_simulated=source == SIMULATED,
                )
            )
        return rows

    @staticmethod
    def _categories(db: orm.Session) -> dict[str, str]:
        """Each account's category: that of the latest approved application crediting it."""
        found: dict[str, str] = {}
        for account, category in db.execute(
            select(m.Application.account, m.Application.category)
            .where(m.Application.status == m.ApplicationStatus.APPROVED)
            .order_by(m.Application.decided_at, m.Application.id)
        ):
            found[account] = category
        return found

    def console_funding(self) -> tuple[dict[str, Decimal], dict[str, Decimal], list[cs.LotRow]]:
        """Per funding source: its grants and its expired credit; and every lot with credit."""
        issuing = aliased(m.Account)
        with self._read() as db:
            granted = {
                str(source): Decimal(value or 0)
                for source, value in db.execute(
                    select(issuing.scope, func.sum(m.Grant.amount))
                    .join(issuing, issuing.id == m.Grant.issuing_account_id)
                    .group_by(issuing.scope)
                )
            }
            expired = {
                str(source): Decimal(value or 0)
                for source, value in db.execute(
                    select(issuing.scope, func.sum(m.JournalEntry.amount))
                    .join(m.Grant, m.Grant.id == m.JournalEntry.grant_id)
                    .join(issuing, issuing.id == m.Grant.issuing_account_id)
                    .where(m.JournalEntry.kind == m.EntryKind.EXPIRY)
                    .group_by(issuing.scope)
                )
            }
            lots = [
                cs.LotRow(str(source), remaining, reserved, expires_at)
                for source, remaining, reserved, expires_at in db.execute(
                    select(issuing.scope, m.Lot.remaining, m.Lot.reserved, m.Lot.expires_at)
                    .join(issuing, issuing.id == m.Lot.issuing_account_id)
                    .where(m.Lot.remaining > 0)
                )
            ]
        return granted, expired, lots

    def console_accounts(self) -> list[cs.AccountRow]:
        """Every person's account (personal, project, course) with its figures."""
        with self._read() as db:
            return [
                cs.AccountRow(name, kind, balance, held, next_expiry)
                for name, kind, balance, held, next_expiry in db.execute(
                    select(
                        m.Account.name,
                        m.Account.kind,
                        m.Account.balance,
                        m.Account.held,
                        m.Account.next_expiry_at,
                    )
                    .where(m.Account.kind.in_([str(k) for k in m.USER_KINDS]))
                    .order_by(m.Account.name)
                )
            ]

    def console_open_sessions(self) -> dict[str, int]:
        """Open holds with a Slurm job (running or queued sessions), per hub."""
        with self._read() as db:
            return {
                hub: int(count)
                for hub, count in db.execute(
                    select(m.Hold.hub, func.count())
                    .where(m.Hold.status == m.HoldStatus.OPEN, m.Hold.job_id.is_not(None))
                    .group_by(m.Hold.hub)
                )
            }
