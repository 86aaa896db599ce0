"""Course memberships as JupyterHub groups and roles: instructors see their own students only.

The ledger's course accounts say who teaches and who takes a course
(:meth:`computehub.credits.ledger.Ledger.accounts_for_user`). At every login and
refresh, a student is put in the JupyterHub group ``course-<course>-students`` of
each course they take, and an instructor gets the role ``course-<course>-staff``,
whose scopes are filtered to that group. The platform's ``instructor`` role gives
no view of anyone's sessions by itself.

JupyterHub creates the groups and roles an auth model names
(``User.sync_groups``/``sync_roles``); ``reset_managed_roles_on_startup`` deletes
course roles at a hub restart, and each instructor's first request afterwards
(their auth is refreshed then) creates them again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

#: A member's role in a course account that this module turns into hub rights.
CourseRole = Literal["instructor", "student"]

#: What JupyterHub accepts as a role name (jupyterhub/roles.py ``_role_name_pattern``).
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9\-_~\.]{1,253}[a-z0-9]$")
_SAFE = re.compile(r"[^a-z0-9._-]")

#: What an instructor may see of their course's students: the names, activity and sessions.
STAFF_SCOPES = ("list:users", "read:users:activity", "read:servers")


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
    """A person teaches (``instructor``) or takes (``student``) a course account."""

    account: str
    role: CourseRole


def course_memberships(accounts: Iterable[AccountView]) -> tuple[CourseMembership, ...]:
    """The course memberships among a person's ledger accounts, in a stable order."""
    found = {
        CourseMembership(a.account, "instructor" if a.role == "instructor" else "student")
        for a in accounts
        if str(a.kind) == "course" and a.role in ("instructor", "student")
    }
    return tuple(sorted(found, key=lambda m: (m.account, m.role)))


def course_slug(account: str) -> str:
    """A name part for ``account`` that JupyterHub accepts in role names, one per account.

    Account names may have capitals and ``@``, role names may not: such a name gets
    a short hash of the exact name, so ``Intro`` and ``intro`` stay apart.
    """
    if _ROLE_NAME.fullmatch(f"course-{account}-staff") and _SAFE.search(account) is None:
        return account
    cleaned = _SAFE.sub("-", account.lower()).strip("-._") or "course"
    digest = hashlib.sha256(account.encode()).hexdigest()[:10]
    return f"{cleaned[:40]}-{digest}"


def students_group(account: str) -> str:
    """The JupyterHub group of a course's students."""
    return f"course-{course_slug(account)}-students"


def staff_role(account: str) -> dict[str, Any]:
    """The JupyterHub role of a course's instructors: its students' names, activity, sessions."""
    group = students_group(account)
    return {
        "name": f"course-{course_slug(account)}-staff",
        "description": f"computehub: instructor of course {account} (sees its students' sessions)",
        "scopes": [f"{scope}!group={group}" for scope in STAFF_SCOPES],
    }


def course_groups(memberships: Iterable[CourseMembership]) -> list[str]:
    """The course groups a person belongs to (as a student)."""
    return sorted({students_group(m.account) for m in memberships if m.role == "student"})


def course_roles(memberships: Iterable[CourseMembership]) -> list[dict[str, Any]]:
    """The course staff roles a person holds (as an instructor)."""
    accounts = sorted({m.account for m in memberships if m.role == "instructor"})
    return [staff_role(account) for account in accounts]
