"""Course memberships as JupyterHub groups and roles: pure cases."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from computehub.auth.courses import (
    CourseMembership,
    course_memberships,
    course_slug,
    staff_role,
    students_group,
)

#: JupyterHub 6.1.1's role-name rule (jupyterhub/roles.py).
ROLE_NAME = re.compile(r"^[a-z][a-z0-9\-_~\.]{1,253}[a-z0-9]$")


@dataclass(frozen=True)
class Account:
    account: str
    kind: str
    role: str | None


def test_only_course_accounts_with_a_teaching_or_student_role_count() -> None:
    accounts = [
        Account("alice", "personal", "owner"),
        Account("lab", "project", "member"),
        Account("intro-ml", "course", "instructor"),
        Account("physics", "course", "student"),
        Account("odd", "course", "owner"),
    ]
    assert course_memberships(accounts) == (
        CourseMembership("intro-ml", "instructor"),
        CourseMembership("physics", "student"),
    )


@pytest.mark.parametrize(
    "account",
    ["intro-ml", "Intro-ML", "intro", "Intro", "a@b.example", "x", "9lives", "a" * 64, "ml_2025.1"],
)
def test_every_account_gives_valid_distinct_role_and_group_names(account: str) -> None:
    role = staff_role(account)
    assert ROLE_NAME.fullmatch(role["name"]), role["name"]
    assert role["scopes"][0] == f"list:users!group={students_group(account)}"


def test_names_that_differ_only_in_case_stay_apart() -> None:
    assert course_slug("intro") == "intro"
    assert course_slug("Intro") != course_slug("intro")
    assert students_group("Intro") != students_group("intro")
