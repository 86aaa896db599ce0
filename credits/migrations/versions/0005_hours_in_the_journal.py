"""Hold and extension rows of the journal record the hours they reserved.

A replayed idempotency key must repeat the operation it was first used for; placing
a hold or extending it is only the same operation with the same hours, which no row
recorded (a hold's ``hours`` grow with its extensions). Rows written before this
revision keep ``NULL``, and a replay of their key compares everything but the hours.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("transactions") as batch_op:
        batch_op.add_column(sa.Column("hours", sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_transactions_hours"),
            sa.text("hours IS NULL OR (hours > 0 AND kind IN ('hold', 'extend'))"),
        )


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("transactions") as batch_op:
        batch_op.drop_constraint(op.f("ck_transactions_hours"), type_="check")
        batch_op.drop_column("hours")
