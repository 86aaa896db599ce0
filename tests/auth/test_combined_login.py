"""One hub, two ways in: the directory's login form and LTI 1.3 launches from the LMS.

A real hub with ``method: ldap`` and ``lti_launches: true`` (the shared slapd, the
small LMS of lti_platform.py), driven in Chromium as test_ldap_login.py and
test_lti_login.py drive theirs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.authbed import REFRESH_AGE_S, SUPPORT
from tests.support.login import LOGGED_IN, ldap_login
from tests.support.lti_platform import Fault
from tests.support.ltibed import (
    LTI_COURSE,
    CombinedHub,
    assert_replay_refused,
    assert_spoiled_launch_refused,
)

pytestmark = pytest.mark.integration

#: What a person whose name belongs to someone else reads (computehub.auth.base.decide).
TAKEN = "already belongs to another person"


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (its own cookies) for one person."""
    ctx = browser.new_context()
    yield ctx
    ctx.close()


def new_page(context: Any) -> Any:
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def roster(hub: CombinedHub) -> dict[str, str]:
    with Ledger(hub.ledger_url, migrate=False) as ledger:
        return dict(ledger.course(LTI_COURSE).members)


def identity(hub: CombinedHub, name: str) -> tuple[str, str] | None:
    with Ledger(hub.ledger_url, migrate=False) as ledger:
        bound: tuple[str, str] | None = ledger.identity_of(name)
        return bound


def launch(page: Any, hub: CombinedHub, user: str) -> int:
    """Launch the notebooks from the LMS course page; the status of the hub's answer."""
    with page.expect_response(lambda r: "/hub/lti13/oauth_callback" in r.url) as answer:
        page.goto(f"{hub.platform.url}/launch?user={user}&context=ctx-101")
    page.wait_for_load_state()
    status: int = answer.value.status
    return status


def form_login(page: Any, hub: CombinedHub, user: str, password: str) -> str:
    """Post the hub's login form; the login error shown, or '' when logged in."""
    page.goto(f"{hub.hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_load_state()
    error = page.locator(".login_error")
    return error.first.inner_text().strip() if error.count() else ""


def still_logged_in_after_a_refresh(page: Any, hub: CombinedHub) -> bool:
    """Wait until the login is due for a refresh, then ask for a page as that person."""
    time.sleep(REFRESH_AGE_S + 1)
    page.goto(f"{hub.hub.url}/hub/home")
    return "/hub/home" in page.url


def test_a_directory_person_logs_in_on_the_form_with_their_roles(
    combined_hub: CombinedHub, context: Any, output_dir: Path
) -> None:
    page = new_page(context)
    page.goto(f"{combined_hub.hub.url}/hub/login")
    page.screenshot(path=str(output_dir / "login-page.png"))
    # The form is the directory's; the page tells LMS students where they come in.
    assert page.locator("#username_input").count() == 1
    assert "from their course page" in page.inner_text("#ch-login-lti")
    ldap_login(page, combined_hub.hub.url, "alice", "alice-pw")
    page.screenshot(path=str(output_dir / "landed-alice.png"))
    status, alice = combined_hub.hub.api("GET", "/users/alice")
    assert status == 200
    assert sorted(alice["groups"]) == ["instructor", "researcher"]
    assert {"user", "instructor", "researcher"} <= set(alice["roles"])
    directory = combined_hub.directory
    assert identity(combined_hub, "alice") == (
        "ldap:entryUUID",
        directory.entry_uuid("alice").lower(),
    )
    # Her refresh asks the directory (she is in it): still in, roles as they were.
    assert still_logged_in_after_a_refresh(page, combined_hub)
    _, alice = combined_hub.hub.api("GET", "/users/alice")
    assert sorted(alice["groups"]) == ["instructor", "researcher"]


def test_an_lms_learner_launches_into_the_mapped_course(
    combined_hub: CombinedHub, context: Any, output_dir: Path
) -> None:
    page = new_page(context)
    page.goto(f"{combined_hub.platform.url}/launch?user=dora&context=ctx-101")
    page.wait_for_url(LOGGED_IN)
    page.screenshot(path=str(output_dir / "landed-dora.png"))
    assert roster(combined_hub).get("dora") == "student"
    status, dora = combined_hub.hub.api("GET", "/users/dora")
    assert status == 200
    assert sorted(dora["groups"]) == ["course-lti-101-students", "student"]
    assert identity(combined_hub, "dora") == (combined_hub.platform.issuer, "lms-user-7002")
    # dora is in the directory too, as another entry: a refresh through the directory
    # would find that entry, another identity, and log her out. Hers is the launch's.
    assert still_logged_in_after_a_refresh(page, combined_hub)
    page.screenshot(path=str(output_dir / "after-refresh-dora.png"))
    _, dora = combined_hub.hub.api("GET", "/users/dora")
    assert sorted(dora["groups"]) == ["course-lti-101-students", "student"]


def test_a_launch_for_a_name_a_directory_person_has_is_refused(
    combined_hub: CombinedHub, browser: Any, output_dir: Path
) -> None:
    directory_person = browser.new_context()
    lms_person = browser.new_context()
    try:
        assert form_login(new_page(directory_person), combined_hub, "evan", "evan-pw") == ""
        bound = identity(combined_hub, "evan")
        assert bound == ("ldap:entryUUID", combined_hub.directory.entry_uuid("evan").lower())
        with Ledger(combined_hub.ledger_url, migrate=False) as ledger:
            before = ledger.balance("evan").available
        page = new_page(lms_person)
        assert launch(page, combined_hub, "evan") == 403
        page.screenshot(path=str(output_dir / "refused-evan.png"))
        text = page.inner_text("body")
        assert f"the account 'evan' {TAKEN}" in text
        assert SUPPORT in text
    finally:
        directory_person.close()
        lms_person.close()
    # Nothing granted: not on the course, no course group, no credit, the binding as it was.
    assert "evan" not in roster(combined_hub)
    _, evan = combined_hub.hub.api("GET", "/users/evan")
    assert evan["groups"] == ["student"]
    with Ledger(combined_hub.ledger_url, migrate=False) as ledger:
        assert ledger.balance("evan").available == before
    assert identity(combined_hub, "evan") == bound
    assert "Login refused (identity-conflict" in combined_hub.hub.process.log.read_text()


def test_a_directory_login_for_a_name_an_lms_person_has_is_refused(
    combined_hub: CombinedHub, browser: Any, output_dir: Path
) -> None:
    lms_person = browser.new_context()
    directory_person = browser.new_context()
    try:
        assert launch(new_page(lms_person), combined_hub, "omar") == 302
        assert identity(combined_hub, "omar") == (combined_hub.platform.issuer, "lms-user-7005")
        page = new_page(directory_person)
        message = form_login(page, combined_hub, "omar", "omar-pw")
        page.screenshot(path=str(output_dir / "refused-omar.png"))
    finally:
        lms_person.close()
        directory_person.close()
    assert f"the account 'omar' {TAKEN}" in message
    assert SUPPORT in message
    assert identity(combined_hub, "omar") == (combined_hub.platform.issuer, "lms-user-7005")


@pytest.mark.parametrize("spoiled", ["tampered", "expired", "wrong-aud", "other-key"])
def test_a_bad_launch_is_still_refused(combined_hub: CombinedHub, spoiled: Fault) -> None:
    assert_spoiled_launch_refused(combined_hub, "pat", spoiled)


def test_a_replayed_launch_is_still_refused(combined_hub: CombinedHub) -> None:
    assert_replay_refused(combined_hub, "rita")
