"""Hand-written SQL for every operation that moves credit, run on the driver's own cursor.

Why: placing and settling a hold run about a dozen statements each, on every session
start and end. Through SQLAlchemy each execute costs about 0.1 ms of Python (cache
lookups, events, result processing), ten times what SQLite needs to run it, which kept
the ledger at a few hundred hold+settle pairs per second. The driver runs the same
statements directly, so this module does by hand what the column types do for the ORM:
amounts go in and out as integer units (:func:`~computehub.credits.money.to_units`) and
times as naive UTC in the form the dialect stores them
(:class:`~computehub.credits.rawsql.Driver`).

The statements are written once for PostgreSQL (``%s`` parameters, ``FOR UPDATE``)
and adapted for SQLite, whose writers are serialised by ``BEGIN IMMEDIATE`` instead
of row locks. They name tables as stored: the journal is the table ``transactions``,
and ``charges`` and ``transfers`` refer to their entry as ``transaction_id`` (see
:class:`~computehub.credits.models.JournalEntry`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import DateTime, Engine
from sqlalchemy.exc import DBAPIError

from computehub.credits.db import SQLITE_BEGIN_WRITE

log = logging.getLogger(__name__)
#: psycopg's ``TransactionStatus.IDLE`` (libpq's PQTRANS_IDLE), without importing psycopg
#: where the ledger runs on SQLite only.
_PG_IDLE = 0
_FOR_UPDATE = re.compile(r" FOR UPDATE( OF \w+)?")


class Cursor(Protocol):
    """What the hot path needs of a DB-API cursor (sqlite3's and psycopg's both fit)."""

    def execute(self, sql: str, params: Sequence[Any], /) -> object:
        """Run one statement."""

    def executemany(self, sql: str, params: Sequence[Sequence[Any]], /) -> object:
        """Run one statement per parameter row."""

    def fetchone(self) -> Any:
        """The next row, or ``None``."""

    def fetchall(self) -> list[Any]:
        """The remaining rows."""

    def close(self) -> None:
        """Free the cursor."""


@dataclass(frozen=True)
class Statements:
    """Every statement that moves credit, in PostgreSQL's form.

    :meth:`~computehub.credits.rawsql.Statements.for_sqlite` adapts them for SQLite.
    """

    # -- idempotency keys and names ---------------------------------------------------
    key: str = (
        "SELECT id, kind, hold_id, grant_id, hours FROM transactions WHERE idempotency_key = %s"
    )
    account_by_name: str = "SELECT id, kind FROM accounts WHERE name = %s"
    job_taken: str = "SELECT id FROM holds WHERE hub = %s AND job_id = %s AND status = 'open'"
    # -- locks: people's accounts first, in id order, then the hold --------------------
    lock_account_by_name: str = (
        "SELECT id, kind, balance, held, next_expiry_at FROM accounts WHERE name = %s FOR UPDATE"
    )
    lock_account: str = (
        "SELECT id, name, kind, balance, held, next_expiry_at FROM accounts WHERE id = %s"
        " FOR UPDATE"
    )
    lock_two_accounts: str = (
        "SELECT id, name, kind, balance, held, next_expiry_at FROM accounts"
        " WHERE id IN (%s, %s) ORDER BY id FOR UPDATE"
    )
    #: The payer of a hold, locked (the account first, as every writer locks).
    lock_hold_payer: str = (
        "SELECT a.id, a.name, a.kind, a.balance, a.held, a.next_expiry_at FROM holds h"
        " JOIN accounts a ON a.id = h.account_id WHERE h.id = %s FOR UPDATE OF a"
    )
    #: The hold, locked, with one row per resource it reserved (count and rate).
    lock_hold: str = (
        "SELECT h.status, h.hub, h.amount, h.hours, h.job_id, h.created_at,"
        " h.cancel_requested_at, r.resource, r.count, r.rate FROM holds h"
        " LEFT JOIN hold_resources r ON r.hold_id = h.id WHERE h.id = %s"
        " ORDER BY r.resource FOR UPDATE OF h"
    )
    account_id: str = "SELECT id FROM accounts WHERE name = %s"
    #: A course account's archive mark (read after its account is locked).
    course_archived: str = (
        "SELECT a.name, c.archived_at FROM courses c JOIN accounts a ON a.id = c.account_id"
        " WHERE c.account_id = %s AND c.archived_at IS NOT NULL"
    )
    #: How a course's pool is shared, and with ``username``: their own allowance and
    #: whether they are a student (params: username, username, account id).
    share_policy: str = (
        "SELECT c.share, c.allowance, c.weekly_cap, c.ends_on,"
        " (SELECT s.allowance FROM course_allowances s"
        " WHERE s.account_id = c.account_id AND s.username = %s),"
        " (SELECT COUNT(*) FROM members p WHERE p.account_id = c.account_id"
        " AND p.username = %s AND p.role = 'student'),"
        " (SELECT COUNT(*) FROM members p WHERE p.account_id = c.account_id"
        " AND p.role = 'student')"
        " FROM courses c WHERE c.account_id = %s"
    )
    #: A student's use of a pool, from the journal: what their open holds reserve, their
    #: charges in the term and since a time, and every charge to the pool (params:
    #: account, username, account, username, account, username, since, account).
    share_used: str = (
        "SELECT (SELECT COALESCE(SUM(t.amount), 0) FROM transactions t"
        " JOIN holds h ON h.id = t.hold_id WHERE h.account_id = %s AND h.created_by = %s"
        " AND h.status = 'open' AND t.kind IN ('hold', 'extend')),"
        " (SELECT COALESCE(SUM(t.amount), 0) FROM transactions t"
        " JOIN holds h ON h.id = t.hold_id WHERE t.kind = 'charge'"
        " AND t.debit_account_id = %s AND h.created_by = %s),"
        " (SELECT COALESCE(SUM(t.amount), 0) FROM transactions t"
        " JOIN holds h ON h.id = t.hold_id WHERE t.kind = 'charge'"
        " AND t.debit_account_id = %s AND h.created_by = %s AND t.created_at >= %s),"
        " (SELECT COALESCE(SUM(t.amount), 0) FROM transactions t"
        " WHERE t.kind = 'charge' AND t.debit_account_id = %s)"
    )
    #: ``IN (%s)`` is widened to one parameter per resource (see
    #: :meth:`~computehub.credits.rawsql.Driver.rates`).
    rates: str = (
        "SELECT resource, rate FROM rates WHERE hub = %s AND resource IN (%s)"
        " AND effective_at <= %s ORDER BY effective_at, id"
    )
    # -- what an idempotency key was first used for ------------------------------------
    hold_placed: str = (
        "SELECT a.name, h.hub, h.job_id FROM holds h JOIN accounts a ON a.id = h.account_id"
        " WHERE h.id = %s"
    )
    hold_resources: str = "SELECT resource, count FROM hold_resources WHERE hold_id = %s"
    grant_by_id: str = (
        "SELECT account_id, issuing_account_id, amount, expires_at, note, created_at"
        " FROM grants WHERE id = %s"
    )
    transfer_by_entry: str = (
        "SELECT t.id, t.from_account_id, t.to_account_id, t.amount, t.created_at, x.reason"
        " FROM transfers t JOIN transactions x ON x.id = t.transaction_id"
        " WHERE t.transaction_id = %s"
    )
    charged_usage: str = (
        "SELECT u.resource, u.hours FROM charges c JOIN usage u ON u.charge_id = c.id"
        " WHERE c.hold_id = %s"
    )
    # -- holds and charges -------------------------------------------------------------
    insert_hold: str = (
        "INSERT INTO holds (account_id, hub, job_id, status, hours, amount, created_at,"
        " updated_at, created_by, server_name)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
    )
    insert_hold_resource: str = (
        "INSERT INTO hold_resources (hold_id, resource, count, rate) VALUES (%s, %s, %s, %s)"
    )
    extend_hold: str = (
        "UPDATE holds SET hours = hours + %s, amount = amount + %s, updated_at = %s WHERE id = %s"
    )
    close_hold: str = "UPDATE holds SET status = %s, updated_at = %s WHERE id = %s"
    insert_charge: str = (
        "INSERT INTO charges (hold_id, transaction_id, account_id, hub, amount, cost,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id"
    )
    insert_usage: str = (
        "INSERT INTO usage (charge_id, resource, hours, rate, cost) VALUES (%s, %s, %s, %s, %s)"
    )
    # -- lots: reserving, releasing, moving and expiring credit -------------------------
    spendable_lots: str = (
        "SELECT id, remaining, reserved, grant_id, issuing_account_id, expires_at FROM lots"
        " WHERE account_id = %s AND remaining > reserved"
        " AND (expires_at IS NULL OR expires_at > %s)"
        " ORDER BY expires_at ASC NULLS LAST, id"
    )
    reserve_lot: str = "UPDATE lots SET reserved = reserved + %s WHERE id = %s"
    insert_allocation: str = (
        "INSERT INTO hold_allocations (hold_id, lot_id, amount) VALUES (%s, %s, %s)"
    )
    grow_allocation: str = (
        "UPDATE hold_allocations SET amount = amount + %s WHERE hold_id = %s AND lot_id = %s"
    )
    allocated_lots: str = (
        "SELECT a.lot_id, a.amount, l.expires_at FROM hold_allocations a"
        " JOIN lots l ON l.id = a.lot_id WHERE a.hold_id = %s"
        " ORDER BY l.expires_at ASC NULLS LAST, l.id"
    )
    release_lot: str = (
        "UPDATE lots SET reserved = reserved - %s, remaining = remaining - %s WHERE id = %s"
    )
    take_lot: str = "UPDATE lots SET remaining = remaining - %s WHERE id = %s"
    lot_of_grant: str = "SELECT id FROM lots WHERE account_id = %s AND grant_id = %s"
    give_lot: str = "UPDATE lots SET remaining = remaining + %s WHERE id = %s"
    insert_lot: str = (
        "INSERT INTO lots (account_id, grant_id, issuing_account_id, expires_at, remaining,"
        " reserved) VALUES (%s, %s, %s, %s, %s, %s)"
    )
    due_lots: str = (
        "SELECT id, remaining, reserved, issuing_account_id, grant_id, expires_at FROM lots"
        " WHERE account_id = %s AND expires_at <= %s AND remaining > reserved"
        " ORDER BY expires_at, id"
    )
    expire_lot: str = "UPDATE lots SET remaining = reserved WHERE id = %s"
    next_expiry: str = (
        "SELECT MIN(expires_at) FROM lots WHERE account_id = %s"
        " AND expires_at IS NOT NULL AND remaining > reserved"
    )
    set_next_expiry: str = "UPDATE accounts SET next_expiry_at = %s WHERE id = %s"
    # -- grants and transfers -----------------------------------------------------------
    insert_grant: str = (
        "INSERT INTO grants (account_id, issuing_account_id, amount, expires_at, note,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
    )
    insert_transfer: str = (
        "INSERT INTO transfers (transaction_id, from_account_id, to_account_id, amount,"
        " created_at) VALUES (%s, %s, %s, %s, %s) RETURNING id"
    )
    # -- balances and the journal -------------------------------------------------------
    change_account: str = (
        "UPDATE accounts SET balance = balance + %s, held = held + %s WHERE id = %s"
    )
    move_system: str = "UPDATE accounts SET balance = balance + %s WHERE id = %s"
    insert_entry: str = (
        "INSERT INTO transactions (kind, pending, debit_account_id, credit_account_id,"
        " amount, hold_id, grant_id, actor, reason, created_at, idempotency_key, hours)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
    )

    def for_sqlite(self) -> Statements:
        """sqlite3's ``?`` parameters, and no ``FOR UPDATE`` (SQLite has no row locks)."""
        return dataclasses.replace(
            self,
            **{
                field.name: _FOR_UPDATE.sub("", getattr(self, field.name)).replace("%s", "?")
                for field in dataclasses.fields(self)
            },
        )


