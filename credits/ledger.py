"""The :class:`~computehub.credits.ledger.Ledger`: every operation on credits, each one atomic.

Double entry: every posted movement debits one account and credits another, so the
balances of all accounts always sum to zero. People's accounts never go below zero;
system accounts (one issuing account per funding source, one revenue account per hub)
may. A hold reserves credit (``held``, recorded as pending entries of the journal)
until it is settled for the real cost or voided. A transfer moves credit between two
people's accounts.

The machinery lives in :mod:`~computehub.credits.core`, the session operations in
:mod:`~computehub.credits.holds`; every movement of credit is one database transaction of
:mod:`~computehub.credits.creditwrites` or :mod:`~computehub.credits.holdwrites`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, text

from computehub.clock import Clock, utcnow
from computehub.credits import convert, creditwrites, queries
from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits.applications import ApplicationsMixin
from computehub.credits.audit import check_ledger, report_charges
from computehub.credits.consolerows import ConsoleMixin
from computehub.credits.core import LedgerCore, _Op
from computehub.credits.courses import CoursesMixin
from computehub.credits.courseuse import CourseUseMixin
from computehub.credits.energy import EnergyMixin
from computehub.credits.errors import ConflictError
from computehub.credits.gpubusy import GpuBusyMixin
from computehub.credits.holds import HoldsMixin
from computehub.credits.identities import IdentitiesMixin
from computehub.credits.keys import ClientKey, Key, stored_key
from computehub.credits.money import (
    parse_amount,
    parse_rate,
)
from computehub.credits.names import (
    DEFAULT_SOURCE,
    validate_account_name,
    validate_hub,
    validate_resource,
    validate_username,
)
from computehub.credits.notes import NotesMixin
from computehub.credits.noticereads import NoticesMixin
from computehub.credits.sessions import SessionsMixin
from computehub.credits.sharing import SharingMixin
from computehub.credits.statementreads import StatementsMixin

__all__ = ["ClientKey", "Clock", "Ledger", "LedgerCore", "utcnow"]

_PG_RATES_LOCK = 0x72617465
_ROLES_BY_KIND: dict[str, frozenset[m.Role]] = {
    m.AccountKind.PERSONAL: frozenset({m.Role.OWNER, m.Role.MEMBER}),
    m.AccountKind.PROJECT: frozenset({m.Role.OWNER, m.Role.MEMBER}),
    m.AccountKind.COURSE: frozenset({m.Role.OWNER, m.Role.INSTRUCTOR, m.Role.TA, m.Role.STUDENT}),
}


class Ledger(
    HoldsMixin,
    SessionsMixin,
    NotesMixin,
    IdentitiesMixin,
    CoursesMixin,
    SharingMixin,
    CourseUseMixin,
    ApplicationsMixin,
    NoticesMixin,
    ConsoleMixin,
    EnergyMixin,
    GpuBusyMixin,
    StatementsMixin,
):
    """The credit ledger on one database.

    The API is synchronous; async callers (JupyterHub) run it in a thread. Every write
    takes an ``actor`` (who asked) and, where a caller may retry after a crash, an
    ``idempotency_key``: repeating an operation with the same key and the same
    parameters returns the first result and changes nothing more; reusing a key for
    a different operation, or the same one with other parameters, is a
    :class:`~computehub.credits.errors.ConflictError`. A key a client chose is passed
    as :class:`~computehub.credits.keys.ClientKey` (it lives in that client's
    namespace); a plain ``str`` is the platform's own (see :mod:`~computehub.credits.keys`).

    Args:
        url: the database URL; default :func:`~computehub.paths.default_ledger_url`.
        clock: the current time (UTC, timezone-aware); a seam for tests.
        migrate: bring the schema to the newest revision first.
        engine: use this engine instead of creating one from ``url``.
    """

    # -- accounts --------------------------------------------------------------------

    def create_account(
        self, name: str, kind: str, *, actor: str, owner: str | None = None
    ) -> r.Balance:
        """Create a personal, project or course account, optionally with an owner.

        Raises:
            ConflictError: the name is taken.
            ValueError: bad name or kind.
        """
        validate_account_name(name)
        account_kind = queries.user_kind(kind)
        if owner is not None:
            validate_username(owner)

        def body(op: _Op) -> r.Balance:
            if op.db.scalar(select(m.Account.id).where(m.Account.name == name)) is not None:
                raise ConflictError(f"account {name!r} already exists")
            account = m.Account(
                name=name,
                kind=account_kind,
                balance=Decimal(0),
                held=Decimal(0),
                created_at=op.now,
                created_by=op.actor,
            )
            op.db.add(account)
            op.db.flush()
            if owner is not None:
                op.db.add(
                    m.Member(
                        account_id=account.id, username=owner, role=m.Role.OWNER, added_at=op.now
                    )
                )
            return convert.balance(account)

        return self._write(actor, body)

    def add_member(self, account: str, username: str, role: str, *, actor: str) -> None:
        """Give a user a role in an account (replacing the role they had there).

        Raises:
            UnknownAccountError: no such account.
            ValueError: the role does not exist or does not fit the account's kind.
        """
        validate_username(username)
        try:
            member_role = m.Role(role)
        except ValueError:
            raise ValueError(f"unknown role {role!r}; use one of {', '.join(m.Role)}") from None

        def body(op: _Op) -> None:
            row = self._user_account(op.db, account)
            if member_role not in _ROLES_BY_KIND[row.kind]:
                raise ValueError(f"a {row.kind} account has no {member_role} role")
            existing = op.db.scalar(
                select(m.Member).where(m.Member.account_id == row.id, m.Member.username == username)
            )
            if existing is None:
                op.db.add(
                    m.Member(
                        account_id=row.id, username=username, role=member_role, added_at=op.now
                    )
                )
            else:
                existing.role = member_role

        self._write(actor, body)

    def ensure_personal_account(self, username: str, *, actor: str = "system") -> r.Balance:
        """The user's personal account, created (named after the user) when missing.

        Raises:
            ConflictError: another kind of account already has the user's name.
        """
        validate_username(username)
        for balance in self.accounts_for_user(username):
            if balance.kind == m.AccountKind.PERSONAL and balance.role == m.Role.OWNER:
                return balance
        try:
            created = self.create_account(
                username, m.AccountKind.PERSONAL, actor=actor, owner=username
            )
            return convert.with_role(created, m.Role.OWNER)
        except ConflictError:
            # A concurrent login may have created it just now.
            for balance in self.accounts_for_user(username):
                if balance.kind == m.AccountKind.PERSONAL and balance.role == m.Role.OWNER:
                    return balance
            raise

    def accounts_for_user(self, username: str) -> list[r.Balance]:
        """The accounts a user belongs to, with their role and current figures."""
        with self._read() as db:
            rows = db.execute(
                select(m.Account, m.Member.role)
                .join(m.Member, m.Member.account_id == m.Account.id)
                .where(m.Member.username == username)
                .order_by(m.Account.name)
            ).all()
            names = [(account.name, role) for account, role in rows]
        return [convert.with_role(self.balance(name), role) for name, role in names]

    def members(self, account: str) -> dict[str, str]:
        """The account's members and their roles."""
        with self._read() as db:
            row = self._user_account(db, account)
            return {
                member.username: member.role
                for member in db.scalars(
                    select(m.Member)
                    .where(m.Member.account_id == row.id)
                    .order_by(m.Member.username)
                )
            }

    def grant(
        self,
        account: str,
        amount: Decimal | str | int,
        *,
        actor: str,
        source: str = DEFAULT_SOURCE,
        expires_at: datetime | None = None,
        note: str = "",
        idempotency_key: Key = None,
    ) -> r.Grant:
        """Issue credits into an account from a funding source's issuing account.

        Raises:
            InvalidAmountError: the amount is not a positive exact decimal.
            UnknownAccountError: no such account.
            ValueError: the expiry is not in the future.
        """
        value = parse_amount(amount)
        key = stored_key(idempotency_key)
        if expires_at is not None and expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        issuing_id = self._system_account(m.AccountKind.ISSUING, source)
        return self._move(
            actor,
            lambda op: creditwrites.grant(
                op,
                account,
                value,
                issuing_id=issuing_id,
                source=source,
                expires_at=expires_at,
                note=note,
                idempotency_key=key,
            ),
        )

    def transfer(
        self,
        from_account: str,
        to_account: str,
        amount: Decimal | str | int,
        *,
        actor: str,
        reason: str = "",
        idempotency_key: Key = None,
    ) -> r.Transfer:
        """Move available credit between two people's accounts, keeping its expiry.

        Raises:
            InsufficientCreditError: the source cannot spare the amount.
            UnknownAccountError: either account does not exist.
            ConflictError: the same account twice, or a system account.
        """
        value = parse_amount(amount)
        key = stored_key(idempotency_key)
        return self._move(
            actor,
            lambda op: creditwrites.transfer(
                op,
                from_account,
                to_account,
                value,
                reason=reason,
                idempotency_key=key,
            ),
        )

    def expire(self, *, actor: str = "system") -> int:
        """Give back every expired, unreserved credit to its issuing account.

        Returns:
            The number of accounts that had credit expire.
        """
        now = self._now()
        with self._read() as db:
            due = db.scalars(
                select(m.Account.id).where(m.Account.next_expiry_at <= now).order_by(m.Account.id)
            ).all()
        for account_id in due:
            self._expire_account(account_id, actor=actor)
        return len(due)

    # -- rates -----------------------------------------------------------------------

    def sync_rates(
        self, rates: Mapping[tuple[str, str], Decimal], *, actor: str
    ) -> list[r.RateEntry]:
        """Record the site file's rates: a new row only where a value changed.

        Resources that had a rate and are missing from ``rates`` are recorded as
        withdrawn. Holds already placed keep the rates they were placed at.

        Args:
            rates: credits per hour per unit, keyed by ``(hub, resource)``.
            actor: who synced (the hub process or an operator).

        Returns:
            The rows recorded (empty when nothing changed).
        """
        wanted: dict[tuple[str, str], Decimal] = {}
        for (hub, resource), value in rates.items():
            validate_hub(hub)
            validate_resource(resource)
            wanted[(hub, resource)] = parse_rate(value)

        def body(op: _Op) -> list[r.RateEntry]:
            if op.db.get_bind().dialect.name == "postgresql":
                op.db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_RATES_LOCK})
            current = queries.current_rates(op.db, op.now)
            changes: list[tuple[tuple[str, str], Decimal | None]] = [
                (key, value) for key, value in wanted.items() if current.get(key) != value
            ]
            changes += [(key, None) for key in current if key not in wanted]
            recorded = []
            for (hub, resource), value in sorted(changes, key=lambda c: c[0]):
                row = m.Rate(
                    hub=hub,
                    resource=resource,
                    rate=value,
                    effective_at=op.now,
                    recorded_by=op.actor,
                )
                op.db.add(row)
                recorded.append(convert.rate(row))
            return recorded

        return self._write(actor, body)

    def rates(self, hub: str | None = None) -> dict[tuple[str, str], Decimal]:
        """The rates in force now, keyed by ``(hub, resource)``."""
        with self._read() as db:
            current = queries.current_rates(db, self._now())
        return {key: value for key, value in current.items() if hub is None or key[0] == hub}

    def rate_history(self) -> list[r.RateEntry]:
        """Every rate ever recorded, oldest first."""
        with self._read() as db:
            return [
                convert.rate(row)
                for row in db.scalars(select(m.Rate).order_by(m.Rate.effective_at, m.Rate.id))
            ]

    # -- history, reports, check -----------------------------------------------------

    def history(
        self, account: str, *, limit: int = 100, before: int | None = None
    ) -> list[r.Entry]:
        """An account's journal entries, newest first, ``limit`` at a time (``before``: page)."""
        with self._read() as db:
            row = queries.account(db, account)
            query = select(m.JournalEntry).where(
                (m.JournalEntry.debit_account_id == row.id)
                | (m.JournalEntry.credit_account_id == row.id)
            )
            if before is not None:
                query = query.where(m.JournalEntry.id < before)
            entries = db.scalars(query.order_by(m.JournalEntry.id.desc()).limit(limit)).all()
            names = dict(db.execute(select(m.Account.id, m.Account.name)).all())
            return [convert.entry(entry, row.id, names) for entry in entries]

    def report(
        self, *, since: datetime | None = None, until: datetime | None = None, by: str = "account"
    ) -> list[r.ReportRow]:
        """Charges between ``since`` (inclusive) and ``until`` (exclusive), summed ``by``.

        Args:
            since: start of the period; default the beginning.
            until: end of the period; default now.
            by: ``account``, ``hub`` or ``resource``.
        """
        with self._read() as db:
            return report_charges(db, since=since, until=until or self._now(), by=by)

    def check(self) -> r.CheckReport:
        """Recompute every account's figures from the journal, holds and lots."""
        with self._read() as db:
            return check_ledger(db)
