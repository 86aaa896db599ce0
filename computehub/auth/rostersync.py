"""Course rosters from directory and IdP groups, applied to one person at each login.

The site file names, per course, a group for each course role it manages
(``auth.courses.<course>.ldap_groups`` by DN, ``oidc_groups`` by the groups claim's
value). At every login and refresh the person's groups decide their role in each
such course (:func:`course_roles`), and :func:`member_action` what changes on the
roster: added, given another role, or taken off. A source manages only the roles it
names: an owner, and a member with a role no group of that course gives (an
instructor loaded from a CSV file where only a student group is named), are never
changed by it. A course on no group is never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn

#: Course roles a group may give, most powerful first (a person in two groups gets the first).
GROUP_ROLES = ("instructor", "ta", "student")
_OWNER = "owner"

log = logging.getLogger(__name__)

#: ``{course: {role: group}}``: the groups of the courses one source manages.
CourseGroups = Mapping[str, Mapping[str, str]]


def normalize_dn(dn: str) -> str:
    """A DN as compared here: names and values lower-case, no spaces around ``,`` and ``=``.

    Raises:
        ValueError: not a DN.
    """
    try:
        parts = parse_dn(dn.strip(), escape=False, strip=True)
    except LDAPInvalidDnError as err:
        raise ValueError(f"{dn!r} is not a DN: {err}") from None
    if not parts:
        raise ValueError("an empty DN")
    return "".join(f"{attr.lower()}={value.lower()}{sep}" for attr, value, sep in parts)


def course_roles(groups: CourseGroups, person_groups: Iterable[str]) -> dict[str, str | None]:
    """The role each group-managed course gives a person (None: none of its groups).

    Args:
        groups: ``{course: {role: group}}`` of one source.
        person_groups: the groups the person is in, in the same form as ``groups``.
    """
    theirs = set(person_groups)
    roles: dict[str, str | None] = {}
    for course, by_role in groups.items():
        roles[course] = next((r for r in GROUP_ROLES if by_role.get(r) in theirs), None)
    return roles


@dataclass(frozen=True)
class Action:
    """One change to a person's place on a course's roster."""

    kind: Literal["add", "change", "remove"]
    role: str | None
    before: str | None


def member_action(current: str | None, wanted: str | None, managed: Iterable[str]) -> Action | None:
    """What the source changes for one person in one course (None: nothing).

    Args:
        current: their role on the roster now (None: not on it).
        wanted: the role their groups give (None: none of the course's groups).
        managed: the roles the course's groups give.
    """
    roles = set(managed)
    if current == _OWNER or (current is not None and current not in roles):
        return None
    if wanted is None:
        return None if current is None else Action("remove", None, current)
    if current is None:
        return Action("add", wanted, None)
    return None if current == wanted else Action("change", wanted, current)


def sync_person(
    ledger: Any,
    name: str,
    groups: CourseGroups,
    person_groups: Iterable[str],
    *,
    actor: str,
    logger: logging.Logger | logging.LoggerAdapter[Any] = log,
) -> list[tuple[str, Action]]:
    """Apply a person's course roles from one source to the ledger's rosters.

    A course the ledger doesn't have, or that is archived, is skipped (logged). Adds
    and role changes are ``Ledger.add_member``; a removal deletes the membership in
    one transaction that first locks the course and checks the role is still the one
    the source manages. Each change is logged with ``actor``: the ledger keeps the
    roster, not who changed it.

    Args:
        logger: where the changes and skips are logged (a login: the hub's own log;
            this module's logger reaches no handler in JupyterHub).

    Returns:
        ``(course, action)`` of each change made.
    """
    from computehub.credits.errors import LedgerError

    done: list[tuple[str, Action]] = []
    for course, wanted in course_roles(groups, person_groups).items():
        try:
            record = ledger.course(course)
        except LedgerError as err:
            logger.warning("Roster sync of %s: course %s skipped: %s", name, course, err)
            continue
        if record.archived_at is not None:
            continue
        action = member_action(record.members.get(name), wanted, groups[course].keys())
        if action is None:
            continue
        try:
            if action.kind == "remove":
                if not _remove(ledger, course, name, set(groups[course]), actor):
                    continue
            else:
                ledger.add_member(course, name, str(action.role), actor=actor)
        except (LedgerError, ValueError) as err:
            logger.warning("Roster sync of %s in %s failed: %s", name, course, err)
            continue
        logger.info(
            "Roster sync (%s): %s %s in %s (was %s)",
            actor,
            name,
            "taken off" if action.kind == "remove" else f"is {action.role}",
            course,
            action.before or "not on it",
        )
        done.append((course, action))
    return done


def _remove(ledger: Any, course: str, name: str, managed: set[str], actor: str) -> bool:
    """Take ``name`` off ``course`` if their role is still one the source manages."""
    removed: bool = ledger.remove_course_member(course, name, roles=managed, actor=actor)
    return removed
