"""Local demo logins that carry a platform role, like the university logins do.

JupyterHub's ``DummyAuthenticator`` admits any password for a listed name but knows
nothing of roles; the spawner's allow-lists (``limits.access``) read a person's
platform roles from their JupyterHub groups, so this one sets the group and role
the site file gives each demo person. Never for production.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.auth import DummyAuthenticator
from traitlets import Dict

from computehub.auth.policy import Admission, Identity
from computehub.auth.roles import auth_model_fields, managed_roles


class ComputeHubDummyAuthenticator(DummyAuthenticator):  # type: ignore[misc]
    """Any password for the site file's demo people, each with their platform role."""

    platform_roles = Dict(
        config=True, help="Login name: platform role (the site file's auth.dummy.users)."
    )

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        """The listed person with their role's group and JupyterHub role, else refused."""
        name = await super().authenticate(handler, data)
        role = self.platform_roles.get(name) if name else None
        if role is None:
            return None
        admission = Admission(
            name=name,
            roles=(role,),
            admin=role == "operator",
            identity=Identity(login=name),
        )
        return {"name": name, **auth_model_fields(admission)}

    async def load_managed_roles(self) -> list[dict[str, Any]]:
        """The platform roles, defined at hub start so they exist before any login."""
        return managed_roles()
