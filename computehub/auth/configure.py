"""Choose and configure the authenticator from the site file's ``auth`` section."""

from __future__ import annotations

import os
from typing import Any

from computehub.auth.onboarding import StartingCredits
from computehub.auth.policy import LoginPolicy
from computehub.auth.secrets import SecretError, read_secret
from computehub.paths import default_ledger_url, repo_root
from computehub.sitefile import Site
from computehub.sitefile.schema import LdapAuth, LtiAuth, OidcAuth

#: The authenticators by their entry-point names (pyproject.toml, jupyterhub.authenticators).
LDAP_CLASS = "computehub-ldap"
OIDC_CLASS = "computehub-oidc"
DUMMY_CLASS = "computehub-dummy"
LTI_CLASS = "computehub-lti"
COMBINED_CLASS = "computehub-combined"
#: The primary authenticators by method, as import paths (the combined one's primary_class).
PRIMARY_CLASSES = {
    "dummy": "computehub.auth.dummy.ComputeHubDummyAuthenticator",
    "ldap": "computehub.auth.ldap.ComputeHubLDAPAuthenticator",
    "oidc": "computehub.auth.oidc.ComputeHubOIDCAuthenticator",
}
#: JupyterHub's key for encrypting auth_state (OIDC tokens, kept for refresh_user).
CRYPT_KEY_ENV = "JUPYTERHUB_CRYPT_KEY"

#: The site file's TLS choice, as ldapauthenticator's ``tls_strategy``.
_TLS_STRATEGY = {"starttls": "before_bind", "ldaps": "on_connect", "none": "insecure"}


class AuthConfigError(RuntimeError):
    """A login setting that can't be honoured; the message names the key."""


def templates_dir() -> str:
    """The folder with computehub's JupyterHub page templates (the login page)."""
    return str(repo_root() / "hub_config" / "templates")


def configure_auth(c: Any, site: Site) -> None:
    """Apply the site's login method (and LMS launches beside it) to the config ``c``."""
    auth = site.auth
    _login_page(c, site)
    if auth.method == "dummy":
        assert auth.dummy is not None  # the schema guarantees the section
        c.JupyterHub.authenticator_class = DUMMY_CLASS
        c.Authenticator.allowed_users = set(auth.dummy.users)
        c.Authenticator.admin_users = _admins(site)
        section = c.ComputeHubDummyAuthenticator
        section.platform_roles = dict(auth.dummy.users)
        section.login_policy = LoginPolicy.for_demo(
            auth, platform=site.platform.name, support=site.platform.support
        )
        section.ledger_url = site.ledger.db_url or default_ledger_url()
        _managed(section)
        _refresh(section, site)
    else:
        if auth.method == "ldap":
            assert auth.ldap is not None
            c.JupyterHub.authenticator_class = LDAP_CLASS
            section = c.ComputeHubLDAPAuthenticator
            _ldap(section, auth.ldap, site.platform.support)
        elif auth.method == "lti":
            assert auth.lti is not None
            c.JupyterHub.authenticator_class = LTI_CLASS
            section = c.ComputeHubLTIAuthenticator
            _lti(c, section, auth.lti)
        else:
            assert auth.oidc is not None
            c.JupyterHub.authenticator_class = OIDC_CLASS
            section = c.ComputeHubOIDCAuthenticator
            _oidc(section, auth.oidc)
        _platform(section, site)
        _course_groups(section, site)
    if auth.lti_launches:
        _with_launches(c, section, site)


def _admins(site: Site) -> set[str]:
    """Who is always an admin: auth.admin_users, and the demo's operators."""
    admins = set(site.auth.admin_users)
    if site.auth.dummy is not None and site.auth.method == "dummy":
        admins |= {name for name, role in site.auth.dummy.users.items() if role == "operator"}
    return admins


