"""Register the credits service with JupyterHub: service, custom scopes, roles, tokens.

:func:`~computehub.credits.service.jupyterhub.configure_credits_service` is called by
:func:`~computehub.hubconfig.configure`. It merges into what other configuration set
(services, roles, user scopes, server token scopes) instead of replacing it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from computehub.credits.service.scopes import (
    ACCESS,
    ADMIN,
    CUSTOM_SCOPES,
    INSTRUCT,
    READ,
    REVIEW,
    SERVICE_NAME,
)
from computehub.i18n.catalog import N_
from computehub.paths import DB_URL_ENV, SITE_FILE_ENV, STATE_DIR_ENV, default_ledger_url, state_dir
from computehub.sitefile import Site

#: Where the service listens when ``$COMPUTEHUB_CREDITS_PORT`` is not set.
DEFAULT_PORT = 10101
PORT_ENV = "COMPUTEHUB_CREDITS_PORT"
#: Every user may reach the service, read their own credits and act on the courses they
#: teach (which courses, and what they may do there, comes from their role in each
#: course in the ledger, never from a platform role).
USER_SCOPES = (ACCESS, READ, INSTRUCT)
#: JupyterHub's default ``server`` role (used when ``server_token_scopes`` is unset).
DEFAULT_SERVER_SCOPES = ("users:activity!user", "access:servers!server")
#: What ``$JUPYTERHUB_API_TOKEN`` in a job adds for the widget's ``sessions/current``.
SERVER_TOKEN_SCOPES = (ACCESS, READ)
#: The service's entry in the hub's "Services" menu (computehub's ``page.html`` shows
#: ``info.display_name``; JupyterHub's own would show the name, ``credits``).
DISPLAY_NAME = N_("Credits and sessions")
#: More entries of the menu: the service's other pages (``info.pages``, paths under it).
MENU_PAGES = (
    {"name": N_("Courses you teach"), "path": "courses"},
    {"name": N_("AI hub status"), "path": "hubs"},
)


def service_port(env: dict[str, str] | None = None) -> int:
    """The service's port on 127.0.0.1.

    Raises:
        ValueError: ``$COMPUTEHUB_CREDITS_PORT`` is not a port number.
    """
    raw = (os.environ if env is None else env).get(PORT_ENV, str(DEFAULT_PORT))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{PORT_ENV} must be a port number, not {raw!r}")
    return int(raw)


def service_spec(site: Site, site_path: Path | None = None) -> dict[str, Any]:
    """The ``c.JupyterHub.services`` entry of the managed credits service."""
    environment = {
        DB_URL_ENV: site.ledger.db_url or default_ledger_url(),
        STATE_DIR_ENV: str(state_dir()),
    }
    if site_path is not None:
        environment[SITE_FILE_ENV] = str(site_path)
    return {
        "name": SERVICE_NAME,
        "url": f"http://127.0.0.1:{service_port()}",
        "command": [sys.executable, "-m", "computehub.credits.service"],
        "environment": environment,
        "oauth_no_confirm": True,
        # OAuth tokens the service receives from a browser login carry at most these,
        # intersected with what the user holds.
        "oauth_client_allowed_scopes": [READ, INSTRUCT, REVIEW, ADMIN],
        # Listed in the hub's "Services" menu, linking to the page of credits and sessions.
        "display": True,
        "info": {"display_name": DISPLAY_NAME, "pages": [dict(p) for p in MENU_PAGES]},
    }


def configure_credits_service(c: Any, site: Site, site_path: Path | None = None) -> None:
    """Add the credits service and its permissions to the JupyterHub config ``c``.

    The service itself holds no hub scopes from here (``configure_hub_scopes`` in
    ``spawners/scopes.py`` gives it one, to read the hubs' status for its status page):
    it identifies callers with their own
    tokens (``GET /hub/api/user``), and OAuth needs only its client credentials.
    """
    services = list(c.JupyterHub.services) if "services" in c.JupyterHub else []
    services = [spec for spec in services if spec.get("name") != SERVICE_NAME]
    c.JupyterHub.services = [*services, service_spec(site, site_path)]
    _menu_template(c)

    custom = dict(c.JupyterHub.custom_scopes) if "custom_scopes" in c.JupyterHub else {}
    c.JupyterHub.custom_scopes = {**custom, **CUSTOM_SCOPES}

    extra = set(c.JupyterHub.extra_user_scopes) if "extra_user_scopes" in c.JupyterHub else set()
    c.JupyterHub.extra_user_scopes = extra | set(USER_SCOPES)
    # A 'user' role redefined in load_roles makes JupyterHub ignore extra_user_scopes.
    roles = list(c.JupyterHub.load_roles) if "load_roles" in c.JupyterHub else []
    for role in roles:
        if role.get("name") == "user" and "scopes" in role:
            role["scopes"] = sorted(set(role["scopes"]) | set(USER_SCOPES))
    # Platform roles are not assigned here: every login method (the demo's dummy one
    # included) manages them, and JupyterHub refuses load_roles with users then.
    c.JupyterHub.load_roles = roles

    current = c.Spawner.server_token_scopes if "server_token_scopes" in c.Spawner else None
    c.Spawner.server_token_scopes = server_token_scopes(current)


def _menu_template(c: Any) -> None:
    """Put computehub's templates (whose ``page.html`` shows ``display_name``) on the path."""
    from computehub.auth.configure import templates_dir

    existing = list(c.JupyterHub.template_paths) if "template_paths" in c.JupyterHub else []
    if templates_dir() not in existing:
        c.JupyterHub.template_paths = [templates_dir(), *existing]


def server_token_scopes(current: Any, add: Iterable[str] = SERVER_TOKEN_SCOPES) -> Any:
    """``Spawner.server_token_scopes`` with ``add`` (the widget's scopes) added to ``current``.

    ``current`` may be unset (JupyterHub's default ``server`` role), a list, or a
    callable (wrapped so that its answer gets the same addition).
    """
    extra = tuple(add)
    if callable(current):
        wrapped: Callable[[Any], Any] = current

        async def scopes(spawner: Any) -> list[str]:
            answer = wrapped(spawner)
            if hasattr(answer, "__await__"):
                answer = await answer
            return _with(answer or DEFAULT_SERVER_SCOPES, extra)

        return scopes
    return _with(current or DEFAULT_SERVER_SCOPES, extra)


def _with(scopes: Any, extra: tuple[str, ...]) -> list[str]:
    return sorted(set(scopes) | set(extra))


#: Per course, where its formgrader's API is and the token that reads it (JSON).
FORMGRADERS_ENV = "COMPUTEHUB_FORMGRADERS"


def credits_reads_formgraders(c: Any, formgraders: dict[str, dict[str, str]]) -> None:
    """Tell the credits service each graded course's formgrader and its reading token.

    ``formgraders`` comes from ``computehub.nbgraderhub.configure_nbgrader``: the
    instructor's page shows each course's assignments from it.
    """
    if not formgraders:
        return
    services = list(c.JupyterHub.services)
    for spec in services:
        if spec.get("name") == SERVICE_NAME:
            spec["environment"] = {
                **spec.get("environment", {}),
                FORMGRADERS_ENV: json.dumps(formgraders, sort_keys=True),
            }
    c.JupyterHub.services = services
