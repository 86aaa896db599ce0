"""Session fixtures of the login tests: a hub on LDAP and hubs on real OIDC providers.

Each hub is a real ``jupyterhub`` process from hub_config/ with its own ports,
state folder and ledger under the bed's folder; none needs Slurm.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.hub import HubProcess
from computehub.localbed.postgres import Postgres
from computehub.localbed.proc import MissingComponentError, free_port
from computehub.localbed.sitegen import write_site
from computehub.localbed.slapd import Slapd
from computehub.localbed.users import ensure_user
from tests.support.authbed import (
    AUTH_PEOPLE,
    AUTH_POSIX_PEOPLE,
    CAMPUS_PEOPLE,
    DIR_COURSE,
    DIR_COURSE_GROUP,
    IDP_COURSE,
    IDP_COURSE_GROUPS,
    IDP_PEOPLE,
    REFRESH_AGE_S,
    Directory,
    HubClient,
    LdapHub,
    OidcHub,
    OidcProviderProcess,
    TcpGate,
    campus_auth,
    ensure_people,
    extra_config,
    ldap_auth,
    oidc_auth,
    site_data,
    uid_number,
)
from tests.support.bedtools import assert_ledger_clean, component_missing
from tests.support.lti_platform import LtiPlatform
from tests.support.ltibed import (
    COMBINED_LMS_PEOPLE,
    LMS_CONTEXTS,
    LMS_PEOPLE,
    LTI_COURSE,
    CombinedHub,
    LtiHub,
    combined_auth,
    lti_auth,
)

#: The environment variable the LDAP test hub reads its search user's password from.
SEARCH_PASSWORD_ENV = "COMPUTEHUB_TEST_LDAP_SEARCH_PW"


def _start(process: HubProcess) -> None:
    try:
        process.start()
    except MissingComponentError as err:
        component_missing(err)


@pytest.fixture(scope="session")
def auth_people(slapd: Slapd, test_users: dict[str, str], auth_posix: None) -> Directory:
    """The bed's people and the login tests' own in the directory, with POSIX accounts."""
    ensure_people(slapd)
    directory = Directory(slapd)
    for n, person in enumerate(AUTH_PEOPLE.values()):
        directory.add(person, uid_number(person, n))
    return directory


@pytest.fixture(scope="session")
def ldap_hub(
    bed_root: Path, slapd: Slapd, auth_people: Directory, postgres_server: Postgres
) -> Iterator[LdapHub]:
    """JupyterHub on LDAP (direct bind, groups → roles, first-login credits, refresh)."""
    gate = TcpGate(slapd.port)
    gate.open()
    base = bed_root / "auth-ldap"
    ledger_url = postgres_server.create_database("auth_ledger")
    ledger_gate = TcpGate(postgres_server.port)
    ledger_gate.open()
    hub_ledger_url = ledger_url.replace(f":{postgres_server.port}/", f":{ledger_gate.port}/")
    auth = ldap_auth("127.0.0.1", gate.port)
    # refresh_user looks people up with a search user (here the directory's admin), so
    # that a person gone from the directory is told apart from one it hides.
    auth["ldap"]["search_bind_dn"] = slapd.admin_dn
    auth["ldap"]["search_password_env"] = SEARCH_PASSWORD_ENV
    auth["refresh_age_s"] = REFRESH_AGE_S
    # dir-ml's students are its directory group's members (test_roster_groups.py).
    auth["courses"] = {
        DIR_COURSE: {"ldap_groups": {"student": auth_people.group_dn(DIR_COURSE_GROUP)}}
    }
    site = write_site(base / "site.yaml", site_data(auth, hub_ledger_url, base))
    token = secrets.token_hex(24)
    extra = extra_config(base / "extra_config.py", token)
    with extra.open("a") as more:
        # A login gives up on a ledger that can't be reached after this long.
        more.write("c.ComputeHubLDAPAuthenticator.ledger_timeout_s = 4\n")
    process = HubProcess(
        base / "hub",
        site,
        extra_config=extra,
        extra_env={SEARCH_PASSWORD_ENV: slapd.admin_password},
    )
    base.mkdir(parents=True, exist_ok=True)
    _start(process)
    yield LdapHub(
        HubClient(process, token),
        gate,
        ledger_url,
        auth_people,
        ledger_gate,
        site_file=site,
        search_password=slapd.admin_password,
    )
    process.stop()
    gate.close()
    ledger_gate.close()
    assert_ledger_clean(ledger_url)


def _oidc_hub(
    base: Path,
    people: dict[str, dict[str, Any]],
    auth: Any,
) -> Iterator[OidcHub]:
    base.mkdir(parents=True, exist_ok=True)
    client_secret = "cs-" + secrets.token_urlsafe(24)
    hub_port = free_port()
    callback = f"http://127.0.0.1:{hub_port}/hub/oauth_callback"
    idp = OidcProviderProcess(base / "idp", client_secret, callback, people=dict(people))
    try:
        idp.start()
    except MissingComponentError as err:
        component_missing(err)
    ledger_url = f"sqlite:///{base / 'ledger.sqlite'}"
    site = write_site(base / "site.yaml", site_data(auth(idp.issuer, callback), ledger_url, base))
    token = secrets.token_hex(24)
    process = HubProcess(
        base / "hub",
        site,
        port=hub_port,
        extra_config=extra_config(base / "extra_config.py", token),
        extra_env={
            "COMPUTEHUB_TEST_OIDC_SECRET": client_secret,
            # auth_state (the person's tokens, for refresh_user) is encrypted with it.
            "JUPYTERHUB_CRYPT_KEY": secrets.token_hex(32),
        },
    )
    _start(process)
    yield OidcHub(HubClient(process, token), idp, client_secret, ledger_url, site)
    process.stop()
    idp.stop()
    assert_ledger_clean(ledger_url)


@pytest.fixture(scope="session")
def oidc_hub(bed_root: Path, test_users: dict[str, str], auth_posix: None) -> Iterator[OidcHub]:
    """JupyterHub on OpenID Connect against oidc-provider on loopback."""

    def auth(issuer: str, callback_url: str) -> dict[str, Any]:
        section = oidc_auth(issuer, callback_url)
        # idp-ml's instructors and students are the groups claim's (test_oidc_roster.py).
        section["courses"] = {IDP_COURSE: {"oidc_groups": dict(IDP_COURSE_GROUPS)}}
        return section

    yield from _oidc_hub(bed_root / "auth-oidc", IDP_PEOPLE, auth)


@pytest.fixture(scope="session")
def campus_hub(bed_root: Path) -> Iterator[OidcHub]:
    """JupyterHub whose IdP names people by e-mail address, from two domains."""
    yield from _oidc_hub(bed_root / "auth-campus", CAMPUS_PEOPLE, campus_auth)


@pytest.fixture(scope="session")
def auth_posix() -> None:
    """POSIX accounts for the login tests' own people (the OIDC hub needs olga's)."""
    try:
        for name in AUTH_POSIX_PEOPLE:
            ensure_user(name)
    except MissingComponentError as err:
        component_missing(err)


@pytest.fixture(scope="session")
def lti_hub(bed_root: Path, auth_posix: None) -> Iterator[LtiHub]:
    """JupyterHub on LTI 1.3 launches from a small platform on loopback, one course."""
    base = bed_root / "auth-lti"
    base.mkdir(parents=True, exist_ok=True)
    hub_port = free_port()
    platform = LtiPlatform(
        client_id="computehub-lti-test",
        deployment_id="deployment-1",
        people=dict(LMS_PEOPLE),
        contexts=dict(LMS_CONTEXTS),
        tool_url=f"http://127.0.0.1:{hub_port}",
    )
    platform.start()
    ledger_url = f"sqlite:///{base / 'ledger.sqlite'}"
    with Ledger(ledger_url) as ledger:
        ledger.create_course(
            LTI_COURSE, "Intro to ML (LMS)", date(2020, 1, 1), date(2099, 12, 31), actor="test"
        )
    site = write_site(base / "site.yaml", site_data(lti_auth(platform), ledger_url, base))
    token = secrets.token_hex(24)
    process = HubProcess(
        base / "hub",
        site,
        port=hub_port,
        extra_config=extra_config(base / "extra_config.py", token),
    )
    _start(process)
    yield LtiHub(HubClient(process, token), platform, ledger_url)
    process.stop()
    platform.stop()
    assert_ledger_clean(ledger_url)


@pytest.fixture(scope="session")
def combined_hub(bed_root: Path, slapd: Slapd, auth_people: Directory) -> Iterator[CombinedHub]:
    """JupyterHub whose login page is the directory's, accepting LMS launches as well."""
    base = bed_root / "auth-combined"
    base.mkdir(parents=True, exist_ok=True)
    hub_port = free_port()
    platform = LtiPlatform(
        client_id="computehub-combined-test",
        deployment_id="deployment-1",
        people=dict(COMBINED_LMS_PEOPLE),
        contexts=dict(LMS_CONTEXTS),
        tool_url=f"http://127.0.0.1:{hub_port}",
    )
    platform.start()
    ledger_url = f"sqlite:///{base / 'ledger.sqlite'}"
    with Ledger(ledger_url) as ledger:
        ledger.create_course(
            LTI_COURSE, "Intro to ML (LMS)", date(2020, 1, 1), date(2099, 12, 31), actor="test"
        )
    auth = combined_auth(platform, slapd.port, slapd.admin_dn, SEARCH_PASSWORD_ENV)
    site = write_site(base / "site.yaml", site_data(auth, ledger_url, base))
    token = secrets.token_hex(24)
    process = HubProcess(
        base / "hub",
        site,
        port=hub_port,
        extra_config=extra_config(base / "extra_config.py", token),
        extra_env={
            SEARCH_PASSWORD_ENV: slapd.admin_password,
            # auth_state records how each person logged in (refresh goes that way).
            "JUPYTERHUB_CRYPT_KEY": secrets.token_hex(32),
        },
    )
    _start(process)
    yield CombinedHub(HubClient(process, token), platform, ledger_url, auth_people)
    process.stop()
    platform.stop()
    assert_ledger_clean(ledger_url)
