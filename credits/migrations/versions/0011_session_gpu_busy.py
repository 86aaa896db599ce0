"""GPU-busy hours per session, from the notebook servers' idle reports.

``session_gpu_busy`` has one row per hold whose server reported its GPUs' busy time
before the session ended: GPU-hours at or above the GPU-idle rule's busy threshold,
self-reported by the server and clamped by the hub to the session's GPUs times its
elapsed time. A statistic for the console, never billed; a session without a row was
not recorded (no report, no GPUs, MIG slices whose utilisation is not measured).

Revision ID: 0011
Revises: 0010
Create Date: 2027-03-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "session_gpu_busy",
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("busy_hours", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.CheckConstraint(
            "busy_hours >= 0", name=op.f("ck_session_gpu_busy_busy_hours_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name=op.f("fk_session_gpu_busy_hold_id_holds")
        ),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_session_gpu_busy")),
    )
    op.create_index(op.f("ix_session_gpu_busy_recorded_at"), "session_gpu_busy", ["recorded_at"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index(op.f("ix_session_gpu_busy_recorded_at"), table_name="session_gpu_busy")
    op.drop_table("session_gpu_busy")
