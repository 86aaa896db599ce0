"""How a course's pool is shared: a share per student, a weekly cap, one student's allowance.

The table ``courses`` gains ``share`` (``equal`` or ``fixed``), ``allowance`` (each
student's, for ``fixed``) and ``weekly_cap`` (credits a student may spend from the pool
in a week); ``course_allowances`` holds one student's own allowance, which replaces the
course's share for them. Every course keeps no limit until its instructor sets one.

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-20 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHARES = (
    "(share IS NULL AND allowance IS NULL)"
    " OR (share = 'equal' AND allowance IS NULL)"
    " OR (share = 'fixed' AND allowance IS NOT NULL)"
)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("courses") as batch_op:
        batch_op.add_column(sa.Column("share", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("allowance", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("weekly_cap", sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(op.f("ck_courses_share"), sa.text(_SHARES))
        batch_op.create_check_constraint(
            op.f("ck_courses_allowance_positive"), sa.text("allowance IS NULL OR allowance > 0")
        )
        batch_op.create_check_constraint(
            op.f("ck_courses_weekly_cap_positive"),
            sa.text("weekly_cap IS NULL OR weekly_cap > 0"),
        )
    op.create_table(
        "course_allowances",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("allowance", sa.BigInteger(), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.Column("set_by", sa.String(length=80), nullable=False),
        sa.CheckConstraint("allowance > 0", name=op.f("ck_course_allowances_allowance_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["courses.account_id"],
            name=op.f("fk_course_allowances_account_id_courses"),
        ),
        sa.PrimaryKeyConstraint("account_id", "username", name=op.f("pk_course_allowances")),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("course_allowances")
    with op.batch_alter_table("courses") as batch_op:
        batch_op.drop_constraint(op.f("ck_courses_weekly_cap_positive"), type_="check")
        batch_op.drop_constraint(op.f("ck_courses_allowance_positive"), type_="check")
        batch_op.drop_constraint(op.f("ck_courses_share"), type_="check")
        batch_op.drop_column("weekly_cap")
        batch_op.drop_column("allowance")
        batch_op.drop_column("share")
