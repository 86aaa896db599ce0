"""Ledger throughput and read latency on SQLite and PostgreSQL, beside a raw anchor.

SQLite: hold+settle pairs per second on one thread, and the same two database
transactions run as bare ``sqlite3`` calls (the *raw anchor*: the same statements,
hand-written, on a file with the same schema, pragmas and checkpointing) in the same
run, rounds interleaved, at the same ``synchronous`` setting; then the ratio
ledger/raw (target >= 60 % at FULL, the ledger's setting).

PostgreSQL (a server of its own, started as the test bed starts one but at production
durability: ``fsync`` and ``synchronous_commit`` on; or ``--pg-url``): the same with
one writer and with 16 concurrent writers (threads sharing one ledger, as the hub's
do; each writer on its own account), beside the same two transactions written directly
on psycopg (:class:`PgAnchor`, one connection a writer), in the same database, rounds
interleaved; the ratio (target >= 70 %); and the statements and round trips per pair of
each, counted from libpq's protocol trace (:class:`WireCount`).

Then, on each, the p50/p99 latency of :meth:`~computehub.credits.ledger.Ledger.balance`
with ``--entries`` entries (default 1,000,000) in the journal (its table is
``transactions``; target p99 <= 2 ms), and the ledger's ``check`` (the anchor's rows
too, on PostgreSQL). It prints figures and asserts nothing.

Usage::

    python benchmarks/ledger.py [--synchronous FULL|NORMAL] [--only sqlite|postgresql]
        [--pg-url postgresql+psycopg://...] [--pg-pairs N]
"""

from __future__ import annotations

import argparse
import functools
import os
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq
from psycopg import sql as pgsql
from sqlalchemy import event, make_url, text

from computehub.credits import db
from computehub.credits.checkpoint import Checkpointer
from computehub.credits.db import create_ledger_engine
from computehub.credits.ledger import Ledger
from computehub.credits.money import to_units
from computehub.credits.rawsql import Statements
from computehub.localbed.postgres import Postgres
from computehub.localbed.proc import MissingComponentError

RATES = {("north", "gpu:h100"): Decimal(10), ("north", "cpu"): Decimal("0.5")}
SESSION = {"gpu:h100": 1, "cpu": 4}
USED = {"gpu:h100": Decimal("0.5"), "cpu": Decimal(2)}
#: The anchor's figures, in units: the hold (12 credits/hour, one hour) and its charge.
_HOLD, _HOURS, _CHARGE = to_units(Decimal(12)), to_units(Decimal(1)), to_units(Decimal(6))
_USAGE = [("gpu:h100", to_units(Decimal("0.5")), to_units(Decimal(10)), to_units(Decimal(5)))]
_USAGE += [("cpu", to_units(Decimal(2)), to_units(Decimal("0.5")), to_units(Decimal(1)))]
_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
#: Concurrent writers on PostgreSQL: one, then a busy hub's worth.
WRITERS = (1, 16)
#: The benchmark's own PostgreSQL runs at production durability (the test bed's does not):
#: a commit returns once its log record is flushed to disk.
DURABLE = ("fsync=on", "synchronous_commit=on", "full_page_writes=on")


def _prepare(ledger: Ledger, funds: str) -> None:
    ledger.sync_rates(RATES, actor="bench")
    for name in ("bench-a", "bench-b"):
        ledger.create_account(name, "project", actor="bench")
        ledger.grant(name, funds, actor="bench")
    # The revenue account, made by the first hold (the anchor's file needs it too).
    hold = ledger.place_hold("bench-b", "north", SESSION, "1", actor="bench")
    ledger.settle(hold.id, USED, actor="bench")


def hold_settle_rate(ledger: Ledger, pairs: int) -> float:
    """Place and settle ``pairs`` holds one after the other; return pairs per second."""
    run = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    for n in range(pairs):
        hold = ledger.place_hold(
            "bench-a", "north", SESSION, "1", actor="bench", idempotency_key=f"h{run}-{n}"
        )
        ledger.settle(hold.id, USED, actor="bench", idempotency_key=f"s{run}-{n}")
    return pairs / (time.perf_counter() - started)


