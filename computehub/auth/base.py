"""What both university logins share: admission by policy, roles, the first-login grant.

:class:`PlatformLogin` sits in front of a JupyterHub authenticator in the MRO
(``class X(PlatformLogin, LDAPAuthenticator)``). Its subclasses turn what the
directory or the identity provider said into an :class:`Identity` and call
:meth:`PlatformLogin.admit_identity`; refusals reach the person as a 403 page
with a message, and the first-login grant runs after JupyterHub has admitted
the login (``run_post_auth_hook``).
"""

from __future__ import annotations

import asyncio
import pwd
from datetime import UTC, datetime
from inspect import isawaitable
from typing import Any

from jupyterhub.auth import Authenticator
from tornado import web
from traitlets import Callable, Instance, Unicode

from computehub.auth.onboarding import (
    StartingCredits,
    first_login_grant,
    ledger_conflict_errors,
    open_ledger,
)
from computehub.auth.policy import Admission, Identity, LoginPolicy, LoginRefusedError, admit
from computehub.auth.roles import auth_model_fields, managed_roles

#: Where in ``auth_state`` the platform keeps what it decided at login.
STATE_KEY = "computehub"


def posix_account_exists(name: str) -> bool:
    """Whether ``name`` has a POSIX account on this machine (the hub host)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def refusal(status: int, message: str) -> web.HTTPError:
    """An HTTP error whose page shows ``message`` as it is (no %-formatting)."""
    err = web.HTTPError(status)
    # JupyterHub's error and login pages show this attribute when it is set.
    err.jupyterhub_message = message  # type: ignore[attr-defined]
    return err


class PlatformLogin(Authenticator):  # type: ignore[misc]
    """Admission, platform roles and first-login credits for a university login."""

    login_policy = Instance(
        LoginPolicy,
        allow_none=True,
        config=True,
        help="Who may log in, under which POSIX name, with which roles (from the site file).",
    )
    starting_credits = Instance(
        StartingCredits,
        allow_none=True,
        config=True,
        help="Credits granted once at a person's first login, by role (None: no grant).",
    )
    ledger_url = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Database URL of the credit ledger for first-login grants (None: no grant).",
    )
    ledger_factory = Callable(
        open_ledger,
        config=True,
        help="Opens the ledger from ledger_url; a seam for tests.",
    )
    account_exists = Callable(
        posix_account_exists,
        config=True,
        help="Whether a name has a POSIX account on the clusters; a seam for tests.",
    )
    clock = Callable(utcnow, config=True, help="The current time (UTC); a seam for tests.")

    _ledger: Any = None

    def policy(self) -> LoginPolicy:
        """The configured policy (configure_auth always sets one)."""
        if self.login_policy is None:
            raise RuntimeError(f"{type(self).__name__}.login_policy is not configured")
        policy: LoginPolicy = self.login_policy
        return policy

    def admit_identity(self, identity: Identity) -> Admission:
        """Admit a person or raise a 403 whose page tells them why and whom to ask."""
        try:
            admission = admit(self.policy(), identity, self.account_exists)
        except LoginRefusedError as refused:
            self.log.warning(
                "Login refused (%s) for %r: groups %s, affiliations %s",
                refused.reason,
                identity.login,
                sorted(identity.groups),
                sorted(identity.affiliations),
            )
            raise refusal(403, refused.message) from None
        self.log.info(
            "Login admitted: %s as %s%s",
            admission.name,
            ", ".join(admission.roles),
            " (admin)" if admission.admin else "",
        )
        return admission

    def admitted_model(self, admission: Admission, auth_state: dict[str, Any]) -> dict[str, Any]:
        """The JupyterHub auth model of an admitted person (name, groups, roles, admin)."""
        auth_state = dict(auth_state)
        auth_state[STATE_KEY] = {
            "roles": list(admission.roles),
            "display_name": admission.identity.display_name,
            "email": admission.identity.email,
            "affiliations": sorted(admission.identity.affiliations),
        }
        return {"name": admission.name, "auth_state": auth_state, **auth_model_fields(admission)}

    async def check_allowed(self, username: str, auth_model: dict[str, Any] | None) -> bool:
        """Admitted by the platform's policy, or by JupyterHub's own allow settings."""
        state = (auth_model or {}).get("auth_state") or {}
        if state.get(STATE_KEY, {}).get("roles"):
            return True
        allowed = super().check_allowed(username, auth_model)
        if isawaitable(allowed):
            allowed = await allowed
        return bool(allowed)

    async def load_managed_roles(self) -> list[dict[str, Any]]:
        """The platform roles, defined at hub start so they exist before any login."""
        return managed_roles()

    async def run_post_auth_hook(self, handler: Any, auth_model: dict[str, Any]) -> Any:
        """After JupyterHub admitted the login: the first-login account and grant."""
        auth_model = await super().run_post_auth_hook(handler, auth_model)
        state = (auth_model.get("auth_state") or {}).get(STATE_KEY)
        credits: StartingCredits | None = self.starting_credits
        if state is not None and self.ledger_url and credits is not None:
            await self._onboard(auth_model["name"], state["roles"], credits)
        return auth_model

    async def _onboard(self, username: str, roles: list[Any], credits: StartingCredits) -> None:
        try:
            amount = await asyncio.to_thread(
                self._onboard_blocking, username, roles, credits, self.clock()
            )
        except Exception:
            # The login goes on: the grant is idempotent and is retried at the next login.
            self.log.exception("First-login grant for %s failed; retried at next login", username)
            return
        if amount:
            self.log.info("First-login grant for %s: %s credits asked", username, amount)

    def _onboard_blocking(
        self, username: str, roles: list[Any], credits: StartingCredits, now: datetime
    ) -> Any:
        if self._ledger is None:
            self._ledger = self.ledger_factory(self.ledger_url)
        return first_login_grant(
            self._ledger,
            username,
            roles,
            credits,
            now,
            already_granted=ledger_conflict_errors(),
        )
