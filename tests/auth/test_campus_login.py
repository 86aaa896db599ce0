"""One name, one person: a hub whose IdP names people by e-mail address, from two domains.

uni-a.example is the bare domain (``ali@uni-a.example`` is ``ali``), uni-b.example
has the suffix ``-b``; each name is bound to the IdP subject that first used it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.authbed import SUPPORT, OidcHub
from tests.support.login import LOGGED_IN, oidc_login

pytestmark = pytest.mark.integration


@pytest.fixture
def login(campus_hub: OidcHub, browser: Any) -> Callable[[str], str]:
    """Log in as an IdP person in a fresh browser; the page's text afterwards."""

    def attempt(who: str) -> str:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(20_000)
            oidc_login(page, campus_hub.hub.url, who)
            return str(page.inner_text("body")) + "\n" + str(page.url)
        finally:
            context.close()

    return attempt


def bound(hub: OidcHub, name: str) -> tuple[str, str] | None:
    with Ledger(hub.ledger_url, migrate=False) as ledger:
        return ledger.identity_of(name)


def test_the_same_local_part_in_two_domains_is_two_people(
    campus_hub: OidcHub, login: Callable[[str], str]
) -> None:
    assert LOGGED_IN.match(login("ali-a").splitlines()[-1])
    assert LOGGED_IN.match(login("ali-b").splitlines()[-1])
    assert campus_hub.hub.api("GET", "/users/ali")[0] == 200
    assert campus_hub.hub.api("GET", "/users/ali-b")[0] == 200
    issuer = campus_hub.idp.issuer
    assert bound(campus_hub, "ali") == (issuer, "ali-a")
    assert bound(campus_hub, "ali-b") == (issuer, "ali-b")
    # The same person logging in again still gets in.
    assert LOGGED_IN.match(login("ali-a").splitlines()[-1])


def test_another_subject_folding_onto_a_bound_name_is_refused(
    campus_hub: OidcHub, login: Callable[[str], str]
) -> None:
    login("ali-a")
    # 'Ali@uni-a.example' from another IdP subject would be 'ali' after folding.
    body = login("ali-again")
    assert "already belongs to another person" in body
    assert SUPPORT in body
    assert bound(campus_hub, "ali") == (campus_hub.idp.issuer, "ali-a")


def test_the_kelvin_sign_is_refused(campus_hub: OidcHub, login: Callable[[str], str]) -> None:
    body = login("kelvin")
    assert "plain letters" in body
    assert SUPPORT in body
    assert campus_hub.hub.api("GET", "/users/kelvin")[0] == 404
    assert bound(campus_hub, "kelvin") is None


def test_an_unverified_email_is_refused(campus_hub: OidcHub, login: Callable[[str], str]) -> None:
    body = login("unverified")
    assert "has not verified your e-mail address" in body
    assert SUPPORT in body
    assert campus_hub.hub.api("GET", "/users/uv")[0] == 404
