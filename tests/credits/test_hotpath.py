"""Holds and settlements on the driver's cursor (credits/hotpath.py) do what the ORM did.

The same sequence of operations, with replays, conflicts, refusals and expiring credit,
runs on a ledger with the fast path and on one without it: every result and every row
of every table must be the same, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from support import RATES, START, FakeClock

from computehub.credits import hotpath
from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits.errors import LedgerError
from computehub.credits.ledger import Ledger
from computehub.credits.names import revenue_name

GPU = {"gpu:h100": 1, "cpu": 4}
RACERS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two empty ledger databases of the same kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fast.sqlite'}", f"sqlite:///{tmp_path / 'slow.sqlite'}"
    server: Any = request.getfixturevalue("postgres_server")
    return server.create_database(), server.create_database()


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """How each fast-path call ended: ``"fast"``, ``"fallback"`` or ``"refused"``."""
    seen: list[str] = []

    def spy(run: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                result = run(*args, **kwargs)
            except hotpath.Fallback:
                seen.append("fallback")
                raise
            except LedgerError:
                seen.append("refused")
                raise
            seen.append("fast")
            return result

        return wrapped

    monkeypatch.setattr(hotpath, "place_hold", spy(hotpath.place_hold))
    monkeypatch.setattr(hotpath, "settle", spy(hotpath.settle))
    return seen


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except LedgerError as error:
        return (type(error).__name__, str(error))


def _id(hold: object) -> int:
    assert isinstance(hold, r.Hold), hold
    return hold.id


def _scenario(ledger: Ledger, clock: FakeClock) -> list[object]:
    """Every branch of place_hold and settle, in an order that reaches each."""
    ledger.sync_rates(RATES, actor="site")
    ledger.create_account("p1", "project", actor="op")
    ledger.create_account("p2", "project", actor="op")
    ledger.grant("p1", "100", actor="op")
    ledger.grant("p1", "30", actor="op", source="early", expires_at=START + timedelta(hours=5))
    ledger.grant("p1", "20", actor="op", source="late", expires_at=START + timedelta(days=10))
    ledger.grant("p2", "10", actor="op", source="short", expires_at=START + timedelta(hours=7))
    out: list[object] = []

    def run(call: Callable[[], object]) -> object:
        result = _outcome(call)
        out.append(result)
        return result

    hold = ledger.place_hold
    settle = ledger.settle
    h1 = run(lambda: hold("p1", "north", GPU, "2", actor="a", idempotency_key="h1"))
    h1_id = _id(h1)
    run(lambda: hold("p1", "north", GPU, "2", actor="a", idempotency_key="h1"))  # replay
    run(lambda: hold("p1", "north", {"cpu": 1}, "2", actor="a", idempotency_key="h1"))
    run(lambda: settle(h1_id, {"cpu": "1"}, actor="s", idempotency_key="h1"))  # a hold's key
    h2 = run(lambda: hold("p1", "north", {"cpu": 2}, "3", actor="a", job_id="j1"))
    h2_id = _id(h2)
    run(lambda: hold("p1", "north", {"cpu": 2}, "3", actor="a", job_id="j1"))  # job taken
    run(lambda: hold("p1", "north", GPU, "500", actor="a"))  # insufficient
    run(lambda: hold("nobody", "north", GPU, "1", actor="a"))
    run(lambda: hold(revenue_name("north"), "north", GPU, "1", actor="a"))
    run(lambda: hold("p1", "north", {"gpu:a100": 1}, "1", actor="a"))  # not priced here
    run(lambda: settle(h1_id, {"gpu:h100": "0.5", "cpu": "1"}, actor="s", idempotency_key="s1"))
    run(lambda: settle(h1_id, {"gpu:h100": "0.5", "cpu": "1"}, actor="s", idempotency_key="s1"))
    run(lambda: settle(h2_id, {"cpu": "1"}, actor="s", idempotency_key="s1"))  # another hold
    run(lambda: settle(h1_id, {"cpu": "2"}, actor="s", idempotency_key="s1b"))  # settled
    run(lambda: settle(h2_id, {"gpu:h100": "1"}, actor="s"))  # not reserved
    run(lambda: ledger.extend_hold(h2_id, "1", actor="a"))
    run(lambda: settle(h2_id, {"cpu": "100"}, actor="s", reason="overran"))  # capped
    run(lambda: settle(10_000, {"cpu": "1"}, actor="s"))
    h3 = run(lambda: hold("p1", "north", {"cpu": 1}, "1", actor="a"))
    h3_id = _id(h3)
    h4 = run(lambda: hold("p1", "north", {"cpu": 1}, "1", actor="a"))
    h4_id = _id(h4)
    run(lambda: ledger.void_hold(h4_id, "never started", actor="s"))
    run(lambda: settle(h4_id, {"cpu": "1"}, actor="s"))  # voided
    # The "early" credit is due: the payer's expiry is handled before the hold.
    clock.advance(hours=6)
    run(lambda: hold("p1", "north", {"cpu": 1}, "1", actor="a"))
    run(lambda: settle(h3_id, {"cpu": "0.25"}, actor="s"))
    # A hold that keeps credit past its expiry: settling gives the rest back to its source.
    h5 = run(lambda: hold("p2", "south", {"cpu": 5}, "5", actor="a"))
    h5_id = _id(h5)
    clock.advance(hours=2)
    run(lambda: settle(h5_id, {"cpu": "1"}, actor="s"))
    run(lambda: ledger.balance("p1"))
    run(lambda: ledger.balance("p2"))
    return out


def _rows(ledger: Ledger) -> dict[str, list[tuple[Any, ...]]]:
    with ledger.engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in m.Base.metadata.sorted_tables
        }


def test_the_fast_path_writes_what_the_general_one_does(
    two_urls: tuple[str, str], paths: list[str]
) -> None:
    fast_url, slow_url = two_urls
    with Ledger(slow_url, clock=(slow_clock := FakeClock())) as slow:
        slow._fast_path = False
        expected = _scenario(slow, slow_clock)
        expected_rows = _rows(slow)
    assert paths == []
    with Ledger(fast_url, clock=(fast_clock := FakeClock())) as fast:
        assert _scenario(fast, fast_clock) == expected
        assert _rows(fast) == expected_rows
        assert fast.check().differences == []
    # The fast path ran; each way out of it was taken: replays (of both kinds, and a key
    # reused for another hold), a hold settled already, and due expiry (the payer's
    # before a hold, a hold's own when it is settled).
    assert paths == [
        *("fast", "fallback", "fallback", "refused"),  # a hold, its replays, its key reused
        *("fast", "refused", "refused", "refused", "refused", "refused"),
        *("fast", "fallback", "refused", "fallback", "refused", "fast", "refused"),
        *("fast", "fast", "refused"),
        *("fallback", "fallback", "fast", "fallback"),  # due expiry
    ]


def test_the_payers_expiry_moves_when_a_hold_reserves_expiring_credit(ledger: Ledger) -> None:
    ledger.create_account("p", "project", actor="op")
    ledger.grant("p", "10", actor="op", source="soon", expires_at=START + timedelta(days=1))
    ledger.grant("p", "10", actor="op", source="later", expires_at=START + timedelta(days=2))
    hold = ledger.place_hold("p", "north", {"cpu": 2}, "10", actor="a")  # all of "soon"
    figures = ledger.balance("p")
    assert (figures.next_expiry_at, figures.expiring) == (START + timedelta(days=2), Decimal(10))
    ledger.settle(hold.id, {"cpu": "0"}, actor="s")
    figures = ledger.balance("p")
    assert (figures.next_expiry_at, figures.expiring) == (START + timedelta(days=1), Decimal(10))
    assert figures.available == Decimal(20)


def test_racing_replays_of_one_key_make_one_hold_and_one_charge(ledger: Ledger) -> None:
    """On PostgreSQL the losers hit the key's unique index and run again (a replay)."""
    ledger.create_account("p", "project", actor="op")
    ledger.grant("p", "1000", actor="op")
    barrier = threading.Barrier(RACERS)

    def place(_: int) -> int:
        barrier.wait()
        return ledger.place_hold("p", "north", GPU, "1", actor="a", idempotency_key="k").id

    with ThreadPoolExecutor(RACERS) as pool:
        (hold_id,) = set(pool.map(place, range(RACERS)))

    def settle(_: int) -> r.Charge:
        barrier.wait()
        return ledger.settle(hold_id, {"cpu": "1"}, actor="s", idempotency_key="c")

    with ThreadPoolExecutor(RACERS) as pool:
        charge, *replays = pool.map(settle, range(RACERS))
    assert all(replay == charge for replay in replays)
    figures = ledger.balance("p")
    assert (figures.balance, figures.held) == (Decimal("999.5"), Decimal(0))
    assert charge.amount == Decimal("0.5")
    assert [h.kind for h in ledger.history("p")].count("hold") == 1
    assert ledger.check().differences == []
