"""The custom JupyterHub scopes of computehub's own hub API, and who holds them.

``/hub/api/computehub/extend`` and ``/estimate`` need :data:`SESSIONS`: every user
holds it for their own servers (the ``user`` role), and each server's own token
(``$JUPYTERHUB_API_TOKEN``, the widget's) for that server only. Any other token of
the user — a read-only token, the OAuth token a visitor's browser gives another
user's server — lacks it. ``GET /hub/api/computehub/gpu-activity`` needs
:data:`GPU_ACTIVITY_READ`, which only the GPU-idle service's role holds.

The handlers check them with JupyterHub's own ``@needs_scope``, which refuses, when
the decorated module is imported, a scope JupyterHub does not know yet; the hub
imports the spawner (and so the handlers) before it reads
``c.JupyterHub.custom_scopes``. This module therefore defines its scopes in
JupyterHub on import, and :func:`configure_hub_scopes` puts the very same
definitions in the configuration, which JupyterHub accepts as equal.
"""

from __future__ import annotations

from typing import Any, Final

from jupyterhub.scopes import define_custom_scopes

from computehub.credits.service.jupyterhub import server_token_scopes
from computehub.credits.service.scopes import SERVICE_NAME as CREDITS_SERVICE

#: Quote and buy more time for a running session; estimate a new one.
SESSIONS: Final = "custom:computehub:sessions"
#: Read the GPU activity reports of every running server (the GPU-idle service).
GPU_ACTIVITY_READ: Final = "custom:computehub:gpu-activity:read"
#: Read every hub's status (state, free GPUs, queue): every user, and the credits
#: service, whose status page shows it.
HUBS_READ: Final = "custom:computehub:hubs:read"
#: Put a hub in maintenance or take it out (``/hub/api/computehub/hubs/{hub}/maintenance``):
#: operators, and the credits service for its operator console.
HUBS_MAINTAIN: Final = "custom:computehub:hubs:maintain"

#: The role that lets the credits service read the hubs' status (and nothing else).
CREDITS_STATUS_ROLE: Final = "credits-hub-status"

#: ``c.JupyterHub.custom_scopes`` entries.
CUSTOM_SCOPES: Final[dict[str, dict[str, str]]] = {
    SESSIONS: {
        "description": "Estimate the cost of a session, and quote or buy more time "
        "for your running session.",
    },
    GPU_ACTIVITY_READ: {
        "description": "Read how long the GPUs of every running notebook server "
        "have been idle, as the servers report it.",
    },
    HUBS_READ: {
        "description": "Read whether each AI hub takes new sessions, its free GPUs and "
        "its queue length.",
    },
    HUBS_MAINTAIN: {
        "description": "Put an AI hub in maintenance (no new sessions, a message for "
        "people) or take it out.",
    },
}
#: What every user holds: their own sessions, and the hubs' status.
USER_SCOPES: Final = (f"{SESSIONS}!user", HUBS_READ)
#: What a server's own token holds: that server's session (the widget's extend),
#: and its own user's groups (nbgrader, in the session, reads which courses they take).
SERVER_TOKEN_SCOPES: Final = (f"{SESSIONS}!server", "read:users:groups!user")

define_custom_scopes(CUSTOM_SCOPES)


def configure_hub_scopes(c: Any) -> None:
    """Define the scopes in the JupyterHub config ``c`` and give users and servers theirs.

    Merges into what other configuration set (custom scopes, the user role's extra
    scopes, ``Spawner.server_token_scopes``), as the credits service's does.
    """
    custom = dict(c.JupyterHub.custom_scopes) if "custom_scopes" in c.JupyterHub else {}
    c.JupyterHub.custom_scopes = {**custom, **CUSTOM_SCOPES}
    extra = set(c.JupyterHub.extra_user_scopes) if "extra_user_scopes" in c.JupyterHub else set()
    c.JupyterHub.extra_user_scopes = extra | set(USER_SCOPES)
    # A 'user' role redefined in load_roles makes JupyterHub ignore extra_user_scopes.
    roles = list(c.JupyterHub.load_roles) if "load_roles" in c.JupyterHub else []
    for role in roles:
        if role.get("name") == "user" and "scopes" in role:
            role["scopes"] = sorted(set(role["scopes"]) | set(USER_SCOPES))
    # The credits service's status page reads the hubs' status from the hub, and its
    # operator console puts hubs in maintenance: those two scopes, nothing else (it
    # identifies its callers with their own tokens and lets only operators use the form).
    roles = [role for role in roles if role.get("name") != CREDITS_STATUS_ROLE]
    roles.append(
        {
            "name": CREDITS_STATUS_ROLE,
            "description": "The credits service reads the hubs' status for its status page "
            "and puts hubs in maintenance from its operator console (operators only).",
            "scopes": [HUBS_READ, HUBS_MAINTAIN],
            "services": [CREDITS_SERVICE],
        }
    )
    c.JupyterHub.load_roles = roles
    current = c.Spawner.server_token_scopes if "server_token_scopes" in c.Spawner else None
    c.Spawner.server_token_scopes = server_token_scopes(current, SERVER_TOKEN_SCOPES)
