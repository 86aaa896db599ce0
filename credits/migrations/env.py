"""Alembic environment: migrations run on a connection the ledger hands in.

The ledger calls :func:`~computehub.credits.db.upgrade`, which passes its own
connection (inside a transaction that serialises concurrent upgrades).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from computehub.credits.db import create_ledger_engine, migrating
from computehub.credits.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite can only ALTER tables by rebuilding them.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the ledger's connection, or on ``sqlalchemy.url`` from the ``alembic`` CLI."""
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url (alembic -x is not supported) or use the ledger")
    engine = create_ledger_engine(url)
    with migrating(engine) as own:
        _run(own)
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("the ledger's migrations run online only")
run_migrations_online()
