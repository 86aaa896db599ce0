"""Ledger throughput and read latency on SQLite and PostgreSQL.

Prints hold+settle pairs per second (the median of ``--rounds`` rounds, each one listed;
target >= 2,000/s on SQLite) and the p50/p99 latency of :meth:`Ledger.balance` with
``--transactions`` rows (default 1,000,000) in the transactions table (target p99 <= 2 ms).
It prints figures and asserts nothing.

Usage::

    python benchmarks/ledger.py [--pg-url postgresql+psycopg://...] [--transactions N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from computehub.credits.ledger import Ledger
from computehub.credits.money import to_units

RATES = {("north", "gpu:h100"): Decimal(10), ("north", "cpu"): Decimal("0.5")}
SESSION = {"gpu:h100": 1, "cpu": 4}
USED = {"gpu:h100": Decimal("0.5"), "cpu": Decimal(2)}


def _prepare(ledger: Ledger, funds: str) -> None:
    ledger.sync_rates(RATES, actor="bench")
    for name in ("bench-a", "bench-b"):
        ledger.create_account(name, "project", actor="bench")
        ledger.grant(name, funds, actor="bench")


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


def _history_rows(count: int, a: int, b: int, now: datetime) -> Iterator[tuple[object, ...]]:
    # Transfers of one credit back and forth: the balances stay what they were.
    stamp = now.replace(tzinfo=None)
    for n in range(count):
        debit, credit = (a, b) if n % 2 == 0 else (b, a)
        yield ("transfer", False, debit, credit, to_units(Decimal(1)), "bench", "", stamp)


def fill_history(ledger: Ledger, count: int) -> float:
    """Bulk-insert ``count`` transactions; return the seconds it took."""
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


def run(label: str, url: str, *, pairs: int, rounds: int, transactions: int, reads: int) -> None:
    """Run both measurements on one database and print them."""
    with Ledger(url) as ledger:
        _prepare(ledger, "1000000000")
        ledger.balance("bench-a")
        # Rounds, and their median: on a shared VM one round can be off by 15 %.
        rates = [hold_settle_rate(ledger, pairs) for _ in range(rounds)]
        shown = ", ".join(f"{r:,.0f}" for r in rates)
        print(
            f"{label}: hold+settle {statistics.median(rates):,.0f} pairs/s median "
            f"({rounds} rounds of {pairs} pairs, one thread: {shown})"
        )
        seconds = fill_history(ledger, transactions)
        print(f"{label}: inserted {transactions:,} transactions in {seconds:.1f} s")
        p50, p99 = balance_latency(ledger, reads)
        print(f"{label}: balance read p50 {p50:.3f} ms, p99 {p99:.3f} ms ({reads} reads)")
        report = ledger.check()
        print(f"{label}: check {'clean' if report.ok else report.differences[:3]}")


def main() -> None:
    """Parse the arguments and run the benchmark on SQLite, then PostgreSQL if given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-url", help="an empty PostgreSQL database (postgresql+psycopg://...)")
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=2000, help="hold+settle pairs a round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of hold+settle pairs")
    parser.add_argument("--reads", type=int, default=5000, help="balance reads to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        run(
            "sqlite",
            url,
            pairs=args.pairs,
            rounds=args.rounds,
            transactions=args.transactions,
            reads=args.reads,
        )
    if args.pg_url:
        run(
            "postgresql",
            args.pg_url,
            pairs=args.pairs,
            rounds=args.rounds,
            transactions=args.transactions,
            reads=args.reads,
        )
    else:
        print("postgresql: skipped (give --pg-url to an empty database)")


if __name__ == "__main__":
    main()
