"""Fixtures for the ledger's tests: every database test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from computehub.credits.ledger import Ledger
from tests.support.ledgers import DATABASES, RATES, FakeClock


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty ledger database: a temporary SQLite file, or a fresh PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> FakeClock:
    """The ledger's clock, starting at :data:`START`."""
    return FakeClock()


@pytest.fixture
def ledger(db_url: str, clock: FakeClock) -> Iterator[Ledger]:
    """A migrated ledger with :data:`RATES` recorded."""
    with Ledger(db_url, clock=clock) as opened:
        opened.sync_rates(RATES, actor="site")
        yield opened
