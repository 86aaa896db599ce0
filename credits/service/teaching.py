"""What the instructor's page shows of a course, as plain values: its roster with each use.

Pure functions of ledger records, shared by the page
(:mod:`~computehub.credits.service.coursepage`) and its CSV export, so both always
show the same figures.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from computehub.credits import records as r
from computehub.credits.courseuse import PoolUse
from computehub.credits.display import credits_text
from computehub.credits.service.views import amount
from computehub.i18n import _, ngettext

#: Roster order: the course's staff first, then TAs, students, and past users last.
_ROLE_ORDER = {"owner": 0, "instructor": 1, "ta": 2, "student": 3}
#: The role shown for someone who used the pool but is no longer on the roster.
NOT_ENROLLED = "not on the roster"
#: Cells a spreadsheet would take for a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = (
    "username",
    "role",
    "used",
    "charged",
    "held",
    "sessions",
    "last_activity_utc",
    "share_left",
    "own_allowance",
)


@dataclass(frozen=True)
class RosterRow:
    """One person of a course's roster with their use of its pool.

    Attributes:
        username: who.
        role: their role in the course, or ``not on the roster``.
        use: their use of the pool (zero without a session).
        share_left: what a student may still spend under the course's limits;
            ``None`` for no limit or someone who is no student.
        limited: whether a limit applies to them (a student of a course that shares).
        own_allowance: a student's own allowance for the term (it replaces the course's
            share for them), or ``None`` when they have the course's share.
    """

    username: str
    role: str
    use: PoolUse
    share_left: Decimal | None
    limited: bool
    own_allowance: Decimal | None = None


def roster_rows(
    course: r.Course,
    use: Mapping[str, PoolUse],
    shares: Mapping[str, r.CourseShare | None],
) -> list[RosterRow]:
    """Every member, and everyone else who used the pool, staff first then by name."""
    people = set(course.members) | set(use)
    rows = []
    for user in people:
        share = shares.get(user)
        limited = share is not None and bool(share.limits)
        role = course.members.get(user, NOT_ENROLLED)
        rows.append(
            RosterRow(
                username=user,
                role=role,
                use=use.get(user, PoolUse(user)),
                share_left=share.left if share is not None and limited else None,
                limited=limited,
                own_allowance=course.sharing.students.get(user) if role == "student" else None,
            )
        )
    rows.sort(key=lambda row: (_ROLE_ORDER.get(row.role, 9), row.username))
    return rows


def sharing_in_words(sharing: r.Sharing) -> str:
    """The course's policy as its instructor would say it."""
    term = ""
    if sharing.share == "equal":
        term = _("An equal share of the pool per student")
    elif sharing.share == "fixed" and sharing.allowance is not None:
        term = _("{amount} credits per student for the term").format(
            amount=credits_text(sharing.allowance)
        )
    if sharing.weekly_cap is None and not term:
        return _("No limit: students spend from the pool until it runs out.")
    if sharing.weekly_cap is None:
        text = term
    else:
        cap = credits_text(sharing.weekly_cap)
        text = (
            _("{term} and at most {amount} credits per student a week").format(
                term=term, amount=cap
            )
            if term
            else _("At most {amount} credits per student a week").format(amount=cap)
        )
    own = len(sharing.students)
    if own:
        text = ngettext(
            "{policy}; {count} student with an allowance of their own",
            "{policy}; {count} students with an allowance of their own",
            own,
        ).format(policy=text, count=own)
    return text + _(".")


def when(value: datetime | None) -> str:
    """A time as the page and the export show it (UTC, to the minute); empty for none."""
    if value is None:
        return ""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"{utc:%Y-%m-%d %H:%M}"


def share_left_text(row: RosterRow, *, shown: bool = False) -> str:
    """A student's share left, ``no limit``, or empty for the course's staff and TAs.

    Exact (for the CSV) unless ``shown``: then with 2 decimals, as the page shows credits.
    """
    if row.share_left is not None:
        return credits_text(row.share_left) if shown else amount(row.share_left)
    return "no limit" if row.role == "student" else ""


def own_allowance_text(row: RosterRow) -> str:
    """A student's own allowance, or empty when they have the course's share."""
    return amount(row.own_allowance) if row.own_allowance is not None else ""


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading ``= + - @`` (or tab, CR) gets a quote."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def roster_csv(rows: Sequence[RosterRow]) -> str:
    """The roster table as CSV, every cell safe against formula injection."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        cells = (
            row.username,
            row.role,
            amount(row.use.used),
            amount(row.use.charged),
            amount(row.use.held),
            str(row.use.sessions),
            when(row.use.last_activity),
            share_left_text(row),
            own_allowance_text(row),
        )
        writer.writerow([safe_cell(cell) for cell in cells])
    return out.getvalue()
