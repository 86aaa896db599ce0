"""PostgreSQL's write path: a kept connection per thread, replaced when the server dropped it."""

from __future__ import annotations

import logging

import psycopg
import pytest
from sqlalchemy import make_url

from computehub.credits.errors import InsufficientCreditError
from computehub.credits.ledger import Ledger
from tests.support.ledgers import RATES, FakeClock

pytestmark = pytest.mark.integration

SESSION = {"gpu:h100": 1}


def _drop_the_ledgers_connections(url: str) -> int:
    """What a server restart does to idle connections: the server ends them."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert ended is not None
    return int(ended[0])


def test_a_kept_connection_the_server_dropped_is_replaced_and_the_hold_placed_once(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Ledger(postgres_url, clock=FakeClock()) as ledger:
        ledger.sync_rates(RATES, actor="site")
        ledger.create_account("lab", "project", actor="op")
        ledger.grant("lab", "1000", actor="op")
        first = ledger.place_hold("lab", "north", SESSION, "1", actor="spawner")
        assert _drop_the_ledgers_connections(postgres_url) >= 1
        with caplog.at_level(logging.INFO, logger="computehub.credits.core"):
            second = ledger.place_hold(
                "lab", "north", SESSION, "1", actor="spawner", idempotency_key="start-2"
            )
            ledger.settle(first.id, {"gpu:h100": "0.5"}, actor="spawner")
        # This thread's write ran on its kept connection (no pool, no ping) and found it dead.
        assert "a kept ledger connection was lost; using a fresh one" in caplog.messages
        assert [hold.id for hold in ledger.open_holds()] == [second.id]
        assert ledger.balance("lab").held == 10
        assert ledger.balance("lab").balance == 995
        assert ledger.check().differences == []


def test_a_refusal_leaves_the_kept_connection_usable(postgres_url: str) -> None:
    with Ledger(postgres_url, clock=FakeClock()) as ledger:
        ledger.sync_rates(RATES, actor="site")
        ledger.create_account("lab", "project", actor="op")
        ledger.grant("lab", "15", actor="op")
        ledger.place_hold("lab", "north", SESSION, "1", actor="spawner")
        with pytest.raises(InsufficientCreditError):
            ledger.place_hold("lab", "north", SESSION, "1", actor="spawner")
        hold = ledger.place_hold("lab", "north", {"cpu": 2}, "1", actor="spawner")
        assert hold.amount == 1
        assert ledger.check().differences == []
