"""The GPU energy of each session, as its node measured it (NVML, prolog to epilog).

``session_energy`` has one row per hold whose job's energy reached the platform: the
watt-hours (NULL when the node could not measure them: unknown, never 0), how long and
how many GPUs were measured, and where the figure came from. It is written apart from
the charge, which may be settled before the energy arrives.

Revision ID: 0010
Revises: 0009
Create Date: 2027-03-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "session_energy",
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("wh", sa.BigInteger(), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.CheckConstraint("wh IS NULL OR wh >= 0", name=op.f("ck_session_energy_wh_not_negative")),
        sa.CheckConstraint(
            "seconds >= 0 AND gpus >= 0", name=op.f("ck_session_energy_figures_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name=op.f("fk_session_energy_hold_id_holds")
        ),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_session_energy")),
    )
    op.create_index(op.f("ix_session_energy_recorded_at"), "session_energy", ["recorded_at"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index(op.f("ix_session_energy_recorded_at"), table_name="session_energy")
    op.drop_table("session_energy")
