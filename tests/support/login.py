"""Log in through the hub's real login page in a Playwright page (for any browser test)."""

from __future__ import annotations

import re
from typing import Any

#: Where the hub sends a person after a successful login (home, spawn form or a server).
LOGGED_IN = re.compile(r".*/(hub/(home|spawn|spawn-pending)|user/)[^?]*.*")


def ldap_login(page: Any, hub_url: str, user: str, password: str) -> None:
    """Log in with a directory account on the login page's form, and wait until in.

    Raises:
        AssertionError: the login page showed an error instead (its text is the message).
    """
    page.goto(f"{hub_url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_load_state()
    error = page.locator(".login_error")
    if error.count():
        raise AssertionError(f"login as {user} refused: {error.first.inner_text()}")
    page.wait_for_url(LOGGED_IN)


def oidc_login(page: Any, hub_url: str, login: str, password: str = "any") -> None:  # noqa: S107 (test IdP)
    """Log in through the identity provider: the hub's button, the IdP's form, back.

    The test IdP (oidc-provider's development login) takes any password.
    """
    page.goto(f"{hub_url}/hub/login")
    page.click("#ch-login-oidc")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
