"""Applications for credits: submitted by anyone, reviewed, approved into one grant or rejected.

An applicant asks for GPU-hours of one GPU type for a project (organisation, category,
period, the account to credit); the cost is priced at the rate in force, the highest
any hub charges for that GPU, so the credit funds those hours on every hub that has
it. Reviewers and operators comment and recommend; operators ask for changes (the
applicant edits and resubmits), approve (possibly fewer or more hours, another
expiry) or reject with a reason. Every step is an
:class:`~computehub.credits.applications.ApplicationEvent` row: who, when, what.

Approval posts exactly one grant, however often it is asked for and however many
ask at once. It runs in three transactions: the decision is recorded (status
``approving``, with its figures, and the new project account created with the
applicant as owner); the grant is posted with the idempotency key
``application:<id>`` (so a second grant cannot exist: a replay with the same figures
returns the first); the grant's id is recorded (status ``approved``). A crash between
them leaves ``approving``, and approving again with the same figures finishes the
work; other figures are refused while the first decision stands.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import orm, select

from computehub.credits import creditwrites, queries
from computehub.credits import models as m
from computehub.credits.core import LedgerCore, _Op
from computehub.credits.errors import (
    ConflictError,
    UnknownAccountError,
    UnknownApplicationError,
    UnpricedResourceError,
)
from computehub.credits.money import parse_hours, round_credits
from computehub.credits.names import (
    DEFAULT_SOURCE,
    validate_account_name,
    validate_resource,
    validate_username,
)

#: The longest organisation name and project title kept (the columns' sizes).
TITLE_MAX = 200
#: The longest project summary, comment or reason kept.
SUMMARY_MAX = 5000
#: A category id, as the site file names it.
CATEGORY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
#: The kinds of organisation that apply.
ORGANISATION_KINDS = tuple(str(kind) for kind in m.OrganisationKind)
#: A GPU type as the site file names it (``a100``).
GPU_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,31}$"
#: What the API's ``?status=`` takes: ``open`` (awaiting a decision) or one status.
STATUS_FILTERS = ("open", *(str(s) for s in m.ApplicationStatus))
#: Statuses an operator may still decide on.
OPEN = (m.ApplicationStatus.SUBMITTED, m.ApplicationStatus.CHANGES_REQUESTED)
#: Statuses of the reviewers' queue: not yet decided, or an approval being finished.
QUEUED = tuple(str(s) for s in (*OPEN, m.ApplicationStatus.APPROVING))
#: A one-line text (a title, an organisation): no control characters, not only spaces.
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
#: A paragraph that must say something: no NUL, at least one visible character.
PARAGRAPH_PATTERN = r"^[^\x00]*[^\x00-\x20\x7f][^\x00]*$"
_LINE = re.compile(LINE_PATTERN)
_SOMETHING = re.compile(r"[^\x00-\x20\x7f]")
# Only ASCII white space is stripped, so what the pattern counts is what is kept.
_SPACES = " \t\n\r\x0b\x0c"
_CATEGORY = re.compile(CATEGORY_PATTERN)


@dataclass(frozen=True)
class Proposal:
    """What an applicant asks for, as :func:`~computehub.credits.applications.proposal` checked it.

    Attributes:
        organisation: the applying organisation.
        organisation_kind: one of :data:`~computehub.credits.applications.ORGANISATION_KINDS`.
        title: the project's title.
        summary: what the project does with the GPUs.
        category: one of the site file's ``programme.categories``.
        priority: whether that category has priority (the site file says).
        resource: the GPU asked for, ``gpu:<type>``.
        hours: GPU-hours asked for.
        starts_on: the first day of the period.
        ends_on: the last day of the period (the credit can be spent through it).
        account: the account to credit.
        new_account: whether approval creates ``account`` as a project account.
    """

    organisation: str
    organisation_kind: str
    title: str
    summary: str
    category: str
    priority: bool
    resource: str
    hours: Decimal
    starts_on: date
    ends_on: date
    account: str
    new_account: bool


@dataclass(frozen=True)
class ApplicationEvent:
    """One step of an application's history."""

    at: datetime
    actor: str
    action: str
    message: str
    detail: str


