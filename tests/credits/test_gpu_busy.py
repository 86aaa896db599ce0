"""GPU-busy hours per session in the ledger: recorded apart from the charge, only upward."""

from __future__ import annotations

from decimal import Decimal

import pytest

from computehub.credits.errors import ConflictError, UnknownHoldError
from computehub.credits.ledger import Ledger
from tests.support.ledgers import FakeClock


@pytest.fixture
def settled(ledger: Ledger) -> int:
    ledger.ensure_personal_account("ayesha", actor="test")
    ledger.grant("ayesha", "1000", actor="test", idempotency_key="grant:ayesha")
    hold = ledger.place_hold("ayesha", "north", {"gpu:h100": 2}, "1", actor="ayesha", job_id="7")
    ledger.settle(hold.id, {"gpu:h100": Decimal(1)}, actor="hub")
    return hold.id


def test_busy_hours_are_recorded_again_only_upward(
    ledger: Ledger, settled: int, clock: FakeClock
) -> None:
    assert ledger.gpu_busy_of(settled) is None
    first = ledger.record_gpu_busy(settled, Decimal("0.123456"), actor="hub")
    assert first.busy_hours == Decimal("0.1235")
    # The same figure again (a retried stop) returns the record unchanged.
    clock.advance(seconds=60)
    assert ledger.record_gpu_busy(settled, Decimal("0.1235"), actor="hub") == first
    # A smaller figure is a conflict: the larger one stands.
    with pytest.raises(ConflictError):
        ledger.record_gpu_busy(settled, Decimal("0.1"), actor="hub")
    # A larger one (a later report of the same session) raises it.
    raised = ledger.record_gpu_busy(settled, Decimal("0.5"), actor="hub")
    assert raised.busy_hours == Decimal("0.5")
    assert raised.recorded_at > first.recorded_at
    assert ledger.gpu_busy_of(settled) == raised
    # No credit moved.
    assert ledger.check().ok
    assert ledger.session(settled).charged == Decimal(10)


def test_busy_hours_of_no_hold_or_negative_are_refused(ledger: Ledger, settled: int) -> None:
    with pytest.raises(UnknownHoldError):
        ledger.record_gpu_busy(999, Decimal(1), actor="hub")
    for bad in (Decimal(-1), Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(ValueError, match="never negative"):
            ledger.record_gpu_busy(settled, bad, actor="hub")
    assert ledger.gpu_busy_of(settled) is None
