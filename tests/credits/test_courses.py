"""Courses in the ledger: made, read, updated, archived; an archived pool moves no credit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from computehub.credits.errors import (
    ArchivedCourseError,
    ConflictError,
    UnknownCourseError,
)
from computehub.credits.ledger import Ledger
from computehub.credits.roster import RosterError, parse_roster
from tests.support.ledgers import FakeClock

TERM = (date(2026, 1, 5), date(2026, 6, 30))


def _course(ledger: Ledger) -> None:
    ledger.create_course("ml-101", "Machine learning", *TERM, actor="op", owner="prof")
    ledger.apply_course_roster(
        "ml-101", parse_roster("ines,instructor\ntia,ta\nsami,student\n"), actor="op"
    )
    ledger.ensure_personal_account("sami")
    ledger.grant("ml-101", "100", actor="op")


def test_a_course_is_one_object(ledger: Ledger) -> None:
    _course(ledger)
    course = ledger.course("ml-101")
    assert (course.title, course.starts_on, course.ends_on) == ("Machine learning", *TERM)
    assert course.members == {"ines": "instructor", "prof": "owner", "sami": "student", "tia": "ta"}
    assert (course.with_role("ta"), course.with_role("student")) == (["tia"], ["sami"])
    assert course.pool.balance == 100
    assert not course.archived
    assert [c.id for c in ledger.courses(user="tia")] == ["ml-101"]
    assert ledger.courses(user="nobody") == []


def test_an_existing_course_account_becomes_a_course(ledger: Ledger) -> None:
    ledger.create_account("old-course", "course", actor="op")
    ledger.add_member("old-course", "ines", "instructor", actor="op")
    made = ledger.create_course("old-course", "Old", *TERM, actor="op")
    assert made.members == {"ines": "instructor"}
    with pytest.raises(ConflictError, match="already exists"):
        ledger.create_course("old-course", "Old", *TERM, actor="op")
    ledger.create_account("lab", "project", actor="op")
    with pytest.raises(ConflictError, match="not a course"):
        ledger.create_course("lab", "Lab", *TERM, actor="op")


@pytest.mark.parametrize(
    ("title", "start", "end", "message"),
    [
        ("", *TERM, "title"),
        ("x" * 201, *TERM, "title"),
        ("two\nlines", *TERM, "control"),
        ("Fine", TERM[1], TERM[0], "ends"),
    ],
    ids=["empty-title", "long-title", "newline", "term-backwards"],
)
def test_bad_courses_are_refused(
    ledger: Ledger, title: str, start: date, end: date, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ledger.create_course("c", title, start, end, actor="op")
    assert ledger.courses() == []


def test_update_changes_title_and_term(ledger: Ledger) -> None:
    _course(ledger)
    later = TERM[1] + timedelta(days=14)
    updated = ledger.update_course("ml-101", title="ML", ends_on=later, actor="op")
    assert (updated.title, updated.starts_on, updated.ends_on) == ("ML", TERM[0], later)
    with pytest.raises(ValueError, match="ends"):
        ledger.update_course("ml-101", starts_on=later + timedelta(days=1), actor="op")
    with pytest.raises(UnknownCourseError):
        ledger.update_course("nope", title="x", actor="op")


def test_an_archived_course_moves_no_credit_and_keeps_its_history(ledger: Ledger) -> None:
    _course(ledger)
    ledger.transfer("ml-101", "sami", "10", actor="ines")
    running = ledger.place_hold("ml-101", "north", {"cpu": 1}, "2", actor="sami")
    history = ledger.history("ml-101")
    archived = ledger.archive_course("ml-101", actor="op")
    assert archived.archived
    assert archived.archived_by == "op"
    refused: list[Callable[[], object]] = [
        lambda: ledger.place_hold("ml-101", "north", {"cpu": 1}, "1", actor="sami"),
        lambda: ledger.extend_hold(running.id, "1", actor="sami"),
        lambda: ledger.transfer("ml-101", "sami", "1", actor="ines"),
        lambda: ledger.transfer("sami", "ml-101", "1", actor="sami"),
        lambda: ledger.grant("ml-101", "1", actor="op"),
    ]
    for attempt in refused:
        with pytest.raises(ArchivedCourseError, match="'ml-101' was archived on"):
            attempt()
    # The session running when it was archived still ends and is charged.
    charge = ledger.settle(running.id, {"cpu": "1"}, actor="spawner")
    assert charge.amount > 0
    kept = [entry for entry in ledger.history("ml-101") if entry.id <= history[0].id]
    assert kept == history
    assert ledger.course("ml-101").pool.balance == 90 - charge.amount
    # Archiving again changes nothing; the roster and record stay as they were.
    assert ledger.archive_course("ml-101", actor="op2").archived_by == "op"
    with pytest.raises(ConflictError, match="archived"):
        ledger.apply_course_roster("ml-101", parse_roster("ines,instructor\n"), actor="op")
    with pytest.raises(ConflictError, match="archived"):
        ledger.update_course("ml-101", title="again", actor="op")
    # The student's own credit, transferred before, is still theirs to spend.
    ledger.place_hold("sami", "north", {"cpu": 1}, "1", actor="sami")
    assert ledger.check().differences == []


def test_courses_are_archived_when_their_term_has_ended(ledger: Ledger, clock: FakeClock) -> None:
    ledger.create_course("ended", "Ended", date(2025, 9, 1), date(2025, 12, 31), actor="op")
    ledger.create_course("today", "Today", date(2025, 9, 1), clock.now.date(), actor="op")
    assert ledger.archive_ended_courses(actor="cron") == ["ended"]
    assert ledger.archive_ended_courses(actor="cron") == []
    assert [c.id for c in ledger.courses(archived=False)] == ["today"]
    assert ledger.course("ended").archived_by == "cron"


def test_a_roster_file_is_applied_whole_or_not_at_all(ledger: Ledger) -> None:
    _course(ledger)
    before = ledger.course("ml-101").members
    with pytest.raises(RosterError):
        # ines would take herself off: nothing of the file is applied.
        ledger.apply_course_roster(
            "ml-101", parse_roster("tia,student\nnew,student\n"), actor="ines", uploader="ines"
        )
    with pytest.raises(RosterError, match="owns the course"):
        ledger.apply_course_roster("ml-101", parse_roster("prof,student\n"), actor="op")
    assert ledger.course("ml-101").members == before
    plan = ledger.plan_course_roster(
        "ml-101", parse_roster("ines,instructor\ntia,student\nnew,student\n"), uploader="ines"
    )
    assert (dict(plan.add), dict(plan.remove), plan.unchanged, plan.applied) == (
        {"new": "student"},
        {"sami": "student"},
        1,
        False,
    )
    assert [(c.username, c.before, c.after) for c in plan.change] == [("tia", "ta", "student")]
    assert ledger.course("ml-101").members == before  # a dry run writes nothing
    done = ledger.apply_course_roster(
        "ml-101",
        parse_roster("ines,instructor\ntia,student\nnew,student\n"),
        actor="ines",
        uploader="ines",
    )
    assert done.applied
    assert dict(done.add) == {"new": "student"}
    assert ledger.course("ml-101").members == {
        "ines": "instructor",
        "new": "student",
        "prof": "owner",
        "tia": "student",
    }


def test_a_roster_source_removes_only_the_roles_it_manages(ledger: Ledger) -> None:
    _course(ledger)
    ledger.add_member("ml-101", "sam", "student", actor="op")
    ledger.add_member("ml-101", "ines", "instructor", actor="op")
    assert ledger.remove_course_member("ml-101", "sam", roles={"student"}, actor="ldap")
    assert not ledger.remove_course_member("ml-101", "ines", roles={"student"}, actor="ldap")
    owner_kept = ledger.remove_course_member("ml-101", "prof", roles={"owner"}, actor="ldap")
    assert not owner_kept
    assert not ledger.remove_course_member("ml-101", "nobody", roles={"student"}, actor="ldap")
    members = ledger.course("ml-101").members
    assert ("sam" in members, members.get("ines"), members.get("prof")) == (
        False,
        "instructor",
        "owner",
    )
    ledger.add_member("ml-101", "sam", "student", actor="op")
    ledger.archive_course("ml-101", actor="op")
    assert not ledger.remove_course_member("ml-101", "sam", roles={"student"}, actor="ldap")
    assert ledger.course("ml-101").members["sam"] == "student"
    assert ledger.check().ok
