"""Applications for credits and their history (who did what, when).

``applications`` holds what an applicant asked for (organisation, project, category,
GPU-hours at the rate in force, period, account to credit) and the decision: the
approved figures and the grant that posted them, or the reason for a rejection.
``application_events`` is its audit trail. Constraints keep a decision whole: an
approved application has its figures and its grant, a rejected one its reason.

Revision ID: 0009
Revises: 0008
Create Date: 2027-02-10 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = "'submitted', 'changes_requested', 'approving', 'approved', 'rejected'"
_KINDS = "'startup', 'research-group', 'course', 'public-body'"
_ACTIONS = "'submit', 'comment', 'recommend', 'request-changes', 'resubmit', 'approve', 'reject'"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applicant", sa.String(length=80), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("organisation_kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Boolean(), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("hours", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.BigInteger(), nullable=False),
        sa.Column("estimate", sa.BigInteger(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("account", sa.String(length=80), nullable=False),
        sa.Column("new_account", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("approved_hours", sa.BigInteger(), nullable=True),
        sa.Column("approved_amount", sa.BigInteger(), nullable=True),
        sa.Column("approved_expires_at", sa.DateTime(), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "(status = 'approved') = (grant_id IS NOT NULL)",
            name=op.f("ck_applications_approved_grant"),
        ),
        sa.CheckConstraint(
            "(status IN ('approved', 'rejected')) = "
            "(decided_at IS NOT NULL AND decided_by IS NOT NULL)",
            name=op.f("ck_applications_decided_by_whom"),
        ),
        sa.CheckConstraint(
            "(status IN ('approving', 'approved')) = (approved_amount IS NOT NULL)"
            " AND (approved_amount IS NULL) = (approved_hours IS NULL)"
            " AND (approved_amount IS NULL OR (approved_amount > 0 AND approved_hours > 0))",
            name=op.f("ck_applications_approved_figures"),
        ),
        sa.CheckConstraint(
            f"organisation_kind IN ({_KINDS})", name=op.f("ck_applications_organisation_kind")
        ),
        sa.CheckConstraint(
            "status <> 'rejected' OR length(reason) > 0",
            name=op.f("ck_applications_rejected_with_reason"),
        ),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name=op.f("ck_applications_status")),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_applications_period")),
        sa.CheckConstraint(
            "hours > 0 AND rate >= 0 AND estimate >= 0", name=op.f("ck_applications_figures")
        ),
        sa.CheckConstraint(
            "length(title) > 0 AND length(organisation) > 0 AND length(summary) > 0",
            name=op.f("ck_applications_texts"),
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_applications_grant_id_grants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    op.create_index(op.f("ix_applications_applicant"), "applications", ["applicant"])
    op.create_index("ix_applications_queue", "applications", ["status", "priority", "created_at"])
    op.create_table(
        "application_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.CheckConstraint(f"action IN ({_ACTIONS})", name=op.f("ck_application_events_action")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_events_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_events")),
    )
    op.create_index(
        op.f("ix_application_events_application_id"), "application_events", ["application_id"]
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index(op.f("ix_application_events_application_id"), table_name="application_events")
    op.drop_table("application_events")
    op.drop_index("ix_applications_queue", table_name="applications")
    op.drop_index(op.f("ix_applications_applicant"), table_name="applications")
    op.drop_table("applications")
