"""The hold verbs' golden scenario: every case of placing, extending, settling and voiding.

Run by ``test_golden_rows.py`` on SQLite and PostgreSQL with a fixed clock; the rows it
leaves are compared with literal rows written in that file (never computed by the
ledger), so a change to the write path that changes any row fails there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits.errors import LedgerError
from computehub.credits.ledger import Ledger
from tests.support.ledgers import RATES, START, FakeClock

GPU = {"gpu:h100": 1, "cpu": 4}


def at(hours: float) -> datetime:
    """The scenario's clock ``hours`` after it starts."""
    return START + timedelta(hours=hours)


def outcome(result: object) -> tuple[object, ...]:
    """What an operation returned, in a few literal fields."""
    if isinstance(result, r.Hold):
        return ("hold", result.id, result.status, result.hours, result.amount)
    if isinstance(result, r.Charge):
        return ("charge", result.id, result.hold_id, result.amount, result.cost, result.released)
    if isinstance(result, r.Grant):
        return ("grant", result.id, result.account, result.amount)
    if isinstance(result, r.Transfer):
        return ("transfer", result.id, result.amount)
    if isinstance(result, r.Balance):
        return ("balance", result.account, result.balance, result.held)
    if isinstance(result, int):
        return ("count", result)
    raise AssertionError(f"unexpected result {result!r}")


