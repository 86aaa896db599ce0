"""Holds record the JupyterHub server a session runs in (``""``: the user's default server).

``holds.server_name`` is a label the spawner gives when it places the hold; the ledger
knows nothing of JupyterHub. Rows placed before this revision get ``""``: they are read as
the default server's sessions (a named server's session placed before the upgrade reads as
the default server's, of the same user).

The energy a session's GPUs used already records where the figure came from
(``session_energy.source``, 0010): ``simulated`` for the demo's fake GPUs, no column needed.

Revision ID: 0012
Revises: 0011
Create Date: 2027-03-15 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision (an added column: no table is rebuilt, on SQLite either)."""
    op.add_column(
        "holds",
        sa.Column("server_name", sa.String(length=255), server_default="", nullable=False),
    )


def downgrade() -> None:
    """Undo this revision (SQLite >= 3.35 drops the column in place: its triggers stay)."""
    op.drop_column("holds", "server_name")
