"""Stopping idle sessions: ``jupyterhub-idle-culler`` and the GPU-idle rule, as services.

Both are JupyterHub managed services with only the scopes they need (the culler's
README lists them): finding servers (``list:users``, ``read:users:activity``,
``read:servers``) and stopping them (``delete:servers``); the GPU rule also asks the
servers themselves (``access:servers``) and writes its note in the ledger.
"""

from __future__ import annotations

import sys
from typing import Any

from computehub.paths import state_dir
from computehub.sitefile import Site

#: Scopes of jupyterhub-idle-culler when it culls servers only (not users).
IDLE_CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
#: Scopes of the GPU-idle rule.
GPU_IDLE_SCOPES = ["list:users", "read:servers", "access:servers", "delete:servers"]


def _register(
    services: list[dict[str, Any]],
    roles: list[dict[str, Any]],
    name: str,
    scopes: list[str],
    argv: list[str] | None,
    environment: dict[str, str],
) -> None:
    """Register (``argv``) or remove (None) a managed service and its role."""
    services[:] = [s for s in services if s.get("name") != name]
    roles[:] = [r for r in roles if r.get("name") != name]
    if argv is None:
        return
    # COMPUTEHUB_STATE_DIR marks the process as this hub's: a restarted hub stops what
    # its killed predecessor left running (see computehub.localbed.hub).
    env = {**environment, "COMPUTEHUB_STATE_DIR": str(state_dir())}
    services.append({"name": name, "command": [sys.executable, "-m", *argv], "environment": env})
    roles.append({"name": name, "scopes": list(scopes), "services": [name]})


def configure_culling(c: Any, site: Site, public_url: str, ledger_url: str) -> None:
    """Register the culler and the GPU rule as the site file's ``culling`` asks."""
    culling = site.culling
    services: list[dict[str, Any]] = (
        list(c.JupyterHub.services) if "services" in c.JupyterHub else []
    )
    roles: list[dict[str, Any]] = (
        list(c.JupyterHub.load_roles) if "load_roles" in c.JupyterHub else []
    )
    culler = None
    if culling.idle_timeout_s is not None:
        culler = [
            "jupyterhub_idle_culler",
            f"--timeout={culling.idle_timeout_s}",
            f"--cull-every={culling.idle_check_every_s}",
        ]
    _register(services, roles, "idle-culler", IDLE_CULLER_SCOPES, culler, {})
    gpu = None
    if culling.gpu_idle_s is not None:
        gpu = [
            "computehub.spawners.gpuidle",
            f"--limit={culling.gpu_idle_s}",
            f"--busy-percent={culling.gpu_busy_percent}",
            f"--every={culling.gpu_check_every_s}",
        ]
    env = {"COMPUTEHUB_PUBLIC_URL": public_url, "COMPUTEHUB_DB_URL": ledger_url}
    _register(services, roles, "gpu-idle", GPU_IDLE_SCOPES, gpu, env)
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles
