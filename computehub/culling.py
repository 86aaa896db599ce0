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


def _replace(specs: list[dict[str, Any]], name: str, spec: dict[str, Any] | None) -> None:
    specs[:] = [s for s in specs if s.get("name") != name]
    if spec is not None:
        specs.append(spec)


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
        culler = {
            "name": "idle-culler",
            "command": [
                sys.executable,
                "-m",
                "jupyterhub_idle_culler",
                f"--timeout={culling.idle_timeout_s}",
                f"--cull-every={culling.idle_check_every_s}",
            ],
            # Marks the process as this hub's (a restarted hub stops what its dead
            # predecessor left running; see computehub.localbed.hub).
            "environment": {"COMPUTEHUB_STATE_DIR": str(state_dir())},
        }
    _replace(services, "idle-culler", culler)
    _replace(
        roles,
        "idle-culler",
        None
        if culler is None
        else {"name": "idle-culler", "scopes": IDLE_CULLER_SCOPES, "services": ["idle-culler"]},
    )
    gpu = None
    if culling.gpu_idle_s is not None:
        gpu = {
            "name": "gpu-idle",
            "command": [
                sys.executable,
                "-m",
                "computehub.spawners.gpuidle",
                f"--limit={culling.gpu_idle_s}",
                f"--busy-percent={culling.gpu_busy_percent}",
                f"--every={culling.gpu_check_every_s}",
            ],
            "environment": {
                "COMPUTEHUB_PUBLIC_URL": public_url,
                "COMPUTEHUB_DB_URL": ledger_url,
                "COMPUTEHUB_STATE_DIR": str(state_dir()),
            },
        }
    _replace(services, "gpu-idle", gpu)
    _replace(
        roles,
        "gpu-idle",
        None
        if gpu is None
        else {"name": "gpu-idle", "scopes": GPU_IDLE_SCOPES, "services": ["gpu-idle"]},
    )
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles
