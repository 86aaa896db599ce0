"""A course's roster from a CSV file (``username,role``): read it, and plan what it changes.

Pure functions, no I/O: :func:`~computehub.credits.roster.parse_roster` reads the
file's text into lines, or refuses it with one error per bad line;
:func:`~computehub.credits.roster.plan_roster` compares those lines with the
course's members and says who is added, removed or given another role. The ledger
applies a plan in one transaction
(:meth:`~computehub.credits.courses.CoursesMixin.apply_course_roster`), so a file with any
bad line changes nothing.

The file is the whole roster but the owners: a member it does not list is taken off
the course; owners are never listed, changed or removed by it (an operator manages
them). The person uploading it can't take themselves off or change their own role.

A group source (the site file's ``auth.courses``: LDAP groups, OIDC group claims)
is a roster too, but only for the roles it names
(:func:`~computehub.credits.roster.plan_source_roster`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from computehub.credits.errors import LedgerError
from computehub.credits.names import USER_PATTERN

#: The roles a roster file may give: instructors, teaching assistants, students.
ROSTER_ROLES = ("instructor", "ta", "student")
#: What a first line naming the columns looks like (it is skipped).
HEADER = ("username", "role")
#: The most lines a roster file may have (a large course has a few hundred people).
MAX_LINES = 5000
_USER_RE = re.compile(USER_PATTERN)
_OWNER = "owner"


@dataclass(frozen=True)
class LineError:
    """What is wrong with one line of the file (``line`` is ``None`` for the whole file)."""

    line: int | None
    message: str


class RosterError(LedgerError, ValueError):
    """A roster file that can't be applied: every problem found, by line.

    Attributes:
        errors: one per bad line (and per problem with the file as a whole).
    """

    def __init__(self, errors: Iterable[LineError]) -> None:
        self.errors = tuple(errors)
        shown = "; ".join(
            f"line {e.line}: {e.message}" if e.line is not None else e.message
            for e in self.errors[:5]
        )
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"the roster file was refused, nothing changed: {shown}{more}")


@dataclass(frozen=True)
class RosterLine:
    """One person of the file, with the file's line number."""

    line: int
    username: str
    role: str


@dataclass(frozen=True)
class RoleChange:
    """A member given another role."""

    username: str
    before: str
    after: str


@dataclass(frozen=True)
class RosterPlan:
    """What a roster file changes: who is added, removed, given another role.

    Attributes:
        course: the course's id.
        add: ``{username: role}`` of people not on the course yet.
        remove: ``{username: role}`` of members the file does not list (never owners).
        change: members whose role changes.
        unchanged: how many members keep their role.
        applied: whether the plan was carried out (``False``: a dry run).
    """

    course: str
    add: Mapping[str, str] = field(default_factory=dict)
    remove: Mapping[str, str] = field(default_factory=dict)
    change: tuple[RoleChange, ...] = ()
    unchanged: int = 0
    applied: bool = False

    @property
    def empty(self) -> bool:
        """Whether the file changes nothing."""
        return not (self.add or self.remove or self.change)


def parse_roster(text: str) -> list[RosterLine]:
    """The people a roster file lists.

    Comma-separated ``username,role``; an optional first line ``username,role``; blank
    lines skipped; roles ``instructor``, ``ta`` or ``student`` (any case).

    Raises:
        RosterError: every bad line (wrong number of fields, a bad user name, an unknown
            role, a person listed twice), or a file that lists nobody.
    """
    if "\x00" in text:
        raise RosterError([LineError(None, "the file has a NUL character: is it a CSV file?")])
    # newline="": a lone carriage return ends a line, as csv expects of files it reads.
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    except csv.Error:
        raise RosterError(
            [LineError(None, "the file is not a CSV file this can read (a line break in a field?)")]
        ) from None
    if len(rows) > MAX_LINES:
        raise RosterError([LineError(None, f"the file has more than {MAX_LINES} lines")])
    errors: list[LineError] = []
    found: list[RosterLine] = []
    first_line: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if number == 1 and tuple(cell.lower() for cell in cells) == HEADER:
            continue
        if len(cells) != 2:
            errors.append(
                LineError(number, f"expected 2 fields (username,role), found {len(cells)}")
            )
            continue
        username, role = cells[0], cells[1].lower()
        problems = []
        if not _USER_RE.fullmatch(username):
            problems.append(f"{username!r} is not a user name")
        if role not in ROSTER_ROLES:
            problems.append(f"role {cells[1]!r} is not one of {', '.join(ROSTER_ROLES)}")
        if username in first_line:
            problems.append(f"{username} is listed already on line {first_line[username]}")
        if problems:
            errors.append(LineError(number, "; ".join(problems)))
            continue
        first_line[username] = number
        found.append(RosterLine(number, username, role))
    if not errors and not found:
        errors.append(LineError(None, "the file lists nobody (a roster needs at least one line)"))
    if errors:
        raise RosterError(errors)
    return found