def _identity(value: Any) -> Any:
    return value


def _sqlite_time(value: datetime) -> str:
    """SQLAlchemy's SQLite form of a naive time (``Driver`` checks that it still is)."""
    return value.isoformat(" ", "microseconds")


class Driver:
    """One engine's statements, parameter style, time conversions and errors."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        self.postgres = dialect.name == "postgresql"
        self.sql = Statements() if self.postgres else Statements().for_sqlite()
        self._parameter = "%s" if self.postgres else "?"
        self._dialect = dialect
        #: Every error the driver raises; :meth:`~computehub.credits.rawsql.Driver.wrap`
        #: turns it into SQLAlchemy's.
        self.error: type[Exception] = dialect.loaded_dbapi.Error
        # The dialect's own conversions, so the stored form (SQLite: text) is the ORM's.
        stored = DateTime().dialect_impl(dialect)
        self._time_in: Callable[[Any], Any] = stored.bind_processor(dialect) or _identity
        self._time_out: Callable[[Any], Any] = stored.result_processor(dialect, None) or _identity
        sample = datetime(2026, 1, 2, 3, 4, 5, 6)
        if not self.postgres and self._time_in(sample) == _sqlite_time(sample):
            self._time_in = _sqlite_time  # the same text, a third of the time

    def begin(self, raw: Any) -> Cursor:
        """Begin a write transaction on a driver connection; return a cursor.

        SQLite: the statement the engine's ``begin`` event runs (see
        :mod:`~computehub.credits.db`);
        psycopg begins a transaction by itself at the first statement.
        """
        cursor: Cursor = raw.cursor()
        if not self.postgres:
            cursor.execute(SQLITE_BEGIN_WRITE, ())
        return cursor

    def rollback(self, raw: Any) -> None:
        """Roll back, keeping the error that made us (the pool resets the connection anyway)."""
        try:
            raw.rollback()
        except self.error:
            log.debug("rollback failed", exc_info=True)

    def in_transaction(self, raw: Any) -> bool:
        """Whether a driver connection is inside a transaction (after a rollback: a bug)."""
        if self.postgres:
            status = raw.info.transaction_status
            return bool(status != _PG_IDLE)
        return bool(raw.in_transaction)

    def is_disconnect(self, error: Any, raw: Any) -> bool:
        """Whether the connection is dead, so that the pool drops it."""
        return bool(self._dialect.is_disconnect(error, raw, None))

    def time_in(self, value: datetime | None) -> Any:
        """An aware time as the column stores it: naive UTC.

        As :class:`~computehub.credits.models.UTCDateTime` stores it.
        """
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the ledger only stores timezone-aware times")
        return self._time_in(value.astimezone(UTC).replace(tzinfo=None))

    def time_out(self, value: Any) -> datetime | None:
        """A stored time as an aware UTC time."""
        if value is None:
            return None
        found: datetime = self._time_out(value)
        return found.replace(tzinfo=UTC)

    @functools.cache  # noqa: B019 (one Driver per engine, a handful of sizes)
    def rates(self, count: int) -> str:
        """The rates query for ``count`` resources."""
        widened = ", ".join([self._parameter] * count)
        return self.sql.rates.replace(f"IN ({self._parameter})", f"IN ({widened})")

    def wrap(self, error: Exception) -> DBAPIError:
        """The SQLAlchemy exception the same driver error raises through an engine.

        So that callers, and the retry of transactions that lost a race, see
        ``IntegrityError`` and ``OperationalError`` whichever way a statement ran.
        """
        wrapped = DBAPIError.instance(None, None, error, self.error, dialect=self._dialect)
        assert isinstance(wrapped, DBAPIError)
        return wrapped
