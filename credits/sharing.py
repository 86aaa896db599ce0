"""Sharing a course's pool fairly: a share or allowance per student, and a weekly cap.

An instructor chooses how the pool is shared
(:class:`~computehub.credits.sharing.SharingMixin`): an **equal share** (the pool as
funded, divided among the students enrolled now, so a late joiner gets the same share
as everyone), a **fixed allowance** per student for the term, and/or a **weekly cap**
per student (Monday 00:00 UTC to the next). One student's own allowance replaces the
course's share for them. Limits are in credits, the unit the pool is kept in. Only
the course's students are limited; its staff are not.

A student's use is counted from the journal, never from a counter of its own: the
hold and extension entries of their open holds on the pool, and the charge entries
of their settled ones (in the week, for the cap). The person is the one who placed
the hold (the spawner places a session's hold as its user). The check runs inside
the transaction that places the hold, once the pool's account is locked
(:func:`~computehub.credits.sharing.refuse_over_share`), so two starts at the cap
can't both pass it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits.core import LedgerCore, _Op
from computehub.credits.courses import _lock_course, sharing_of
from computehub.credits.errors import (
    ConflictError,
    CourseShareError,
    UnknownAccountError,
    UnknownCourseError,
)
from computehub.credits.money import from_units, parse_amount, to_units
from computehub.credits.names import validate_username
from computehub.credits.rawop import RawOp
from computehub.credits.rawsql import Statements

#: How a pool may be shared over the term (``None``: no term limit).
SHARES = ("equal", "fixed")
#: The kinds of limit, as errors and answers name them.
EQUAL_SHARE = "equal share"
ALLOWANCE = "allowance"
WEEKLY_CAP = "weekly cap"

#: Runs one statement with its parameters and returns its first row.
Fetch = Callable[[str, tuple[Any, ...]], Any]


def week_of(now: datetime) -> tuple[datetime, datetime]:
    """The week ``now`` is in: Monday 00:00 UTC and the next Monday 00:00 UTC."""
    day = now.astimezone(UTC).date()
    start = datetime.combine(day - timedelta(days=day.weekday()), time(), UTC)
    return start, start + timedelta(days=7)


@dataclass(frozen=True)
class _Policy:
    """A course's sharing and one person's place in it, as stored (integer units)."""

    share: str | None
    allowance: int | None
    weekly_cap: int | None
    ends_on: date
    own_allowance: int | None
    is_student: bool
    students: int


@dataclass(frozen=True)
class _Used:
    """A student's use of the pool and the pool's charges, from the journal (units)."""

    open_holds: int
    term_charges: int
    week_charges: int
    pool_charges: int


def _day(stored: object) -> date:
    """A stored date (SQLite keeps ``YYYY-MM-DD`` text)."""
    if isinstance(stored, date):
        return stored
    return date.fromisoformat(str(stored))


def _units(stored: object) -> int | None:
    return None if stored is None else int(stored)  # type: ignore[call-overload]


def _policy(fetch: Fetch, sql: Statements, account_id: int, username: str) -> _Policy | None:
    found = fetch(sql.share_policy, (username, username, account_id))
    if found is None:
        return None
    share, allowance, weekly_cap, ends_on, own, is_student, students = found
    return _Policy(
        share=share,
        allowance=_units(allowance),
        weekly_cap=_units(weekly_cap),
        ends_on=_day(ends_on),
        own_allowance=_units(own),
        is_student=bool(is_student),
        students=int(students),
    )


def _used(
    fetch: Fetch, sql: Statements, account_id: int, username: str, week_start: object
) -> _Used:
    found = fetch(
        sql.share_used,
        (account_id, username, account_id, username, account_id, username, week_start, account_id),
    )
    return _Used(*(int(value) for value in found))


def _limits(
    policy: _Policy, used: _Used, pool_balance: int, now: datetime
) -> tuple[r.CourseLimit, ...]:
    """The limits that apply to a student, with what they used: pure arithmetic."""
    _, resets_at = week_of(now)
    spent_term = used.term_charges + used.open_holds
    spent_week = used.week_charges + used.open_holds
    found: list[tuple[str, int, int, datetime | None]] = []
    if policy.own_allowance is not None:
        found.append((ALLOWANCE, policy.own_allowance, spent_term, None))
    elif policy.share == "fixed" and policy.allowance is not None:
        found.append((ALLOWANCE, policy.allowance, spent_term, None))
    elif policy.share == "equal":
        # The pool as funded: what is in it now and what sessions were charged from it.
        funded = max(pool_balance + used.pool_charges, 0)
        found.append((EQUAL_SHARE, funded // max(policy.students, 1), spent_term, None))
    if policy.weekly_cap is not None:
        found.append((WEEKLY_CAP, policy.weekly_cap, spent_week, resets_at))
    return tuple(
        r.CourseLimit(
            kind=kind,
            limit=from_units(limit),
            used=from_units(spent),
            left=from_units(max(limit - spent, 0)),
            resets_at=resets,
        )
        for kind, limit, spent, resets in found
    )


def _share(
    fetch: Fetch,
    sql: Statements,
    time_in: Callable[[datetime], object],
    account_id: int,
    course: str,
    username: str,
    pool_balance: int,
    now: datetime,
) -> r.CourseShare | None:
    """A person's limits on a pool; ``None`` when the account is no course."""
    policy = _policy(fetch, sql, account_id, username)
    if policy is None:
        return None
    limited = policy.is_student and (
        policy.share is not None
        or policy.weekly_cap is not None
        or policy.own_allowance is not None
    )
    if not limited:
        return r.CourseShare(course, username, (), policy.ends_on)
    week_start, _ = week_of(now)
    used = _used(fetch, sql, account_id, username, time_in(week_start))
    return r.CourseShare(course, username, _limits(policy, used, pool_balance, now), policy.ends_on)


