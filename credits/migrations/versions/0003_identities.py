"""Identities; holds record cancel requests; a job id is unique among open holds only.

Each platform user name is bound to the stable identity that first used it. Slurm
reuses job ids (a controller whose state was reset, ``MaxJobId`` wrapping), so a
settled hold no longer keeps its job id from a new hold.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("username", name=op.f("uq_identities_username")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_identities_issuer_subject")),
    )
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancel_requested_at", sa.DateTime(), nullable=True))
        batch_op.drop_constraint("uq_holds_hub_job_id", type_="unique")
    op.create_index(
        "uq_holds_open_job",
        "holds",
        ["hub", "job_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("uq_holds_open_job", table_name="holds")
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_holds_hub_job_id", ["hub", "job_id"])
        batch_op.drop_column("cancel_requested_at")
    op.drop_table("identities")