def _with_launches(c: Any, primary: Any, site: Site) -> None:
    """LMS launches next to the primary method: the combined authenticator holds both.

    The primary method's section stays as it is; the LTI section is configured as on an
    LTI hub; the combined one carries what JupyterHub reads from *its* authenticator.
    """
    auth = site.auth
    assert auth.lti is not None  # the schema guarantees the section
    if not os.environ.get(CRYPT_KEY_ENV, "").strip():
        raise AuthConfigError(
            f"site file auth.lti_launches: the environment variable {CRYPT_KEY_ENV} is not "
            "set. A hub with two ways in keeps, in the person's encrypted auth_state, which "
            "one they used, so that their roles are refreshed through it: set it to 32 "
            "random bytes in hex (openssl rand -hex 32), the same on every start"
        )
    c.JupyterHub.authenticator_class = COMBINED_CLASS
    combined = c.ComputeHubCombinedAuthenticator
    combined.primary_class = PRIMARY_CLASSES[auth.method]
    lti = c.ComputeHubLTIAuthenticator
    _lti(c, lti, auth.lti)
    _platform(lti, site)
    # JupyterHub reads these from the authenticator of the handler that logs a person
    # in (a sub-authenticator) and, at refreshes and at start, from the combined one.
    for section in (primary, lti, combined):
        section.enable_auth_state = True
    combined.admin_users = _admins(site)
    combined.username_pattern = auth.username.pattern
    combined.any_allow_config = True
    _managed(combined)
    _refresh(combined, site)


def _course_groups(section: Any, site: Site) -> None:
    """The courses whose rosters follow this login's groups (auth.courses)."""
    from computehub.auth.rostersync import normalize_dn

    method = site.auth.method
    groups: dict[str, dict[str, str]] = {}
    for course, spec in site.auth.courses.items():
        if method == "ldap" and spec.ldap_groups:
            groups[course] = {role: normalize_dn(dn) for role, dn in spec.ldap_groups.items()}
        elif method == "oidc" and spec.oidc_groups:
            groups[course] = {str(role): group for role, group in spec.oidc_groups.items()}
    if groups:
        section.course_groups = groups
        section.roster_source = method


def _platform(section: Any, site: Site) -> None:
    auth = site.auth
    section.login_policy = LoginPolicy.from_site(
        auth, platform=site.platform.name, support=site.platform.support
    )
    section.admin_users = set(auth.admin_users)
    # Defence in depth: JupyterHub itself refuses names outside the POSIX pattern.
    section.username_pattern = auth.username.pattern
    _managed(section)
    _refresh(section, site)
    # The login policy is the allow configuration (PlatformLogin.check_allowed).
    section.any_allow_config = True
    # Always: logins bind names to identities and read course memberships there.
    section.ledger_url = site.ledger.db_url or default_ledger_url()
    if any(amount > 0 for amount in auth.first_login.credits.values()):
        section.starting_credits = StartingCredits.from_site(auth.first_login)


def _refresh(section: Any, site: Site) -> None:
    """Roles, groups and admin follow the directory/IdP between logins (refresh_user)."""
    section.auth_refresh_age = site.auth.refresh_age_s
    section.refresh_pre_spawn = True


def _managed(section: Any) -> None:
    """Platform roles become JupyterHub groups and roles, re-synced at every login."""
    section.manage_groups = True
    section.manage_roles = True
    # JupyterHub 6.1.1 raises KeyError('users') in init_role_assignment at a restart
    # once managed roles have members, unless this is on. The platform roles are all
    # listed by load_managed_roles without 'users', so their members are kept; course
    # roles are not listed: they are deleted at start and made again at each
    # instructor's first refresh.
    section.reset_managed_roles_on_startup = True


def _check_secret(key: str, env: str | None, file: Any) -> None:
    # Read once so that a missing secret stops the hub at start; the value is not kept.
    try:
        read_secret(key, env, None if file is None else str(file))
    except SecretError as err:
        raise AuthConfigError(f"site file {err}") from None


def _ldap(section: Any, ldap: LdapAuth, support: str) -> None:
    section.server_address = ldap.server_address
    section.tls_strategy = _TLS_STRATEGY[ldap.tls]
    if ldap.server_port is not None:
        section.server_port = ldap.server_port
    if ldap.ca_certs_file is not None:
        section.tls_kwargs = {"ca_certs_file": str(ldap.ca_certs_file)}
    section.user_attribute = ldap.user_attribute
    if ldap.bind_dn_template:
        section.bind_dn_template = list(ldap.bind_dn_template)
    else:
        section.lookup_dn = True
        section.user_search_base = ldap.user_search_base
        section.lookup_dn_user_dn_attribute = ldap.user_attribute
        section.use_lookup_dn_username = True
    if ldap.search_bind_dn is not None:
        # Search-then-bind looks people up with it; refresh_user does in both modes.
        _check_secret("auth.ldap", ldap.search_password_env, ldap.search_password_file)
        section.lookup_dn_search_user = ldap.search_bind_dn
        section.search_password_env = ldap.search_password_env
        if ldap.search_password_file is not None:
            section.search_password_file = str(ldap.search_password_file)
    section.group_search_base = ldap.group_search_base
    section.group_search_filter = ldap.group_search_filter
    section.group_name_attribute = ldap.group_name_attribute
    section.display_name_attribute = ldap.attributes.display_name
    section.email_attribute = ldap.attributes.email
    section.affiliation_attribute = ldap.attributes.affiliation
    section.identity_attribute = ldap.attributes.identity
    section.timeout_s = ldap.timeout_s
    section.support = support or "the platform's operators"


