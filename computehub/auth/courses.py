"""Course memberships as JupyterHub groups and roles: course staff see their own students only.

The ledger's course accounts say who runs and who takes a course
(:meth:`computehub.credits.ledger.Ledger.accounts_for_user`). At every login and
refresh, a student is put in the JupyterHub group ``course-<course>-students`` of
each course they take, and the course's staff get the role ``course-<course>-staff``,
whose scopes are filtered to that group, and the group ``course-<course>-staff`` (for
services of that course, such as a grader, to name). A course's staff here are its
``owner``, ``instructor`` and ``ta`` members: the credits service lets the same three
roles follow a course's students (``COURSE_TEACHERS`` in ``credits/service/access.py``;
of them only owners and instructors move its credits). The platform's ``instructor``
role gives no view of anyone's sessions, and no power over any course, by itself.

``<course>`` is the account's name, encoded so that JupyterHub accepts it in a role
name and two accounts never share a group or a role (:func:`course_slug`).

Memberships are read at login and at each refresh (``auth.refresh_age_s``): a student
taken off a course keeps its group, and a former instructor its role, until then.

JupyterHub creates the groups and roles an auth model names
(``User.sync_groups``/``sync_roles``); ``reset_managed_roles_on_startup`` deletes
course roles at a hub restart, and each staff member's first request afterwards
(their auth is refreshed then) creates them again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

#: A member's role in a course account that this module turns into hub rights.
CourseRole = Literal["owner", "instructor", "ta", "student"]

#: The roles that follow a course's students (access.py ``COURSE_TEACHERS``).
STAFF_ROLES: frozenset[str] = frozenset({"owner", "instructor", "ta"})

_COURSE_ROLES: dict[str, CourseRole] = {r: r for r in get_args(CourseRole)}

#: What JupyterHub accepts as a role name (jupyterhub/roles.py ``_role_name_pattern``).
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9\-_~\.]{1,253}[a-z0-9]$")
#: Characters of an account name kept as they are in its slug; ``~`` is not one of them.
_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
#: What marks an escaped byte in a slug (``~`` and two lower-case hex digits).
ESCAPE = "~"
#: The longest role or group name made here: JupyterHub's role names have at most 255.
_NAME_MAX = 255

#: What an instructor may see of their course's students: the names, activity and sessions.
STAFF_SCOPES = ("list:users", "read:users:activity", "read:servers")
#: What they may do with their course's own service (its formgrader): see it and use it.
SERVICE_SCOPES = ("read:services", "access:services")

log = logging.getLogger(__name__)


class AccountView(Protocol):
    """What the ledger says of one of a person's accounts (``accounts_for_user``)."""

    @property
    def account(self) -> str:
        """The account's name."""

    @property
    def kind(self) -> str:
        """personal, project, course, ..."""

    @property
    def role(self) -> str | None:
        """The person's role in it."""


@dataclass(frozen=True)
class CourseMembership:
    """A person runs (``owner``, ``instructor``), assists in (``ta``) or takes a course."""

    account: str
    role: CourseRole

    @property
    def staff(self) -> bool:
        """Whether the person is one of the course's staff."""
        return self.role in STAFF_ROLES


def course_memberships(accounts: Iterable[AccountView]) -> tuple[CourseMembership, ...]:
    """The course memberships among a person's ledger accounts, in a stable order.

    A course whose name can't be made into a JupyterHub role name is left out (logged).
    """
    found: set[CourseMembership] = set()
    for a in accounts:
        role = _COURSE_ROLES.get(a.role or "")
        if str(a.kind) != "course" or role is None:
            continue
        try:
            course_slug(a.account)
        except ValueError as err:
            log.warning("Course %r gives no JupyterHub group or role: %s", a.account, err)
            continue
        found.add(CourseMembership(a.account, role))
    return tuple(sorted(found, key=lambda m: (m.account, m.role)))


def course_slug(account: str) -> str:
    """The name part of ``account`` in its course's group and role names.

    Lower-case letters, digits, ``.``, ``_`` and ``-`` stay as they are; every other
    byte of the name's UTF-8 (capitals, ``@``) becomes ``~`` and its two hex digits,
    so ``Intro`` is ``~49ntro``. The encoding can be read back, so different accounts
    never share a slug, and an account literally named like another's slug is not one
    (no account name has ``~``; if one had, it would be escaped too).

    Raises:
        ValueError: the name is empty, or too long for a JupyterHub role name.
    """
    if not account:
        raise ValueError("an empty account name")
    slug = "".join(
        char if char in _LITERAL else "".join(f"{ESCAPE}{byte:02x}" for byte in char.encode())
        for char in account
    )
    longest = f"course-{slug}-students"
    if len(longest) > _NAME_MAX or not _ROLE_NAME.fullmatch(f"course-{slug}-staff"):
        raise ValueError(
            f"the account name {account!r} is too long for a JupyterHub group or role name"
        )
    return slug


def students_group(account: str) -> str:
    """The JupyterHub group of a course's students."""
    return f"course-{course_slug(account)}-students"


def staff_group(account: str) -> str:
    """The JupyterHub group of a course's staff (owners, instructors, TAs)."""
    return f"course-{course_slug(account)}-staff"


def staff_role(account: str) -> dict[str, Any]:
    """The JupyterHub role of a course's staff: its students' names, activity, sessions."""
    group = students_group(account)
    scopes = [f"{scope}!group={group}" for scope in STAFF_SCOPES]
    if course_slug(account) == account:
        # The course's formgrader, where it has one (computehub/nbgraderhub.py): a
        # JupyterHub service named after the course.
        scopes += [f"{scope}!service={account}" for scope in SERVICE_SCOPES]
    return {
        "name": f"course-{course_slug(account)}-staff",
        "description": f"computehub: staff of course {account} (sees its students' sessions)",
        "scopes": scopes,
    }


def course_groups(memberships: Iterable[CourseMembership]) -> list[str]:
    """The course groups a person belongs to: students' groups, and staff groups."""
    return sorted(
        {students_group(m.account) for m in memberships if m.role == "student"}
        | {staff_group(m.account) for m in memberships if m.staff}
    )


def course_roles(memberships: Iterable[CourseMembership]) -> list[dict[str, Any]]:
    """The course staff roles a person holds (as an owner, instructor or TA)."""
    accounts = sorted({m.account for m in memberships if m.staff})
    return [staff_role(account) for account in accounts]
