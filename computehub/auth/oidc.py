"""University SSO: oauthenticator's GenericOAuthenticator with the platform's admission.

oauthenticator does the OAuth 2 / OpenID Connect code flow (state cookie, PKCE,
token and userinfo requests). This subclass reads the client secret from the
environment variable or file the site file names (so the secret is never part of
the JupyterHub configuration), and hands the claims to the platform's policy in
``update_auth_model``, the hook oauthenticator documents for this.
"""

from __future__ import annotations

from typing import Any

from oauthenticator.generic import GenericOAuthenticator
from traitlets import Unicode, default

from computehub.auth.base import STATE_KEY, PlatformLogin
from computehub.auth.policy import Identity, affiliations_from, groups_from
from computehub.auth.secrets import read_secret


def _text(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


class ComputeHubOIDCAuthenticator(PlatformLogin, GenericOAuthenticator):  # type: ignore[misc]
    """OpenID Connect login with platform roles and first-login credits."""

    client_secret_env = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Environment variable holding the client secret (read when first needed).",
    )
    client_secret_file = Unicode(
        None,
        allow_none=True,
        config=True,
        help="File holding the client secret (read when first needed).",
    )
    display_name_claim = Unicode("name", config=True, help="Claim with the full name.")
    email_claim = Unicode("email", config=True, help="Claim with the e-mail address.")
    groups_claim = Unicode(
        "groups", allow_none=True, config=True, help="Claim with a list of group names."
    )
    affiliation_claim = Unicode(
        "eduperson_affiliation",
        allow_none=True,
        config=True,
        help="Claim with the eduPerson affiliation(s), a string or a list.",
    )

    @default("client_secret")
    def _client_secret(self) -> str:
        return read_secret("auth.oidc", self.client_secret_env, self.client_secret_file)

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        """Admit or refuse the person from the claims; set name, groups, roles and admin."""
        claims: dict[str, Any] = auth_model["auth_state"][self.user_auth_state_key]
        claim = self.username_claim if isinstance(self.username_claim, str) else None
        identity = Identity(
            login=_text(claims.get(claim)) if claim else auth_model["name"],
            display_name=_text(claims.get(self.display_name_claim)),
            email=_text(claims.get(self.email_claim)),
            groups=groups_from(claims.get(self.groups_claim) if self.groups_claim else None),
            affiliations=affiliations_from(
                claims.get(self.affiliation_claim) if self.affiliation_claim else None
            ),
        )
        admission = self.admit_identity(identity)
        model = self.admitted_model(admission, auth_model["auth_state"])
        return {**auth_model, **model}

    def get_user_groups(self, auth_state: dict[str, Any]) -> set[str]:
        """The JupyterHub groups: the platform roles decided in update_auth_model."""
        return set(auth_state[STATE_KEY]["roles"])
