"""Settling many holds in one transaction (reconciliation after an outage)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from computehub.credits.errors import ConflictError
from computehub.credits.holds import Settlement
from computehub.credits.ledger import Ledger

USED = {"cpu": Decimal("0.5")}


def _holds(ledger: Ledger, count: int) -> list[int]:
    ledger.create_account("p", "project", actor="op")
    ledger.grant("p", "1000", actor="op")
    return [
        ledger.place_hold("p", "north", {"cpu": 2}, "1", actor="a", job_id=str(n)).id
        for n in range(count)
    ]


def test_many_holds_are_settled_as_each_would_be_alone(ledger: Ledger) -> None:
    holds = _holds(ledger, 6)
    alone, together = holds[:3], holds[3:]
    single = [ledger.settle(h, USED, actor="r", idempotency_key=f"s{h}") for h in alone]
    items = [Settlement(h, USED, f"s{h}", "ended") for h in together]
    many = ledger.settle_many(items, actor="r")
    assert [c.hold_id for c in many] == together
    assert [c.amount for c in many] == [c.amount for c in single]
    assert all(ledger.hold(h).status == "settled" for h in holds)
    # A replay (the spawner settled one first, or a pass ran twice) gives the same charges.
    assert ledger.settle_many(items, actor="r") == many
    assert ledger.check().ok


def test_one_refusal_settles_none_of_the_batch(ledger: Ledger) -> None:
    holds = _holds(ledger, 3)
    ledger.void_hold(holds[1], "test: never started", actor="op")
    items = [Settlement(h, USED, f"s{h}", "ended") for h in holds]
    with pytest.raises(ConflictError):
        ledger.settle_many(items, actor="r")
    assert [ledger.hold(h).status for h in holds] == ["open", "voided", "open"]
    assert ledger.check().ok
