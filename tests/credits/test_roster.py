"""Roster files: each bad line named; what a good one changes (pure functions)."""

from __future__ import annotations

import pytest

from computehub.credits.roster import RosterError, parse_roster, plan_roster


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("ana,student,extra\n", [(1, "expected 2 fields")]),
        ("ana\n", [(1, "expected 2 fields")]),
        ("username,role\nana,boss\n", [(2, "role 'boss' is not one of instructor, ta, student")]),
        ("bad name,student\n", [(1, "'bad name' is not a user name")]),
        ("ana,student\nana,ta\n", [(2, "ana is listed already on line 1")]),
        ("ana,student\n,\nbo b,x\n", [(3, "is not a user name; role 'x'")]),
        ("", [(None, "lists nobody")]),
        ("username,role\n\n", [(None, "lists nobody")]),
        ("ana,stu\x00dent\n", [(None, "NUL")]),
    ],
    ids=[
        "three-fields",
        "one-field",
        "unknown-role",
        "bad-user",
        "twice",
        "two-problems-one-line",
        "empty",
        "header-only",
        "nul",
    ],
)
def test_every_bad_line_is_named(text: str, errors: list[tuple[int | None, str]]) -> None:
    with pytest.raises(RosterError) as refused:
        parse_roster(text)
    found = refused.value.errors
    assert [e.line for e in found] == [line for line, _ in errors]
    for error, (_line, words) in zip(found, errors, strict=True):
        assert words in error.message
    assert "nothing changed" in str(refused.value)


def test_a_good_file_with_a_header_blank_lines_and_any_case() -> None:
    lines = parse_roster("\ufeffUsername,Role\r\nana, Student\r\n\r\nbo,TA\r\n")
    assert [(x.line, x.username, x.role) for x in lines] == [(2, "ana", "student"), (4, "bo", "ta")]


def test_a_lone_carriage_return_ends_a_line() -> None:
    """Old Mac line ends (and the fuzz test's ``\\r``) were a 500: csv.Error escaped."""
    lines = parse_roster("ana,student\rbo,ta\r")
    assert [(x.line, x.username) for x in lines] == [(1, "ana"), (2, "bo")]
    with pytest.raises(RosterError, match="nothing changed") as refused:
        parse_roster("\u00d8p\u00da\x14\x01\r\U0003989dF~")
    assert [e.line for e in refused.value.errors] == [1, 2]


def test_all_bad_lines_are_reported_at_once() -> None:
    with pytest.raises(RosterError) as refused:
        parse_roster("ana,student\nx y,student\nbo,boss\ncy,ta,1\n")
    assert [e.line for e in refused.value.errors] == [2, 3, 4]


def test_the_plan_leaves_owners_and_the_uploader_alone() -> None:
    members = {"prof": "owner", "ines": "instructor", "tia": "ta", "sami": "student"}
    plan = plan_roster(
        "c", members, parse_roster("ines,instructor\nsami,ta\nnew,student\n"), uploader="ines"
    )
    assert dict(plan.add) == {"new": "student"}
    assert dict(plan.remove) == {"tia": "ta"}  # never the owner
    assert [(c.username, c.before, c.after) for c in plan.change] == [("sami", "student", "ta")]
    assert plan.unchanged == 1
    with pytest.raises(RosterError, match="would take you off"):
        plan_roster("c", members, parse_roster("sami,student\n"), uploader="ines")
    with pytest.raises(RosterError, match="your own role"):
        plan_roster("c", members, parse_roster("ines,ta\n"), uploader="ines")
    with pytest.raises(RosterError, match="owns the course"):
        plan_roster("c", members, parse_roster("ines,instructor\nprof,ta\n"))
    # An operator's file may take anyone but the owner off.
    assert dict(plan_roster("c", members, parse_roster("new,student\n")).remove) == {
        "ines": "instructor",
        "sami": "student",
        "tia": "ta",
    }
