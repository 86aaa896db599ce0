"""Courses: a title, a term and an archive mark on a course account; the course role ``ta``.

The table ``courses`` has one row per course, keyed by its account (the course's
pool; its members are the roster). The members' role check gains ``ta`` (a
teaching assistant). Course accounts made before this revision have no row: they
are pools without a term, never archived, until an operator makes them a course
(``computehub credits course create``).

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLES_BEFORE = "role IN ('owner', 'member', 'instructor', 'student')"
_ROLES = "role IN ('owner', 'member', 'instructor', 'student', 'ta')"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "courses",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("archived_by", sa.String(length=80), nullable=True),
        sa.CheckConstraint("length(title) > 0", name=op.f("ck_courses_title")),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_courses_term")),
        sa.CheckConstraint(
            "(archived_at IS NULL AND archived_by IS NULL)"
            " OR (archived_at IS NOT NULL AND archived_by IS NOT NULL)",
            name=op.f("ck_courses_archived_by_whom"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_courses_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_courses")),
    )
    with op.batch_alter_table("members") as batch_op:
        batch_op.drop_constraint(op.f("ck_members_role"), type_="check")
        batch_op.create_check_constraint(op.f("ck_members_role"), sa.text(_ROLES))


def downgrade() -> None:
    """Undo this revision (refused while a member is a TA: the old roles have none)."""
    with op.batch_alter_table("members") as batch_op:
        batch_op.drop_constraint(op.f("ck_members_role"), type_="check")
        batch_op.create_check_constraint(op.f("ck_members_role"), sa.text(_ROLES_BEFORE))
    op.drop_table("courses")
