"""Holds get an end note: why the session ended, as its user should read it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 03:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("end_note", sa.String(length=500), nullable=True))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_column("end_note")
