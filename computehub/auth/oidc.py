"""University SSO: oauthenticator's GenericOAuthenticator with the platform's admission.

oauthenticator does the OAuth 2 / OpenID Connect code flow (state cookie, PKCE,
token and userinfo requests). This subclass reads the client secret from the
environment variable or file the site file names (so the secret is never part of
the JupyterHub configuration), and hands the claims to the platform's policy in
``update_auth_model``, the hook oauthenticator documents for this; it runs before
JupyterHub admits the login and again at every refresh.

The person's stable identity is the ID token's ``iss`` and ``sub`` (the token comes
straight from the token endpoint over TLS, so, as oauthenticator's
``userdata_from_id_token`` does, its signature is not checked; its audience and
issuer are). ``refresh_user`` is oauthenticator's (userinfo again with the stored
access token, or a refresh token): it needs ``enable_auth_state`` and so
``JUPYTERHUB_CRYPT_KEY``.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import jwt
from oauthenticator.generic import GenericOAuthenticator
from traitlets import Unicode, default

from computehub.auth.base import STATE_KEY, PlatformLogin
from computehub.auth.policy import Identity, affiliations_from, groups_from
from computehub.auth.secrets import read_secret

#: What ``email_verified`` may say for a verified address (some providers send a string).
_VERIFIED = (True, "true", "True")
#: The JupyterHub name being refreshed, while ``refresh_user`` runs (None: a login).
_REFRESHING: ContextVar[str | None] = ContextVar("computehub_oidc_refreshing", default=None)
#: Where update_auth_model hands a refresh's True/False back through oauthenticator.
_REFRESH_ANSWER = "computehub:refresh-answer"


def _text(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


class ComputeHubOIDCAuthenticator(PlatformLogin, GenericOAuthenticator):  # type: ignore[misc]
    """OpenID Connect login with platform roles and first-login credits."""

    login_method = "oidc"

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
    issuer = Unicode(
        "",
        config=True,
        help="The provider's issuer URL: the ID token's 'iss' must be this one "
        "(empty: whatever the token says).",
    )

    @default("client_secret")
    def _client_secret(self) -> str:
        return read_secret("auth.oidc", self.client_secret_env, self.client_secret_file)

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        """Admit or refuse the person from the claims; set name, groups, roles and admin.

        At a login a refusal is a 403 page; during ``refresh_user`` the decision
        travels back in the model (oauthenticator calls this hook for both).
        """
        identity = self.identity_from(auth_model)
        refreshing = _REFRESHING.get()
        if refreshing is None:
            model = await self.login_model(identity, auth_model["auth_state"])
            return {**auth_model, **model}
        answer = await self.refreshed_model(refreshing, identity, auth_model["auth_state"])
        if isinstance(answer, bool):
            return {**auth_model, _REFRESH_ANSWER: answer}
        return {**auth_model, **answer}

    def identity_from(self, auth_model: dict[str, Any]) -> Identity:
        """The person the provider's answer describes, with their ``iss`` and ``sub``."""
        state: dict[str, Any] = auth_model["auth_state"]
        claims: dict[str, Any] = state[self.user_auth_state_key]
        claim = self.username_claim if isinstance(self.username_claim, str) else None
        issuer, subject = self._stable_identity(state, claims)
        groups = groups_from(claims.get(self.groups_claim) if self.groups_claim else None)
        return Identity(
            login=_text(claims.get(claim)) if claim else auth_model["name"],
            display_name=_text(claims.get(self.display_name_claim)),
            email=_text(claims.get(self.email_claim)),
            groups=groups,
            affiliations=affiliations_from(
                claims.get(self.affiliation_claim) if self.affiliation_claim else None
            ),
            issuer=issuer,
            subject=subject,
            login_is_email=claim is not None and claim in {"email", self.email_claim},
            email_verified=claims.get("email_verified") in _VERIFIED,
            group_ids=groups,
        )

    def _stable_identity(self, state: dict[str, Any], claims: dict[str, Any]) -> tuple[str, str]:
        """``(iss, sub)`` from the ID token, checked against the userinfo answer.

        Empty strings when the provider sent no usable identity (the policy refuses).
        """
        configured = self.issuer.rstrip("/")
        token = state.get("id_token")
        if not token:
            # No ID token (a refresh may not return one): the userinfo 'sub' at the
            # configured issuer, whose token endpoint gave the access token.
            return (configured, _text(claims.get("sub"))) if configured else ("", "")
        try:
            decoded = jwt.decode(
                token,
                audience=self.client_id,
                options={"verify_signature": False, "verify_aud": True, "verify_exp": False},
            )
        except jwt.PyJWTError as err:
            self.log.warning("ID token unreadable: %s", err)
            return "", ""
        issuer, subject = _text(decoded.get("iss")).rstrip("/"), _text(decoded.get("sub"))
        if configured and issuer != configured:
            self.log.warning("ID token from issuer %r, expected %r", issuer, self.issuer)
            return "", ""
        if claims.get("sub") is not None and _text(claims.get("sub")) != subject:
            # OpenID Connect Core 5.3.2: userinfo's sub must be the ID token's.
            self.log.warning("userinfo sub differs from the ID token's: %r", subject)
            return "", ""
        return issuer, subject

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """oauthenticator's refresh, with the platform's decision as the answer.

        Returns:
            The new auth model; False when the platform refuses the person now, or
            their tokens no longer work (JupyterHub asks for a new login); True
            (nothing changes) when the provider or the ledger can't be reached.
        """
        token = _REFRESHING.set(user.name)
        try:
            refreshed = await super().refresh_user(user, handler, **kwargs)
        except Exception as err:
            self.log.warning(
                "Refresh of %s postponed: the identity provider can't be reached: %s: %s",
                user.name,
                type(err).__name__,
                err,
            )
            return True
        finally:
            _REFRESHING.reset(token)
        if isinstance(refreshed, dict) and _REFRESH_ANSWER in refreshed:
            return bool(refreshed[_REFRESH_ANSWER])
        return await self.unless_unchanged(user, refreshed)

    def get_user_groups(self, auth_state: dict[str, Any]) -> set[str]:
        """The JupyterHub groups: those decided in update_auth_model (roles, courses)."""
        return set(auth_state.get(STATE_KEY, {}).get("groups", ()))