@dataclass(frozen=True)
class Application:
    """An application for credits, its decision and its history.

    Attributes:
        id: its number.
        applicant: who applied (the owner of a new account).
        proposal: what was asked for.
        rate: the rate the estimate was priced at (credits per GPU-hour).
        estimate: ``hours`` times ``rate``.
        status: one of :class:`~computehub.credits.models.ApplicationStatus`.
        created_at: when it was first submitted.
        updated_at: when it last changed.
        approved_hours: the GPU-hours approved (approved or approving).
        approved_amount: the credits granted for them.
        approved_expires_at: when that credit expires (``None``: never).
        grant_id: the ledger's grant (approved only).
        reason: why it was rejected, or the operator's note on approval.
        decided_at: when it was approved or rejected.
        decided_by: who decided.
        unseen: whether the applicant has not yet seen its latest decision or request.
        events: its history, oldest first.
    """

    id: int
    applicant: str
    proposal: Proposal
    rate: Decimal
    estimate: Decimal
    status: str
    created_at: datetime
    updated_at: datetime
    approved_hours: Decimal | None
    approved_amount: Decimal | None
    approved_expires_at: datetime | None
    grant_id: int | None
    reason: str
    decided_at: datetime | None
    decided_by: str | None
    unseen: bool
    events: tuple[ApplicationEvent, ...]

    @property
    def recommendations(self) -> list[ApplicationEvent]:
        """The reviewers' recommendations, oldest first."""
        return [e for e in self.events if e.action == m.ApplicationAction.RECOMMEND]


def _line(value: str, what: str, limit: int = TITLE_MAX) -> str:
    if not isinstance(value, str) or not _LINE.fullmatch(value) or len(value) > limit:
        raise ValueError(
            f"the {what} has 1 to {limit} characters, not only spaces, and no new lines "
            "or other control characters"
        )
    return value.strip(" ")


def text(value: str, what: str, *, required: bool = True) -> str:
    """A paragraph of free text (a summary, a comment, a reason), without its outer spaces.

    Raises:
        ValueError: empty (or only spaces and control characters) when required, too
            long, or with a NUL character.
    """
    if not isinstance(value, str) or len(value) > SUMMARY_MAX or "\x00" in value:
        raise ValueError(f"the {what} has at most {SUMMARY_MAX} characters and no NUL character")
    if required and not _SOMETHING.search(value):
        raise ValueError(f"the {what} is required")
    return value.strip(_SPACES)


def proposal(
    *,
    organisation: str,
    organisation_kind: str,
    title: str,
    summary: str,
    category: str,
    priority: bool,
    gpu: str,
    hours: Decimal | str | int,
    starts_on: date,
    ends_on: date,
    account: str,
    new_account: bool,
) -> Proposal:
    """Check an application's fields, each with a message a person can act on.

    Args:
        gpu: the GPU type (``a100``) or its resource name (``gpu:a100``).

    Raises:
        ValueError: a field is missing or malformed (the message names it).
        InvalidAmountError: the hours are not a positive number.
    """
    if organisation_kind not in ORGANISATION_KINDS:
        raise ValueError(f"the kind of organisation is one of {', '.join(ORGANISATION_KINDS)}")
    if not isinstance(category, str) or not _CATEGORY.fullmatch(category):
        raise ValueError(f"bad category {category!r}")
    resource = gpu if gpu.startswith("gpu:") else f"gpu:{gpu}"
    validate_resource(resource)
    if not resource.startswith("gpu:"):
        raise ValueError("an application asks for GPU-hours of one GPU type, such as gpu:a100")
    validate_account_name(account)
    if ends_on < starts_on:
        raise ValueError(
            f"the period ends ({ends_on.isoformat()}) before it starts ({starts_on.isoformat()})"
        )
    return Proposal(
        organisation=_line(organisation, "organisation's name"),
        organisation_kind=organisation_kind,
        title=_line(title, "project title"),
        summary=text(summary, "project summary"),
        category=category,
        priority=bool(priority),
        resource=resource,
        hours=parse_hours(hours),
        starts_on=starts_on,
        ends_on=ends_on,
        account=account,
        new_account=bool(new_account),
    )


def expiry_of(last_day: date) -> datetime:
    """The moment credit spendable through ``last_day`` (UTC) expires: the next midnight."""
    return datetime.combine(last_day + timedelta(days=1), time(), tzinfo=UTC)


