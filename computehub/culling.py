"""Stopping idle sessions: ``jupyterhub-idle-culler`` and the GPU-idle rule, as services.

Idle culling lives here, in one place: this module registers both services; the
GPU-idle rule itself is :mod:`computehub.gpuidle`, beside it.

Both are JupyterHub managed services with only the scopes they need (the culler's
README lists them): the culler finds servers (``list:users``, ``read:users:activity``,
``read:servers``) and stops them (``delete:servers``); the GPU rule reads the GPU
reports the servers push to the hub (``custom:computehub:gpu-activity:read``),
stops servers (``delete:servers``) and writes its note in the ledger. Neither may
reach a server (no ``access:servers``), and neither contacts one.

With the GPU rule on, every server is told (``Spawner.environment``) how often to
report and at which GPU use its GPUs count as busy.
"""

from __future__ import annotations

import sys
from typing import Any

from computehub.paths import state_dir
from computehub.sitefile import Site
from computehub.spawners.scopes import GPU_ACTIVITY_READ

#: Scopes of jupyterhub-idle-culler when it culls servers only (not users).
IDLE_CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
#: Scopes of the GPU-idle rule.
GPU_IDLE_SCOPES = [GPU_ACTIVITY_READ, "delete:servers"]
#: What a server reads to know how often to push its GPU report, and at which use
#: its GPUs count as busy (computehub.extensions.activity).
REPORT_EVERY_ENV = "COMPUTEHUB_GPU_REPORT_S"
BUSY_PERCENT_ENV = "COMPUTEHUB_GPU_BUSY_PERCENT"
#: A report is stale after this many report intervals (two pushes may be lost).
STALE_AFTER_REPORTS = 3


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


def configure_culling(c: Any, site: Site, ledger_url: str) -> None:
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
    job_env = dict(c.Spawner.environment) if "environment" in c.Spawner else {}
    job_env.pop(REPORT_EVERY_ENV, None)
    job_env.pop(BUSY_PERCENT_ENV, None)
    if culling.gpu_idle_s is not None:
        every = culling.gpu_check_every_s
        gpu = [
            "computehub.gpuidle",
            f"--limit={culling.gpu_idle_s}",
            f"--busy-percent={culling.gpu_busy_percent}",
            f"--every={every}",
            f"--stale-after={STALE_AFTER_REPORTS * every}",
        ]
        job_env[REPORT_EVERY_ENV] = str(every)
        job_env[BUSY_PERCENT_ENV] = str(culling.gpu_busy_percent)
    env = {"COMPUTEHUB_DB_URL": ledger_url}
    _register(services, roles, "gpu-idle", GPU_IDLE_SCOPES, gpu, env)
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles
    c.Spawner.environment = job_env
