"""Two ways into one hub: the primary login (LDAP, OIDC or the demo's) and LMS launches.

JupyterHub runs one Authenticator. :class:`ComputeHubCombinedAuthenticator` holds two
(the pattern of jupyterhub-multiauthenticator 0.4: sub-authenticators made with
``parent=self``, so each reads its own config section, and each one's handlers
registered as subclasses whose ``authenticator`` is that sub-authenticator):

- the **primary** one keeps the login page and its handlers (the LDAP or demo form,
  the OIDC redirect and callback); JupyterHub's own pages (login, logout) ask it;
- the **LTI** one (:class:`~computehub.auth.lti.ComputeHubLTIAuthenticator`) serves
  ``/hub/lti13/...`` as on an LTI-only hub, with its replay, expiry, audience and
  signature checks.

A login through either handler runs entirely in that sub-authenticator
(``get_authenticated_user``: admission, identity binding, roles, courses, the LTI
roster, then the first-login grant), exactly as on a hub with that method alone.
Unlike multiauthenticator, names are **not** prefixed (``ldap:alice``): a name is a
POSIX account. One name stays one person because the ledger binds it to the identity
that first used it (LDAP ``entryUUID``, the LMS's ``iss`` + ``sub``), whichever way
that was: a launch for a name bound to a directory entry is refused, and the reverse.

``refresh_user`` goes to the sub-authenticator the person logged in through, as the
``auth_state`` recorded at their login says (:data:`~computehub.auth.base.METHOD_KEY`),
so ``auth_state`` is on (``JUPYTERHUB_CRYPT_KEY``).
"""

from __future__ import annotations

from typing import Any

from jupyterhub.auth import Authenticator
from jupyterhub.utils import maybe_future
from traitlets import Type, default

from computehub.auth.base import METHOD_KEY, STATE_KEY, PlatformLogin
from computehub.auth.lti import ComputeHubLTIAuthenticator


def bound_handler(handler: type, authenticator: Authenticator) -> type:
    """A subclass of ``handler`` whose ``authenticator`` is ``authenticator``.

    JupyterHub's handlers read ``self.authenticator`` (the hub's); a sub-authenticator's
    handlers must reach their own one (multiauthenticator's ``WrapperHandler``).
    """
    return type(handler.__name__, (handler,), {"authenticator": authenticator})


class ComputeHubCombinedAuthenticator(Authenticator):  # type: ignore[misc]
    """The primary login method, plus LTI 1.3 launches from the LMS, on one hub."""

    primary_class = Type(
        None,
        klass=PlatformLogin,
        allow_none=True,
        config=True,
        help="The authenticator of the login page (computehub's LDAP, OIDC or demo one); "
        "it reads its own config section.",
    )
    lti_class = Type(
        ComputeHubLTIAuthenticator,
        klass=ComputeHubLTIAuthenticator,
        config=True,
        help="The authenticator of LMS launches at /hub/lti13/ (its own config section).",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.primary_class is None:
            raise ValueError(
                "ComputeHubCombinedAuthenticator.primary_class is not set: name the "
                "authenticator of the login page"
            )
        if issubclass(self.primary_class, ComputeHubLTIAuthenticator):
            raise ValueError("the primary authenticator can't be the LTI one as well")
        self.primary: PlatformLogin = self.primary_class(parent=self)
        self.lti: ComputeHubLTIAuthenticator = self.lti_class(parent=self)

    # -- who handles what ------------------------------------------------------------

    def sub_for(self, auth_state: dict[str, Any] | None) -> PlatformLogin:
        """The sub-authenticator a person logged in through, by their ``auth_state``.

        A person whose state names no method (logged in before launches were accepted
        here, or without auth_state) is the primary one's: their refresh then asks the
        directory or IdP, and a name bound to an LMS identity is refused there.
        """
        method = ((auth_state or {}).get(STATE_KEY) or {}).get(METHOD_KEY)
        return self.lti if method == self.lti.login_method else self.primary

    def get_handlers(self, app: Any) -> list[tuple[str, type]]:
        """The primary authenticator's handlers, then the LTI ones, each bound to its own.

        Raises:
            ValueError: two sub-authenticators want the same path.
        """
        routes: list[tuple[str, type]] = []
        seen: set[str] = set()
        for sub in (self.primary, self.lti):
            for path, handler in sub.get_handlers(app):
                if path in seen:
                    raise ValueError(f"two login methods want the hub path {path!r}")
                seen.add(path)
                routes.append((path, bound_handler(handler, sub)))
        return routes

    async def authenticate(self, handler: Any, data: Any = None) -> Any:
        """A login through a handler that is not a sub-authenticator's: the primary's."""
        return await maybe_future(self.primary.authenticate(handler, data))

    async def get_authenticated_user(self, handler: Any, data: Any) -> Any:
        """The primary's whole login (normalizing, allow checks, post-auth hook)."""
        return await self.primary.get_authenticated_user(handler, data)

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """Refresh the person through the method they logged in with."""
        sub = self.sub_for(await user.get_auth_state())
        return await maybe_future(sub.refresh_user(user, handler, **kwargs))

    async def check_allowed(self, username: str, authentication: Any = None) -> bool:
        """Allowed as the sub-authenticator of that login decides."""
        state = (authentication or {}).get("auth_state")
        return bool(await maybe_future(self.sub_for(state).check_allowed(username, authentication)))

    async def pre_spawn_start(self, user: Any, spawner: Any) -> None:
        """The pre-spawn step of the method the person logged in with."""
        sub = self.sub_for(await user.get_auth_state())
        await maybe_future(sub.pre_spawn_start(user, spawner))

    async def load_managed_roles(self) -> list[dict[str, Any]]:
        """The platform roles (the same for both methods)."""
        return await self.primary.load_managed_roles()

    # -- the login page is the primary's ---------------------------------------------

    def login_url(self, base_url: str) -> str:
        """The primary method's login URL."""
        return str(self.primary.login_url(base_url))

    def logout_url(self, base_url: str) -> str:
        """The primary method's logout URL."""
        return str(self.primary.logout_url(base_url))

    def get_custom_html(self, base_url: str) -> str:
        """The primary method's part of the login page."""
        return str(self.primary.get_custom_html(base_url))

    @default("login_service")
    def _login_service(self) -> str:
        return str(self.primary.login_service)

    @default("auto_login")
    def _auto_login(self) -> bool:
        return bool(self.primary.auto_login)
