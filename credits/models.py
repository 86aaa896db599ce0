"""The ledger's tables as SQLAlchemy 2 typed declarative models.

Amounts of credits (:class:`~computehub.credits.models.Credits`), rates
(:class:`~computehub.credits.models.CreditsPerHour`) and hours
(:class:`~computehub.credits.models.Hours`) are each a column type of their own, all
stored as whole ten-thousandths (``BIGINT``) so that both SQLite and PostgreSQL add them
up exactly; times are stored as naive UTC and come back timezone-aware. The schema
itself is created by the Alembic revisions in ``migrations/``, never by ``create_all``.

The invariants the code promises are also CHECK constraints (migration 0004), so that no
path, not even a SQL shell, can overdraw a person's account or over-reserve a lot;
:meth:`~computehub.credits.ledger.Ledger.check` re-checks each of them row by row (the
constraints declared here are its list). One invariant crosses tables, a charge at most
its hold: triggers enforce it (:data:`~computehub.credits.models.CHARGE_WITHIN_HOLD`).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from computehub.credits.money import from_units, to_units

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class _Quanta(TypeDecorator[Decimal]):
    """An exact decimal stored as an integer count of :data:`~computehub.credits.money.QUANTUM`."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        """Decimal to stored integer."""
        return None if value is None else to_units(value)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        """Stored integer to Decimal."""
        return None if value is None else from_units(int(value))


class Credits(_Quanta):
    """An amount of credits."""

    cache_ok = True


class CreditsPerHour(_Quanta):
    """A rate: credits per hour of one unit of a resource."""

    cache_ok = True


class Hours(_Quanta):
    """A number of hours (a hold's walltime) or resource-hours (a usage figure)."""

    cache_ok = True


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC time stored as naive UTC (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware time to naive UTC; naive times are refused rather than guessed."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the ledger only stores timezone-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Naive UTC to aware time."""
        return None if value is None else value.replace(tzinfo=UTC)


class AccountKind(enum.StrEnum):
    """What an account is for; the first three belong to people."""

    PERSONAL = "personal"
    PROJECT = "project"
    COURSE = "course"
    #: One per funding source: grants come out of it, expired credit goes back to it.
    ISSUING = "issuing"
    #: One per hub: charges go into it.
    REVENUE = "revenue"

    @property
    def is_system(self) -> bool:
        """System accounts may go negative and have no members."""
        return self in (AccountKind.ISSUING, AccountKind.REVENUE)


USER_KINDS = (AccountKind.PERSONAL, AccountKind.PROJECT, AccountKind.COURSE)


class Role(enum.StrEnum):
    """A member's role in an account."""

    OWNER = "owner"
    MEMBER = "member"
    INSTRUCTOR = "instructor"
    STUDENT = "student"
    #: A course's teaching assistant: sees the students' use and sessions, moves no credit.
    TA = "ta"


class HoldStatus(enum.StrEnum):
    """A hold is open until it is settled (posted) or voided."""

    OPEN = "open"
    SETTLED = "settled"
    VOIDED = "voided"


class EntryKind(enum.StrEnum):
    """What an entry of the journal records."""

    GRANT = "grant"
    TRANSFER = "transfer"
    CHARGE = "charge"
    EXPIRY = "expiry"
    #: Pending: credit reserved by a hold (or added to it); moves no balance.
    HOLD = "hold"
    EXTEND = "extend"
    #: Pending: the part of a hold given back when it is settled or voided.
    RELEASE = "release"


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    """``column IN ('a', 'b', ...)`` for a CHECK constraint."""
    return f"{column} IN ({', '.join(repr(str(value)) for value in values)})"


_SYSTEM_KIND = "kind IN ('issuing', 'revenue')"
_PENDING_KINDS = "kind IN ('hold', 'extend', 'release')"

#: The invariant that crosses tables, enforced by triggers on ``charges`` and ``holds``
#: (migration 0004): a charge is at most its hold's amount.
CHARGE_WITHIN_HOLD = "ck_charges_within_hold"


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for Alembic."""

    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    """An account; its balance, held and next expiry are kept here for O(1) reads."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(_one_of("kind", AccountKind), name="kind"),
        # People's accounts never go below zero nor reserve more than they hold; the
        # issuing and revenue accounts may go negative (double entry) but hold nothing.
        CheckConstraint(
            f"{_SYSTEM_KIND} OR (held >= 0 AND balance >= held)", name="person_figures"
        ),
        CheckConstraint(f"NOT ({_SYSTEM_KIND}) OR held = 0", name="system_holds_nothing"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: Revenue accounts: the hub; issuing accounts: the funding source.
    scope: Mapped[str | None] = mapped_column(String(64))
    balance: Mapped[Decimal] = mapped_column(Credits, default=Decimal(0))
    held: Mapped[Decimal] = mapped_column(Credits, default=Decimal(0))
    #: Soonest expiry among lots with unreserved credit, so a read knows when to expire.
    next_expiry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))


class Member(Base):
    """A user's role in an account; a user may belong to several accounts."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("account_id", "username"),
        CheckConstraint(_one_of("role", Role), name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    username: Mapped[str] = mapped_column(String(80), index=True)
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Grant(Base):
    """Credits issued into an account from a funding source, possibly expiring."""

    __tablename__ = "grants"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    issuing_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[Decimal] = mapped_column(Credits)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Lot(Base):
    """A part of one grant held by one account; transfers split lots, keeping the expiry.

    ``remaining`` includes ``reserved`` (the part open holds have claimed).
    """

    __tablename__ = "lots"
    __table_args__ = (
        Index(None, "account_id", "expires_at"),
        CheckConstraint(
            "reserved >= 0 AND reserved <= remaining", name="reserved_within_remaining"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    issuing_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remaining: Mapped[Decimal] = mapped_column(Credits)
    reserved: Mapped[Decimal] = mapped_column(Credits, default=Decimal(0))


class Rate(Base):
    """Credits per hour for one unit of a resource on a hub, from a moment on.

    A ``NULL`` rate records that the site file withdrew the resource.
    """

    __tablename__ = "rates"
    __table_args__ = (
        Index(None, "hub", "resource", "effective_at"),
        CheckConstraint("rate IS NULL OR rate >= 0", name="rate_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hub: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(128))
    rate: Mapped[Decimal | None] = mapped_column(CreditsPerHour)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(80))


class Hold(Base):
    """Credit reserved for one session until it is settled (charged) or voided."""

    __tablename__ = "holds"
    __table_args__ = (
        # Slurm reuses job ids (a controller whose state was reset, MaxJobId wrapping):
        # a job id identifies a job on its hub only among the holds still open.
        Index(
            "uq_holds_open_job",
            "hub",
            "job_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index(None, "status", "hub"),
        CheckConstraint(_one_of("status", HoldStatus), name="status"),
        CheckConstraint("hours >= 0 AND amount >= 0", name="figures_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    hub: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    hours: Mapped[Decimal] = mapped_column(Hours)
    amount: Mapped[Decimal] = mapped_column(Credits)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))
    #: Why the session ended, as its user should read it (e.g. stopped for idle GPUs).
    end_note: Mapped[str | None] = mapped_column(String(500))
    #: When the platform asked Slurm to end the job; kept so that reconciliation ends
    #: a job whose cancel did not reach Slurm (controller down) after the hub forgot it.
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The JupyterHub server the session runs in, as the spawner names it (``""``: the
    #: user's default server; also every hold placed before migration 0012). A label only.
    server_name: Mapped[str] = mapped_column(String(255), server_default="", default="")


class HoldResource(Base):
    """A resource a hold pays for, with the rate in force when the hold was placed."""

    __tablename__ = "hold_resources"
    __table_args__ = (CheckConstraint("count > 0 AND rate >= 0", name="count_and_rate"),)

    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"), primary_key=True)
    resource: Mapped[str] = mapped_column(String(128), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    rate: Mapped[Decimal] = mapped_column(CreditsPerHour)


class HoldAllocation(Base):
    """How much of a hold is reserved from which lot (soonest expiry first)."""

    __tablename__ = "hold_allocations"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"), primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Credits)


class JournalEntry(Base):
    """One append-only entry of the journal per change: who, when, why, which two accounts.

    Posted entries move ``amount`` from the debit account to the credit account;
    pending entries (holds, extensions, releases) record reservations and move no
    balance. The table keeps the name it was created with, ``transactions`` (so do the
    ``transaction_id`` columns that refer to it): a renamed table would break every
    process of the previous release still running during an upgrade, and operators'
    SQL; in the code, "transaction" only ever means a database transaction.
    """

    __tablename__ = "transactions"
    __table_args__ = (
        Index(None, "debit_account_id", "id"),
        Index(None, "credit_account_id", "id"),
        CheckConstraint(_one_of("kind", EntryKind), name="kind"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        # Holds, extensions and releases reserve (pending); the others move balances.
        CheckConstraint(
            f"(pending AND {_PENDING_KINDS}) OR (NOT pending AND NOT ({_PENDING_KINDS}))",
            name="pending_kinds",
        ),
        CheckConstraint(
            "hours IS NULL OR (hours > 0 AND kind IN ('hold', 'extend'))", name="hours"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[Decimal] = mapped_column(Credits)
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id"), index=True)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"))
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    #: Hold and extension entries: the hours they reserved (so that a replay of the
    #: operation can be told from another one); ``NULL`` on entries before revision 0005.
    hours: Mapped[Decimal | None] = mapped_column(Hours)


class Transfer(Base):
    """Credits moved between two people's accounts."""

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("from_account_id <> to_account_id", name="two_accounts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The transfer's journal entry.
    entry_id: Mapped[int] = mapped_column(
        "transaction_id", ForeignKey("transactions.id"), unique=True
    )
    from_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    to_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[Decimal] = mapped_column(Credits)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Charge(Base):
    """What a settled session really cost (at most its hold)."""

    __tablename__ = "charges"
    # A charge is also at most its hold (CHARGE_WITHIN_HOLD: triggers, as it crosses tables).
    __table_args__ = (CheckConstraint("amount >= 0 AND amount <= cost", name="capped_cost"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"), unique=True)
    #: The charge's journal entry.
    entry_id: Mapped[int] = mapped_column(
        "transaction_id", ForeignKey("transactions.id"), unique=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    hub: Mapped[str] = mapped_column(String(64))
    #: What was charged: the usage's cost, capped at the hold.
    amount: Mapped[Decimal] = mapped_column(Credits)
    #: The usage's cost before the cap, so an operator sees sessions that overran.
    cost: Mapped[Decimal] = mapped_column(Credits)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Usage(Base):
    """Resource-hours of one type in a charge, priced at the hold's rate."""

    __tablename__ = "usage"
    __table_args__ = (
        CheckConstraint("hours >= 0 AND rate >= 0 AND cost >= 0", name="figures_not_negative"),
    )

    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"), primary_key=True)
    resource: Mapped[str] = mapped_column(String(128), primary_key=True)
    hours: Mapped[Decimal] = mapped_column(Hours)
    rate: Mapped[Decimal] = mapped_column(CreditsPerHour)
    cost: Mapped[Decimal] = mapped_column(Credits)


class Identity(Base):
    """The stable identity a platform user name belongs to, bound at its first login.

    A name is the POSIX account jobs run as and the owner of a personal account, so
    two people must never become one name: the first identity that logs in under a
    name keeps it, and a later login under the same name with another identity (or
    the same identity under another name) is refused.
    """

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    #: Who vouches for the identity: an OIDC issuer URL, or ``ldap:<server>``.
    issuer: Mapped[str] = mapped_column(String(255))
    #: The identity's immutable id there: OIDC ``sub``, LDAP ``entryUUID`` (else the DN).
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


#: A course's share: equal, or a fixed allowance each (which then has its amount), or none.
SHARES = (
    "(share IS NULL AND allowance IS NULL)"
    " OR (share = 'equal' AND allowance IS NULL)"
    " OR (share = 'fixed' AND allowance IS NOT NULL)"
)


class Course(Base):
    """A course: the title and term of a course account, and whether it was archived.

    The course's id is its account's name; its roster is the account's members
    (owner, instructors, TAs, students) and its credit pool the account itself. An
    archived course keeps its history, and no credit is reserved, transferred out of
    it or granted into it any more (the ledger checks it in the transaction that
    would move the credit). Coursework will refer to this row (not built yet).
    """

    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint("length(title) > 0", name="title"),
        CheckConstraint("ends_on >= starts_on", name="term"),
        CheckConstraint(
            "(archived_at IS NULL AND archived_by IS NULL)"
            " OR (archived_at IS NOT NULL AND archived_by IS NOT NULL)",
            name="archived_by_whom",
        ),
        CheckConstraint(SHARES, name="share"),
        CheckConstraint("allowance IS NULL OR allowance > 0", name="allowance_positive"),
        CheckConstraint("weekly_cap IS NULL OR weekly_cap > 0", name="weekly_cap_positive"),
        CheckConstraint("branch IS NULL OR repository IS NOT NULL", name="branch_of_repository"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    #: The term: its first and last day (the last day is still in term).
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_by: Mapped[str | None] = mapped_column(String(80))
    #: How the pool is shared among its students (migration 0007): ``equal`` (the pool
    #: shared equally among the students enrolled now), ``fixed`` (``allowance`` each)
    #: or none; see :mod:`~computehub.credits.sharing`.
    share: Mapped[str | None] = mapped_column(String(10))
    #: Each student's allowance for the term when ``share`` is ``fixed``.
    allowance: Mapped[Decimal | None] = mapped_column(Credits)
    #: The most credits a student may spend from the pool in a week (Monday 00:00 UTC on).
    weekly_cap: Mapped[Decimal | None] = mapped_column(Credits)
    #: The git repository of the course's materials, pulled into students' homes by
    #: nbgitpuller links (migration 0008); ``branch``: ``None`` for its default branch.
    repository: Mapped[str | None] = mapped_column(String(500))
    branch: Mapped[str | None] = mapped_column(String(200))


class StudentAllowance(Base):
    """One student's own allowance for a course's term: it replaces the course's share.

    How an instructor raises (or sets) one student's allowance (migration 0007).
    """

    __tablename__ = "course_allowances"
    __table_args__ = (CheckConstraint("allowance > 0", name="allowance_positive"),)

    account_id: Mapped[int] = mapped_column(ForeignKey("courses.account_id"), primary_key=True)
    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    allowance: Mapped[Decimal] = mapped_column(Credits)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)
    set_by: Mapped[str] = mapped_column(String(80))


class ApplicationStatus(enum.StrEnum):
    """Where an application for credits stands (see :mod:`~computehub.credits.applications`)."""

    SUBMITTED = "submitted"
    #: A reviewer or operator asked the applicant to change it; they edit and resubmit.
    CHANGES_REQUESTED = "changes_requested"
    #: An operator approved it and its grant is being posted (a moment, or until a retry).
    APPROVING = "approving"
    APPROVED = "approved"
    REJECTED = "rejected"


class OrganisationKind(enum.StrEnum):
    """Who applies for credits."""

    STARTUP = "startup"
    RESEARCH_GROUP = "research-group"
    COURSE = "course"
    PUBLIC_BODY = "public-body"


class ApplicationAction(enum.StrEnum):
    """One step in an application's history."""

    SUBMIT = "submit"
    COMMENT = "comment"
    RECOMMEND = "recommend"
    REQUEST_CHANGES = "request-changes"
    RESUBMIT = "resubmit"
    APPROVE = "approve"
    REJECT = "reject"


class Application(Base):
    """An application for credits: what is asked for, by whom, and the decision (migration 0009).

    Approval posts one grant (idempotency key ``application:<id>``) whose id is kept
    here; the figures of the decision are set together with the status that needs them.
    """

    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(_one_of("status", ApplicationStatus), name="status"),
        CheckConstraint(_one_of("organisation_kind", OrganisationKind), name="organisation_kind"),
        CheckConstraint(
            "length(title) > 0 AND length(organisation) > 0 AND length(summary) > 0",
            name="texts",
        ),
        CheckConstraint("hours > 0 AND rate >= 0 AND estimate >= 0", name="figures"),
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint(
            "(status IN ('approving', 'approved')) = (approved_amount IS NOT NULL)"
            " AND (approved_amount IS NULL) = (approved_hours IS NULL)"
            " AND (approved_amount IS NULL OR (approved_amount > 0 AND approved_hours > 0))",
            name="approved_figures",
        ),
        CheckConstraint("(status = 'approved') = (grant_id IS NOT NULL)", name="approved_grant"),
        CheckConstraint("status <> 'rejected' OR length(reason) > 0", name="rejected_with_reason"),
        CheckConstraint(
            "(status IN ('approved', 'rejected')) = "
            "(decided_at IS NOT NULL AND decided_by IS NOT NULL)",
            name="decided_by_whom",
        ),
        Index("ix_applications_queue", "status", "priority", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    applicant: Mapped[str] = mapped_column(String(80), index=True)
    organisation: Mapped[str] = mapped_column(String(200))
    organisation_kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    #: One of the site file's ``programme.categories``; ``priority`` as it said at submission.
    category: Mapped[str] = mapped_column(String(64))
    priority: Mapped[bool] = mapped_column(Boolean)
    #: The GPU asked for, as a rate names it (``gpu:a100``), and how many GPU-hours.
    resource: Mapped[str] = mapped_column(String(64))
    hours: Mapped[Decimal] = mapped_column(Hours)
    #: The rate in force when it was (re)submitted, and ``hours`` times ``rate``.
    rate: Mapped[Decimal] = mapped_column(CreditsPerHour)
    estimate: Mapped[Decimal] = mapped_column(Credits)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    #: The account to credit, and whether approval creates it (a project account).
    account: Mapped[str] = mapped_column(String(80))
    new_account: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_hours: Mapped[Decimal | None] = mapped_column(Hours)
    approved_amount: Mapped[Decimal | None] = mapped_column(Credits)
    approved_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"))
    #: Why it was rejected (or the operator's note on an approval).
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    #: When the applicant last saw the application's latest decision or request.
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApplicationEvent(Base):
    """One step of an application's history: who did what, when (the audit trail)."""

    __tablename__ = "application_events"
    __table_args__ = (CheckConstraint(_one_of("action", ApplicationAction), name="action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(20))
    #: What the person wrote (a comment, a reason), and what the step changed, in words.
    message: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class WattHours(_Quanta):
    """An amount of energy in watt-hours."""

    cache_ok = True


class SessionEnergy(Base):
    """The GPU energy a session's job used, as the node measured it (migration 0010).

    Recorded apart from the charge, by its own idempotent operation: the energy reaches
    the platform after the job's epilog, which may be after the session was settled.
    ``wh`` is NULL when the node could not measure it (recorded as unknown, never 0).
    """

    __tablename__ = "session_energy"
    __table_args__ = (
        CheckConstraint("wh IS NULL OR wh >= 0", name="wh_not_negative"),
        CheckConstraint("seconds >= 0 AND gpus >= 0", name="figures_not_negative"),
    )

    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"), primary_key=True)
    wh: Mapped[Decimal | None] = mapped_column(WattHours)
    #: How long the job's GPUs were measured (prolog to epilog), and how many there were.
    seconds: Mapped[int] = mapped_column(Integer)
    gpus: Mapped[int] = mapped_column(Integer)
    #: Where the figure came from (``nvml``: the node's prolog and epilog).
    source: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_by: Mapped[str] = mapped_column(String(80))


class SessionGpuBusy(Base):
    """GPU-hours a session's GPUs were busy, from its server's idle reports (migration 0011).

    Self-reported by the notebook server (code the user controls) and clamped by the hub
    to the session's GPUs times its elapsed time: a statistic for the operator console,
    never billed. Recorded apart from the charge by its own idempotent operation; a
    session whose server never reported has no row (not recorded).
    """

    __tablename__ = "session_gpu_busy"
    __table_args__ = (CheckConstraint("busy_hours >= 0", name="busy_hours_not_negative"),)

    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"), primary_key=True)
    busy_hours: Mapped[Decimal] = mapped_column(Hours)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_by: Mapped[str] = mapped_column(String(80))
