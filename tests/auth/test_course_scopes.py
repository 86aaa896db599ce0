"""Instructors see the students of their own courses only (a real hub on LDAP).

Course accounts live in the ledger; at login, students are put in their courses'
groups and instructors get each course's staff role (computehub.auth.courses).
alice teaches ml-101 (evan takes it); dora takes phys-201; bob takes no course.
"""

from __future__ import annotations

from typing import Any

import pytest
from authbed import AUTH_PEOPLE, LdapHub
from bedtools import hub_api, hub_login

from computehub.credits.ledger import Ledger
from computehub.localbed.university import PEOPLE

pytestmark = pytest.mark.integration

PASSWORDS = {p.uid: p.password for p in PEOPLE} | {p.uid: p.password for p in AUTH_PEOPLE.values()}


@pytest.fixture(scope="module")
def courses(ldap_hub: LdapHub) -> dict[str, str]:
    """Two courses in the hub's ledger, then everyone logs in; alice's own API token."""
    with Ledger(ldap_hub.ledger_url) as ledger:
        ledger.create_account("ml-101", "course", actor="test")
        ledger.add_member("ml-101", "alice", "instructor", actor="test")
        ledger.add_member("ml-101", "evan", "student", actor="test")
        ledger.create_account("phys-201", "course", actor="test")
        ledger.add_member("phys-201", "dora", "student", actor="test")
    for user in ("bob", "dora", "evan", "alice"):
        hub_login(ldap_hub.hub.url, user, PASSWORDS[user])
    status, made = ldap_hub.hub.api(
        "POST", "/users/alice/tokens", {"note": "course-scope test", "expires_in": 600}
    )
    assert status == 201, made
    return {"alice": made["token"]}


def as_alice(hub: LdapHub, courses: dict[str, str], path: str) -> tuple[int, Any]:
    return hub_api(hub.hub.url, courses["alice"], "GET", path, timeout=30)


def test_students_are_in_their_course_group_and_keep_the_platform_group(
    ldap_hub: LdapHub, courses: dict[str, str]
) -> None:
    assert sorted(ldap_hub.hub.api("GET", "/users/evan")[1]["groups"]) == [
        "course-ml-101-students",
        "student",
    ]
    assert ldap_hub.hub.api("GET", "/users/bob")[1]["groups"] == ["student"]
    alice = ldap_hub.hub.api("GET", "/users/alice")[1]
    assert "course-ml-101-staff" in alice["roles"]
    assert "course-ml-101-students" not in alice["groups"]


def test_an_instructor_reads_their_own_students_servers(
    ldap_hub: LdapHub, courses: dict[str, str]
) -> None:
    status, evan = as_alice(ldap_hub, courses, "/users/evan")
    assert status == 200
    assert evan["name"] == "evan"
    assert "servers" in evan  # read:servers on the course group


@pytest.mark.parametrize("student", ["dora", "bob"], ids=["other course", "no course"])
def test_an_instructor_gets_nothing_of_other_students(
    ldap_hub: LdapHub, courses: dict[str, str], student: str
) -> None:
    status, _ = as_alice(ldap_hub, courses, f"/users/{student}")
    assert status in (403, 404)


def test_an_instructor_lists_only_their_students(
    ldap_hub: LdapHub, courses: dict[str, str]
) -> None:
    status, users = as_alice(ldap_hub, courses, "/users")
    assert status == 200
    names = {u["name"] for u in users}
    assert "evan" in names
    assert not names & {"dora", "bob", "carol"}