def grant_key(application_id: int) -> str:
    """The idempotency key of an application's grant (the platform's own namespace)."""
    return f"application:{application_id}"


class ApplicationsMixin(LedgerCore):
    """Applications for credits: submit, review, decide, read."""

    def submit_application(self, applicant: str, wanted: Proposal) -> Application:
        """Record a new application, priced at the rate in force.

        Raises:
            UnpricedResourceError: no hub prices the GPU asked for.
            ConflictError: a new account's name is taken, or an existing account is not
                one the applicant owns.
        """
        validate_username(applicant)

        def body(op: _Op) -> int:
            rate = _rate(op.db, op.now, wanted.resource)
            _check_account(op.db, applicant, wanted)
            row = m.Application(applicant=applicant, status=m.ApplicationStatus.SUBMITTED)
            _fill(row, wanted, rate, op.now)
            row.created_at = op.now
            row.reason = ""
            op.db.add(row)
            op.db.flush()
            _event(op, row, m.ApplicationAction.SUBMIT, "", _asked(row))
            return row.id

        return self.application(self._write(applicant, body))

    def resubmit_application(
        self, application_id: int, applicant: str, wanted: Proposal, *, message: str = ""
    ) -> Application:
        """The applicant's new version of an application not yet decided.

        Raises:
            UnknownApplicationError: no such application.
            ConflictError: it is not the applicant's, or it was decided already.
        """
        note = text(message, "message", required=False)

        def body(op: _Op) -> None:
            row = _lock(op.db, application_id)
            if row.applicant != applicant:
                raise ConflictError(f"application {application_id} is not {applicant}'s")
            _must_be_open(row, "changed")
            rate = _rate(op.db, op.now, wanted.resource)
            _check_account(op.db, applicant, wanted)
            before = _asked(row)
            _fill(row, wanted, rate, op.now)
            row.status = m.ApplicationStatus.SUBMITTED
            row.seen_at = None
            after = _asked(row)
            detail = after if before == after else f"was: {before}; now: {after}"
            _event(op, row, m.ApplicationAction.RESUBMIT, note, detail)

        self._write(applicant, body)
        return self.application(application_id)

    def comment_application(self, application_id: int, message: str, *, actor: str) -> Application:
        """Add a comment to an application's history (reviewers and operators).

        Raises:
            UnknownApplicationError: no such application.
        """
        note = text(message, "comment")

        def body(op: _Op) -> None:
            row = _lock(op.db, application_id)
            _event(op, row, m.ApplicationAction.COMMENT, note, "")

        self._write(actor, body)
        return self.application(application_id)

    def recommend_application(
        self,
        application_id: int,
        recommendation: str,
        *,
        actor: str,
        hours: Decimal | str | int | None = None,
        message: str = "",
    ) -> Application:
        """A reviewer's recommendation: ``approve`` (possibly for other hours) or ``reject``.

        Raises:
            UnknownApplicationError: no such application.
            ConflictError: it was decided already.
            ValueError: not ``approve`` or ``reject``.
        """
        if recommendation not in ("approve", "reject"):
            raise ValueError("a recommendation is approve or reject")
        figure = None if hours is None or recommendation == "reject" else parse_hours(hours)
        note = text(message, "message", required=False)

        def body(op: _Op) -> None:
            row = _lock(op.db, application_id)
            _must_be_open(row, "reviewed")
            if figure is None:
                detail = f"recommends: {recommendation}"
            else:
                detail = f"recommends: approve {_hours(figure)} GPU-hours"
            _event(op, row, m.ApplicationAction.RECOMMEND, note, detail)

        self._write(actor, body)
        return self.application(application_id)

    def request_application_changes(
        self, application_id: int, message: str, *, actor: str
    ) -> Application:
        """Ask the applicant to change the application (they edit and resubmit).

        Raises:
            UnknownApplicationError: no such application.
            ConflictError: it was decided already.
        """
        note = text(message, "request")

        def body(op: _Op) -> None:
            row = _lock(op.db, application_id)
            _must_be_open(row, "sent back")
            row.status = m.ApplicationStatus.CHANGES_REQUESTED
            row.updated_at = op.now
            row.seen_at = None
            _event(op, row, m.ApplicationAction.REQUEST_CHANGES, note, "changes requested")

        self._write(actor, body)
        return self.application(application_id)

    def reject_application(self, application_id: int, reason: str, *, actor: str) -> Application:
        """Reject an application with a reason; nothing is credited.

        Rejecting a rejected application changes nothing (a repeated request).

        Raises:
            UnknownApplicationError: no such application.
            ConflictError: it was approved (or is being approved).
        """
        why = text(reason, "reason")

        def body(op: _Op) -> None:
            row = _lock(op.db, application_id)
            if row.status == m.ApplicationStatus.REJECTED:
                return
            _must_be_open(row, "rejected")
            row.status = m.ApplicationStatus.REJECTED
            row.reason = why
            row.decided_at = row.updated_at = op.now
            row.decided_by = op.actor
            row.seen_at = None
            _event(op, row, m.ApplicationAction.REJECT, why, "rejected")

        self._write(actor, body)
        return self.application(application_id)

    def approve_application(
        self,
        application_id: int,
        *,
        actor: str,
        hours: Decimal | str | int | None = None,
        expires_on: date | None = None,
        message: str = "",
        source: str = DEFAULT_SOURCE,
    ) -> Application:
        """Approve: grant ``hours`` times the GPU's rate into the account, exactly once.

        Args:
            application_id: the application.
            actor: the operator.
            hours: GPU-hours approved; default what was asked for.
            expires_on: the last day the credit can be spent; default the period's end.
            message: a note for the applicant (kept with the decision).
            source: the funding source the grant comes from.

        Approving again, with the same figures (a double click, a retried request, two
        operators at once), returns the approved application and grants nothing more.

        Raises:
            UnknownApplicationError: no such application.
            UnpricedResourceError: no hub prices the GPU any more.
            ConflictError: it was rejected, approved with other figures, or its account
                was taken by someone else.
            ValueError: the expiry is not in the future.
        """
        figure = None if hours is None else parse_hours(hours)
        note = text(message, "message", required=False)
        decision = self._write(
            actor, lambda op: _decide(op, application_id, figure, expires_on, note)
        )
        if decision is None:
            return self.application(application_id)
        account, amount, expires_at, grant_note = decision
        issuing_id = self._system_account(m.AccountKind.ISSUING, source)
        granted = self._move(
            actor,
            lambda op: creditwrites.grant(
                op,
                account,
                amount,
                issuing_id=issuing_id,
                source=source,
                expires_at=expires_at,
                note=grant_note,
                idempotency_key=grant_key(application_id),
            ),
        )

        def finish(op: _Op) -> None:
            row = _lock(op.db, application_id)
            if row.status != m.ApplicationStatus.APPROVING:
                return
            row.status = m.ApplicationStatus.APPROVED
            row.grant_id = granted.id
            row.decided_at = row.updated_at = op.now
            row.decided_by = op.actor
            row.seen_at = None
            detail = (
                f"approved {_hours(row.approved_hours)} GPU-hours: "
                f"{_credits(row.approved_amount)} credits into {row.account} "
                f"({_expiry(row.approved_expires_at)}), grant {granted.id}"
            )
            _event(op, row, m.ApplicationAction.APPROVE, row.reason, detail)

        self._write(actor, finish)
        return self.application(application_id)

    def application(self, application_id: int) -> Application:
        """One application with its history.

        Raises:
            UnknownApplicationError: no such application.
        """
        with self._read() as db:
            row = db.get(m.Application, application_id)
            if row is None:
                raise UnknownApplicationError(application_id)
            return _record(db, row)

    def applications(
        self, *, applicant: str | None = None, statuses: Sequence[str] | None = None
    ) -> list[Application]:
        """Applications in queue order: priority categories first, then the oldest first.

        Args:
            applicant: only this person's.
            statuses: only these statuses (default all).
        """
        with self._read() as db:
            query = select(m.Application)
            if applicant is not None:
                query = query.where(m.Application.applicant == applicant)
            if statuses is not None:
                query = query.where(m.Application.status.in_([str(s) for s in statuses]))
            rows = db.scalars(
                query.order_by(
                    m.Application.priority.desc(), m.Application.created_at, m.Application.id
                )
            ).all()
            return [_record(db, row) for row in rows]

    def account_origins(self, accounts: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Each account's organisation kind and category, from its latest approved application.

        Reserved capacity (docs/capacity.md) counts a project account by the application
        that credited it; an account no approved application credited is left out.
        """
        if not accounts:
            return {}
        with self._read() as db:
            rows = db.execute(
                select(
                    m.Application.account, m.Application.organisation_kind, m.Application.category
                )
                .where(
                    m.Application.account.in_(list(accounts)),
                    m.Application.status == str(m.ApplicationStatus.APPROVED),
                )
                .order_by(m.Application.decided_at, m.Application.id)
            ).all()
        return {account: (kind, category) for account, kind, category in rows}

    def mark_applications_seen(self, applicant: str, application_ids: Sequence[int]) -> None:
        """The applicant has seen the latest decisions of these applications of theirs."""
        if not application_ids:
            return

        def body(op: _Op) -> None:
            for row in op.db.scalars(
                select(m.Application).where(
                    m.Application.id.in_(list(application_ids)),
                    m.Application.applicant == applicant,
                )
            ):
                row.seen_at = op.now

        self._write(applicant, body)


def _decide(
    op: _Op, application_id: int, hours: Decimal | None, expires_on: date | None, note: str
) -> tuple[str, Decimal, datetime | None, str] | None:
    """Record the decision (``approving``) and create the account; what to grant, or ``None``."""
    row = _lock(op.db, application_id)
    wanted_hours = hours if hours is not None else row.hours
    expires_at = expiry_of(expires_on or row.ends_on)
    if row.status in (m.ApplicationStatus.APPROVING, m.ApplicationStatus.APPROVED):
        same = (row.approved_hours, row.approved_expires_at) == (wanted_hours, expires_at)
        if not same:
            raise ConflictError(
                f"application {application_id} was approved already for "
                f"{_hours(row.approved_hours)} GPU-hours ({_expiry(row.approved_expires_at)})"
            )
        if row.status == m.ApplicationStatus.APPROVED:
            return None
    else:
        _must_be_open(row, "approved")
        if expires_at <= op.now:
            raise ValueError(f"the expiry {expires_at.date().isoformat()} is not in the future")
        rate = _rate(op.db, op.now, row.resource)
        row.approved_hours = wanted_hours
        row.approved_amount = round_credits(wanted_hours * rate)
        row.approved_expires_at = expires_at
        row.reason = note
        row.status = m.ApplicationStatus.APPROVING
        row.updated_at = op.now
        _open_account(op, row)
    if row.approved_amount is None:
        raise RuntimeError("an approving application has no amount")
    grant_note = f"application {row.id}: {row.title}"[:500]
    return row.account, row.approved_amount, row.approved_expires_at, grant_note


def _open_account(op: _Op, row: m.Application) -> None:
    """The account to credit: created for a new project (the applicant its owner), or checked."""
    account = op.db.scalar(select(m.Account).where(m.Account.name == row.account))
    if account is None:
        if not row.new_account:
            raise UnknownAccountError(row.account)
        account = m.Account(
            name=row.account,
            kind=m.AccountKind.PROJECT,
            balance=Decimal(0),
            held=Decimal(0),
            created_at=op.now,
            created_by=op.actor,
        )
        op.db.add(account)
        op.db.flush()
        op.db.add(
            m.Member(
                account_id=account.id,
                username=row.applicant,
                role=m.Role.OWNER,
                added_at=op.now,
            )
        )
        return
    if (
        _role(op.db, account.id, row.applicant) != m.Role.OWNER
        or m.AccountKind(account.kind).is_system
    ):
        raise ConflictError(
            f"account {row.account!r} is not one {row.applicant} owns: it was taken by "
            "someone else; ask the applicant to choose another name"
        )


def _role(db: orm.Session, account_id: int, username: str) -> str | None:
    return db.scalar(
        select(m.Member.role).where(
            m.Member.account_id == account_id, m.Member.username == username
        )
    )


def _check_account(db: orm.Session, applicant: str, wanted: Proposal) -> None:
    """A new account's name is free; an existing account is one the applicant owns."""
    found = db.scalar(select(m.Account).where(m.Account.name == wanted.account))
    if wanted.new_account:
        if found is not None:
            raise ConflictError(
                f"an account named {wanted.account!r} exists already: choose another name "
                "for the new project account"
            )
        return
    if found is None or _role(db, found.id, applicant) != m.Role.OWNER:
        raise ConflictError(
            f"{wanted.account!r} is not an account you own: choose one of your own accounts "
            "or ask for a new project account"
        )


def _rate(db: orm.Session, now: datetime, resource: str) -> Decimal:
    """The highest rate any hub charges now for ``resource``."""
    rates = [v for (_hub, res), v in queries.current_rates(db, now).items() if res == resource]
    if not rates:
        raise UnpricedResourceError(resource)
    return max(rates)


def _fill(row: m.Application, wanted: Proposal, rate: Decimal, now: datetime) -> None:
    row.organisation = wanted.organisation
    row.organisation_kind = wanted.organisation_kind
    row.title = wanted.title
    row.summary = wanted.summary
    row.category = wanted.category
    row.priority = wanted.priority
    row.resource = wanted.resource
    row.hours = wanted.hours
    row.rate = rate
    row.estimate = round_credits(wanted.hours * rate)
    row.starts_on = wanted.starts_on
    row.ends_on = wanted.ends_on
    row.account = wanted.account
    row.new_account = wanted.new_account
    row.updated_at = now


def _lock(db: orm.Session, application_id: int) -> m.Application:
    row = db.get(m.Application, application_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise UnknownApplicationError(application_id)
    return row


def _must_be_open(row: m.Application, what: str) -> None:
    if row.status not in OPEN:
        raise ConflictError(f"application {row.id} is {_status(row.status)}: it can't be {what}")


def _status(status: str) -> str:
    return str(status).replace("_", " ")


def _event(
    op: _Op, row: m.Application, action: m.ApplicationAction, message: str, detail: str
) -> None:
    op.db.add(
        m.ApplicationEvent(
            application_id=row.id,
            at=op.now,
            actor=op.actor,
            action=action,
            message=message,
            detail=detail,
        )
    )


def _hours(value: Decimal | None) -> str:
    return "?" if value is None else f"{value.normalize():f}"


def _credits(value: Decimal | None) -> str:
    """At least two decimals, as the API and the pages show amounts."""
    if value is None:
        return "?"
    exponent = value.normalize().as_tuple().exponent
    return (
        f"{value:.2f}" if isinstance(exponent, int) and exponent >= -2 else f"{value.normalize():f}"
    )


def _expiry(value: datetime | None) -> str:
    if value is None:
        return "never expires"
    return f"spendable through {(value - timedelta(days=1)).date().isoformat()}"


def _asked(row: m.Application) -> str:
    account = f"new project account {row.account}" if row.new_account else row.account
    return (
        f"{_hours(row.hours)} GPU-hours of {row.resource} ({_credits(row.estimate)} credits at "
        f"{_credits(row.rate)} per hour), {row.starts_on.isoformat()} to "
        f"{row.ends_on.isoformat()}, into {account}"
    )


def _record(db: orm.Session, row: m.Application) -> Application:
    events = db.scalars(
        select(m.ApplicationEvent)
        .where(m.ApplicationEvent.application_id == row.id)
        .order_by(m.ApplicationEvent.id)
    ).all()
    return Application(
        id=row.id,
        applicant=row.applicant,
        proposal=Proposal(
            organisation=row.organisation,
            organisation_kind=row.organisation_kind,
            title=row.title,
            summary=row.summary,
            category=row.category,
            priority=row.priority,
            resource=row.resource,
            hours=row.hours,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
            account=row.account,
            new_account=row.new_account,
        ),
        rate=row.rate,
        estimate=row.estimate,
        status=str(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        approved_hours=row.approved_hours,
        approved_amount=row.approved_amount,
        approved_expires_at=row.approved_expires_at,
        grant_id=row.grant_id,
        reason=row.reason,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        unseen=row.seen_at is None
        and row.status
        in (
            m.ApplicationStatus.APPROVED,
            m.ApplicationStatus.REJECTED,
            m.ApplicationStatus.CHANGES_REQUESTED,
        ),
        events=tuple(
            ApplicationEvent(
                at=e.at, actor=e.actor, action=str(e.action), message=e.message, detail=e.detail
            )
            for e in events
        ),
    )
