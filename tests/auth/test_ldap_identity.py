"""LDAP identities bound by DN, and refreshes that see the other form (real slapd, real ledger).

The authenticator runs in this process, configured from a site file as the hub
configures it, against the bed's slapd; the ledger is a real one on SQLite. A refresh
whose search can't see ``entryUUID`` (ACLs that hide it from the search user) is made
by a refreshing authenticator that doesn't ask for it (``identity: null``): the bed's
slapd lets everyone read everything, and the entry then shows its DN only, as there.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tornado import web
from traitlets.config import Config

from computehub.auth.configure import configure_auth
from computehub.auth.ldap import ComputeHubLDAPAuthenticator
from computehub.credits.ledger import Ledger
from computehub.sitefile import parse_site
from tests.support.authbed import Directory, ldap_auth, site_data

pytestmark = pytest.mark.integration

#: The issuer of identities bound by DN, whatever the server (computehub.auth.entryid).
DN_ISSUER = "ldap:dn"
SEARCH_PASSWORD_ENV = "COMPUTEHUB_TEST_LDAP_IDENTITY_SEARCH_PW"
LOG = "computehub.tests.ldap_identity"
ALICE = {"username": "alice", "password": "alice-pw"}


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    Ledger(url).close()
    return url


@pytest.fixture
def make_login(
    auth_people: Directory, ledger_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """An LDAP authenticator on the bed's slapd, by address and identity attribute."""
    slapd = auth_people.slapd
    monkeypatch.setenv(SEARCH_PASSWORD_ENV, slapd.admin_password)

    def make(address: str = "127.0.0.1", identity: str | None = "entryUUID") -> Any:
        auth = ldap_auth(address, slapd.port)
        auth["ldap"]["attributes"]["identity"] = identity
        auth["ldap"]["search_bind_dn"] = slapd.admin_dn
        auth["ldap"]["search_password_env"] = SEARCH_PASSWORD_ENV
        site = parse_site(site_data(auth, ledger_url, tmp_path), tmp_path / "site.yaml")
        config = Config()
        configure_auth(config, site)
        return ComputeHubLDAPAuthenticator(config=config, log=logging.getLogger(LOG))

    return make


def bound(ledger_url: str, name: str) -> tuple[str, str] | None:
    with Ledger(ledger_url, migrate=False) as ledger:
        return ledger.identity_of(name)


def bind(ledger_url: str, name: str, issuer: str, subject: str) -> None:
    with Ledger(ledger_url, migrate=False) as ledger:
        ledger.bind_identity(name, issuer, subject, actor="test")


async def refused(login: Any) -> str:
    with pytest.raises(web.HTTPError) as err:
        await login.authenticate(None, dict(ALICE))
    assert err.value.status_code == 403
    return str(err.value.jupyterhub_message)  # type: ignore[attr-defined]


async def test_a_dn_binding_survives_a_new_server_address(
    make_login: Any, ledger_url: str, auth_people: Directory
) -> None:
    """The same directory by another address (a new URL, a replica) is the same person."""
    model = await make_login("127.0.0.1", identity=None).authenticate(None, dict(ALICE))
    assert model["name"] == "alice"
    dn = auth_people.person_dn("alice").lower()
    assert bound(ledger_url, "alice") == (DN_ISSUER, dn)
    again = await make_login("localhost", identity=None).authenticate(None, dict(ALICE))
    assert again["name"] == "alice"
    assert bound(ledger_url, "alice") == (DN_ISSUER, dn)


async def test_a_binding_made_with_the_server_s_address_still_logs_in(
    make_login: Any, ledger_url: str, auth_people: Directory
) -> None:
    """Bindings by DN made before ldap:dn (issuer ldap://SERVER) are accepted as they are."""
    legacy = ("ldap://ldap-old.university.example", auth_people.person_dn("alice").lower())
    bind(ledger_url, "alice", *legacy)
    for login in (make_login(identity=None), make_login()):
        model = await login.authenticate(None, dict(ALICE))
        assert model["name"] == "alice"
        assert bound(ledger_url, "alice") == legacy
        refreshed = await login.refresh_user(SimpleNamespace(name="alice"))
        assert isinstance(refreshed, dict)
        assert refreshed["name"] == "alice"


async def test_a_binding_by_another_dn_is_refused_whatever_its_issuer(
    make_login: Any, ledger_url: str, auth_people: Directory
) -> None:
    other = auth_people.person_dn("alice").replace("ou=people", "ou=former").lower()
    bind(ledger_url, "alice", "ldap://ldap-old.university.example", other)
    for login in (make_login(identity=None), make_login()):
        assert "already belongs to another person" in await refused(login)
        assert await login.refresh_user(SimpleNamespace(name="alice")) is False


async def test_a_refresh_that_sees_only_the_dn_keeps_the_person(
    make_login: Any, ledger_url: str, auth_people: Directory, caplog: pytest.LogCaptureFixture
) -> None:
    """Bound by entryUUID at login; the refresh's search doesn't show it: kept, logged."""
    login = make_login()
    assert (await login.authenticate(None, dict(ALICE)))["name"] == "alice"
    uuid = auth_people.entry_uuid("alice").lower()
    assert bound(ledger_url, "alice") == ("ldap:entryUUID", uuid)
    caplog.set_level(logging.WARNING, logger=LOG)
    assert await make_login(identity=None).refresh_user(SimpleNamespace(name="alice")) is True
    assert "Refresh of alice: kept as it was, not logged out" in caplog.text
    assert "the entry shows only ldap:dn" in caplog.text
    assert bound(ledger_url, "alice") == ("ldap:entryUUID", uuid)
    # A login that can't confirm the binding is refused: there is no session to keep.
    assert "can't confirm that this account is yours" in await refused(make_login(identity=None))


async def test_a_refresh_that_sees_another_uuid_logs_the_person_out(
    make_login: Any, ledger_url: str
) -> None:
    bind(ledger_url, "alice", "ldap:entryUUID", "0a1b2c3d-0000-4000-8000-00000000000b")
    login = make_login()
    assert await login.refresh_user(SimpleNamespace(name="alice")) is False
    assert "already belongs to another person" in await refused(login)