#: Who placed a hold: the person whose share an extension of it counts against.
_PLACER = "SELECT created_by FROM holds WHERE id = %s"


def placer_of(op: RawOp, hold_id: int) -> str:
    """The person who placed a hold (an extension counts against their share)."""
    sql = _PLACER if op.driver.postgres else _PLACER.replace("%s", "?")
    found = op.row(sql, hold_id)
    return str(found[0]) if found is not None else op.actor


def refuse_over_share(
    op: RawOp,
    account_id: int,
    course: str,
    pool_balance: int,
    units: int,
    *,
    person: str | None = None,
) -> None:
    """Refuse a hold (or an extension) of ``units`` past a person's share of a course's pool.

    Runs in the hold's (or the extension's) transaction, after the pool's account is
    locked: a hold placed by a concurrent start has committed before this reads, or
    waits for it. ``person`` is whose share it counts against: the placer of the hold
    (the transaction's actor when it places one).

    Raises:
        CourseShareError: the first limit it would pass (the term's before the week's).
    """
    who = op.actor if person is None else person
    share = _share(
        lambda sql, params: op.row(sql, *params),
        op.sql,
        op.driver.time_in,
        account_id,
        course,
        who,
        pool_balance,
        op.now,
    )
    if share is None:
        return
    requested = from_units(units)
    for limit in share.limits:
        if limit.used + requested > limit.limit:
            raise CourseShareError(
                course,
                who,
                limit.kind,
                limit.limit,
                limit.used,
                requested,
                limit.resets_at,
                share.ends_on,
            )


def _positive(value: Decimal | str | int | None) -> Decimal | None:
    return None if value is None else parse_amount(value)


