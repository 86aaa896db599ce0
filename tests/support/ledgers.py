"""Shared helpers of the ledger's tests (the fixtures are in conftest.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from computehub.credits.applications import Proposal, proposal

#: The databases every ledger test runs on (PostgreSQL is a daemon of the bed).
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
#: The moment the tests' clock starts at.
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
#: Rates the ledger tests price sessions with, as a site file would declare them.
RATES = {
    ("north", "cpu"): Decimal("0.5"),
    ("north", "gpu:h100"): Decimal("10"),
    ("north", "mig:h100:1g.10gb"): Decimal("1.25"),
    ("south", "cpu"): Decimal("0.4"),
    ("south", "gpu:a100"): Decimal("6"),
}


class FakeClock:
    """A clock the tests move by hand, to make credit expire."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by a :class:`~datetime.timedelta`'s keyword arguments."""
        self.now += timedelta(**delta)
        return self.now


def proposal_for(
    account: str, *, new_account: bool = False, hours: str = "200", **fields: Any
) -> Proposal:
    """An application's fields for ``account``: A100 hours for a flood-prediction startup."""
    values: dict[str, Any] = {
        "organisation": "Riverwatch Analytics",
        "organisation_kind": "startup",
        "title": "Flood prediction for the Indus basin",
        "summary": "Training flood forecasting models on satellite and gauge data.",
        "category": "flood-prediction",
        "priority": True,
        "gpu": "a100",
        "hours": hours,
        "starts_on": date(2026, 2, 1),
        "ends_on": date(2026, 7, 31),
        "account": account,
        "new_account": new_account,
    }
    values.update(fields)
    return proposal(**values)
