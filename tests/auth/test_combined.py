"""LMS launches next to another login method: the site file's rule, the config, dispatch.

The real hub with LDAP and launches together is tested in test_combined_login.py.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from computehub.auth.base import METHOD_KEY, STATE_KEY
from computehub.auth.combined import ComputeHubCombinedAuthenticator
from computehub.auth.configure import COMBINED_CLASS, AuthConfigError, configure_auth
from computehub.auth.dummy import ComputeHubDummyAuthenticator
from computehub.auth.ldap import ComputeHubLDAPAuthenticator
from computehub.auth.lti import ComputeHubLTIAuthenticator
from computehub.sitefile import SiteFileError, parse_site
from tests.support.authbed import ldap_auth, site_data

BED = Path("/nonexistent-bed")
CRYPT_KEY = "00" * 32
LTI = {
    "issuer": "https://moodle.university.example",
    "client_ids": ["abc"],
    "deployment_ids": ["1"],
    "authorize_url": "https://moodle.university.example/mod/lti/auth.php",
    "jwks_url": "https://moodle.university.example/mod/lti/certs.php",
    "courses": {"42": "intro-ml"},
}


def ldap_with_launches(**auth_changes: Any) -> dict[str, Any]:
    auth = ldap_auth("127.0.0.1", 3890)
    auth["lti"] = copy.deepcopy(LTI)
    auth["lti_launches"] = True
    auth["roles"] = {**auth["roles"], "student": {"groups": ["lti-student"]}}
    auth.update(auth_changes)
    return site_data(auth, "sqlite:////tmp/ledger.sqlite", BED)


def demo_with_launches() -> dict[str, Any]:
    auth = {
        "method": "dummy",
        "dummy": {"users": {"ayesha": "instructor", "zara": "operator"}},
        "lti": copy.deepcopy(LTI),
        "lti_launches": True,
        "roles": {"student": {"groups": ["lti-student"]}},
    }
    return site_data(auth, "sqlite:////tmp/ledger.sqlite", BED)


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(SiteFileError) as caught:
        parse_site(data, Path("site.yaml"))
    return caught.value.one_line()


def test_an_lti_section_with_lti_launches_is_accepted_next_to_ldap() -> None:
    site = parse_site(ldap_with_launches(), Path("site.yaml"))
    assert (site.auth.method, site.auth.lti_launches) == ("ldap", True)
    assert site.auth.lti is not None


def test_an_lti_section_next_to_another_method_needs_lti_launches() -> None:
    line = refused(ldap_with_launches(lti_launches=False))
    assert line.startswith("site file site.yaml: auth"), line
    assert "there is an 'lti' section but method is 'ldap'" in line
    assert "only with lti_launches: true" in line


def test_lti_launches_without_an_lti_section_is_refused() -> None:
    data = ldap_with_launches()
    del data["auth"]["lti"]
    line = refused(data)
    assert "lti_launches: true needs an 'lti' section" in line


def test_lti_launches_on_an_lti_hub_is_refused() -> None:
    data = ldap_with_launches(method="lti")
    del data["auth"]["ldap"]
    line = refused(data)
    assert "with method 'lti' every login is a launch already" in line


def test_lti_launches_is_off_by_default() -> None:
    data = ldap_with_launches()
    del data["auth"]["lti"], data["auth"]["lti_launches"]
    assert parse_site(data, Path("site.yaml")).auth.lti_launches is False


def test_the_combined_authenticator_holds_both_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", CRYPT_KEY)
    c = Config()
    configure_auth(c, parse_site(ldap_with_launches(), Path("site.yaml")))
    assert c.JupyterHub.authenticator_class == COMBINED_CLASS
    combined = c.ComputeHubCombinedAuthenticator
    assert combined.primary_class == "computehub.auth.ldap.ComputeHubLDAPAuthenticator"
    assert (combined.manage_groups, combined.manage_roles, combined.enable_auth_state) == (
        True,
        True,
        True,
    )
    assert (combined.auth_refresh_age, combined.refresh_pre_spawn) == (300, True)
    ldap, lti = c.ComputeHubLDAPAuthenticator, c.ComputeHubLTIAuthenticator
    assert ldap.server_port == 3890
    assert lti.issuer == LTI["issuer"]
    assert lti.deployment_ids == ["1"]
    assert lti.courses == {"42": "intro-ml"}
    for section in (ldap, lti):
        assert section.enable_auth_state is True
        assert section.ledger_url == "sqlite:////tmp/ledger.sqlite"
        assert (section.manage_groups, section.manage_roles) == (True, True)
    kinds = [m["kind"] for m in c.JupyterHub.template_vars["computehub_login"]["methods"]]
    assert kinds == ["password", "lti"]


def test_a_hub_with_two_ways_in_needs_the_crypt_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY", raising=False)
    with pytest.raises(AuthConfigError, match="lti_launches: the environment variable"):
        configure_auth(Config(), parse_site(ldap_with_launches(), Path("site.yaml")))


def combined_from(data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", CRYPT_KEY)
    c = Config()
    configure_auth(c, parse_site(data, Path("site.yaml")))
    return ComputeHubCombinedAuthenticator(config=c)


def test_each_handler_reaches_its_own_authenticator(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = combined_from(ldap_with_launches(), monkeypatch)
    assert isinstance(auth.primary, ComputeHubLDAPAuthenticator)
    assert isinstance(auth.lti, ComputeHubLTIAuthenticator)
    # Each reads its own section (and no name prefix is configured anywhere).
    assert auth.primary.server_port == 3890
    assert auth.lti.deployment_ids == ["1"]
    routes = dict(auth.get_handlers(app=None))
    lti_paths = {"lti13/oauth_login", "lti13/oauth_callback", "lti13/config"}
    assert set(routes) == {"/login", *lti_paths}
    assert routes["/login"].authenticator is auth.primary
    for path in lti_paths:
        assert routes[path].authenticator is auth.lti
    assert auth.login_url("/hub/") == "/hub/login"


class FakeUser:
    """What refresh_user reads of a JupyterHub user: the name and the stored auth_state."""

    def __init__(self, name: str, auth_state: dict[str, Any] | None) -> None:
        self.name = name
        self._state = auth_state

    async def get_auth_state(self) -> dict[str, Any] | None:
        return self._state


@pytest.mark.parametrize(
    ("state", "kept"),
    [
        # Launched from the LMS: nothing to ask the LMS between launches, kept.
        ({STATE_KEY: {METHOD_KEY: "lti"}}, True),
        # Logged in with the demo form: the demo's list, where this name is not.
        ({STATE_KEY: {METHOD_KEY: "dummy"}}, False),
        # No method recorded (before launches were accepted): the primary's.
        (None, False),
        ({}, False),
    ],
    ids=["lti", "form", "no-state", "no-method"],
)
def test_refresh_goes_to_the_method_the_person_logged_in_with(
    monkeypatch: pytest.MonkeyPatch, state: dict[str, Any] | None, kept: bool
) -> None:
    auth = combined_from(demo_with_launches(), monkeypatch)
    assert isinstance(auth.primary, ComputeHubDummyAuthenticator)
    assert asyncio.run(auth.refresh_user(FakeUser("dora", state))) is kept


def test_the_lti_authenticator_can_t_be_the_primary_too() -> None:
    c = Config()
    c.ComputeHubCombinedAuthenticator.primary_class = (
        "computehub.auth.lti.ComputeHubLTIAuthenticator"
    )
    with pytest.raises(ValueError, match="can't be the LTI one as well"):
        ComputeHubCombinedAuthenticator(config=c)
