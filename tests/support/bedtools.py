"""Helpers every test folder shares (imported by name: pytest puts tests/ on the path)."""

from __future__ import annotations

import http.cookiejar
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

#: Under CI=true, or the README's test command (scripts/test.sh sets
#: COMPUTEHUB_STRICT_BED=1), nothing may skip: tests/conftest.py turns every skip
#: into a failure, and a missing component fails at once with what to install.
STRICT = os.environ.get("CI", "").lower() in {"1", "true", "yes"} or bool(
    os.environ.get("COMPUTEHUB_STRICT_BED")
)


def component_missing(err: Exception) -> None:
    """Fail in strict runs; skip only on a developer's partial machine."""
    if STRICT:
        pytest.fail(f"a real component of the test bed is missing: {err}", pytrace=False)
    pytest.skip(str(err))


def hub_api(
    hub_url: str, token: str, method: str, path: str, body: object = None, timeout: float = 120
) -> tuple[int, Any]:
    """Call a hub's REST API (``/hub/api`` + path) with a token; returns (status, JSON or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(  # noqa: S310 (loopback URL built by the test)
        f"{hub_url}/hub/api{path}",
        method=method,
        data=data,
        headers={"Authorization": f"token {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


def user_token(hub_url: str, driver_token: str, user: str, scopes: list[str] | None = None) -> str:
    """A new API token of ``user`` (all their permissions, or just ``scopes``), for 10 min."""
    body: dict[str, Any] = {"note": "test", "expires_in": 600}
    if scopes is not None:
        body["scopes"] = scopes
    status, made = hub_api(hub_url, driver_token, "POST", f"/users/{user}/tokens", body)
    assert status == 201, made
    return str(made["token"])


def hub_login(
    hub_url: str, user: str, password: str, timeout: float = 60
) -> urllib.request.OpenerDirector:
    """Log in on the hub's real login form (as a browser would, without one).

    The login sets what only a login sets: the person's platform roles (JupyterHub
    groups) and their first-login grant.

    Returns:
        An opener that carries the login's cookies, to fetch the hub's pages as them.

    Raises:
        AssertionError: the hub did not accept the login.
    """
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{hub_url}/hub/login", timeout=timeout) as resp:
        resp.read()
    xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
    form = urllib.parse.urlencode({"username": user, "password": password, "_xsrf": xsrf})
    try:
        with opener.open(f"{hub_url}/hub/login", form.encode(), timeout=timeout) as resp:
            resp.read()
            landed = resp.url
    except urllib.error.HTTPError as err:
        raise AssertionError(f"login as {user} refused: {err.code} {err.read()[:300]!r}") from None
    if "/hub/login" in landed:
        raise AssertionError(f"login as {user} refused: still on {landed}")
    return opener


def assert_ledger_clean(url: str) -> None:
    """Fail unless the ledger at ``url`` passes ``computehub credits check``.

    Each bed hub calls it when it stops, after every test that used it: the figures
    kept in the accounts must agree with the journal, the holds and the lots.
    """
    from computehub.credits.ledger import Ledger

    with Ledger(url, migrate=False) as ledger:
        report = ledger.check()
    assert report.ok, f"credits check of {url} after the tests: {report.differences}"