class RawAnchor:
    """The ledger's hold and settle transactions as bare ``sqlite3`` calls.

    The same statements (:class:`~computehub.credits.rawsql.Statements`) in the same
    order with the same locks (``BEGIN IMMEDIATE``), on a ledger file made by the
    ledger (the same schema, constraints and triggers), opened with the ledger's
    pragmas and checkpointed by the same thread; only the Python around them is
    gone (no validation, no Decimal, no records, figures computed in advance).
    """

    def __init__(self, path: str) -> None:
        self.sql = Statements().for_sqlite()
        self.rates = self.sql.rates.replace("IN (?)", "IN (?, ?)")
        self.connection = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            f"wal_autocheckpoint={db.SQLITE_AUTOCHECKPOINT_PAGES}",
            f"busy_timeout={db.SQLITE_BUSY_TIMEOUT_MS}",
            "foreign_keys=ON",
            f"synchronous={db.SQLITE_SYNCHRONOUS}",
        ):
            self.connection.execute(f"PRAGMA {pragma}")
        self.checkpointer = Checkpointer(path).start()
        cursor = self.connection.cursor()
        cursor.execute("SELECT id FROM accounts WHERE name = 'revenue:north'")
        self.revenue = cursor.fetchone()[0]
        self.stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")

    def synchronous(self) -> str:
        """The setting the anchor's connection runs at."""
        return _SYNCHRONOUS[self.connection.execute("PRAGMA synchronous").fetchone()[0]]

    def close(self) -> None:
        self.checkpointer.stop()
        self.connection.close()

    def rate(self, pairs: int) -> float:
        """Place and settle ``pairs`` holds; return pairs per second."""
        run = uuid.uuid4().hex[:8]
        started = time.perf_counter()
        for n in range(pairs):
            hold_id = self._place(f"h{run}-{n}")
            self._settle(hold_id, f"s{run}-{n}")
        return pairs / (time.perf_counter() - started)

    def _place(self, key: str) -> int:
        sql, cursor, stamp = self.sql, self.connection.cursor(), self.stamp
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(sql.key, (key,))
        cursor.fetchone()
        cursor.execute(sql.lock_account_by_name, ("bench-a",))
        account = cursor.fetchone()[0]
        cursor.execute(self.rates, ("north", "gpu:h100", "cpu", stamp))
        cursor.fetchall()
        cursor.execute(
            sql.insert_hold,
            (account, "north", None, "open", _HOURS, _HOLD, stamp, stamp, "bench", ""),
        )
        hold_id: int = cursor.fetchone()[0]
        cursor.executemany(
            sql.insert_hold_resource,
            [(hold_id, "gpu:h100", 1, 100_000), (hold_id, "cpu", 4, 5_000)],
        )
        cursor.execute(sql.spendable_lots, (account, stamp))
        lot = cursor.fetchall()[0][0]
        cursor.executemany(sql.reserve_lot, [(_HOLD, lot)])
        cursor.executemany(sql.insert_allocation, [(hold_id, lot, _HOLD)])
        cursor.execute(sql.change_account, (0, _HOLD, account))
        cursor.execute(
            sql.insert_entry,
            ("hold", True, account, self.revenue, _HOLD, hold_id, None, "bench",
             "1.0000 h on north", stamp, key, _HOURS),
        )  # fmt: skip
        cursor.fetchone()
        cursor.execute("COMMIT")
        return hold_id

    def _settle(self, hold_id: int, key: str) -> None:
        sql, cursor, stamp = self.sql, self.connection.cursor(), self.stamp
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(sql.key, (key,))
        cursor.fetchone()
        cursor.execute(sql.lock_hold_payer, (hold_id,))
        account = cursor.fetchone()[0]
        cursor.execute(sql.lock_hold, (hold_id,))
        cursor.fetchall()
        cursor.execute(sql.allocated_lots, (hold_id,))
        lot, allocated, _expiry = cursor.fetchall()[0]
        cursor.executemany(sql.release_lot, [(allocated, _CHARGE, lot)])
        cursor.execute(sql.change_account, (-_CHARGE, -_HOLD, account))
        row = ("charge", False, account, self.revenue, _CHARGE, hold_id, None, "bench", "")
        cursor.execute(sql.insert_entry, (*row, stamp, key, None))
        charge_tx = cursor.fetchone()[0]
        release = ("release", True, account, self.revenue, _HOLD - _CHARGE, hold_id, None)
        cursor.execute(
            sql.insert_entry,
            (*release, "bench", "unused part of the hold", stamp, None, None),
        )
        cursor.fetchone()
        cursor.execute(
            sql.insert_charge, (hold_id, charge_tx, account, "north", _CHARGE, _CHARGE, stamp)
        )
        charge_id = cursor.fetchone()[0]
        cursor.executemany(sql.insert_usage, [(charge_id, *usage) for usage in _USAGE])
        cursor.execute(sql.close_hold, ("settled", stamp, hold_id))
        cursor.execute(sql.move_system, (_CHARGE, self.revenue))
        cursor.execute("COMMIT")


