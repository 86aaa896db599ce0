"""The ledger's machinery: transactions, locks, lots and the transactions table.

Double entry: every posted movement debits one account and credits another, so the
balances of all accounts always sum to zero. People's accounts never go below zero;
system accounts (one issuing account per funding source, one revenue account per hub)
may.

Concurrency: a write transaction locks the people's accounts it touches
``FOR UPDATE`` in id order before reading their figures, and changes system accounts
only at its end, with atomic increments in id order, so two transactions never wait
on each other in a cycle. On SQLite, ``BEGIN IMMEDIATE`` serialises writers anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self, TypeVar

from sqlalchemy import Connection, Engine, Row, Select, bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from computehub.credits import convert, lots, queries
from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits import statements as sql
from computehub.credits.checkpoint import Checkpointer, ThreadConnections
from computehub.credits.db import READ_ONLY, create_ledger_engine, sqlite_file, upgrade
from computehub.credits.errors import (
    ConflictError,
    UnknownAccountError,
    UnknownHoldError,
    UnknownRateError,
)
from computehub.credits.hotpath import RawOp
from computehub.credits.names import (
    issuing_name,
    revenue_name,
)
from computehub.credits.rawsql import Cursor, Driver

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Returns the current time, timezone-aware UTC; tests pass their own to time-travel.
Clock = Callable[[], datetime]
#: Attempts for a transaction that lost a race (idempotency key, deadlock, serialization).
_ATTEMPTS = 5


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass
class _Op:
    """One write transaction: its session, time, actor and pending system-account changes."""

    session: Session
    now: datetime
    actor: str
    system_deltas: dict[int, Decimal] = field(default_factory=dict)

    def move_system(self, account_id: int, delta: Decimal) -> None:
        """Add ``delta`` to a system account's balance when the transaction ends."""
        self.system_deltas[account_id] = self.system_deltas.get(account_id, Decimal(0)) + delta


# Core, not the ORM: this is the hottest read (every spawn form and API call).
_BALANCE = select(
    m.Account.id, m.Account.kind, m.Account.balance, m.Account.held, m.Account.next_expiry_at
).where(m.Account.name == bindparam("name"))


