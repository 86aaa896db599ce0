"""A course's materials: the git repository (and branch) its students pull with nbgitpuller.

The table ``courses`` gains ``repository`` (an https, http or git URL) and ``branch``
(``NULL``: the repository's default branch; only with a repository). Every course has
none until its staff sets one.

Revision ID: 0008
Revises: 0007
Create Date: 2027-02-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("courses") as batch_op:
        batch_op.add_column(sa.Column("repository", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("branch", sa.String(length=200), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_courses_branch_of_repository"),
            sa.text("branch IS NULL OR repository IS NOT NULL"),
        )


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("courses") as batch_op:
        batch_op.drop_constraint(op.f("ck_courses_branch_of_repository"), type_="check")
        batch_op.drop_column("branch")
        batch_op.drop_column("repository")