def _history_rows(count: int, a: int, b: int, now: datetime) -> Iterator[tuple[object, ...]]:
    # Transfers of one credit back and forth: the balances stay what they were.
    stamp = now.replace(tzinfo=None)
    for n in range(count):
        debit, credit = (a, b) if n % 2 == 0 else (b, a)
        yield ("transfer", False, debit, credit, to_units(Decimal(1)), "bench", "", stamp)


def fill_history(ledger: Ledger, count: int) -> float:
    """Bulk-insert ``count`` journal entries; return the seconds it took."""
    started = time.perf_counter()
    with ledger.engine.begin() as connection:
        ids: dict[str, int] = dict(
            connection.execute(
                text("SELECT name, id FROM accounts WHERE name IN ('bench-a', 'bench-b')")
            ).all()
        )
        rows = _history_rows(count - count % 2, ids["bench-a"], ids["bench-b"], datetime.now(UTC))
        columns = (
            "kind, pending, debit_account_id, credit_account_id, amount, actor, reason, created_at"
        )
        raw = connection.connection.driver_connection
        assert raw is not None
        if ledger.engine.dialect.name == "postgresql":
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY transactions ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            cursor = raw.cursor()
            cursor.executemany(
                f"INSERT INTO transactions ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                rows,
            )
    if ledger.engine.dialect.name == "postgresql":
        with ledger.engine.connect() as connection:
            connection.execute(text("ANALYZE transactions"))
    return time.perf_counter() - started


def balance_latency(ledger: Ledger, reads: int) -> tuple[float, float]:
    """Read one balance ``reads`` times; return (p50, p99) in milliseconds."""
    samples = []
    for _ in range(reads):
        started = time.perf_counter()
        ledger.balance("bench-a")
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


def _shown(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates)


def _ledger_synchronous(ledger: Ledger) -> str:
    with ledger.engine.connect() as connection:
        value = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    return _SYNCHRONOUS[int(value or 0)]


def run_sqlite(folder: Path, *, pairs: int, rounds: int, entries: int, reads: int) -> None:
    """The ledger and its raw anchor, rounds interleaved; then the balance read."""
    anchor_file = folder / "anchor.sqlite"
    with Ledger(f"sqlite:///{anchor_file}") as made:
        _prepare(made, "1000000000")
    anchor = RawAnchor(str(anchor_file))
    with Ledger(f"sqlite:///{folder / 'ledger.sqlite'}") as ledger:
        _prepare(ledger, "1000000000")
        setting = _ledger_synchronous(ledger)
        assert setting == anchor.synchronous()
        ledger_rates: list[float] = []
        raw_rates: list[float] = []
        try:
            for _ in range(rounds):
                # Interleaved, so that both meet the same moments of a shared machine.
                ledger_rates.append(hold_settle_rate(ledger, pairs))
                raw_rates.append(anchor.rate(pairs))
        finally:
            anchor.close()
        ratios = [mine / raw for mine, raw in zip(ledger_rates, raw_rates, strict=True)]
        print(f"sqlite (synchronous={setting}), {rounds} rounds of {pairs} hold+settle pairs:")
        print(
            f"  ledger     {statistics.median(ledger_rates):,.0f} pairs/s median "
            f"({_shown(ledger_rates)})"
        )
        print(
            f"  raw anchor {statistics.median(raw_rates):,.0f} pairs/s median ({_shown(raw_rates)})"
        )
        print(
            f"  ledger/raw {statistics.median(ratios):.0%} median of rounds "
            f"({', '.join(f'{r:.0%}' for r in ratios)}); target >= 60 % at FULL"
        )
        _reads(ledger, "sqlite", entries, reads)


