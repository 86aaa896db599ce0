"""LDAP login against the real slapd, in Chromium, through the hub's real login page."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.slapd import LdapPerson
from tests.support.authbed import AUTH_PEOPLE, REFRESH_AGE_S, SUPPORT, LdapHub
from tests.support.login import LOGGED_IN, ldap_login

pytestmark = pytest.mark.integration


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def submit(page: Any, hub_url: str, user: str, password: str) -> str:
    """Post the login form; the text of the login error shown, or '' when logged in."""
    page.goto(f"{hub_url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_load_state()
    error = page.locator(".login_error")
    return error.first.inner_text().strip() if error.count() else ""


def platform_groups(user: dict[str, Any]) -> list[str]:
    """A user's groups that come from the directory's (course groups come from the ledger,
    which other tests of this hub fill: alice teaches ml-101 in test_course_scopes.py)."""
    return sorted(group for group in user["groups"] if not group.startswith("course-"))


def test_valid_login_maps_groups_to_roles(ldap_hub: LdapHub, page: Any) -> None:
    ldap_login(page, ldap_hub.hub.url, "alice", "alice-pw")
    assert LOGGED_IN.match(page.url)
    status, user = ldap_hub.hub.api("GET", "/users/alice")
    assert status == 200
    assert platform_groups(user) == ["instructor", "researcher"]
    assert {"user", "instructor", "researcher"} <= set(user["roles"])
    assert user["admin"] is False


def test_operator_is_admin(ldap_hub: LdapHub, page: Any) -> None:
    ldap_login(page, ldap_hub.hub.url, "carol", "carol-pw")
    status, user = ldap_hub.hub.api("GET", "/users/carol")
    assert status == 200
    assert sorted(user["groups"]) == ["operator", "researcher"]
    assert user["admin"] is True
    assert "admin" in user["roles"]


def test_affiliation_gives_student_and_first_credits(ldap_hub: LdapHub, page: Any) -> None:
    ldap_login(page, ldap_hub.hub.url, "bob", "bob-pw")
    status, user = ldap_hub.hub.api("GET", "/users/bob")
    assert (status, user["groups"]) == (200, ["student"])
    with Ledger(ldap_hub.ledger_url, migrate=False) as ledger:
        assert str(ledger.balance("bob").available) in {"10", "10.0000"}


def test_wrong_password(ldap_hub: LdapHub, page: Any) -> None:
    assert submit(page, ldap_hub.hub.url, "alice", "not-her-password") == (
        "Invalid username or password"
    )


def test_unknown_user(ldap_hub: LdapHub, page: Any) -> None:
    assert submit(page, ldap_hub.hub.url, "mallory", "whatever") == "Invalid username or password"
    assert ldap_hub.hub.api("GET", "/users/mallory")[0] == 404


def test_user_in_no_allowed_group_is_refused_with_a_message(
    ldap_hub: LdapHub, page: Any, output_dir: Path
) -> None:
    message = submit(page, ldap_hub.hub.url, "erin", "erin-pw")
    page.screenshot(path=str(output_dir / "login-ldap-refused.png"))
    assert "none of the groups or affiliations allowed" in message
    assert SUPPORT in message
    assert ldap_hub.hub.api("GET", "/users/erin")[0] == 404


def test_user_without_cluster_account_is_told_whom_to_ask(ldap_hub: LdapHub, page: Any) -> None:
    message = submit(page, ldap_hub.hub.url, "quinn", "quinn-pw")
    assert "no cluster account named 'quinn'" in message
    assert SUPPORT in message


def test_directory_down_is_a_clear_error_and_the_hub_keeps_running(
    ldap_hub: LdapHub, page: Any
) -> None:
    ldap_hub.gate.close()
    try:
        message = submit(page, ldap_hub.hub.url, "alice", "alice-pw")
        assert "directory can't be reached" in message
        assert SUPPORT in message
        with urllib.request.urlopen(f"{ldap_hub.hub.url}/hub/health", timeout=5) as r:  # noqa: S310
            assert r.status == 200
    finally:
        ldap_hub.gate.open()
    assert submit(page, ldap_hub.hub.url, "alice", "alice-pw") == ""


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        pytest.param("root", "'root' is on the deny-list", id="root"),
        pytest.param("munge", "'munge' is on the deny-list", id="munge"),
    ],
)
def test_system_accounts_in_the_directory_are_refused(
    ldap_hub: LdapHub, page: Any, name: str, reason: str
) -> None:
    # Their entries bind with the right password and carry the student affiliation;
    # the hub host has POSIX accounts of these names (root, the munge daemon's).
    message = submit(page, ldap_hub.hub.url, name, AUTH_PEOPLE[name].password)
    assert "system account" in message
    assert SUPPORT in message
    assert ldap_hub.hub.api("GET", f"/users/{name}")[0] == 404
    assert f"Login refused (system-account: {reason}" in ldap_hub.hub.process.log.read_text()


def test_names_are_bound_to_the_entry_s_uuid(ldap_hub: LdapHub, page: Any) -> None:
    ldap_login(page, ldap_hub.hub.url, "alice", "alice-pw")
    with Ledger(ldap_hub.ledger_url, migrate=False) as ledger:
        bound = ledger.identity_of("alice")
    assert bound == ("ldap:entryUUID", ldap_hub.directory.entry_uuid("alice").lower())


def test_an_entry_made_again_for_someone_else_is_refused(ldap_hub: LdapHub, browser: Any) -> None:
    directory = ldap_hub.directory

    def attempt(password: str) -> str:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(20_000)
            return submit(page, ldap_hub.hub.url, "rita", password)
        finally:
            context.close()

    assert attempt("rita-pw") == ""
    first = directory.entry_uuid("rita")
    # The directory deletes rita's entry and gives the uid to someone else.
    directory.delete("rita")
    directory.add(LdapPerson("rita", "new-rita-pw", "Rita Two", (), "student"), 30100)
    assert directory.entry_uuid("rita") != first
    message = attempt("new-rita-pw")
    assert "already belongs to another person" in message
    assert SUPPORT in message
    assert "Login refused (identity-conflict" in ldap_hub.hub.process.log.read_text()


def test_roles_follow_the_directory_between_logins(ldap_hub: LdapHub, page: Any) -> None:
    """An operator taken out of the operator group loses admin at their next request."""
    url, directory = ldap_hub.hub.url, ldap_hub.directory
    ldap_login(page, url, "olga", "olga-pw")
    status, user = ldap_hub.hub.api("GET", "/users/olga")
    assert (status, user["admin"]) == (200, True)
    assert sorted(user["groups"]) == ["operator", "researcher"]
    try:
        directory.leave("olga", "hpc-operators")
        time.sleep(REFRESH_AGE_S + 1)
        page.goto(f"{url}/hub/home")
        assert "/hub/home" in page.url
        status, user = ldap_hub.hub.api("GET", "/users/olga")
        assert (user["admin"], user["groups"]) == (False, ["researcher"])
        assert "admin" not in user["roles"]
        assert "operator" not in user["roles"]
        # Out of every group that gives a role: logged out at the next request.
        directory.leave("olga", "research-staff")
        time.sleep(REFRESH_AGE_S + 1)
        page.goto(f"{url}/hub/home")
        assert "/hub/login" in page.url
        assert "none of the groups" in submit(page, url, "olga", "olga-pw")
    finally:
        directory.add(AUTH_PEOPLE["olga"], 30002)


def test_a_ledger_that_can_t_be_reached_refuses_the_login(ldap_hub: LdapHub, page: Any) -> None:
    """Fail closed: without the ledger the name's identity can't be checked."""
    ldap_hub.ledger_gate.close()
    try:
        message = submit(page, ldap_hub.hub.url, "alice", "alice-pw")
        assert "can't be completed right now" in message
        assert SUPPORT in message
    finally:
        ldap_hub.ledger_gate.open()
    assert submit(page, ldap_hub.hub.url, "alice", "alice-pw") == ""


def test_hub_restarts_with_managed_roles_kept(ldap_hub: LdapHub, page: Any) -> None:
    """Runs last in this file: members of the platform roles survive a hub restart."""
    ldap_login(page, ldap_hub.hub.url, "alice", "alice-pw")
    ldap_hub.hub.process.stop()
    ldap_hub.hub.process.start()
    status, user = ldap_hub.hub.api("GET", "/users/alice")
    assert status == 200
    assert platform_groups(user) == ["instructor", "researcher"]
    assert {"instructor", "researcher"} <= set(user["roles"])
