"""Ledger throughput and read latency on SQLite and PostgreSQL, beside a raw anchor.

Prints hold+settle pairs per second on one thread, and, on SQLite, the same two
database transactions run as bare ``sqlite3`` calls (the *raw anchor*: the same statements,
hand-written, on a file with the same schema, pragmas and checkpointing) in the same
run, rounds interleaved, at the same ``synchronous`` setting; then the ratio
ledger/raw (target >= 60 % at FULL, the ledger's setting). Then the p50/p99 latency
of :meth:`~computehub.credits.ledger.Ledger.balance` with ``--entries`` entries (default
1,000,000) in the journal (its table is ``transactions``; target p99 <= 2 ms). It
prints figures and asserts nothing.

Usage::

    python benchmarks/ledger.py [--synchronous FULL|NORMAL] [--pg-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from computehub.credits import db
from computehub.credits.checkpoint import Checkpointer
from computehub.credits.ledger import Ledger
from computehub.credits.money import to_units
from computehub.credits.rawsql import Statements

RATES = {("north", "gpu:h100"): Decimal(10), ("north", "cpu"): Decimal("0.5")}
SESSION = {"gpu:h100": 1, "cpu": 4}
USED = {"gpu:h100": Decimal("0.5"), "cpu": Decimal(2)}
#: The anchor's figures, in units: the hold (12 credits/hour, one hour) and its charge.
_HOLD, _HOURS, _CHARGE = to_units(Decimal(12)), to_units(Decimal(1)), to_units(Decimal(6))
_USAGE = [("gpu:h100", to_units(Decimal("0.5")), to_units(Decimal(10)), to_units(Decimal(5)))]
_USAGE += [("cpu", to_units(Decimal(2)), to_units(Decimal("0.5")), to_units(Decimal(1)))]
_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


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
            (account, "north", None, "open", _HOURS, _HOLD, stamp, stamp, "bench"),
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


def run_postgresql(url: str, *, pairs: int, rounds: int, entries: int, reads: int) -> None:
    """The ledger on PostgreSQL (no anchor), then the balance read."""
    with Ledger(url) as ledger:
        _prepare(ledger, "1000000000")
        rates = [hold_settle_rate(ledger, pairs) for _ in range(rounds)]
        print(
            f"postgresql: hold+settle {statistics.median(rates):,.0f} pairs/s median "
            f"({rounds} rounds of {pairs} pairs: {_shown(rates)})"
        )
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
    parser.add_argument("--pg-url", help="an empty PostgreSQL database (postgresql+psycopg://...)")
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
        run_sqlite(Path(tmp), **sizes)
    if args.pg_url:
        run_postgresql(args.pg_url, **sizes)
    else:
        print("postgresql: skipped (give --pg-url to an empty database)")


if __name__ == "__main__":
    main()
