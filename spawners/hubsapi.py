"""``GET /hub/api/computehub/hubs``: every hub's status, as the spawn form sees it.

Answers ``{"hubs": [{"hub", "display_name", "region", "state", "message",
"accepts_sessions", "gpus": [{"label", "gres", "expected", "total", "free",
"out_of_service"}], "queue", "checked_at", "maintenance_by", "maintenance_since"}]}``
in the site file's order (see ``hubstatus.py`` for the states). The caller needs
:data:`~computehub.spawners.scopes.HUBS_READ`: every user holds it, and so does the
credits service, whose status page shows this answer. The hub computes it because it
is the one that talks to Slurm (with the same cached readings the spawn form uses):
the credits service runs no Slurm command.
"""

from __future__ import annotations

import json

from jupyterhub.apihandlers import APIHandler
from jupyterhub.scopes import needs_scope

from computehub.spawners.scopes import HUBS_READ
from computehub.spawners.spawner import hub_statuses, status_source

PATH = r"/api/computehub/hubs"


class HubsHandler(APIHandler):  # type: ignore[misc]
    """Each hub's state, free GPUs and queue length."""

    @needs_scope(HUBS_READ)  # type: ignore[untyped-decorator]
    async def get(self) -> None:
        registry, client = status_source(self.config)
        statuses = await hub_statuses(registry, client, self.log)
        self.finish(json.dumps({"hubs": [status.as_json() for status in statuses]}))
