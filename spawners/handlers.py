"""The hub API handlers computehub adds, registered by one call in the hub's wiring.

``computehub.hubconfig.configure`` calls :func:`register_api_handlers` while JupyterHub
loads its configuration, before it builds its handler table from
``jupyterhub.apihandlers.default_handlers``. ``JupyterHub.extra_handlers`` is not
used: it is deprecated, and its handlers come after the default ones, so
batchspawner's ``/api/batchspawner`` (which sets any spawner attribute it is sent)
would still answer before ours.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.apihandlers import default_handlers

from computehub.i18n import hub as i18n_hub
from computehub.spawners import (
    api,
    estimate,
    extend,
    gpuactivity,
    homeapi,
    hubsapi,
    maintenanceapi,
)


def api_handlers() -> list[tuple[str, Any]]:
    """computehub's hub API handlers: (path under ``/hub``, handler class)."""
    return [
        (api.PATH, api.PortReportHandler),
        (extend.PATH, extend.ExtendHandler),
        (estimate.PATH, estimate.EstimateHandler),
        (gpuactivity.PATH, gpuactivity.GpuActivityHandler),
        (hubsapi.PATH, hubsapi.HubsHandler),
        (maintenanceapi.PATH, maintenanceapi.MaintenanceHandler),
        (homeapi.PATH, homeapi.HomeHandler),
        (i18n_hub.PATH, i18n_hub.LanguageHandler),
    ]


def register_api_handlers() -> None:
    """Put computehub's handlers in JupyterHub's API handler table, in place of any
    handler already there for the same path (batchspawner's port handler).
    """
    # batchspawner adds its handler when it is first imported: import it now, so
    # that it is there to be replaced whatever imports it later.
    import batchspawner.api  # noqa: F401

    ours = api_handlers()
    paths = {path for path, _ in ours}
    default_handlers[:] = [h for h in default_handlers if h[0] not in paths]
    default_handlers.extend(ours)