def _writer(prefix: str, n: int) -> str:
    return f"{prefix}-w{n:02d}"


def _prepare_postgresql(ledger: Ledger, writers: int) -> None:
    """The SQLite half's accounts, and one for each writer of the ledger and the anchor."""
    _prepare(ledger, "1000000000")
    for prefix in ("bench", "anchor"):
        for n in range(writers):
            ledger.create_account(_writer(prefix, n), "project", actor="bench")
            ledger.grant(_writer(prefix, n), "1000000000", actor="bench")


def _ledger_pairs(ledger: Ledger, account: str, pairs: int, run: str) -> None:
    """The hub's two calls per session, ``pairs`` times, as one writer."""
    for n in range(pairs):
        hold = ledger.place_hold(
            account, "north", SESSION, "1", actor="bench", idempotency_key=f"h{run}-{account}-{n}"
        )
        ledger.settle(hold.id, USED, actor="bench", idempotency_key=f"s{run}-{account}-{n}")


def _ledger_writer(ledger: Ledger, pairs: int, run: str, writer: int) -> None:
    _ledger_pairs(ledger, _writer("bench", writer), pairs, run)


def _anchor_writer(anchors: list[PgAnchor], pairs: int, run: str, writer: int) -> None:
    anchors[writer].pairs(pairs, run)


class PgAnchor:
    """The ledger's hold and settle transactions as bare psycopg calls, one connection.

    The same statements (:class:`~computehub.credits.rawsql.Statements`) in the same
    order, on the same tables, so the same row locks (``FOR UPDATE`` on the account,
    then the hold), constraints, triggers and rows; psycopg begins the transaction at
    the first statement and commits at the end, as the ledger's connection does. Only
    the Python around them is gone (no validation, no Decimal, no records, no pool,
    figures computed in advance), so the rows it writes must pass the ledger's
    ``check`` like the ledger's own.
    """

    def __init__(self, dsn: str, account: str) -> None:
        self.sql = Statements()
        self.rates = self.sql.rates.replace("IN (%s)", "IN (%s, %s)")
        self.connection = psycopg.connect(dsn)
        self.account = account
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT id FROM accounts WHERE name = 'revenue:north'")
            self.revenue: int = _one(cursor)
        self.connection.commit()

    def setting(self, name: str) -> str:
        """A server setting as this connection sees it."""
        with self.connection.cursor() as cursor:
            cursor.execute(pgsql.SQL("SHOW {}").format(pgsql.Identifier(name)))
            value = str(_one(cursor))
        self.connection.commit()
        return value

    def close(self) -> None:
        self.connection.close()

    def pairs(self, pairs: int, run: str) -> None:
        """Place and settle ``pairs`` holds one after the other."""
        for n in range(pairs):
            hold_id = self._place(f"h{run}-{self.account}-{n}")
            self._settle(hold_id, f"s{run}-{self.account}-{n}")

    def _place(self, key: str) -> int:
        sql, stamp = self.sql, datetime.now(UTC).replace(tzinfo=None)
        with self.connection.cursor() as cursor:
            cursor.execute(sql.key, (key,))
            cursor.fetchone()
            cursor.execute(sql.lock_account_by_name, (self.account,))
            account = _one(cursor)
            cursor.execute(self.rates, ("north", "gpu:h100", "cpu", stamp))
            cursor.fetchall()
            cursor.execute(
                sql.insert_hold,
                (account, "north", None, "open", _HOURS, _HOLD, stamp, stamp, "bench", ""),
            )
            hold_id: int = _one(cursor)
            cursor.executemany(
                sql.insert_hold_resource,
                [(hold_id, "gpu:h100", 1, 100_000), (hold_id, "cpu", 4, 5_000)],
            )
            cursor.execute(sql.spendable_lots, (account, stamp))
            lot = cursor.fetchall()[0][0]
            cursor.executemany(sql.reserve_lot, [(_HOLD, lot)])
            cursor.executemany(sql.insert_allocation, [(hold_id, lot, _HOLD)])
            cursor.execute(sql.change_account, (0, _HOLD, account))
            cursor.execute(
                sql.insert_entry,
                ("hold", True, account, self.revenue, _HOLD, hold_id, None, "bench",
                 "1.0000 h on north", stamp, key, _HOURS),
            )  # fmt: skip
            cursor.fetchone()
        self.connection.commit()
        return hold_id

    def _settle(self, hold_id: int, key: str) -> None:
        sql, stamp = self.sql, datetime.now(UTC).replace(tzinfo=None)
        with self.connection.cursor() as cursor:
            cursor.execute(sql.key, (key,))
            cursor.fetchone()
            cursor.execute(sql.lock_hold_payer, (hold_id,))
            account = _one(cursor)
            cursor.execute(sql.lock_hold, (hold_id,))
            cursor.fetchall()
            cursor.execute(sql.allocated_lots, (hold_id,))
            lot, allocated, _expiry = cursor.fetchall()[0]
            cursor.executemany(sql.release_lot, [(allocated, _CHARGE, lot)])
            cursor.execute(sql.change_account, (-_CHARGE, -_HOLD, account))
            row = ("charge", False, account, self.revenue, _CHARGE, hold_id, None, "bench", "")
            cursor.execute(sql.insert_entry, (*row, stamp, key, None))
            charge_tx = _one(cursor)
            release = ("release", True, account, self.revenue, _HOLD - _CHARGE, hold_id, None)
            cursor.execute(
                sql.insert_entry,
                (*release, "bench", "unused part of the hold", stamp, None, None),
            )
            cursor.fetchone()
            cursor.execute(
                sql.insert_charge,
                (hold_id, charge_tx, account, "north", _CHARGE, _CHARGE, stamp),
            )
            charge_id = _one(cursor)
            cursor.executemany(sql.insert_usage, [(charge_id, *usage) for usage in _USAGE])
            cursor.execute(sql.close_hold, ("settled", stamp, hold_id))
            cursor.execute(sql.move_system, (_CHARGE, self.revenue))
        self.connection.commit()


