"""Database engines for the ledger, and its schema upgrades through Alembic.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and write
transactions start with ``BEGIN IMMEDIATE`` so that two writers never both read a
balance and then both spend it; readers use a plain deferred ``BEGIN`` and never
block. PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://...``);
writers there lock account rows ``FOR UPDATE`` (see :mod:`~computehub.credits.ledger`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text

#: Execution option that marks a connection as read-only (SQLite: deferred BEGIN).
READ_ONLY = "computehub_read_only"
#: How SQLite write transactions begin: taking the write lock first, so that two
#: writers never both read a balance and then both spend it.
SQLITE_BEGIN_WRITE = "BEGIN IMMEDIATE"
#: Page size of a new SQLite ledger (see _configure_sqlite).
SQLITE_PAGE_SIZE = 1024
#: WAL pages after which a writer checkpoints inline (normally never reached:
#: :class:`~computehub.credits.checkpoint.Checkpointer` keeps the log short).
SQLITE_AUTOCHECKPOINT_PAGES = 20_000
#: SQLite's durability: a commit returns once it is on disk (the ledger holds money).
SQLITE_SYNCHRONOUS = "FULL"
#: How long a SQLite writer waits for the write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 60_000
_MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same for every process migrating this ledger.
_PG_MIGRATION_LOCK = 0x6C656467


def normalise_url(url: str) -> str:
    """Use psycopg 3 for bare ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_ledger_engine(url: str, **kwargs: Any) -> Engine:
    """An engine configured for the ledger's transactions on SQLite or PostgreSQL.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///path`` or ``postgresql+psycopg://...``.
        **kwargs: passed to :func:`~sqlalchemy.create_engine` (pool sizes and such).
    """
    url = normalise_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    raise ValueError(f"the ledger runs on SQLite or PostgreSQL, not {backend!r}")


def _configure_sqlite(engine: Engine) -> None:
    # See "Serializable isolation / Savepoints / Transactional DDL" in SQLAlchemy's
    # SQLite dialect docs: pysqlite's own transaction handling must be switched off so
    # that SQLAlchemy can emit BEGIN IMMEDIATE itself.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # Only takes effect on a new, empty file: the ledger's rows are small, and
            # a commit appends every page it changed to the WAL; 1 KiB pages write a
            # quarter of what 4 KiB pages do for a hold or a settlement.
            cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
            cursor.execute("PRAGMA journal_mode=WAL")
            # Checkpoints run in a thread of their own (credits/checkpoint.py); a
            # writer runs one only if the log grows far beyond what that thread leaves.
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # FULL: every commit is on disk before it returns. NORMAL (in WAL mode) may
            # lose the last commits on power loss or an OS crash: a hold gone while its
            # job runs (https://sqlite.org/pragma.html#pragma_synchronous).
            cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql(SQLITE_BEGIN_WRITE)


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the ledger's migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe when several processes start at once."""
    if current_revision(engine) == head_revision():
        return
    with migrating(engine) as connection:
        # SQLite: BEGIN IMMEDIATE already serialises migrating processes.
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        command.upgrade(alembic_config(connection), "head")


@contextlib.contextmanager
def migrating(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction for schema changes.

    SQLite changes a table by rebuilding it (Alembic's batch mode: copy the rows into a
    new table, drop the old one, rename), and with foreign keys enforced, dropping a
    table that other rows refer to fails. So, as https://sqlite.org/lang_altertable.html
    prescribes, foreign keys are off for the migration (a pragma that only takes effect
    outside a transaction) and ``PRAGMA foreign_key_check`` must find nothing before it
    commits.
    """
    with engine.connect() as connection:
        if not is_sqlite(engine):
            with connection.begin():
                yield connection
            return
        raw: Any = connection.connection.driver_connection
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:10]}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine; None for PostgreSQL or in-memory SQLite."""
    if not is_sqlite(engine):
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database