class SharingMixin(LedgerCore):
    """Setting how a course's pool is shared, and reading a student's limits."""

    def set_course_sharing(
        self,
        course: str,
        *,
        actor: str,
        share: str | None = None,
        allowance: Decimal | str | int | None = None,
        weekly_cap: Decimal | str | int | None = None,
    ) -> r.Sharing:
        """Set how the course's pool is shared (the whole policy at once).

        Args:
            course: the course's id.
            actor: who decided (its instructor, an operator).
            share: ``equal``, ``fixed`` (with ``allowance``) or ``None`` (no term limit).
            allowance: each student's allowance for the term, for ``fixed`` only.
            weekly_cap: credits a student may spend in a week, or ``None``.

        Raises:
            UnknownCourseError: no such course.
            ConflictError: the course is archived.
            ValueError: an unknown share, an allowance without ``fixed`` or the reverse,
                an amount that is not positive.
        """
        if share is not None and share not in SHARES:
            raise ValueError(f"a share is one of {', '.join(SHARES)}, not {share!r}")
        amount = _positive(allowance)
        cap = _positive(weekly_cap)
        if (share == "fixed") != (amount is not None):
            raise ValueError("a fixed share needs an allowance, and only a fixed share has one")

        def body(op: _Op) -> None:
            row = _lock_course(op.db, course)
            if row.archived_at is not None:
                raise ConflictError(f"course {course!r} is archived: its record stays as it was")
            row.share, row.allowance, row.weekly_cap = share, amount, cap

        self._write(actor, body)
        return self.course_sharing(course)

    def set_student_allowance(
        self,
        course: str,
        username: str,
        allowance: Decimal | str | int | None,
        *,
        actor: str,
    ) -> r.Sharing:
        """Give one student their own allowance for the term (``None``: the course's again).

        Raises:
            UnknownCourseError: no such course.
            ConflictError: the course is archived, or ``username`` is not its student.
            ValueError: a bad user name or an amount that is not positive.
        """
        validate_username(username)
        amount = _positive(allowance)

        def body(op: _Op) -> None:
            row = _lock_course(op.db, course)
            if row.archived_at is not None:
                raise ConflictError(f"course {course!r} is archived: its record stays as it was")
            role = op.db.scalar(
                select(m.Member.role).where(
                    m.Member.account_id == row.account_id, m.Member.username == username
                )
            )
            if role != m.Role.STUDENT:
                raise ConflictError(f"{username!r} is not a student of course {course!r}")
            own = op.db.get(m.StudentAllowance, (row.account_id, username))
            if amount is None:
                if own is not None:
                    op.db.delete(own)
            elif own is None:
                op.db.add(
                    m.StudentAllowance(
                        account_id=row.account_id,
                        username=username,
                        allowance=amount,
                        set_at=op.now,
                        set_by=op.actor,
                    )
                )
            else:
                own.allowance, own.set_at, own.set_by = amount, op.now, op.actor

        self._write(actor, body)
        return self.course_sharing(course)

    def course_sharing(self, course: str) -> r.Sharing:
        """How the course's pool is shared.

        Raises:
            UnknownCourseError: no such course.
        """
        with self._read() as db:
            found = db.execute(
                select(m.Course)
                .join(m.Account, m.Account.id == m.Course.account_id)
                .where(m.Account.name == course)
            ).scalar()
            if found is None:
                raise UnknownCourseError(course)
            return sharing_of(db, found)

    def course_share(self, course: str, username: str) -> r.CourseShare | None:
        """A person's limits on a pool and what they may still spend under each.

        Counted as :meth:`~computehub.credits.holds.HoldsMixin.place_hold` counts
        them. Empty limits for someone who is not the course's student or a course
        that limits nothing; ``None`` when the account is not a course (or there is no
        such account).
        """
        now = self._now()
        try:
            balance = self.balance(course).balance  # due credit expired first
        except UnknownAccountError:
            return None
        with self._read() as db:
            account_id = db.scalar(select(m.Account.id).where(m.Account.name == course))
            if account_id is None:
                return None
            connection = db.connection()

            def fetch(sql: str, params: tuple[Any, ...]) -> Any:
                return connection.exec_driver_sql(sql, params).fetchone()

            return _share(
                fetch,
                self._driver.sql,
                self._driver.time_in,
                account_id,
                course,
                username,
                to_units(balance),
                now,
            )