class LedgerCore:
    """What every ledger operation runs on; see :class:`~computehub.credits.ledger.Ledger`."""

    #: Place and settle holds on the driver's cursor (:mod:`~.hotpath`); tests switch it
    #: off to compare with the general implementation.
    _fast_path = True

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Clock = utcnow,
        migrate: bool = True,
        engine: Engine | None = None,
    ) -> None:
        if engine is None:
            if url is None:
                from computehub.paths import default_ledger_url

                url = default_ledger_url()
            engine = create_ledger_engine(url)
        self.engine = engine
        self._clock = clock
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._readonly = engine.execution_options(**{READ_ONLY: True})
        self._autocommit = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else None
        )
        self._system_ids: dict[str, int] = {}
        self._driver = Driver(engine)
        if migrate:
            upgrade(engine)
        path = sqlite_file(engine)
        self._checkpointer = Checkpointer(path).start() if path is not None else None
        # SQLite's fast path keeps a connection per thread: the pool's checkout and
        # return cost a tenth of a hold. PostgreSQL's go back to the pool.
        self._own_connections = ThreadConnections(engine) if path is not None else None

    def close(self) -> None:
        """Close the database connections."""
        if self._own_connections is not None:
            self._own_connections.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the ledger's clock must return timezone-aware times")
        return now.astimezone(UTC)

    @contextmanager
    def _quick_reads(self) -> Iterator[Connection]:
        """A connection for a read of one or two statements.

        PostgreSQL: in autocommit, so the read costs one round trip (plus the pool's
        ping), not three (BEGIN, SELECT, COMMIT); each statement sees a consistent
        snapshot by itself (p50 1.9 ms -> 0.44 ms, p99 4.3 ms -> 1.0 ms measured here).
        SQLite: a deferred transaction, as every read there.
        """
        if self._autocommit is not None:
            with self._autocommit.connect() as connection:
                yield connection
        else:
            with self._readonly.begin() as connection:
                yield connection

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._readonly, expire_on_commit=False) as session, session.begin():
            yield session

    def _write(self, actor: str, body: Callable[[_Op], T]) -> T:
        """Run ``body`` in one write transaction, again if it lost a race."""
        if not actor:
            raise ValueError("every change needs an actor")

        def once() -> T:
            with self._sessions() as session, session.begin():
                op = _Op(session, self._now(), actor)
                result = body(op)
                self._flush_system(op)
                return result

        return self._retrying(once)

    def _write_fast(self, actor: str, body: Callable[[RawOp], T]) -> T:
        """Like :meth:`_write`, for ``body`` running SQL on the driver's cursor.

        The transaction is the driver's own: SQLAlchemy's ``Connection`` costs more to
        begin and commit than SQLite takes to run the whole transaction. It begins as
        every write does (:meth:`.Driver.begin`: ``BEGIN IMMEDIATE`` on SQLite) and
        driver errors become SQLAlchemy's, so that lost races are run again the same
        way. ``body`` raising :class:`~.hotpath.Fallback` rolls back.
        """
        if not actor:
            raise ValueError("every change needs an actor")
        driver = self._driver

        def once() -> T:
            own = self._own_connections
            kept = own.checkout() if own is not None else None
            pooled = None if kept is not None else self.engine.raw_connection()
            raw: Any = kept if pooled is None else pooled.driver_connection
            reusable = False  # whether the connection can serve this thread's next write
            try:
                try:
                    cursor: Cursor = driver.begin(raw)
                    try:
                        op = RawOp(cursor, driver, self._now(), actor)
                        result = body(op)
                        op.flush_system()
                    finally:
                        cursor.close()
                    raw.commit()
                except BaseException as error:
                    driver.rollback(raw)
                    if not isinstance(error, driver.error):
                        # A refusal or a Fallback: the connection itself is fine.
                        reusable = own is not None and not raw.in_transaction
                        raise
                    if pooled is not None and driver.is_disconnect(error, raw):
                        pooled.invalidate(error)
                    raise driver.wrap(error) from error
                reusable = own is not None
                return result
            finally:
                if own is not None and reusable:
                    own.keep(raw, pooled)
                elif pooled is not None:
                    pooled.close()
                elif own is not None:
                    own.discard(raw)  # a kept connection the driver failed on

        return self._retrying(once)

    @staticmethod
    def _retrying(once: Callable[[], T]) -> T:
        """Run a write transaction, again (up to :data:`_ATTEMPTS`) if it lost a race."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return once()
            except IntegrityError:
                # A concurrent request with the same idempotency key (or job id) committed
                # first; running again finds its result.
                if attempt == _ATTEMPTS:
                    raise
            except OperationalError as error:
                if not queries.retryable(error) or attempt == _ATTEMPTS:
                    raise
            log.info("ledger transaction lost a race; running it again", extra={"attempt": attempt})
        raise AssertionError("unreachable")

    def _flush_system(self, op: _Op) -> None:
        changes = [
            {"account_id": account_id, "change": op.system_deltas[account_id]}
            for account_id in sorted(op.system_deltas)
            if op.system_deltas[account_id]
        ]
        # One statement per account, in id order: see the module docstring on deadlocks.
        connection = op.session.connection()
        for change in changes:
            connection.execute(sql.MOVE_SYSTEM, change)

    def _lock(self, op: _Op, *account_ids: int) -> dict[int, m.Account]:
        """Lock people's accounts in id order and load their current figures."""
        rows = op.session.scalars(
            select(m.Account)
            .where(m.Account.id.in_(sorted(set(account_ids))))
            .order_by(m.Account.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        return {row.id: row for row in rows}

    def _lock_by_name(self, op: _Op, name: str) -> m.Account:
        """Lock one person's account by name (one statement: the hot path of holds)."""
        row = op.session.scalars(
            select(m.Account)
            .where(m.Account.name == name)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            raise UnknownAccountError(name)
        if m.AccountKind(row.kind).is_system:
            raise ConflictError(f"{name!r} is a system account; use a grant")
        return row

    def _user_account(self, session: Session, name: str) -> m.Account:
        row = queries.account(session, name)
        if m.AccountKind(row.kind).is_system:
            raise ConflictError(f"{name!r} is a system account; use a grant")
        return row

    def _system_account(self, kind: m.AccountKind, scope: str) -> int:
        """The id of a funding source's issuing account or a hub's revenue account."""
        name = issuing_name(scope) if kind == m.AccountKind.ISSUING else revenue_name(scope)
        cached = self._system_ids.get(name)
        if cached is not None:
            return cached

        def body(op: _Op) -> int:
            found = op.session.scalar(select(m.Account.id).where(m.Account.name == name))
            if found is not None:
                return found
            account = m.Account(
                name=name,
                kind=kind,
                scope=scope,
                balance=Decimal(0),
                held=Decimal(0),
                created_at=op.now,
                created_by=op.actor,
            )
            op.session.add(account)
            op.session.flush()
            return account.id

        account_id = self._write("system", body)
        self._system_ids[name] = account_id
        return account_id

    def _expire_account(self, account_id: int, *, actor: str) -> None:
        def body(op: _Op) -> None:
            self._expire_due(op, self._lock(op, account_id)[account_id])

        self._write(actor, body)

    def _expire_due(self, op: _Op, account: m.Account) -> None:
        """Expire the account's due lots; the caller holds the account's lock."""
        if account.next_expiry_at is None or account.next_expiry_at > op.now:
            return
        for lot in lots.due_lots(op.session, account.id, op.now):
            amount = lot.remaining - lot.reserved
            lot.remaining -= amount
            account.balance -= amount
            op.move_system(lot.issuing_account_id, amount)
            self._post(
                op,
                m.TxKind.EXPIRY,
                account.id,
                lot.issuing_account_id,
                amount,
                f"credit expired at {lot.expires_at.isoformat() if lot.expires_at else '?'}",
                None,
                grant_id=lot.grant_id,
            )
        account.next_expiry_at = lots.next_expiry(op.session, account.id)[0]

    def _post(
        self,
        op: _Op,
        kind: m.TxKind,
        debit: int,
        credit: int,
        amount: Decimal,
        reason: str,
        idempotency_key: str | None,
        *,
        pending: bool = False,
        hold_id: int | None = None,
        grant_id: int | None = None,
    ) -> int:
        """Append one row to the transactions table; return its id."""
        tx_id: int = (
            op.session.connection()
            .execute(
                sql.INSERT_TRANSACTION,
                {
                    "kind": kind.value,
                    "pending": pending,
                    "debit_account_id": debit,
                    "credit_account_id": credit,
                    "amount": amount,
                    "hold_id": hold_id,
                    "grant_id": grant_id,
                    "actor": op.actor,
                    "reason": reason,
                    "created_at": op.now,
                    "idempotency_key": idempotency_key,
                },
            )
            .scalar_one()
        )
        return tx_id

    def _rates_for(
        self, session: Session, hub: str, resources: Mapping[str, int], now: datetime
    ) -> dict[str, Decimal]:
        latest: dict[str, Decimal | None] = {}
        for resource, rate in session.connection().execute(
            sql.RATES, {"hub": hub, "resources": list(resources), "now": now}
        ):
            latest[resource] = rate
        found: dict[str, Decimal] = {}
        for resource in resources:
            value = latest.get(resource)
            if value is None:
                raise UnknownRateError(hub, resource)
            found[resource] = value
        return found

    def _refresh_expiry(self, op: _Op, account_id: int) -> None:
        """After reserving or releasing: expire what is due, recompute the next expiry."""
        account = self._lock(op, account_id)[account_id]
        account.next_expiry_at = lots.next_expiry(op.session, account_id)[0]
        self._expire_due(op, account)

    def _lock_row(
        self, op: _Op, statement: Select[*tuple[Any, ...]], **params: object
    ) -> Row[*tuple[Any, ...]]:
        """Lock a person's account with a Core statement, expiring what is due first."""
        connection = op.session.connection()
        row = connection.execute(statement, params).first()
        if row is None:
            raise UnknownAccountError(str(params.get("name", params)))
        if m.AccountKind(row.kind).is_system:
            raise ConflictError(f"{row.name!r} is a system account; use a grant")
        if row.next_expiry_at is not None and row.next_expiry_at <= op.now:
            self._expire_due(op, self._lock(op, row.id)[row.id])
            op.session.flush()
            row = connection.execute(statement, params).one()
        return row

    def _previous(self, op: _Op, key: str | None, kind: m.TxKind) -> Row[*tuple[Any, ...]] | None:
        """The transaction an idempotency key was first used for, if any."""
        if key is None:
            return None
        row = op.session.connection().execute(sql.KEY, {"key": key}).first()
        if row is not None and row.kind != kind:
            raise ConflictError(f"idempotency key {key!r} was used for a {row.kind}")
        return row

    def _reserve(
        self, op: _Op, hold_id: int, account_id: int, amount: Decimal, *, new: bool = True
    ) -> None:
        """Reserve ``amount`` from the account's lots, soonest expiry first, and hold it."""
        connection = op.session.connection()
        existing: set[int] = set()
        if not new:
            existing = {
                lot_id
                for lot_id, _, _ in connection.execute(sql.ALLOCATED_LOTS, {"hold_id": hold_id})
            }
        left = amount
        reserved: list[dict[str, object]] = []
        for lot_id, remaining, lot_reserved in connection.execute(
            sql.SPENDABLE_LOTS, {"account_id": account_id, "now": op.now}
        ):
            if left <= 0:
                break
            take = min(remaining - lot_reserved, left)
            reserved.append({"hold_id": hold_id, "lot_id": lot_id, "amount": take})
            left -= take
        if left > 0:
            raise RuntimeError(f"account {account_id} lots are short of its available by {left}")
        if reserved:
            connection.execute(sql.RESERVE_LOT, reserved)
            fresh = [row for row in reserved if row["lot_id"] not in existing]
            if fresh:
                connection.execute(sql.INSERT_ALLOCATION, fresh)
            grown = [
                {"b_hold_id": hold_id, "b_lot_id": row["lot_id"], "b_amount": row["amount"]}
                for row in reserved
                if row["lot_id"] in existing
            ]
            if grown:
                connection.execute(sql.GROW_ALLOCATION, grown)
        connection.execute(
            sql.CHANGE_ACCOUNT,
            {"account_id": account_id, "balance_change": 0, "held_change": amount},
        )

    def _release(self, op: _Op, hold_id: int, charged: Decimal) -> bool:
        """Undo a hold's reservations, spending ``charged`` of them soonest-expiry-first.

        Returns:
            Whether credit that can expire became unreserved (the next expiry may change).
        """
        connection = op.session.connection()
        left = charged
        expiring = False
        released: list[dict[str, object]] = []
        for lot_id, allocated, expires_at in connection.execute(
            sql.ALLOCATED_LOTS, {"hold_id": hold_id}
        ):
            spent = min(allocated, left)
            released.append({"lot_id": lot_id, "released": allocated, "spent": spent})
            left -= spent
            expiring = expiring or (expires_at is not None and spent < allocated)
        if left > 0:
            raise RuntimeError(f"hold {hold_id} reservations are short of its charge by {left}")
        if released:
            connection.execute(sql.RELEASE_LOT, released)
        return expiring

    def _system_account_in(self, session: Session, hub: str) -> int:
        cached = self._system_ids.get(revenue_name(hub))
        if cached is not None:
            return cached
        found = session.scalar(select(m.Account.id).where(m.Account.name == revenue_name(hub)))
        if found is None:
            raise RuntimeError(f"the revenue account of hub {hub!r} is missing")
        return found

    def _hold_record(self, session: Session, hold_id: int) -> r.Hold:
        hold = session.get(m.Hold, hold_id)
        if hold is None:
            raise UnknownHoldError(hold_id)
        name = session.get_one(m.Account, hold.account_id).name
        return convert.hold(hold, name, queries.hold_rates(session, hold_id))

    def _charge_record(self, session: Session, hold_id: int) -> r.Charge:
        charge = session.scalars(select(m.Charge).where(m.Charge.hold_id == hold_id)).one()
        hold = session.get_one(m.Hold, hold_id)
        usage = session.scalars(select(m.Usage).where(m.Usage.charge_id == charge.id)).all()
        return r.Charge(
            id=charge.id,
            hold_id=hold_id,
            account=session.get_one(m.Account, charge.account_id).name,
            hub=charge.hub,
            amount=charge.amount,
            cost=charge.cost,
            released=hold.amount - charge.amount,
            usage={row.resource: row.hours for row in usage},
            created_at=charge.created_at,
        )

    def balance(self, account: str) -> r.Balance:
        """An account's balance, held and available credit (O(1): kept in the account row).

        Credit that expired since the last operation is given back first.
        """
        with self._quick_reads() as connection:
            row = connection.execute(_BALANCE, {"name": account}).first()
            if row is None:
                raise UnknownAccountError(account)
            account_id, kind, balance, held, next_expiry_at = row
            if next_expiry_at is not None and next_expiry_at <= self._now():
                due = True
            else:
                due = False
                expiring = Decimal(0)
                if next_expiry_at is not None:
                    with Session(bind=connection) as session:
                        expiring = lots.next_expiry(session, account_id)[1]
        if due:
            self._expire_account(account_id, actor="system")
            return self.balance(account)
        return r.Balance(
            account=account,
            kind=kind,
            balance=balance,
            held=held,
            available=balance - held,
            next_expiry_at=next_expiry_at,
            expiring=expiring,
        )

    # -- grants, transfers, expiry ---------------------------------------------------