def run_scenario(ledger: Ledger, clock: FakeClock) -> list[tuple[object, ...]]:
    """Run the scenario; return each operation's outcome (errors by class name)."""
    out: list[tuple[object, ...]] = []

    def run(call: Callable[[], object]) -> Any:
        try:
            result = call()
        except LedgerError as error:
            out.append((type(error).__name__,))
            return None
        out.append(outcome(result))
        return result

    ledger.sync_rates(RATES, actor="site")
    ledger.create_account("lab", "project", actor="op", owner="ana")
    ledger.create_account("c1", "course", actor="op", owner="prof")
    ledger.create_account("sam", "personal", actor="op", owner="sam")
    # Lots from several grants with different expiries.
    run(lambda: ledger.grant("lab", "100", actor="op", note="base", idempotency_key="g1"))
    run(lambda: ledger.grant("lab", "30", actor="op", source="early", expires_at=at(5)))
    run(lambda: ledger.grant("lab", "20", actor="op", source="late", expires_at=at(240)))
    run(lambda: ledger.grant("c1", "40", actor="op", source="term", expires_at=at(3)))
    run(lambda: ledger.grant("lab", "100", actor="op", note="base", idempotency_key="g1"))
    # A replay with another note (finding 13: a ConflictError from then on).
    run(lambda: ledger.grant("lab", "100", actor="op", note="other", idempotency_key="g1"))
    run(
        lambda: ledger.transfer("c1", "sam", "15", actor="prof", reason="wk1", idempotency_key="t1")
    )
    run(
        lambda: ledger.transfer("c1", "sam", "15", actor="prof", reason="wk1", idempotency_key="t1")
    )
    h1 = run(lambda: ledger.place_hold("lab", "north", GPU, "2", actor="ana", idempotency_key="h1"))
    run(lambda: ledger.place_hold("lab", "north", GPU, "2", actor="ana", idempotency_key="h1"))
    # A replay asking for other hours (finding 13).
    run(lambda: ledger.place_hold("lab", "north", GPU, "3", actor="ana", idempotency_key="h1"))
    run(lambda: ledger.settle(h1.id, {"cpu": "1"}, actor="spawner", idempotency_key="h1"))
    run(lambda: ledger.place_hold("nobody", "north", GPU, "1", actor="ana"))
    run(lambda: ledger.place_hold("revenue:north", "north", GPU, "1", actor="ana"))
    run(lambda: ledger.place_hold("lab", "north", {"gpu:a100": 1}, "1", actor="ana"))
    run(lambda: ledger.settle(10_000, {"cpu": "1"}, actor="spawner"))
    run(lambda: ledger.settle(h1.id, {"gpu:a100": "1"}, actor="spawner"))  # not reserved
    run(lambda: ledger.void_hold(10_000, "no such hold", actor="spawner"))
    run(lambda: ledger.extend_hold(h1.id, "1", actor="ana", idempotency_key="e1"))
    run(lambda: ledger.extend_hold(h1.id, "1", actor="ana", idempotency_key="e1"))
    # A replay asking for other hours (finding 13).
    run(lambda: ledger.extend_hold(h1.id, "2", actor="ana", idempotency_key="e1"))
    # Settled under the hold, replayed, replayed with other usage (finding 13), and
    # settled again under another key.
    used = {"gpu:h100": "1.5", "cpu": "6"}
    run(lambda: ledger.settle(h1.id, used, actor="spawner", idempotency_key="s1"))
    run(lambda: ledger.settle(h1.id, used, actor="spawner", idempotency_key="s1"))
    run(lambda: ledger.settle(h1.id, {"cpu": "1"}, actor="spawner", idempotency_key="s1"))
    run(lambda: ledger.settle(h1.id, {"cpu": "2"}, actor="reconciler", idempotency_key="s1b"))
    # Settled over the hold: charged the hold, the cost kept.
    h2 = run(
        lambda: ledger.place_hold(
            "lab", "north", {"cpu": 2}, "4", actor="ana", idempotency_key="h2", job_id="j1"
        )
    )
    run(lambda: ledger.place_hold("lab", "north", {"cpu": 1}, "1", actor="ana", job_id="j1"))
    run(lambda: ledger.settle(h2.id, {"cpu": "1"}, actor="spawner", idempotency_key="s1"))
    run(lambda: ledger.settle(h2.id, {"cpu": "20"}, actor="spawner", reason="overran"))
    run(lambda: ledger.extend_hold(h2.id, "1", actor="ana"))  # settled
    run(lambda: ledger.void_hold(h2.id, "too late", actor="spawner"))  # settled
    # Voided, and the void replayed.
    h3 = run(lambda: ledger.place_hold("lab", "north", {"gpu:h100": 1}, "1", actor="ana"))
    run(lambda: ledger.void_hold(h3.id, "sbatch failed", actor="spawner", idempotency_key="v3"))
    run(lambda: ledger.void_hold(h3.id, "sbatch failed", actor="spawner", idempotency_key="v3"))
    run(lambda: ledger.settle(h3.id, {"gpu:h100": "1"}, actor="spawner"))  # voided
    run(lambda: ledger.place_hold("lab", "north", {"gpu:h100": 1}, "100", actor="ana"))  # short
    # A transfer, then a hold paid from it.
    hs = run(lambda: ledger.place_hold("sam", "south", {"cpu": 1}, "2", actor="sam"))
    # Credit that falls due during a hold: "early" expires at 5 h while h4 holds part of it.
    h4 = run(lambda: ledger.place_hold("lab", "north", {"cpu": 4}, "3", actor="ana"))
    clock.now = at(6)
    # The payer's due credit expires before the next hold is placed.
    run(lambda: ledger.place_hold("lab", "north", {"cpu": 1}, "1", actor="ana"))
    # What h4's settlement gives back of "early" expires at once.
    run(lambda: ledger.settle(h4.id, {"cpu": "2"}, actor="spawner"))
    run(lambda: ledger.settle(hs.id, {"cpu": "0.5"}, actor="spawner"))
    run(lambda: ledger.balance("c1"))  # due credit expires on a read
    run(lambda: ledger.balance("lab"))
    run(lambda: ledger.balance("sam"))
    run(lambda: ledger.expire(actor="cron"))
    # The course c1, archived: nothing more is spent from it, granted to it or moved.
    ledger.create_course("c1", "Course one", date(2026, 1, 1), date(2026, 1, 31), actor="op")
    ledger.archive_course("c1", actor="op")
    run(lambda: ledger.grant("c1", "5", actor="op"))
    run(lambda: ledger.transfer("c1", "sam", "1", actor="prof"))
    run(lambda: ledger.transfer("sam", "c1", "1", actor="sam"))
    run(lambda: ledger.place_hold("c1", "north", {"cpu": 1}, "1", actor="sam"))
    return out


def table_rows(ledger: Ledger) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ledger table, by primary key."""
    with ledger.engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in m.Base.metadata.sorted_tables
        }


#: Shorthand for the literal rows.
D = Decimal
