"""Session-wide fixtures: the real components of the local test bed.

Each component is started once per test session under one temporary directory
and stopped by pid at the end. A component that is not installed makes its
tests skip on a developer's machine, and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from computehub.localbed.postgres import Postgres
from computehub.localbed.proc import MissingComponentError

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def component_missing(err: Exception) -> None:
    """Skip locally, fail in CI: a test whose real component is missing never passes silently."""
    if IN_CI:
        pytest.fail(f"CI=true and a real component is missing: {err}", pytrace=False)
    pytest.skip(str(err))


@pytest.fixture(scope="session")
def bed_root() -> Iterator[Path]:
    """One directory for every daemon of this session, traversable by their users."""
    root = Path(tempfile.mkdtemp(prefix="computehub-bed-"))
    root.chmod(0o755)
    yield root
    if not os.environ.get("COMPUTEHUB_KEEP_BED"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(bed_root: Path) -> Iterator[Postgres]:
    """A real PostgreSQL 15 on 127.0.0.1, for the whole session."""
    server = Postgres(bed_root / "postgres")
    try:
        server.start()
    except MissingComponentError as err:
        component_missing(err)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> str:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database."""
    return postgres_server.create_database()
