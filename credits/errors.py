"""Typed errors of the ledger: each one carries what a person needs to act on it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal


class LedgerError(Exception):
    """Base class: an operation was refused and nothing was changed."""


class InvalidAmountError(LedgerError, ValueError):
    """An amount, hours or rate that is not a positive exact decimal the ledger accepts."""


class UnknownAccountError(LedgerError, LookupError):
    """No account has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown account {name!r}")
        self.name = name


class UnknownCourseError(UnknownAccountError):
    """No course has this id (there may be a course account of that name without a term)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.args = (f"unknown course {name!r}",)


class UnknownHoldError(LedgerError, LookupError):
    """No hold has this id."""

    def __init__(self, hold_id: int) -> None:
        super().__init__(f"unknown hold {hold_id}")
        self.hold_id = hold_id


class UnknownRateError(LedgerError, LookupError):
    """A hub does not price this resource (or has withdrawn it)."""

    def __init__(self, hub: str, resource: str) -> None:
        super().__init__(f"hub {hub!r} has no rate for resource {resource!r}")
        self.hub = hub
        self.resource = resource


class ConflictError(LedgerError):
    """The request contradicts the ledger's state (closed hold, reused idempotency key, ...)."""


class InsufficientCreditError(LedgerError):
    """The account cannot cover the amount asked for.

    Attributes:
        account: the account's name.
        available: credits the account could spend now.
        requested: credits the operation needed.
        affordable_hours: for holds, how many hours the account could pay at the same price.
    """

    def __init__(
        self,
        account: str,
        available: Decimal,
        requested: Decimal,
        affordable_hours: Decimal | None = None,
    ) -> None:
        message = f"account {account!r} has {available} credits available, {requested} requested"
        if affordable_hours is not None:
            message += f" (it can afford {affordable_hours} hours)"
        super().__init__(message)
        self.account = account
        self.available = available
        self.requested = requested
        self.affordable_hours = affordable_hours


class IdentityConflictError(LedgerError):
    """A user name is bound to another identity, or the identity to another name.

    Attributes:
        username: the name asked for.
        bound_to: what the name (or the identity) is already bound to, for the log.
    """

    def __init__(self, username: str, bound_to: str) -> None:
        super().__init__(f"user name {username!r} conflicts with the identity bound to {bound_to}")
        self.username = username
        self.bound_to = bound_to


class HoursLimitError(LedgerError):
    """A hold would last longer than the most hours its session may have.

    Attributes:
        limit: the most hours allowed.
        current: the hours the hold has now.
        requested: the hours asked for on top.
    """

    def __init__(self, hold_id: int, limit: Decimal, current: Decimal, requested: Decimal) -> None:
        super().__init__(
            f"hold {hold_id} has {current} h; {requested} h more exceeds the limit of {limit} h"
        )
        self.hold_id = hold_id
        self.limit = limit
        self.current = current
        self.requested = requested


class InvalidTermError(LedgerError, ValueError):
    """A course's term that ends before it starts."""


class ArchivedCourseError(ConflictError):
    """The course was archived: nothing more is spent from its pool or granted into it.

    Attributes:
        course: the course's id (its account's name).
        archived_at: when it was archived.
    """

    def __init__(self, course: str, archived_at: datetime) -> None:
        super().__init__(
            f"course {course!r} was archived on {archived_at:%Y-%m-%d}: no credit can be "
            "spent from it, transferred out of or into it, or granted to it any more "
            "(its history stays readable)"
        )
        self.course = course
        self.archived_at = archived_at


class CourseShareError(LedgerError):
    """A student's session would pass their share of a course's pool.

    Attributes:
        course: the course's id (its account's name).
        username: the student.
        kind: the limit passed: ``equal share``, ``allowance`` or ``weekly cap``.
        limit: the credits it allows.
        used: what the student spent under it and holds now.
        requested: what the session would reserve.
        resets_at: when the limit's window starts again (the weekly cap), else ``None``.
        ends_on: the term's last day (a term limit lasts until then).
    """

    def __init__(
        self,
        course: str,
        username: str,
        kind: str,
        limit: Decimal,
        used: Decimal,
        requested: Decimal,
        resets_at: datetime | None,
        ends_on: date,
    ) -> None:
        until = (
            f"it resets at {resets_at.isoformat()}"
            if resets_at is not None
            else f"it lasts the term, to {ends_on.isoformat()}"
        )
        super().__init__(
            f"{username!r} has used {_plain(used)} of the {kind} of {_plain(limit)} credits "
            f"on course {course!r}; {_plain(requested)} requested ({until})"
        )
        self.course = course
        self.username = username
        self.kind = kind
        self.limit = limit
        self.used = used
        self.requested = requested
        self.resets_at = resets_at
        self.ends_on = ends_on

    @property
    def left(self) -> Decimal:
        """What the student may still spend under this limit."""
        return max(self.limit - self.used, Decimal(0))


def _plain(value: Decimal) -> str:
    """An amount without trailing zeros: ``2.5``, ``10``."""
    return f"{value.normalize():f}"


class UnknownApplicationError(LedgerError, LookupError):
    """No application for credits has this id."""

    def __init__(self, application_id: int) -> None:
        super().__init__(f"there is no application {application_id}")
        self.application_id = application_id


class UnpricedResourceError(LedgerError, ValueError):
    """No hub prices the resource an application asks for."""

    def __init__(self, resource: str) -> None:
        super().__init__(f"no hub prices {resource} now: choose a GPU type that a hub offers")
        self.resource = resource
