"""Local demo logins that carry a platform role, like the university logins do.

JupyterHub's ``DummyAuthenticator`` admits any password for a listed name but knows
nothing of roles; the spawner's allow-lists (``limits.access``) read a person's
platform roles from their JupyterHub groups, so this one sets the group and role
the site file gives each demo person, and their course groups and roles from the
ledger. The names go through the platform's policy like any login (a system
account such as ``root`` is refused); they are not bound to an identity provider's
identity (there is none). Never for production.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.auth import DummyAuthenticator
from traitlets import Dict

from computehub.auth.base import PlatformLogin
from computehub.auth.policy import Identity


class ComputeHubDummyAuthenticator(PlatformLogin, DummyAuthenticator):  # type: ignore[misc]
    """Any password for the site file's demo people, each with their platform role."""

    login_method = "dummy"

    platform_roles = Dict(
        config=True, help="Login name: platform role (the site file's auth.dummy.users)."
    )

    def identity_of(self, name: str) -> Identity | None:
        """A listed demo person, in the group named after their role; None if not listed."""
        role = self.platform_roles.get(name)
        return None if role is None else Identity(login=name, groups=frozenset({role}))

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        """The listed person with their role's group and JupyterHub role, else refused."""
        name = await DummyAuthenticator.authenticate(self, handler, data)
        identity = self.identity_of(name) if name else None
        if identity is None:
            return None
        return await self.login_model(identity, {})

    async def refresh_user(self, user: Any, handler: Any = None) -> dict[str, Any] | bool:
        """The person's role and courses as the site file and the ledger say now."""
        answer = await self.refreshed_model(user.name, self.identity_of(user.name), {})
        return await self.unless_unchanged(user, answer)
