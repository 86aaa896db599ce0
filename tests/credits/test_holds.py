"""Holds: expiry bookkeeping and racing replays (the rows each verb writes: test_golden_rows)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from support import START

from computehub.credits import records as r
from computehub.credits.ledger import Ledger

GPU = {"gpu:h100": 1, "cpu": 4}
RACERS = 8


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
