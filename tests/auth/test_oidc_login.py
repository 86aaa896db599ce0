"""OpenID Connect login against a real provider (oidc-provider) on loopback, in Chromium."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from computehub.credits.ledger import Ledger
from computehub.paths import repo_root
from tests.support.authbed import IDP_PEOPLE, REFRESH_AGE_S, SUPPORT, OidcHub
from tests.support.login import LOGGED_IN, oidc_login

pytestmark = pytest.mark.integration


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def available(oidc: OidcHub, account: str) -> Decimal:
    with Ledger(oidc.ledger_url, migrate=False) as ledger:
        return ledger.balance(account).available


def test_login_page_shows_the_platform_and_one_button(
    oidc_hub: OidcHub, page: Any, output_dir: Path
) -> None:
    page.goto(f"{oidc_hub.hub.url}/hub/login")
    page.screenshot(path=str(output_dir / "login-oidc.png"))
    assert page.inner_text("#ch-platform") == "Test AI Compute"
    assert SUPPORT in page.inner_text("#ch-note")
    buttons = page.locator(".ch-login-method")
    assert buttons.count() == 1
    assert page.inner_text("#ch-login-oidc") == "Log in with Test University"
    assert page.locator("#username_input").count() == 0


def test_claims_give_roles_and_a_first_login_grant_once(oidc_hub: OidcHub, browser: Any) -> None:
    for attempt in (1, 2):
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            oidc_login(page, oidc_hub.hub.url, "alice")
            page.wait_for_url(LOGGED_IN)
        finally:
            context.close()
        status, user = oidc_hub.hub.api("GET", "/users/alice")
        assert status == 200, attempt
        assert sorted(user["groups"]) == ["instructor", "researcher"]
        assert {"user", "instructor", "researcher"} <= set(user["roles"])
        assert user["admin"] is False
        # Researcher 50 and instructor 20: the largest, granted at the first login only.
        assert available(oidc_hub, "alice") == Decimal(50), attempt
    with Ledger(oidc_hub.ledger_url, migrate=False) as ledger:
        grants = [e for e in ledger.history("alice") if "first login" in str(e)]
    assert len(grants) == 1


def test_affiliation_claim_gives_student(oidc_hub: OidcHub, page: Any) -> None:
    oidc_login(page, oidc_hub.hub.url, "bob")
    page.wait_for_url(LOGGED_IN)
    status, user = oidc_hub.hub.api("GET", "/users/bob")
    assert (status, user["groups"], user["admin"]) == (200, ["student"], False)
    assert available(oidc_hub, "bob") == Decimal(10)


def test_affiliation_not_allowed_is_refused_with_a_message(oidc_hub: OidcHub, page: Any) -> None:
    oidc_login(page, oidc_hub.hub.url, "guest")
    body = page.inner_text("body")
    assert "none of the groups or affiliations allowed" in body
    assert SUPPORT in body
    assert oidc_hub.hub.api("GET", "/users/guest")[0] == 404


def test_a_system_account_claim_is_refused(oidc_hub: OidcHub, page: Any) -> None:
    # The IdP vouches for 'root@university.example' with the student affiliation.
    oidc_login(page, oidc_hub.hub.url, "root")
    body = page.inner_text("body")
    assert "system account" in body
    assert SUPPORT in body
    assert oidc_hub.hub.api("GET", "/users/root")[0] == 404
    assert "Login refused (system-account: 'root'" in oidc_hub.hub.process.log.read_text()


def test_another_subject_can_not_take_a_name(oidc_hub: OidcHub, browser: Any) -> None:
    def login(who: str) -> str:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(20_000)
            oidc_login(page, oidc_hub.hub.url, who)
            return str(page.inner_text("body"))
        finally:
            context.close()

    login("alice")
    with Ledger(oidc_hub.ledger_url, migrate=False) as ledger:
        assert ledger.identity_of("alice") == (oidc_hub.idp.issuer, "alice")
    # mallory's IdP subject claims the name 'Alice@university.example'.
    body = login("mallory")
    assert "already belongs to another person" in body
    assert SUPPORT in body
    status, user = oidc_hub.hub.api("GET", "/users/alice")
    assert (status, user["admin"]) == (200, False)
    # The same person again is still welcome.
    login("alice")
    assert "Login admitted: alice" in oidc_hub.hub.process.log.read_text()


def test_roles_follow_the_provider_between_logins(oidc_hub: OidcHub, page: Any) -> None:
    oidc_login(page, oidc_hub.hub.url, "olga")
    page.wait_for_url(LOGGED_IN)
    status, user = oidc_hub.hub.api("GET", "/users/olga")
    assert (status, user["admin"]) == (200, True)
    people = {**IDP_PEOPLE, "olga": {**IDP_PEOPLE["olga"], "groups": ["research-staff"]}}
    oidc_hub.idp.set_people(people)
    try:
        time.sleep(REFRESH_AGE_S + 1)
        page.goto(f"{oidc_hub.hub.url}/hub/home")
        status, user = oidc_hub.hub.api("GET", "/users/olga")
        assert (user["admin"], user["groups"]) == (False, ["researcher"])
        assert "admin" not in user["roles"]
    finally:
        oidc_hub.idp.set_people(dict(IDP_PEOPLE))


def test_tampered_state_is_refused(oidc_hub: OidcHub, page: Any) -> None:
    # The hub's redirect to the IdP, taken without following it (its state cookie is kept).
    response = page.request.get(f"{oidc_hub.hub.url}/hub/oauth_login", max_redirects=0)
    assert response.status == 302
    parts = urlsplit(response.headers["location"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["state"]
    query["state"] = "eyJzdGF0ZV9pZCI6ICJmb3JnZWQifQ=="  # {"state_id": "forged"}
    page.goto(urlunsplit(parts._replace(query=urlencode(query))))
    page.fill("input[name=login]", "bob")
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "OAuth state mismatch" in page.inner_text("body")
    page.goto(f"{oidc_hub.hub.url}/hub/home")
    assert "/hub/login" in page.url


def test_client_secret_is_in_neither_the_log_nor_the_rendered_config(oidc_hub: OidcHub) -> None:
    # The log of a DEBUG hub that has run the whole flow (other tests here ran logins).
    log = oidc_hub.hub.process.log.read_text()
    assert "oauth_callback" in log
    assert oidc_hub.client_secret not in log
    shown = subprocess.run(
        [
            str(Path(sys.executable).parent / "jupyterhub"),
            "-f",
            str(repo_root() / "hub_config" / "jupyterhub_config.py"),
            "--show-config",
        ],
        env={**oidc_hub.hub.process.env()},
        cwd=oidc_hub.hub.process.base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    rendered = shown.stdout
    assert "ComputeHubOIDCAuthenticator" in rendered
    assert "COMPUTEHUB_TEST_OIDC_SECRET" in rendered
    assert oidc_hub.client_secret not in rendered


def test_cookies_are_secure_behind_https(oidc_hub: OidcHub) -> None:
    """Behind a TLS-terminating proxy (X-Forwarded-Proto: https) cookies carry Secure."""
    hub_port = oidc_hub.hub.process.hub_port
    connection = http.client.HTTPConnection("127.0.0.1", hub_port, timeout=10)
    connection.request("GET", "/hub/oauth_login", headers={"X-Forwarded-Proto": "https"})
    response = connection.getresponse()
    cookies = response.headers.get_all("Set-Cookie") or []
    connection.close()
    state = [c for c in cookies if c.startswith("oauthenticator-state=")]
    assert state, cookies
    assert all("Secure" in c and "HttpOnly" in c for c in state)