def plan_roster(
    course: str,
    members: Mapping[str, str],
    lines: Iterable[RosterLine],
    *,
    uploader: str | None = None,
) -> RosterPlan:
    """What applying ``lines`` to a course whose members are ``members`` changes.

    Args:
        course: the course's id.
        members: its members now, ``{username: role}``.
        lines: the file's people (:func:`~computehub.credits.roster.parse_roster`).
        uploader: who sends the file, if one of the course's staff: the file may not
            take them off the course nor change their role (an operator's may).

    Raises:
        RosterError: a line names an owner, or would remove or demote the uploader.
    """
    errors: list[LineError] = []
    add: dict[str, str] = {}
    change: list[RoleChange] = []
    unchanged = 0
    listed: set[str] = set()
    for line in lines:
        listed.add(line.username)
        before = members.get(line.username)
        if before == _OWNER:
            errors.append(
                LineError(
                    line.line,
                    f"{line.username} owns the course: owners are not in the roster file "
                    "(an operator changes them)",
                )
            )
        elif line.username == uploader and before != line.role:
            errors.append(
                LineError(line.line, f"you can't change your own role ({before} to {line.role})")
            )
        elif before is None:
            add[line.username] = line.role
        elif before != line.role:
            change.append(RoleChange(line.username, before, line.role))
        else:
            unchanged += 1
    remove = {user: role for user, role in members.items() if user not in listed and role != _OWNER}
    if uploader is not None and uploader in remove:
        errors.append(
            LineError(None, f"the file does not list you ({uploader}): it would take you off")
        )
    if errors:
        raise RosterError(errors)
    return RosterPlan(
        course=course,
        add=dict(sorted(add.items())),
        remove=dict(sorted(remove.items())),
        change=tuple(sorted(change, key=lambda c: c.username)),
        unchanged=unchanged,
    )


def source_roster_lines(
    members: Mapping[str, str], wanted: Mapping[str, str], managed: Iterable[str]
) -> list[RosterLine]:
    """The whole roster a group source asks for, as roster lines.

    The lines are for :func:`~computehub.credits.roster.plan_roster`.

    A source (an LDAP or IdP group per role) manages only the roles it names
    (``managed``): members with another role, and owners, stay as they are whatever
    the source says; members with a managed role get the role the source gives them,
    or are left out (so taken off) when the source no longer lists them.

    Args:
        members: the course's members now, ``{username: role}``.
        wanted: who the source lists, ``{username: role}`` (roles among ``managed``).
        managed: the roles the source gives.
    """
    roles = set(managed)
    keep = {user: role for user, role in members.items() if role != _OWNER and role not in roles}
    lines = dict(keep)
    for user, role in wanted.items():
        if members.get(user) == _OWNER or user in keep:
            continue
        lines[user] = role
    return [
        RosterLine(number, user, role)
        for number, (user, role) in enumerate(sorted(lines.items()), start=1)
    ]


def plan_source_roster(
    course: str, members: Mapping[str, str], wanted: Mapping[str, str], managed: Iterable[str]
) -> RosterPlan:
    """What making the course's roster what a group source says changes (a dry run).

    See :func:`~computehub.credits.roster.source_roster_lines` for whom a source manages.
    """
    return plan_roster(course, members, source_roster_lines(members, wanted, managed))
