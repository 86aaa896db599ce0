"""The Alembic revisions create the models' schema, and upgrade ledgers that hold data."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Engine, MetaData, inspect, select, text
from sqlalchemy.exc import IntegrityError

from computehub.credits.db import (
    alembic_config,
    create_ledger_engine,
    current_revision,
    head_revision,
    migrating,
    upgrade,
)
from computehub.credits.ledger import Ledger
from computehub.credits.models import CHARGE_WITHIN_HOLD, Base
from tests.support.golden_scenario import run_scenario, table_rows
from tests.support.ledgers import FakeClock


def test_upgrade_creates_the_models_schema_and_is_repeatable(db_url: str) -> None:
    engine = create_ledger_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    with migrating(engine) as connection:
        step = command.downgrade if down else command.upgrade
        step(alembic_config(connection), revision)


def _filled(db_url: str) -> tuple[Engine, dict[str, list[tuple[Any, ...]]]]:
    """A ledger at head holding the golden scenario's rows, and those rows."""
    clock = FakeClock()
    with Ledger(db_url, clock=clock) as ledger:
        run_scenario(ledger, clock)
        ledger.request_cancel(6, actor="spawner")
        ledger.bind_identity("ana", "https://idp.example", "sub-ana", actor="login")
        return create_ledger_engine(db_url), table_rows(ledger)


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with Ledger(engine=engine, migrate=False) as ledger:
        return table_rows(ledger)


def _stored_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows as stored, at whatever revision the database is."""
    stored = MetaData()
    stored.reflect(engine)
    with engine.connect() as connection:
        return {
            name: [tuple(row) for row in connection.execute(select(table))]
            for name, table in sorted(stored.tables.items())
            if name != "alembic_version"
        }


@pytest.mark.parametrize("older", ["0011", "0005", "0004", "0003", "0002"])
def test_upgrading_a_ledger_that_holds_data_keeps_every_row(db_url: str, older: str) -> None:
    """A ledger at an older revision, with holds, charges, lots and transfers, upgrades.

    The rows are the golden scenario's, taken down to ``older`` and up again: 0003
    (identities, cancel requests, job ids unique among open holds only), 0004 (the
    invariants as constraints), 0005 (hours in the journal) and 0006 (courses, the
    role ``ta``) rebuild tables on SQLite, which other rows refer to; 0012 (the holds'
    server names) adds a column and drops it in place, keeping the triggers.
    """
    engine, rows = _filled(db_url)
    try:
        _migrate(engine, older, down=True)
        assert current_revision(engine) == older
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        # What a later revision added can't be kept below it.
        if older < "0006":
            rows["courses"] = []
        if older < "0005":
            rows["transactions"] = [(*row[:-1], None) for row in rows["transactions"]]
        if older == "0002":
            rows["identities"] = []
            rows["holds"] = [(*row[:-2], None, row[-1]) for row in rows["holds"]]
        assert _rows(engine) == rows
        with Ledger(engine=engine, migrate=False) as ledger:
            assert ledger.check().differences == []
            # The constraints hold after the upgrade (the triggers too, on SQLite
            # rebuilt with their tables).
            with pytest.raises(IntegrityError, match=CHARGE_WITHIN_HOLD), engine.begin() as c:
                c.execute(text("UPDATE charges SET amount = amount + 1 WHERE id = 2"))
    finally:
        engine.dispose()


def test_a_ledger_that_breaks_an_invariant_is_refused_unchanged(db_url: str) -> None:
    engine, _rows_at_head = _filled(db_url)
    try:
        _migrate(engine, "0003", down=True)
        with engine.begin() as connection:
            connection.execute(text("UPDATE lots SET reserved = remaining + 1 WHERE id = 1"))
            connection.execute(text("UPDATE charges SET amount = amount + 1 WHERE id = 2"))
        before = _stored_rows(engine)
        with pytest.raises(RuntimeError) as refused:
            upgrade(engine)
        message = str(refused.value)
        assert "changed nothing" in message
        assert "ck_lots_reserved_within_remaining: (1, 1, 1, 4, None" in message
        assert "ck_charges_within_hold: (2,)" in message
        assert current_revision(engine) == "0003"
        assert _stored_rows(engine) == before
    finally:
        engine.dispose()


def test_the_database_has_the_constraints_the_models_declare(db_url: str) -> None:
    engine = create_ledger_engine(db_url)
    try:
        upgrade(engine)
        found = inspect(engine)
        for table in Base.metadata.sorted_tables:
            declared = {
                c.name for c in table.constraints if isinstance(c, CheckConstraint) and c.name
            }
            assert {c["name"] for c in found.get_check_constraints(table.name)} == declared
    finally:
        engine.dispose()
