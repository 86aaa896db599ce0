"""Courses: a course account made a course (title, term), its roster, and its archive.

A course is one object in the ledger: its id is its account's name (the account is
its credit pool), its roster the account's members (``owner``, ``instructor``,
``ta``, ``student``), its title and term a row of the table ``courses``. Archiving a
course (at the end of its term, or by an operator) keeps every row: only new holds,
extensions, transfers out of or into its pool and grants into it are refused, inside
the transaction that would move the credit
(:meth:`~computehub.credits.rawop.RawOp.refuse_archived`). What a course may use on
the hubs stays in the site file (``limits.access``); its materials are a git repository
its students pull with nbgitpuller links (a URL checked here, the links made by
:mod:`~computehub.credits.service.pulllink`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

from sqlalchemy import orm, select

from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits.core import LedgerCore, _Op
from computehub.credits.errors import ConflictError, InvalidTermError, UnknownCourseError
from computehub.credits.names import validate_account_name, validate_username
from computehub.credits.roster import RosterLine, RosterPlan, plan_roster

#: The longest title kept (the column's size).
TITLE_MAX = 200
#: A title: no control characters, at least one character that is not a space.
TITLE_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
_TITLE = re.compile(TITLE_PATTERN)
#: The roles that make someone one of a course's people (its roster).
COURSE_ROLES = (m.Role.OWNER, m.Role.INSTRUCTOR, m.Role.TA, m.Role.STUDENT)


def validate_title(title: str) -> str:
    """A course title, without the spaces around it.

    Raises:
        ValueError: only spaces, too long, or with a control character.
    """
    if not _TITLE.fullmatch(title) or len(title) > TITLE_MAX:
        raise ValueError(
            f"a course title has 1 to {TITLE_MAX} characters, not only spaces, and no "
            "control characters (new lines, NUL, ...)"
        )
    return title.strip(" ")


#: The longest repository URL kept (the column's size).
REPOSITORY_MAX = 500
#: The longest branch name kept (the column's size).
BRANCH_MAX = 200
#: The schemes a session's ``git clone`` may use: no ``file:`` or ``ssh:`` (keys).
SCHEMES = ("https", "http", "git")
#: The repository URLs a course takes (the OpenAPI description declares the same): an
#: https, http or git URL of a host name, an optional port, and a path ending with the
#: repository's name (plain characters and %-escapes; no user@, no query or fragment).
REPOSITORY_PATTERN = (
    r"^([Hh][Tt][Tt][Pp][Ss]?|[Gg][Ii][Tt])://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*"
    r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    r"(/([A-Za-z0-9_~-]|%[0-9A-Fa-f]{2})([A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})*)+/?$"
)
#: The branch names a course takes (a conservative subset of git check-ref-format).
BRANCH_PATTERN = (
    r"^(?!.*\.lock(/|$))[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*"
    r"(/[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)*$"
)
_REPOSITORY = re.compile(REPOSITORY_PATTERN)
_BRANCH = re.compile(BRANCH_PATTERN)
_FOLDER = re.compile(r"[^\x00-\x20\x7f/\\:]+")


def validate_repository(url: str) -> str:
    """A course repository's URL, as nbgitpuller will clone it.

    Raises:
        ValueError: not an https, http or git URL with a host and a path, with
            credentials, spaces or control characters, a fragment, or too long.
    """
    if not url or len(url) > REPOSITORY_MAX:
        raise ValueError(f"a repository URL has 1 to {REPOSITORY_MAX} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("a repository URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValueError(f"{url!r} is not a URL") from None
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError(
            f"a repository URL starts with {', '.join(s + '://' for s in SCHEMES)}, not {url!r}"
        )
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise ValueError(
            "a repository URL has no user name or password in it: the course's students "
            "would all see them; make the repository readable without credentials"
        )
    if not parts.hostname:
        raise ValueError(f"{url!r} names no host")
    if parts.fragment or url.endswith("#"):
        raise ValueError("a repository URL has no #fragment")
    repository_folder(url)
    if not _REPOSITORY.match(url):
        raise ValueError(
            f"{url!r} is not a plain repository URL: a host name, then a path of letters, "
            "digits, '.', '_', '~', '-' and %-escapes ending with the repository's name"
        )
    return url


def repository_folder(url: str) -> str:
    """The folder nbgitpuller clones ``url`` into: its last path part without ``.git``.

    Raises:
        ValueError: the URL's path gives no usable folder name.
    """
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    name = last[: -len(".git")] if last.endswith(".git") else last
    if not _FOLDER.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            f"the repository URL's path must end with the repository's name, not {url!r}"
        )
    return name


def validate_branch(branch: str) -> str:
    """A branch name git accepts (a conservative subset of ``git check-ref-format``).

    Raises:
        ValueError: empty, too long, or not a plain branch name.
    """
    if (
        not branch
        or len(branch) > BRANCH_MAX
        or not _BRANCH.match(branch)
        or branch.startswith(("-", "/", "."))
        or branch.endswith(("/", ".", ".lock"))
        or ".." in branch
        or "//" in branch
        or "/." in branch
    ):
        raise ValueError(
            f"{branch!r} is not a branch name: letters, digits, '.', '_', '-' and '/', "
            f"at most {BRANCH_MAX}, not starting with '-', '.' or '/'"
        )
    return branch


def validate_term(starts_on: date, ends_on: date) -> None:
    """Refuse a term that ends before it starts.

    Raises:
        InvalidTermError: it does.
    """
    if ends_on < starts_on:
        raise InvalidTermError(
            f"the term ends ({ends_on.isoformat()}) before it starts ({starts_on.isoformat()})"
        )


class CoursesMixin(LedgerCore):
    """Creating, reading, updating and archiving courses; their rosters."""

    def create_course(
        self,
        course: str,
        title: str,
        starts_on: date,
        ends_on: date,
        *,
        actor: str,
        owner: str | None = None,
    ) -> r.Course:
        """Make a course: of its course account if there is one, else with a new account.

        Raises:
            ConflictError: the course exists, or an account of that name is not a course's.
            ValueError: a bad id, title, term or owner.
        """
        validate_account_name(course)
        clean_title = validate_title(title)
        validate_term(starts_on, ends_on)
        if owner is not None:
            validate_username(owner)

        def body(op: _Op) -> None:
            account = op.db.scalar(select(m.Account).where(m.Account.name == course))
            if account is None:
                account = m.Account(
                    name=course,
                    kind=m.AccountKind.COURSE,
                    balance=Decimal(0),
                    held=Decimal(0),
                    created_at=op.now,
                    created_by=op.actor,
                )
                op.db.add(account)
                op.db.flush()
            elif account.kind != m.AccountKind.COURSE:
                raise ConflictError(
                    f"account {course!r} is a {account.kind} account, not a course's pool"
                )
            elif op.db.get(m.Course, account.id) is not None:
                raise ConflictError(f"course {course!r} already exists")
            op.db.add(
                m.Course(
                    account_id=account.id,
                    title=clean_title,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    created_at=op.now,
                    created_by=op.actor,
                )
            )
            if owner is not None:
                _set_role(op, account.id, owner, m.Role.OWNER)

        self._write(actor, body)
        return self.course(course)

    def update_course(
        self,
        course: str,
        *,
        actor: str,
        title: str | None = None,
        starts_on: date | None = None,
        ends_on: date | None = None,
    ) -> r.Course:
        """Change a course's title or term.

        Raises:
            UnknownCourseError: no such course.
            ConflictError: the course is archived (its record stays as it was).
            ValueError: a bad title or term.
        """
        clean_title = None if title is None else validate_title(title)

        def body(op: _Op) -> None:
            row = _lock_course(op.db, course)
            if row.archived_at is not None:
                raise ConflictError(f"course {course!r} is archived: its record stays as it was")
            new_start = starts_on or row.starts_on
            new_end = ends_on or row.ends_on
            validate_term(new_start, new_end)
            row.starts_on, row.ends_on = new_start, new_end
            if clean_title is not None:
                row.title = clean_title

        self._write(actor, body)
        return self.course(course)

    def set_course_repository(
        self, course: str, repository: str | None, *, actor: str, branch: str | None = None
    ) -> r.Course:
        """Set (or, with ``None``, remove) the git repository of a course's materials.

        Raises:
            UnknownCourseError: no such course.
            ConflictError: the course is archived.
            ValueError: a bad URL or branch, or a branch without a repository.
        """
        url = None if repository is None else validate_repository(repository)
        name = None if branch is None else validate_branch(branch)
        if url is None and name is not None:
            raise ValueError("a branch needs a repository")

        def body(op: _Op) -> None:
            row = _lock_course(op.db, course)
            if row.archived_at is not None:
                raise ConflictError(f"course {course!r} is archived: its record stays as it was")
            row.repository, row.branch = url, name

        self._write(actor, body)
        return self.course(course)

    def archive_course(self, course: str, *, actor: str) -> r.Course:
        """Archive a course: nothing more is spent from its pool; its history stays.

        Archiving an archived course changes nothing. Sessions running on the pool
        keep their holds until they end (stopping them is the hub's work).

        Raises:
            UnknownCourseError: no such course.
        """

        def body(op: _Op) -> None:
            row = _lock_course(op.db, course)
            if row.archived_at is None:
                row.archived_at = op.now
                row.archived_by = op.actor

        self._write(actor, body)
        return self.course(course)

    def archive_ended_courses(self, *, actor: str = "system") -> list[str]:
        """Archive every course whose term ended before today (UTC); for a daily cron job.

        Returns:
            The ids of the courses archived now.
        """
        today = self._now().date()
        with self._read() as db:
            due = db.scalars(
                select(m.Account.name)
                .join(m.Course, m.Course.account_id == m.Account.id)
                .where(m.Course.archived_at.is_(None), m.Course.ends_on < today)
                .order_by(m.Account.name)
            ).all()
        for course in due:
            self.archive_course(course, actor=actor)
        return list(due)

    def course(self, course: str) -> r.Course:
        """One course, with its roster and its pool's figures.

        Raises:
            UnknownCourseError: no such course.
        """
        with self._read() as db:
            found = db.execute(
                select(m.Course, m.Account.id)
                .join(m.Account, m.Account.id == m.Course.account_id)
                .where(m.Account.name == course)
            ).first()
            if found is None:
                raise UnknownCourseError(course)
            row, account_id = found
            members = _members(db, account_id)
            sharing = sharing_of(db, row)
        return _record(course, row, members, self.balance(course), sharing)

    def courses(self, *, user: str | None = None, archived: bool = True) -> list[r.Course]:
        """Every course (or ``user``'s, whatever their role), by id.

        Args:
            user: only the courses this person is on.
            archived: include archived courses.
        """
        with self._read() as db:
            query = select(m.Account.name).join(m.Course, m.Course.account_id == m.Account.id)
            if user is not None:
                query = query.join(m.Member, m.Member.account_id == m.Account.id).where(
                    m.Member.username == user
                )
            if not archived:
                query = query.where(m.Course.archived_at.is_(None))
            names = db.scalars(query.order_by(m.Account.name)).all()
        return [self.course(name) for name in names]

    def plan_course_roster(
        self, course: str, lines: Iterable[RosterLine], *, uploader: str | None = None
    ) -> RosterPlan:
        """What a roster file would change (a dry run: nothing is written).

        Raises:
            UnknownCourseError: no such course.
            RosterError: a line names an owner, or would remove or demote ``uploader``.
        """
        current = self.course(course)
        return plan_roster(course, current.members, lines, uploader=uploader)

    def apply_course_roster(
        self,
        course: str,
        lines: Iterable[RosterLine],
        *,
        actor: str,
        uploader: str | None = None,
    ) -> RosterPlan:
        """Make the course's roster what the file says, in one transaction.

        The plan is made again inside the transaction, against the members as they are
        then, so what is applied is always what the file says.

        Raises:
            UnknownCourseError: no such course.
            ConflictError: the course is archived.
            RosterError: as
                :meth:`~computehub.credits.courses.CoursesMixin.plan_course_roster`;
                nothing changes.
        """
        wanted = list(lines)

        def body(op: _Op) -> RosterPlan:
            row = _lock_course(op.db, course)
            if row.archived_at is not None:
                raise ConflictError(f"course {course!r} is archived: its roster stays as it was")
            plan = plan_roster(course, _members(op.db, row.account_id), wanted, uploader=uploader)
            for user in plan.remove:
                member = op.db.scalar(
                    select(m.Member).where(
                        m.Member.account_id == row.account_id, m.Member.username == user
                    )
                )
                if member is not None:
                    op.db.delete(member)
            for user, role in plan.add.items():
                _set_role(op, row.account_id, user, m.Role(role))
            for changed in plan.change:
                _set_role(op, row.account_id, changed.username, m.Role(changed.after))
            return RosterPlan(
                course=plan.course,
                add=plan.add,
                remove=plan.remove,
                change=plan.change,
                unchanged=plan.unchanged,
                applied=True,
            )

        return self._write(actor, body)

    def remove_course_member(
        self, course: str, username: str, *, roles: Iterable[str], actor: str
    ) -> bool:
        """Take ``username`` off ``course`` if their role there is still one of ``roles``.

        For a roster source that manages some roles only (a directory group): the course
        is locked first, so a role another source gave meanwhile is left alone. Owners are
        never removed. Returns whether the member was removed; an archived course's roster
        stays as it was (False).

        Raises:
            UnknownCourseError: no such course.
        """
        managed = {str(m.Role(role)) for role in roles} - {str(m.Role.OWNER)}

        def body(op: _Op) -> bool:
            row = _lock_course(op.db, course)
            if row.archived_at is not None:
                return False
            member = op.db.scalar(
                select(m.Member).where(
                    m.Member.account_id == row.account_id, m.Member.username == username
                )
            )
            if member is None or str(member.role) not in managed:
                return False
            op.db.delete(member)
            return True

        removed: bool = self._write(actor, body)
        return removed


def _lock_course(db: orm.Session, course: str) -> m.Course:
    """The course's row, its account locked first (as every writer that moves credit locks).

    Raises:
        UnknownCourseError: no such course.
    """
    account_id = db.scalar(select(m.Account.id).where(m.Account.name == course).with_for_update())
    if account_id is None:
        raise UnknownCourseError(course)
    row = db.get(m.Course, account_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise UnknownCourseError(course)
    return row


def _members(db: orm.Session, account_id: int) -> dict[str, str]:
    return {
        member.username: member.role
        for member in db.scalars(
            select(m.Member).where(m.Member.account_id == account_id).order_by(m.Member.username)
        )
    }


def _set_role(op: _Op, account_id: int, username: str, role: m.Role) -> None:
    existing = op.db.scalar(
        select(m.Member).where(m.Member.account_id == account_id, m.Member.username == username)
    )
    if existing is None:
        op.db.add(m.Member(account_id=account_id, username=username, role=role, added_at=op.now))
    else:
        existing.role = role


def sharing_of(db: orm.Session, course: m.Course) -> r.Sharing:
    """A course row's sharing, with its students' own allowances."""
    own = db.scalars(
        select(m.StudentAllowance)
        .where(m.StudentAllowance.account_id == course.account_id)
        .order_by(m.StudentAllowance.username)
    )
    return r.Sharing(
        share=course.share,
        allowance=course.allowance,
        weekly_cap=course.weekly_cap,
        students={row.username: row.allowance for row in own},
    )


def _record(
    course: str, row: m.Course, members: dict[str, str], pool: r.Balance, sharing: r.Sharing
) -> r.Course:
    return r.Course(
        id=course,
        title=row.title,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        archived_at=row.archived_at,
        archived_by=row.archived_by,
        created_at=row.created_at,
        created_by=row.created_by,
        members=members,
        pool=pool,
        sharing=sharing,
        repository=row.repository,
        branch=row.branch,
    )
