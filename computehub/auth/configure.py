"""Choose and configure the authenticator from the site file's ``auth`` section."""

from __future__ import annotations

from typing import Any

from computehub.sitefile import Site


class AuthConfigError(RuntimeError):
    """A login setting that can't be honoured; the message names the key."""


def configure_auth(c: Any, site: Site) -> None:
    """Apply the site's login method to the JupyterHub config object ``c``."""
    auth = site.auth
    if auth.method == "dummy":
        assert auth.dummy is not None  # the schema guarantees the section
        c.JupyterHub.authenticator_class = "dummy"
        c.Authenticator.allowed_users = set(auth.dummy.users)
        operators = {name for name, role in auth.dummy.users.items() if role == "operator"}
        c.Authenticator.admin_users = set(auth.admin_users) | operators
        return
    raise AuthConfigError(
        f"site file auth.method: {auth.method!r} login is not available in this version yet; "
        "use 'dummy' for a local demo"
    )
