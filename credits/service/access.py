"""Who may do what: JupyterHub scopes decide the kind of operation, ledger roles the account.

Pure functions over a :class:`~computehub.credits.service.access.Caller` and the
caller's role in an account, so the whole policy is a table the tests can read. A
filtered scope (``custom:credits:admin!group=x``) counts as not held: the service fails
closed rather than guess what a filter means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from computehub.credits.service.scopes import ADMIN, INSTRUCT, READ, READ_METRICS, REVIEW

#: Roles that make an account one's own for reading its figures and estimates.
_ANY_ROLE = frozenset({"owner", "member", "instructor", "ta", "student"})
#: Roles whose holders read every journal entry and session of a personal or project account.
_TEAM_ROLES = frozenset({"owner", "member"})
#: Roles that run a course (``accounts create --kind course --owner prof`` makes an owner):
#: they move its credits to its students and change its roster.
COURSE_STAFF = frozenset({"owner", "instructor"})
#: Roles that follow a course's students (their sessions and use of its credits): its
#: staff and its teaching assistants, who move no credit.
COURSE_TEACHERS = COURSE_STAFF | {"ta"}


@dataclass(frozen=True)
class Caller:
    """Who is calling: a JupyterHub user or service, with the scopes of its token.

    Attributes:
        name: the user's (or service's) name; actor of every write it makes.
        kind: ``user`` or ``service``.
        scopes: the token's expanded scopes, as JupyterHub reports them.
    """

    name: str
    kind: str
    scopes: frozenset[str]

    @classmethod
    def from_model(cls, model: Mapping[str, Any]) -> Caller:
        """Build from the model JupyterHub returns for a token (``GET /hub/api/user``)."""
        scopes: Iterable[str] = model.get("scopes") or ()
        return cls(
            name=str(model["name"]),
            kind=str(model.get("kind", "user")),
            scopes=frozenset(str(scope) for scope in scopes),
        )

    @property
    def admin(self) -> bool:
        """Whether the caller may act on any account (operators)."""
        return ADMIN in self.scopes

    @property
    def reader(self) -> bool:
        """Whether the caller may read its own accounts."""
        return READ in self.scopes or self.admin

    @property
    def reviewer(self) -> bool:
        """Whether the caller reviews applications for credits (reviewers and operators)."""
        return REVIEW in self.scopes or self.admin

    @property
    def instructor(self) -> bool:
        """Whether the token may act for the caller on the courses it teaches.

        Every person's own login and tokens have the scope (the ``user`` role); which
        courses is the ledger's to say (the caller's role in each). A server's token
        does not have it: code running in a session reads, never manages.
        """
        return INSTRUCT in self.scopes


def may_read_account(caller: Caller, role: str | None) -> bool:
    """The figures of one account (balance, held, available) and estimates on it."""
    return caller.admin or (caller.reader and role in _ANY_ROLE)


def may_read_members(caller: Caller, kind: str, role: str | None) -> bool:
    """Who belongs to the account, with their roles."""
    if caller.admin:
        return True
    if kind == "course":
        return caller.instructor and role in COURSE_TEACHERS
    return caller.reader and role == "owner"


def may_read_history(caller: Caller, kind: str, role: str | None) -> bool:
    """The account's history: every journal entry (a course's show each student's use)."""
    if caller.admin:
        return True
    if kind == "course":
        return caller.instructor and role in COURSE_TEACHERS
    return caller.reader and role in _TEAM_ROLES


def sessions_filter(caller: Caller, kind: str, role: str | None) -> tuple[bool, str | None]:
    """Whether the caller may list the account's sessions, and whose.

    Returns:
        ``(allowed, user)``: ``user`` is ``None`` for every session, or the caller's own
        name where it may only see its own sessions (a student on a course account).
    """
    if may_read_history(caller, kind, role):
        return True, None
    if caller.reader and role == "student":
        return True, caller.name
    return False, None


def may_transfer(
    caller: Caller,
    source_kind: str,
    source_members: Mapping[str, str],
    target_members: Mapping[str, str],
) -> bool:
    """Move credit from one account to another.

    Operators may move between any two people's accounts; a course's staff (never its
    TAs), from the course to an account its owner holds as a student of that course.
    """
    if caller.admin:
        return True
    if not caller.instructor or source_kind != "course":
        return False
    if source_members.get(caller.name) not in COURSE_STAFF:
        return False
    owners = {user for user, role in target_members.items() if role == "owner"}
    return any(source_members.get(user) == "student" for user in owners)


def may_read_course(caller: Caller, role: str | None) -> bool:
    """A course's title, term, pool and resources: its people and operators."""
    return caller.admin or (caller.reader and role in COURSE_TEACHERS | {"student"})


def may_manage_roster(caller: Caller, role: str | None) -> bool:
    """Change a course's roster: its staff (never its TAs) and operators."""
    return caller.admin or (caller.instructor and role in COURSE_STAFF)


def may_read_metrics(caller: Caller) -> bool:
    """The Prometheus metrics: operators and JupyterHub's metrics readers."""
    return caller.admin or READ_METRICS in caller.scopes


def may_follow_course(caller: Caller, role: str | None) -> bool:
    """The instructor's page of a course: its staff and TAs, and operators."""
    return caller.admin or (caller.instructor and role in COURSE_TEACHERS)


def may_apply(caller: Caller) -> bool:
    """Apply for credits, and read and change one's own applications: anyone who logged in.

    A person's own login and tokens, never a session's server token (which reads, never
    acts): the same mark as :attr:`~computehub.credits.service.access.Caller.instructor`.
    """
    return caller.kind == "user" and caller.reader and caller.instructor


def may_read_application(caller: Caller, applicant: str) -> bool:
    """One application and its history: its applicant, reviewers and operators."""
    return caller.reviewer or (may_apply(caller) and caller.name == applicant)


def may_review(caller: Caller) -> bool:
    """The queue of applications, comments and recommendations: reviewers and operators."""
    return caller.reviewer


def may_decide(caller: Caller) -> bool:
    """Ask for changes, approve (which grants credits) or reject: operators only."""
    return caller.admin


def may_open_console(caller: Caller) -> bool:
    """The operator console, its API and exports, and its maintenance form: operators only.

    Reviewers read applications but not the programme's money or the hubs' operations;
    a session's server token never reaches it (it holds no admin scope).
    """
    return caller.admin
