"""Course memberships as JupyterHub groups and roles: pure cases."""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass

import pytest

from computehub.auth.courses import (
    ESCAPE,
    CourseMembership,
    course_memberships,
    course_roles,
    course_slug,
    staff_role,
    students_group,
)
from computehub.credits.names import validate_account_name
from computehub.credits.service.access import Caller, may_read_history, may_read_members
from computehub.credits.service.scopes import INSTRUCT

#: JupyterHub 6.1.1's role-name rule (jupyterhub/roles.py).
ROLE_NAME = re.compile(r"^[a-z][a-z0-9\-_~\.]{1,253}[a-z0-9]$")

#: Account names that came close to each other under earlier slugs: case, '@', the
#: hashed form main gave capitals ('intro-' and 10 hex digits of the name's sha256).
TRICKY = [
    "intro-ml",
    "Intro-ML",
    "intro",
    "Intro",
    "INTRO",
    "intro-" + hashlib.sha256(b"Intro").hexdigest()[:10],
    "intro-" + hashlib.sha256(b"INTRO").hexdigest()[:10],
    "a@b.example",
    "a-b.example",
    "a_b.example",
    "a_40b.example",
    "x",
    "9lives",
    "a" * 64,
    "A" + "@" * 63,  # the longest slug a ledger account name can have
    "ml_2025.1",
]


@dataclass(frozen=True)
class Account:
    account: str
    kind: str
    role: str | None


def decode(slug: str) -> str:
    """Read a slug back as course_slug's docstring describes the encoding."""
    out = bytearray()
    i = 0
    while i < len(slug):
        if slug[i] == ESCAPE:
            out.append(int(slug[i + 1 : i + 3], 16))
            i += 3
        else:
            out += slug[i].encode()
            i += 1
    return out.decode()


def test_course_accounts_with_a_staff_or_student_role_count() -> None:
    accounts = [
        Account("alice", "personal", "owner"),
        Account("lab", "project", "member"),
        Account("intro-ml", "course", "instructor"),
        Account("physics", "course", "student"),
        Account("chem", "course", "owner"),
        Account("odd", "course", "member"),
        Account("none", "course", None),
        Account("bio", "course", "ta"),
    ]
    assert course_memberships(accounts) == (
        CourseMembership("bio", "ta"),
        CourseMembership("chem", "owner"),
        CourseMembership("intro-ml", "instructor"),
        CourseMembership("physics", "student"),
    )


@pytest.mark.parametrize("role", ["owner", "instructor", "ta", "member", "student", "viewer", None])
def test_course_staff_are_who_the_credits_service_counts_as_staff(role: str | None) -> None:
    """A course's owner runs it in the credits service: it must see the students too."""
    caller = Caller("prof", "user", frozenset({INSTRUCT}))
    service_staff = may_read_history(caller, "course", role)
    assert may_read_members(caller, "course", role) == service_staff
    memberships = course_memberships([Account("chem-301", "course", role)])
    hub_staff = [r["name"] for r in course_roles(memberships)] == ["course-chem-301-staff"]
    assert hub_staff == service_staff


@pytest.mark.parametrize("account", TRICKY)
def test_every_account_gives_valid_role_and_group_names(account: str) -> None:
    validate_account_name(account)
    role = staff_role(account)
    assert ROLE_NAME.fullmatch(role["name"]), role["name"]
    assert len(students_group(account)) <= 255
    assert role["scopes"][0] == f"list:users!group={students_group(account)}"


@pytest.mark.parametrize("account", TRICKY)
def test_a_slug_reads_back_as_its_account(account: str) -> None:
    assert decode(course_slug(account)) == account


def test_no_two_accounts_share_a_group_or_a_role() -> None:
    for one, other in itertools.combinations(TRICKY, 2):
        assert students_group(one) != students_group(other), (one, other)
        assert staff_role(one)["name"] != staff_role(other)["name"], (one, other)


def test_an_account_named_like_another_s_hashed_slug_gets_its_own_group() -> None:
    """Main gave 'Intro' the slug intro-<hash>, which an account could be named."""
    lookalike = "intro-" + hashlib.sha256(b"Intro").hexdigest()[:10]
    validate_account_name(lookalike)
    assert students_group("Intro") != students_group(lookalike)
    assert staff_role("Intro")["name"] != staff_role(lookalike)["name"]


def test_plain_lower_case_names_keep_their_readable_slug() -> None:
    assert course_slug("intro-ml") == "intro-ml"
    assert course_slug("ml_2025.1") == "ml_2025.1"
    assert course_slug("Intro") == "~49ntro"
    assert course_slug("a@b.example") == "a~40b.example"


def test_names_too_long_for_jupyterhub_are_left_out() -> None:
    long = "A" * 100
    with pytest.raises(ValueError, match="too long"):
        course_slug(long)
    assert course_memberships([Account(long, "course", "student")]) == ()