def _oidc(section: Any, oidc: OidcAuth) -> None:
    _check_secret("auth.oidc", oidc.client_secret_env, oidc.client_secret_file)
    if not os.environ.get(CRYPT_KEY_ENV, "").strip():
        raise AuthConfigError(
            f"site file auth.oidc: the environment variable {CRYPT_KEY_ENV} is not set. "
            "OpenID Connect logins keep the person's tokens (encrypted with that key) so "
            "that their roles can be refreshed between logins: set it to 32 random bytes "
            "in hex (openssl rand -hex 32), the same on every start"
        )
    section.enable_auth_state = True
    section.issuer = oidc.issuer
    authorize_url, token_url, userinfo_url = oidc.endpoints()
    section.authorize_url = authorize_url
    section.token_url = token_url
    section.userdata_url = userinfo_url
    section.client_id = oidc.client_id
    # Only where the secret is: the authenticator reads it when it first needs it.
    section.client_secret_env = oidc.client_secret_env
    if oidc.client_secret_file is not None:
        section.client_secret_file = str(oidc.client_secret_file)
    section.scope = list(oidc.scopes)
    section.username_claim = oidc.claims.username
    section.display_name_claim = oidc.claims.display_name
    section.email_claim = oidc.claims.email
    section.groups_claim = oidc.claims.groups
    section.affiliation_claim = oidc.claims.affiliation
    section.login_service = oidc.button_label
    section.enable_pkce = True
    if oidc.callback_url is not None:
        section.oauth_callback_url = oidc.callback_url


def _lti(c: Any, section: Any, lti: LtiAuth) -> None:
    section.issuer = lti.issuer
    section.client_id = set(lti.client_ids)
    section.deployment_ids = list(lti.deployment_ids)
    section.authorize_url = lti.authorize_url
    section.jwks_endpoint = lti.jwks_url
    section.jwks_algorithms = ["RS256"]
    section.courses = dict(lti.courses)
    section.username_key = lti.username_claim
    section.lms_verifies_email = lti.lms_verifies_email
    # ltiauthenticator's validator reads its settings from the hub's config.
    c.LTI13LaunchValidator.max_age = lti.max_age_s
    section.login_service = "your course's learning platform"


def login_note(site: Site) -> str:
    """The login page's note on the platform and on credits."""
    if site.auth.login_page.note:
        return site.auth.login_page.note
    who = site.platform.organisation or site.platform.name
    note = (
        f"{site.platform.name} runs Jupyter notebooks on the GPU clusters of {who}, "
        "paid from compute credits."
    )
    if site.platform.support:
        note += f" For credits or a cluster account: {site.platform.support}"
    return note


def _login_page(c: Any, site: Site) -> None:
    methods: list[dict[str, str]] = []
    if site.auth.method == "oidc":
        assert site.auth.oidc is not None
        methods.append({"kind": "oidc", "label": site.auth.oidc.button_label})
    elif site.auth.method != "lti":
        label = "University account" if site.auth.method == "ldap" else "Demo login"
        methods.append({"kind": "password", "label": label})
    if site.auth.method == "lti" or site.auth.lti_launches:
        label = "Open the notebooks from your course in the learning platform (Moodle, Canvas)."
        if site.auth.lti_launches:
            label = (
                "Students of a course in the learning platform (Moodle, Canvas) can also open "
                "the notebooks from their course page."
            )
        methods.append({"kind": "lti", "label": label})
    existing = c.JupyterHub.template_paths if "template_paths" in c.JupyterHub else []
    if templates_dir() not in existing:
        c.JupyterHub.template_paths = [templates_dir(), *existing]
    variables = dict(c.JupyterHub.template_vars) if "template_vars" in c.JupyterHub else {}
    variables["computehub_login"] = {
        "platform": site.platform.name,
        "organisation": site.platform.organisation,
        "note": login_note(site),
        "methods": methods,
    }
    c.JupyterHub.template_vars = variables
    if site.platform.logo is not None:
        c.JupyterHub.logo_file = str(site.platform.logo)
