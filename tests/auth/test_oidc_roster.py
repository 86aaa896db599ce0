"""Course rosters from the OIDC groups claim: a real hub, a real provider, Chromium.

The OIDC test hub's site file names ``auth.courses.idp-ml.oidc_groups`` (instructor and
student; not ta). At every login and refresh the person's groups claim decides their
place on idp-ml's roster in the ledger, and so their hub groups ``course-idp-ml-*``
(computehub.auth.rostersync, computehub.auth.courses). idp-ml is owned by pat; a roster
file put rita on it as its TA and omar as a student. idp-stats is in the ledger but
not in the site file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.credits.roster import parse_roster
from tests.support.authbed import (
    IDP_COURSE,
    IDP_PEOPLE,
    IDP_UNLISTED_COURSE,
    REFRESH_AGE_S,
    OidcHub,
)
from tests.support.login import LOGGED_IN, oidc_login

pytestmark = pytest.mark.integration

STUDENTS = f"course-{IDP_COURSE}-students"
STAFF = f"course-{IDP_COURSE}-staff"
#: What the hub logs for a roster change made at an OIDC login or refresh.
SYNC_LOG = "Roster sync (computehub-login:oidc): "


@pytest.fixture(scope="module")
def courses(oidc_hub: OidcHub) -> None:
    """idp-ml (owner pat; rita TA and omar student from a roster file) and idp-stats."""
    term = (date(2020, 1, 1), date(2099, 12, 31))
    with Ledger(oidc_hub.ledger_url, migrate=False) as ledger:
        ledger.create_course(IDP_COURSE, "ML from the IdP", *term, owner="pat", actor="test")
        ledger.apply_course_roster(
            IDP_COURSE, parse_roster("rita,ta\nomar,student\n"), actor="pat", uploader="pat"
        )
        ledger.create_course(IDP_UNLISTED_COURSE, "Statistics", *term, actor="test")


def members(hub: OidcHub, course: str = IDP_COURSE) -> dict[str, str]:
    with Ledger(hub.ledger_url, migrate=False) as ledger:
        return dict(ledger.course(course).members)


def course_roles_of(hub: OidcHub, who: str) -> dict[str, str]:
    """The person's course accounts in the ledger and their role in each."""
    with Ledger(hub.ledger_url, migrate=False) as ledger:
        return {
            str(a.account): str(a.role)
            for a in ledger.accounts_for_user(who)
            if str(a.kind) == "course"
        }


def hub_user(hub: OidcHub, who: str) -> dict[str, Any]:
    status, user = hub.hub.api("GET", f"/users/{who}")
    assert status == 200, user
    return dict(user)


def login(hub: OidcHub, browser: Any, who: str) -> dict[str, Any]:
    """Log in through the IdP in a fresh browser context; the hub's record of the person."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        oidc_login(page, hub.hub.url, who)
        page.wait_for_url(LOGGED_IN)
    finally:
        context.close()
    return hub_user(hub, who)


@contextmanager
def claim_groups(hub: OidcHub, who: str, groups: list[str]) -> Iterator[None]:
    """The IdP sends ``groups`` in the person's groups claim, until the block ends."""
    hub.idp.set_people({**IDP_PEOPLE, who: {**IDP_PEOPLE[who], "groups": groups}})
    try:
        yield
    finally:
        hub.idp.set_people(dict(IDP_PEOPLE))


def test_a_student_value_gives_the_course_until_the_claim_drops_it(
    oidc_hub: OidcHub, courses: None, browser: Any
) -> None:
    # nina's claim carries idp-ml's student value.
    user = login(oidc_hub, browser, "nina")
    assert members(oidc_hub)["nina"] == "student"
    assert course_roles_of(oidc_hub, "nina") == {IDP_COURSE: "student"}
    assert sorted(user["groups"]) == sorted([STUDENTS, "student"])
    assert f"{SYNC_LOG}nina is student in {IDP_COURSE} (was not on it)" in (
        oidc_hub.hub.process.log.read_text()
    )
    # The value is gone from the claim: her next login takes her off, and out of the group.
    with claim_groups(oidc_hub, "nina", ["some-club"]):
        user = login(oidc_hub, browser, "nina")
    assert "nina" not in members(oidc_hub)
    assert course_roles_of(oidc_hub, "nina") == {}
    assert user["groups"] == ["student"]
    # Back in the claim: a refresh (no new login) puts her on the course again.
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        with claim_groups(oidc_hub, "nina", ["some-club"]):
            oidc_login(page, oidc_hub.hub.url, "nina")
            page.wait_for_url(LOGGED_IN)
        assert "nina" not in members(oidc_hub)
        time.sleep(REFRESH_AGE_S + 1)
        page.goto(f"{oidc_hub.hub.url}/hub/home")
    finally:
        context.close()
    assert members(oidc_hub)["nina"] == "student"
    assert STUDENTS in hub_user(oidc_hub, "nina")["groups"]


def test_an_instructor_value_gives_the_staff_role_until_the_claim_drops_it(
    oidc_hub: OidcHub, courses: None, browser: Any
) -> None:
    user = login(oidc_hub, browser, "dora")
    assert members(oidc_hub)["dora"] == "instructor"
    assert STAFF in user["groups"]
    assert STUDENTS not in user["groups"]
    assert STAFF in user["roles"]
    with claim_groups(oidc_hub, "dora", ["course-instructors"]):
        user = login(oidc_hub, browser, "dora")
    assert "dora" not in members(oidc_hub)
    assert sorted(user["groups"]) == ["instructor", "researcher"]
    assert STAFF not in user["roles"]


def test_the_claim_removes_only_the_roles_it_manages(
    oidc_hub: OidcHub, courses: None, browser: Any
) -> None:
    # None of the three has an idp-ml value in their claim.
    for who in ("rita", "pat", "omar"):
        assert not set(IDP_PEOPLE[who]["groups"]) & {"idpml-instructors", "idpml-students"}
        login(oidc_hub, browser, who)
    roster = members(oidc_hub)
    # A TA (a role the claim doesn't give) and the owner stay, with their staff group.
    assert (roster.get("rita"), roster.get("pat")) == ("ta", "owner")
    assert STAFF in hub_user(oidc_hub, "rita")["groups"]
    assert STAFF in hub_user(oidc_hub, "pat")["groups"]
    # A student is a role the claim manages: for that role the claim is the roster,
    # whichever source added them (docs/courses.md, "When sources disagree").
    assert "omar" not in roster
    assert STUDENTS not in hub_user(oidc_hub, "omar")["groups"]


def test_a_value_for_a_course_not_in_the_site_file_changes_nothing(
    oidc_hub: OidcHub, courses: None, browser: Any
) -> None:
    # evan's claim carries idpstats-students; idp-stats is in the ledger, not in auth.courses.
    assert "idpstats-students" in IDP_PEOPLE["evan"]["groups"]
    before = members(oidc_hub, IDP_UNLISTED_COURSE)
    user = login(oidc_hub, browser, "evan")
    assert members(oidc_hub, IDP_UNLISTED_COURSE) == before == {}
    assert course_roles_of(oidc_hub, "evan") == {}
    assert user["groups"] == ["student"]
    assert f"{SYNC_LOG}evan" not in oidc_hub.hub.process.log.read_text()
