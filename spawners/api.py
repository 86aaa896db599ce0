"""A strict replacement for batchspawner's ``/api/batchspawner`` handler.

batchspawner's handler sets *any* spawner attribute the job sends it (mass
assignment: a job could set ``exec_prefix`` or ``batch_submit_cmd``). Ours
accepts exactly one thing, the port the server listens on, from the server's
own token, while the server is starting (a server that is up can't move itself).
"""

from __future__ import annotations

import json
from typing import Any

from jupyterhub.apihandlers import APIHandler
from tornado import web

from computehub.spawners.owntoken import own_spawner

PATH = r"/api/batchspawner"


class PortReportHandler(APIHandler):  # type: ignore[misc]
    """``POST {"port": N}`` from ``batchspawner-singleuser`` inside the job."""

    @web.authenticated
    def post(self) -> None:
        spawner = own_spawner(self.current_user, self.get_auth_token())
        if spawner is None:
            raise web.HTTPError(403, "only a server's own token may report its port")
        if spawner.pending != "spawn":
            raise web.HTTPError(409, "the server has already started")
        body: Any = self.get_json_body()
        if not isinstance(body, dict) or set(body) != {"port"}:
            raise web.HTTPError(400, 'expected exactly {"port": <1-65535>}')
        port = body["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise web.HTTPError(400, "port must be an integer between 1 and 65535")
        spawner.port = port
        self.set_status(201)
        self.finish(json.dumps({"message": "port recorded"}))
