"""Instructors see the students of their own courses only (a real hub on LDAP).

Course accounts live in the ledger; at login, students are put in their courses'
groups and a course's staff (its instructors and owners) get its staff role
(computehub.auth.courses). alice teaches ml-101 (evan takes it, dora assists in it as its
TA); dora takes phys-201; pat owns chem-301 (dora takes it too); bob takes no course.
"""

from __future__ import annotations

from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.university import PEOPLE
from tests.support.authbed import AUTH_PEOPLE, LdapHub
from tests.support.bedtools import hub_api, hub_login

pytestmark = pytest.mark.integration

PASSWORDS = {p.uid: p.password for p in PEOPLE} | {p.uid: p.password for p in AUTH_PEOPLE.values()}


@pytest.fixture(scope="module")
def courses(ldap_hub: LdapHub) -> dict[str, str]:
    """Three courses in the hub's ledger, then everyone logs in; alice's and pat's tokens."""
    with Ledger(ldap_hub.ledger_url) as ledger:
        ledger.create_account("ml-101", "course", actor="test")
        ledger.add_member("ml-101", "alice", "instructor", actor="test")
        ledger.add_member("ml-101", "evan", "student", actor="test")
        ledger.add_member("ml-101", "dora", "ta", actor="test")
        ledger.create_account("phys-201", "course", actor="test")
        ledger.add_member("phys-201", "dora", "student", actor="test")
        # As `computehub credits accounts create --kind course --owner pat` makes it.
        ledger.create_account("chem-301", "course", owner="pat", actor="test")
        ledger.add_member("chem-301", "dora", "student", actor="test")
    for user in ("bob", "dora", "evan", "alice", "pat"):
        hub_login(ldap_hub.hub.url, user, PASSWORDS[user])
    tokens = {}
    for user in ("alice", "pat", "dora"):
        status, made = ldap_hub.hub.api(
            "POST", f"/users/{user}/tokens", {"note": "course-scope test", "expires_in": 600}
        )
        assert status == 201, made
        tokens[user] = made["token"]
    return tokens


def as_alice(hub: LdapHub, courses: dict[str, str], path: str) -> tuple[int, Any]:
    return hub_api(hub.hub.url, courses["alice"], "GET", path, timeout=30)


def as_pat(hub: LdapHub, courses: dict[str, str], path: str) -> tuple[int, Any]:
    return hub_api(hub.hub.url, courses["pat"], "GET", path, timeout=30)


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


def test_a_course_owner_is_its_staff_too(ldap_hub: LdapHub, courses: dict[str, str]) -> None:
    """The credits service lets an owner run the course: the hub shows them its students."""
    pat = ldap_hub.hub.api("GET", "/users/pat")[1]
    assert "course-chem-301-staff" in pat["roles"]
    assert "instructor" not in pat["roles"]
    status, dora = as_pat(ldap_hub, courses, "/users/dora")
    assert (status, dora["name"]) == (200, "dora")
    assert "servers" in dora
    assert as_pat(ldap_hub, courses, "/users/evan")[0] in (403, 404)
    status, users = as_pat(ldap_hub, courses, "/users")
    assert status == 200
    assert {u["name"] for u in users} & {"dora", "evan", "bob"} == {"dora"}


def test_an_instructor_lists_only_their_students(
    ldap_hub: LdapHub, courses: dict[str, str]
) -> None:
    status, users = as_alice(ldap_hub, courses, "/users")
    assert status == 200
    names = {u["name"] for u in users}
    assert "evan" in names
    assert not names & {"dora", "bob", "carol"}


def test_course_a_s_instructor_reads_no_server_of_course_b_s_students(
    ldap_hub: LdapHub, courses: dict[str, str]
) -> None:
    """alice (ml-101) and pat (chem-301): neither reaches the other course's students' servers."""
    assert as_alice(ldap_hub, courses, "/users/dora")[0] in (403, 404)
    status, users = as_alice(ldap_hub, courses, "/users?state=active")
    assert status == 200
    assert {u["name"] for u in users} <= {"evan", "alice"}
    assert as_pat(ldap_hub, courses, "/users/evan")[0] in (403, 404)


def test_a_ta_sees_the_course_s_students_and_no_one_else(
    ldap_hub: LdapHub, courses: dict[str, str]
) -> None:
    dora = ldap_hub.hub.api("GET", "/users/dora")[1]
    assert "course-ml-101-staff" in dora["roles"]
    assert "course-ml-101-staff" in dora["groups"]
    status, evan = hub_api(ldap_hub.hub.url, courses["dora"], "GET", "/users/evan", timeout=30)
    assert (status, evan["name"]) == (200, "evan")
    assert "servers" in evan
    status, users = hub_api(ldap_hub.hub.url, courses["dora"], "GET", "/users", timeout=30)
    assert status == 200
    assert not {u["name"] for u in users} & {"bob", "alice", "pat"}
    assert hub_api(ldap_hub.hub.url, courses["dora"], "GET", "/users/bob", timeout=30)[0] in (
        403,
        404,
    )
