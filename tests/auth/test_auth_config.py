"""The site file's auth section: checks naming the key, and the JupyterHub config it gives."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from computehub.auth.configure import (
    DUMMY_CLASS,
    LDAP_CLASS,
    OIDC_CLASS,
    AuthConfigError,
    configure_auth,
)
from computehub.auth.onboarding import StartingCredits
from computehub.auth.policy import LoginPolicy
from computehub.sitefile import SiteFileError, parse_site
from tests.support.authbed import ldap_auth, oidc_auth, site_data

BED = Path("/nonexistent-bed")
SECRET = "s3cr3t-value-never-in-config"
CRYPT_KEY = "00" * 32


def ldap_site() -> dict[str, Any]:
    return site_data(ldap_auth("127.0.0.1", 3890), "sqlite:////tmp/ledger.sqlite", BED)


def oidc_site() -> dict[str, Any]:
    auth = oidc_auth("http://127.0.0.1:9000", "http://127.0.0.1:8000/hub/oauth_callback")
    return site_data(auth, "sqlite:////tmp/ledger.sqlite", BED)


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split("/")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

BROKEN = [
    # (id, site, key path to change, value, key in the message, words in the message)
    ("no roles", ldap_site, "auth/roles", {}, "auth", "needs 'roles'"),
    ("unknown role", ldap_site, "auth/roles/dean", {"groups": ["x"]}, "auth.roles.dean", "dean"),
    ("empty rule", ldap_site, "auth/roles/student", {}, "auth.roles.student", "give 'groups'"),
    (
        "unknown affiliation",
        ldap_site,
        "auth/roles/student",
        {"affiliations": ["pupil"]},
        "auth.roles.student.affiliations.0",
        "pupil",
    ),
    (
        "plaintext ldap off loopback",
        ldap_site,
        "auth/ldap/server_address",
        "ldap.university.example",
        "auth.ldap",
        "clear text",
    ),
    (
        "bind and search both",
        ldap_site,
        "auth/ldap/user_search_base",
        "ou=people,dc=x",
        "auth.ldap",
        "exactly one of",
    ),
    (
        "template without username",
        ldap_site,
        "auth/ldap/bind_dn_template",
        ["uid=alice,dc=x"],
        "auth.ldap",
        "no {username}",
    ),
    (
        "search dn without password source",
        ldap_site,
        "auth/ldap/search_bind_dn",
        "cn=reader,dc=x",
        "auth.ldap",
        "search_password_env",
    ),
    ("password in site file", ldap_site, "auth/ldap/search_password", "x", "auth.ldap", "unknown"),
    (
        "the dn as identity attribute",
        ldap_site,
        "auth/ldap/attributes/identity",
        "DN",
        "auth.ldap.attributes.identity",
        "give null to bind names by DN",
    ),
    ("secret in site file", oidc_site, "auth/oidc/client_secret", "x", "auth.oidc", "unknown key"),
    (
        "no secret source",
        oidc_site,
        "auth/oidc/client_secret_env",
        _DELETE,
        "auth.oidc",
        "client_secret_env",
    ),
    (
        "two secret sources",
        oidc_site,
        "auth/oidc/client_secret_file",
        "/etc/secret",
        "auth.oidc",
        "in one way",
    ),
    (
        "http issuer off loopback",
        oidc_site,
        "auth/oidc/issuer",
        "http://sso.university.example",
        "auth.oidc",
        "must use https",
    ),
    (
        "generic without endpoints",
        oidc_site,
        "auth/oidc/token_url",
        _DELETE,
        "auth.oidc",
        "needs token_url",
    ),
    ("bad env name", oidc_site, "auth/oidc/client_secret_env", "MY SECRET", "auth.oidc", "pattern"),
    (
        "pattern accepts slash",
        oidc_site,
        "auth/username/pattern",
        "^.+$",
        "auth.username",
        "must not accept",
    ),
    ("pattern broken", oidc_site, "auth/username/pattern", "([a-z", "auth.username", "regular"),
    (
        "negative credits",
        oidc_site,
        "auth/first_login/credits/student",
        -5,
        "auth.first_login",
        ">= 0",
    ),
    ("bad domain", oidc_site, "auth/username/strip_domains", ["@x"], "auth.username", "pattern"),
    (
        "two domains stripped into one namespace",
        oidc_site,
        "auth/username/strip_domains",
        ["uni-a.example", "uni-b.example"],
        "auth.username",
        "ali@uni-a.example and ali@uni-b.example would become the same user. Use 'domains'",
    ),
    (
        "strip_domains and domains",
        oidc_site,
        "auth/username/domains",
        {"uni-b.example": {"suffix": "-b"}},
        "auth.username",
        "not both",
    ),
    (
        "two bare domains",
        oidc_site,
        "auth/username",
        {"domains": {"uni-a.example": {"bare": True}, "uni-b.example": {"bare": True}}},
        "auth.username",
        "share one",
    ),
    (
        "two domains with one suffix",
        oidc_site,
        "auth/username",
        {"domains": {"uni-a.example": {"suffix": "-u"}, "uni-b.example": {"suffix": "-u"}}},
        "auth.username",
        "overlapping names",
    ),
    (
        "nested suffixes",
        oidc_site,
        "auth/username",
        {"domains": {"uni-a.example": {"suffix": "-b"}, "uni-b.example": {"suffix": "b"}}},
        "auth.username",
        "overlapping names",
    ),
    (
        "a prefix and a suffix overlap",
        oidc_site,
        "auth/username",
        {"domains": {"uni-a.example": {"prefix": "a-"}, "uni-b.example": {"suffix": "-b"}}},
        "auth.username",
        "overlapping names",
    ),
    (
        "domain rule says nothing",
        oidc_site,
        "auth/username",
        {"domains": {"uni-a.example": {}}},
        "auth.username.domains.uni-a.example",
        "give either 'bare: true' or a 'prefix'",
    ),
    (
        "domain suffix not posix",
        oidc_site,
        "auth/username",
        {"domains": {"uni-a.example": {"suffix": "@b"}}},
        "auth.username.domains.uni-a.example.suffix",
        "pattern",
    ),
    (
        "operator by affiliation",
        ldap_site,
        "auth/roles/operator",
        {"groups": ["hpc-operators"], "affiliations": ["staff"]},
        "auth.roles",
        "operator can't be given by affiliation (staff)",
    ),
    ("admin is a system account", ldap_site, "auth/admin_users", ["root"], "auth", "deny"),
    (
        "demo login as a system account",
        ldap_site,
        "auth/dummy",
        {"users": {"munge": "student"}},
        "auth",
        "munge is on auth.username.deny",
    ),
    ("refresh age zero", ldap_site, "auth/refresh_age_s", 0, "auth.refresh_age_s", "greater"),
]


@pytest.mark.parametrize(
    ("make", "change", "value", "key", "words"),
    [pytest.param(m, c, v, k, w, id=i) for i, m, c, v, k, w in BROKEN],
)
def test_broken_auth_section_names_the_key(
    make: Any, change: str, value: Any, key: str, words: str
) -> None:
    data = copy.deepcopy(make())
    _set(data, change, value)
    with pytest.raises(SiteFileError) as caught:
        parse_site(data, Path("site.yaml"))
    line = caught.value.one_line()
    assert line.startswith(f"site file site.yaml: {key}"), line
    assert words in line


@pytest.mark.parametrize(
    ("preset", "issuer", "authorize", "userinfo"),
    [
        pytest.param(
            "keycloak",
            "https://sso.uni.example/realms/main",
            "https://sso.uni.example/realms/main/protocol/openid-connect/auth",
            "https://sso.uni.example/realms/main/protocol/openid-connect/userinfo",
            id="keycloak",
        ),
        pytest.param(
            "cilogon",
            "https://cilogon.org",
            "https://cilogon.org/authorize",
            "https://cilogon.org/oauth2/userinfo",
            id="cilogon",
        ),
        pytest.param(
            "entra",
            "https://login.microsoftonline.com/TENANT/v2.0",
            "https://login.microsoftonline.com/TENANT/oauth2/v2.0/authorize",
            "https://graph.microsoft.com/oidc/userinfo",
            id="entra",
        ),
    ],
)
def test_presets_derive_endpoints(preset: str, issuer: str, authorize: str, userinfo: str) -> None:
    data = oidc_site()
    oidc = data["auth"]["oidc"]
    for key in ("authorize_url", "token_url", "userinfo_url"):
        del oidc[key]
    oidc.update(preset=preset, issuer=issuer)
    site = parse_site(data, Path("site.yaml"))
    assert site.auth.oidc is not None
    endpoints = site.auth.oidc.endpoints()
    assert (endpoints[0], endpoints[2]) == (authorize, userinfo)


def test_ldap_config(monkeypatch: pytest.MonkeyPatch) -> None:
    c = Config()
    configure_auth(c, parse_site(ldap_site(), Path("site.yaml")))
    assert c.JupyterHub.authenticator_class == LDAP_CLASS
    section = c.ComputeHubLDAPAuthenticator
    assert (section.server_port, section.tls_strategy) == (3890, "insecure")
    assert section.bind_dn_template == ["uid={username},ou=people,dc=university,dc=example"]
    assert section.affiliation_attribute == "employeeType"
    assert (section.manage_groups, section.manage_roles) == (True, True)
    assert isinstance(section.login_policy, LoginPolicy)
    assert isinstance(section.starting_credits, StartingCredits)
    assert section.ledger_url == "sqlite:////tmp/ledger.sqlite"
    assert section.identity_attribute == "entryUUID"
    assert (section.auth_refresh_age, section.refresh_pre_spawn) == (300, True)
    assert c.JupyterHub.template_paths[0].endswith("hub_config/templates")
    assert c.JupyterHub.template_vars["computehub_login"]["methods"] == [
        {"kind": "password", "label": "University account"}
    ]


def test_oidc_config_holds_where_the_secret_is_not_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPUTEHUB_TEST_OIDC_SECRET", SECRET)
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", CRYPT_KEY)
    c = Config()
    configure_auth(c, parse_site(oidc_site(), Path("site.yaml")))
    section = c.ComputeHubOIDCAuthenticator
    assert c.JupyterHub.authenticator_class == OIDC_CLASS
    assert section.client_secret_env == "COMPUTEHUB_TEST_OIDC_SECRET"
    assert section.token_url == "http://127.0.0.1:9000/token"
    assert section.issuer == "http://127.0.0.1:9000"
    assert SECRET not in repr(c)


def test_oidc_keeps_tokens_to_refresh_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPUTEHUB_TEST_OIDC_SECRET", SECRET)
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", CRYPT_KEY)
    data = oidc_site()
    data["auth"]["refresh_age_s"] = 60
    c = Config()
    configure_auth(c, parse_site(data, Path("site.yaml")))
    section = c.ComputeHubOIDCAuthenticator
    assert section.enable_auth_state is True
    assert (section.auth_refresh_age, section.refresh_pre_spawn) == (60, True)
    assert section.ledger_url == "sqlite:////tmp/ledger.sqlite"


def test_oidc_without_a_crypt_key_stops_the_hub_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPUTEHUB_TEST_OIDC_SECRET", SECRET)
    monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY", raising=False)
    with pytest.raises(AuthConfigError, match="JUPYTERHUB_CRYPT_KEY is not set"):
        configure_auth(Config(), parse_site(oidc_site(), Path("site.yaml")))


def test_one_stripped_domain_still_loads_as_the_bare_domain() -> None:
    site = parse_site(oidc_site(), Path("site.yaml"))
    assert site.auth.username.domain_rules()["university.example"].bare is True
    policy = LoginPolicy.from_site(site.auth, platform="p", support="s")
    assert policy.domains == {"university.example": ("", "")}


def test_domains_become_the_policy() -> None:
    data = oidc_site()
    data["auth"]["username"] = {
        "domains": {
            "uni-a.example": {"bare": True},
            "uni-b.example": {"suffix": "-b"},
            "uni-c.example": {"suffix": "-c"},
        },
        "min_uid": 500,
        "deny": ["root", "Slurm"],
    }
    site = parse_site(data, Path("site.yaml"))
    policy = LoginPolicy.from_site(site.auth, platform="p", support="s")
    assert policy.domains == {
        "uni-a.example": ("", ""),
        "uni-b.example": ("", "-b"),
        "uni-c.example": ("", "-c"),
    }
    assert policy.system_accounts.min_uid == 500
    assert policy.system_accounts.deny == {"root", "slurm"}
    assert policy.require_identity is True


def test_dummy_config_checks_names_but_not_posix_accounts() -> None:
    data = ldap_site()
    data["auth"] = {"method": "dummy", "dummy": {"users": {"ines": "instructor"}}}
    c = Config()
    configure_auth(c, parse_site(data, Path("site.yaml")))
    section = c.ComputeHubDummyAuthenticator
    assert c.JupyterHub.authenticator_class == DUMMY_CLASS
    policy = section.login_policy
    assert (policy.require_posix_account, policy.require_identity) == (False, False)
    assert "root" in policy.system_accounts.deny
    assert section.ledger_url == "sqlite:////tmp/ledger.sqlite"
    assert (section.auth_refresh_age, section.refresh_pre_spawn) == (300, True)


def test_oidc_secret_missing_stops_the_hub_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COMPUTEHUB_TEST_OIDC_SECRET", raising=False)
    with pytest.raises(AuthConfigError, match="COMPUTEHUB_TEST_OIDC_SECRET is not set"):
        configure_auth(Config(), parse_site(oidc_site(), Path("site.yaml")))


def test_oidc_secret_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from computehub.auth.oidc import ComputeHubOIDCAuthenticator

    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", CRYPT_KEY)
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    data = oidc_site()
    del data["auth"]["oidc"]["client_secret_env"]
    data["auth"]["oidc"]["client_secret_file"] = str(secret_file)
    c = Config()
    configure_auth(c, parse_site(data, Path("site.yaml")))
    authenticator = ComputeHubOIDCAuthenticator(config=c)
    assert authenticator.client_secret == SECRET
