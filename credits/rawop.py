"""One write transaction on the database driver's cursor: the only way credit moves.

Grants, transfers, expiry and the hold verbs (place, extend, settle, void) all run as a
:class:`~computehub.credits.rawop.RawOp` (see
:meth:`~computehub.credits.core.LedgerCore._move`): hand-written statements
(:mod:`~computehub.credits.rawsql`) on a transaction begun like every other write
(``BEGIN IMMEDIATE`` on SQLite). Amounts are integer units here
(:func:`~computehub.credits.money.to_units`); times go in and out through the
:class:`~computehub.credits.rawsql.Driver`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from computehub.credits import models as m
from computehub.credits.errors import ArchivedCourseError, ConflictError, UnknownAccountError
from computehub.credits.names import revenue_name
from computehub.credits.rawsql import Cursor, Driver, Statements

# The stored value of each kind (an enum's ``.value`` is a descriptor call).
_KIND_VALUES = {kind: kind.value for kind in m.EntryKind}


@dataclass
class RawOp:
    """One write transaction: its cursor, time, actor and pending system-account changes."""

    cursor: Cursor
    driver: Driver
    now: datetime
    actor: str
    system_deltas: dict[int, int] = field(default_factory=dict)
    #: ``now`` as the time columns store it.
    stamp: Any = field(init=False)
    #: The driver's statements.
    sql: Statements = field(init=False)

    def __post_init__(self) -> None:
        self.stamp = self.driver.time_in(self.now)
        self.sql = self.driver.sql

    def row(self, sql: str, *params: object) -> Any:
        """The first row of a query (a tuple), or ``None``."""
        self.cursor.execute(sql, params)
        return self.cursor.fetchone()

    def rows(self, sql: str, *params: object) -> list[Any]:
        """Every row of a query."""
        self.cursor.execute(sql, params)
        return self.cursor.fetchall()

    def run(self, sql: str, *params: object) -> None:
        """Run one statement."""
        self.cursor.execute(sql, params)

    def insert(self, sql: str, *params: object) -> int:
        """Run an ``INSERT ... RETURNING id``; return the id."""
        self.cursor.execute(sql, params)
        new_id: int = self.cursor.fetchone()[0]
        return new_id

    def time_out(self, stored: object) -> datetime | None:
        """A stored time as an aware UTC time."""
        return self.driver.time_out(stored)

    def move_system(self, account_id: int, units: int) -> None:
        """Add ``units`` to a system account's balance when the transaction ends."""
        self.system_deltas[account_id] = self.system_deltas.get(account_id, 0) + units

    def flush_system(self) -> None:
        """One increment per system account, in id order.

        So that two transactions never deadlock (see :mod:`~computehub.credits.core`).
        """
        for account_id in sorted(self.system_deltas):
            if self.system_deltas[account_id]:
                self.run(self.sql.move_system, self.system_deltas[account_id], account_id)

    def add_entry(
        self,
        kind: m.EntryKind,
        debit: int,
        credit: int,
        units: int,
        reason: str,
        key: str | None,
        *,
        pending: bool = False,
        hold_id: int | None = None,
        grant_id: int | None = None,
        hours: int | None = None,
    ) -> int:
        """Append one entry to the journal; return its id."""
        return self.insert(
            self.sql.insert_entry,
            _KIND_VALUES[kind],
            pending,
            debit,
            credit,
            units,
            hold_id,
            grant_id,
            self.actor,
            reason,
            self.stamp,
            key,
            hours,
        )

    def first_use(self, key: str | None, kind: m.EntryKind) -> Any:
        """The ``(id, kind, hold_id, grant_id, hours)`` row a key was first used for.

        Raises:
            ConflictError: the key was used for another kind of operation.
        """
        if key is None:
            return None
        found = self.row(self.sql.key, key)
        if found is not None and found[1] != kind:
            raise ConflictError(f"idempotency key {key!r} was used for a {found[1]}")
        return found

    def replayed(self, key: str | None, what: str, same: bool) -> None:
        """Refuse a key used before for another operation than this one.

        Raises:
            ConflictError: ``same`` is false: the first use had other parameters.
        """
        if not same:
            raise ConflictError(f"idempotency key {key!r} was used for another {what}")

    def user_account(self, name: str) -> int:
        """A person's account by name (unlocked: the caller locks it next).

        Raises:
            UnknownAccountError: no such account.
            ConflictError: a system account.
        """
        found = self.row(self.sql.account_by_name, name)
        if found is None:
            raise UnknownAccountError(name)
        check_person(found[1], name)
        account_id: int = found[0]
        return account_id

    def refuse_archived(self, account_id: int, kind: str) -> None:
        """Refuse to move credit out of (or into) an archived course's pool.

        Called once the account is locked, so an archive committed before this
        transaction is seen, and one committed after it waits for it.

        Raises:
            ArchivedCourseError: the account is an archived course's pool.
        """
        if kind != m.AccountKind.COURSE:
            return
        found = self.row(self.sql.course_archived, account_id)
        if found is not None:
            archived_at = self.time_out(found[1])
            if archived_at is None:  # pragma: no cover - the query asks for a time
                raise RuntimeError("an archived course has no archive time")
            raise ArchivedCourseError(found[0], archived_at)

    def revenue_id(self, hub: str, known: dict[str, int]) -> int:
        """A hub's revenue account (``known``: the ids found before, by name)."""
        name = revenue_name(hub)
        cached = known.get(name)
        if cached is not None:
            return cached
        found = self.row(self.sql.account_id, name)
        if found is None:
            raise RuntimeError(f"the revenue account of hub {hub!r} is missing")
        revenue_id: int = found[0]
        known[name] = revenue_id
        return revenue_id


def check_person(kind: str, name: str) -> None:
    """Refuse a system account where a person's account is needed."""
    if m.AccountKind(kind).is_system:
        raise ConflictError(f"{name!r} is a system account; use a grant")