def _one(cursor: psycopg.Cursor[Any]) -> Any:
    row = cursor.fetchone()
    assert row is not None
    return row[0]


class WireCount:
    """What psycopg connections send to the server, read from libpq's protocol trace.

    A *statement* is a simple ``Query`` message (psycopg's ``BEGIN`` and ``COMMIT``)
    or an ``Execute`` of the extended protocol (every parameterised statement; a
    pipelined ``executemany`` sends one per row); a *round trip* is a message the
    client then waits on the server's answer for: a ``Query`` or a ``Sync`` (a whole
    pipelined ``executemany`` is one). It counts below every layer (the pool's ping,
    the ledger's driver cursor and SQLAlchemy's alike): SQLAlchemy's execute events
    never see the ledger's transactions, which run on the driver's cursor.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.traced: list[tuple[Any, Path]] = []

    def attach(self, connection: psycopg.Connection[Any]) -> None:
        """Trace everything ``connection`` sends from now on."""
        self._trace(connection.pgconn)

    def restart(self) -> None:
        """Count from now on only (what was sent before is left uncounted)."""
        for pgconn, _path in self.traced:
            pgconn.untrace()
        connections, self.traced = self.traced, []
        for pgconn, _path in connections:
            self._trace(pgconn)

    def _trace(self, pgconn: Any) -> None:
        path = self.folder / f"trace-{uuid.uuid4().hex[:12]}"
        # libpq's stream owns this descriptor from here on (it is never closed: a benchmark).
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        pgconn.trace(descriptor)
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        self.traced.append((pgconn, path))

    def stop(self) -> tuple[int, int]:
        """Stop tracing; return (statements, round trips) sent since the attach."""
        statements = round_trips = 0
        for pgconn, path in self.traced:
            pgconn.untrace()  # flushes the stream
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split("\t", 3)
                if len(parts) > 2 and parts[0] == "F":
                    statements += parts[2] in ("Query", "Execute")
                    round_trips += parts[2] in ("Query", "Sync")
        self.traced = []
        return statements, round_trips


def _concurrent_rate(
    work: Callable[[int], None], threads: ThreadPoolExecutor, writers: int, pairs: int
) -> tuple[float, float]:
    """Run ``work(writer)`` on ``writers`` threads of ``threads`` at once, ``pairs`` each.

    The threads live on from round to round, as the hub's worker threads do (the
    ledger keeps a connection per thread).

    Returns:
        Pairs per second, and this process's CPU milliseconds per pair.
    """
    start = threading.Barrier(writers + 1)

    def one(writer: int) -> None:
        start.wait()
        work(writer)

    done = [threads.submit(one, n) for n in range(writers)]
    start.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for future in done:
        future.result()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return pairs * writers / elapsed, cpu * 1000 / (pairs * writers)


def _count_ledger(url: str, folder: Path, pairs: int) -> tuple[float, float, float]:
    """Statements, round trips and SQLAlchemy-level executes per pair of the ledger."""
    wire = WireCount(folder)
    engine = create_ledger_engine(url)
    through_sqlalchemy = 0
    traced: set[int] = set()

    def counted(*_args: object) -> None:
        nonlocal through_sqlalchemy
        through_sqlalchemy += 1

    def checkout(dbapi: psycopg.Connection[Any], *_args: object) -> None:
        if id(dbapi) not in traced:
            traced.add(id(dbapi))
            wire.attach(dbapi)

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "before_cursor_execute", counted)
    with Ledger(engine=engine, migrate=False) as ledger:
        # Warm: the revenue id cached, psycopg's statements prepared (as in a running hub).
        _ledger_pairs(ledger, _writer("bench", 0), 10, uuid.uuid4().hex[:8])
        through_sqlalchemy = 0
        wire.restart()
        _ledger_pairs(ledger, _writer("bench", 0), pairs, uuid.uuid4().hex[:8])
        statements, round_trips = wire.stop()
    return statements / pairs, round_trips / pairs, through_sqlalchemy / pairs


def _count_anchor(dsn: str, folder: Path, pairs: int) -> tuple[float, float]:
    wire = WireCount(folder)
    anchor = PgAnchor(dsn, _writer("anchor", 0))
    try:
        anchor.pairs(10, uuid.uuid4().hex[:8])  # warm, as the ledger's
        wire.attach(anchor.connection)
        anchor.pairs(pairs, uuid.uuid4().hex[:8])
        statements, round_trips = wire.stop()
    finally:
        anchor.close()
    return statements / pairs, round_trips / pairs


def _print_side_by_side(
    what: str, mine: list[tuple[float, float]], raw: list[tuple[float, float]], pairs: int
) -> None:
    ledger_rates, raw_rates = [m[0] for m in mine], [r[0] for r in raw]
    ratios = [m / r for m, r in zip(ledger_rates, raw_rates, strict=True)]
    print(f"postgresql ({what}), {len(mine)} rounds of {pairs} hold+settle pairs:")
    for label, rates, cpu in (
        ("ledger ", ledger_rates, [m[1] for m in mine]),
        ("psycopg", raw_rates, [r[1] for r in raw]),
    ):
        print(
            f"  {label}    {statistics.median(rates):,.0f} pairs/s median ({_shown(rates)}); "
            f"client CPU {statistics.median(cpu):.2f} ms a pair"
        )
    print(
        f"  ledger/raw {statistics.median(ratios):.0%} median of rounds "
        f"({', '.join(f'{r:.0%}' for r in ratios)}); target >= 70 %"
    )


def run_postgresql(
    url: str, folder: Path, *, pairs: int, rounds: int, entries: int, reads: int
) -> None:
    """The ledger and its psycopg anchor, 1 and 16 writers, rounds interleaved; then reads."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    most = max(WRITERS)
    with Ledger(url) as ledger:
        _prepare_postgresql(ledger, most)
        anchors = [PgAnchor(dsn, _writer("anchor", n)) for n in range(most)]
        try:
            with ledger.engine.connect() as connection:
                ledger_settings = {
                    name: connection.exec_driver_sql(f"SHOW {name}").scalar()
                    for name in ("synchronous_commit", "fsync")
                }
            anchor_settings = {name: anchors[0].setting(name) for name in ledger_settings}
            assert ledger_settings == anchor_settings, (ledger_settings, anchor_settings)
            shown = ", ".join(f"{k}={v}" for k, v in ledger_settings.items())
            for writers in WRITERS:
                each = max(1, pairs // writers)
                mine: list[tuple[float, float]] = []
                raw: list[tuple[float, float]] = []
                with ThreadPoolExecutor(writers) as threads:
                    for _ in range(rounds):
                        run = uuid.uuid4().hex[:8]
                        # Interleaved, so that both meet the same moments of a shared machine.
                        mine.append(
                            _concurrent_rate(
                                functools.partial(_ledger_writer, ledger, each, run),
                                threads,
                                writers,
                                each,
                            )
                        )
                        raw.append(
                            _concurrent_rate(
                                functools.partial(_anchor_writer, anchors, each, run),
                                threads,
                                writers,
                                each,
                            )
                        )
                _print_side_by_side(f"{shown}, {writers} writer(s)", mine, raw, each * writers)
        finally:
            for anchor in anchors:
                anchor.close()
        counted = 50
        statements, round_trips, through = _count_ledger(url, folder, counted)
        raw_statements, raw_round_trips = _count_anchor(dsn, folder, counted)
        print(f"postgresql: per hold+settle pair ({counted} pairs, from libpq's protocol trace):")
        print(
            f"  ledger     {statements:.1f} statements, {round_trips:.1f} round trips "
            f"({through:.1f} through SQLAlchemy's execute)"
        )
        print(f"  psycopg    {raw_statements:.1f} statements, {raw_round_trips:.1f} round trips")
        _reads(ledger, "postgresql", entries, reads)


def _reads(ledger: Ledger, label: str, entries: int, reads: int) -> None:
    seconds = fill_history(ledger, entries)
    print(f"{label}: inserted {entries:,} journal entries in {seconds:.1f} s")
    p50, p99 = balance_latency(ledger, reads)
    print(f"{label}: balance read p50 {p50:.3f} ms, p99 {p99:.3f} ms ({reads} reads)")
    report = ledger.check()
    print(f"{label}: check {'clean' if report.ok else report.differences[:3]}")


def main() -> None:
    """Parse the arguments and run the benchmark on SQLite, then PostgreSQL if given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--pg-url",
        help="an empty PostgreSQL database (postgresql+psycopg://...); default: start one "
        "(Debian's postgresql) at production durability in a temporary folder",
    )
    parser.add_argument(
        "--only", choices=["sqlite", "postgresql"], help="run one database's half only"
    )
    parser.add_argument(
        "--pg-fsync",
        choices=["on", "off"],
        default="on",
        help="the own server's fsync (off: commits still wait for their log write "
        "(synchronous_commit=on), not for the disk: the client side's costs show)",
    )
    parser.add_argument(
        "--pg-pairs",
        type=int,
        default=1000,
        help="hold+settle pairs a round on PostgreSQL (split among the writers)",
    )
    parser.add_argument(
        "--entries",
        "--transactions",  # its name before the journal's rows were called entries
        dest="entries",
        type=int,
        default=1_000_000,
        help="journal entries to fill before timing balance reads",
    )
    parser.add_argument("--pairs", type=int, default=2000, help="hold+settle pairs a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of hold+settle pairs")
    parser.add_argument("--reads", type=int, default=5000, help="balance reads to time")
    parser.add_argument(
        "--synchronous",
        choices=["FULL", "NORMAL"],
        default=db.SQLITE_SYNCHRONOUS,
        help="SQLite's setting for the ledger and the anchor (default: the ledger's)",
    )
    args = parser.parse_args()
    db.SQLITE_SYNCHRONOUS = args.synchronous  # read by every new connection
    sizes = {
        "pairs": args.pairs,
        "rounds": args.rounds,
        "entries": args.entries,
        "reads": args.reads,
    }
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "sqlite"):
            run_sqlite(Path(tmp), **sizes)
        if args.only in (None, "postgresql"):
            sizes["pairs"] = args.pg_pairs
            _postgresql(args.pg_url, Path(tmp), sizes, fsync=args.pg_fsync)


def _postgresql(url: str | None, folder: Path, sizes: dict[str, int], *, fsync: str) -> None:
    """On the given database, else on a PostgreSQL of our own at production durability."""
    if url is not None:
        run_postgresql(url, folder, **sizes)
        return
    os.chmod(folder, 0o755)  # noqa: S103 (the server runs as the postgres user)
    server = Postgres(folder / "postgresql", settings=(*DURABLE, f"fsync={fsync}"))
    try:
        server.start()
    except MissingComponentError as missing:
        print(f"postgresql: skipped ({missing})")
        return
    try:
        run_postgresql(server.create_database("bench"), folder, **sizes)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
