"""Holds: expiry, racing replays, the most hours, cancel requests, job ids reused.

(The rows each verb writes are checked in test_golden_rows.py.)
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest

from computehub.credits import records as r
from computehub.credits.errors import ConflictError, HoursLimitError, UnknownHoldError
from computehub.credits.ledger import Ledger
from tests.support.ledgers import START, FakeClock

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


def test_extend_refuses_past_the_most_hours(ledger: Ledger) -> None:
    ledger.create_account("p", "project", actor="op")
    ledger.grant("p", "100", actor="op")
    hold = ledger.place_hold("p", "north", {"cpu": 2}, "2", actor="a")
    assert ledger.extend_hold(hold.id, "2", actor="a", max_hours=Decimal(4)).hours == 4
    with pytest.raises(HoursLimitError) as refused:
        ledger.extend_hold(hold.id, "0.5", actor="a", max_hours=Decimal(4))
    assert (refused.value.limit, refused.value.current, refused.value.requested) == (
        Decimal(4),
        Decimal(4),
        Decimal("0.5"),
    )
    assert "exceeds the limit of 4 h" in str(refused.value)
    figures = ledger.balance("p")
    assert (figures.held, ledger.hold(hold.id).hours) == (Decimal(4), Decimal(4))
    assert ledger.check().differences == []


def test_concurrent_extensions_stop_exactly_at_the_most_hours(ledger: Ledger) -> None:
    """Each checks the limit inside its transaction: only the ones that fit go through."""
    ledger.create_account("p", "project", actor="op")
    ledger.grant("p", "100", actor="op")
    hold = ledger.place_hold("p", "north", {"cpu": 2}, "2", actor="a")
    barrier = threading.Barrier(RACERS)

    def extend(n: int) -> str:
        barrier.wait()
        try:
            ledger.extend_hold(
                hold.id, "1", actor="a", idempotency_key=f"e{n}", max_hours=Decimal(5)
            )
        except HoursLimitError:
            return "refused"
        return "extended"

    with ThreadPoolExecutor(RACERS) as pool:
        outcomes = list(pool.map(extend, range(RACERS)))
    assert sorted(outcomes) == ["extended"] * 3 + ["refused"] * (RACERS - 3)
    assert (ledger.hold(hold.id).hours, ledger.balance("p").held) == (Decimal(5), Decimal(5))
    assert ledger.check().differences == []


def test_a_cancel_request_is_kept_once(ledger: Ledger, clock: FakeClock) -> None:
    ledger.create_account("p", "project", actor="op")
    ledger.grant("p", "100", actor="op")
    hold = ledger.place_hold("p", "north", {"cpu": 2}, "2", actor="a")
    assert hold.cancel_requested_at is None
    clock.advance(minutes=5)
    ledger.request_cancel(hold.id, actor="spawner")
    first = ledger.hold(hold.id).cancel_requested_at
    assert first == START + timedelta(minutes=5)
    clock.advance(minutes=5)
    ledger.request_cancel(hold.id, actor="reconciler")  # the first request counts
    assert ledger.hold(hold.id).cancel_requested_at == first
    assert [h.cancel_requested_at for h in ledger.open_holds()] == [first]
    with pytest.raises(UnknownHoldError):
        ledger.request_cancel(hold.id + 100, actor="spawner")


def test_a_settled_holds_job_id_can_pay_for_a_new_job(ledger: Ledger) -> None:
    """Slurm reuses job ids: one job id is unique among open holds only."""
    ledger.create_account("p", "project", actor="op")
    ledger.grant("p", "100", actor="op")
    old = ledger.place_hold("p", "north", {"cpu": 2}, "1", actor="a", job_id="42")
    ledger.settle(old.id, {"cpu": "1"}, actor="spawner")
    new = ledger.place_hold("p", "north", {"cpu": 2}, "1", actor="a")
    assert ledger.attach_job(new.id, "north", "42").job_id == "42"
    found = ledger.hold_for_job("north", "42")
    assert found is not None
    assert found.id == new.id  # the open one, not the older settled one
    with pytest.raises(ConflictError, match="already has hold"):
        ledger.place_hold("p", "north", {"cpu": 2}, "1", actor="a", job_id="42")
    third = ledger.place_hold("p", "north", {"cpu": 2}, "1", actor="a")
    with pytest.raises(ConflictError, match="already has hold"):
        ledger.attach_job(third.id, "north", "42")
    ledger.void_hold(new.id, "never ran", actor="spawner")
    # With no open hold on it, the newest that paid for the job answers.
    latest = ledger.hold_for_job("north", "42")
    assert latest is not None
    assert latest.id == new.id
    assert ledger.place_hold("p", "north", {"cpu": 2}, "1", actor="a", job_id="42").job_id == "42"
    assert ledger.check().differences == []
