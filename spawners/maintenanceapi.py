"""``PUT``/``DELETE /hub/api/computehub/hubs/{hub}/maintenance``: close a hub, or open it again.

The hub keeps the maintenance notices (:mod:`computehub.maintenance`: a file in its
state directory that the spawn form, every start, the status page and the widget's
banner read), so putting a hub in maintenance is the hub's API, with a scope of its
own, :data:`~computehub.spawners.scopes.HUBS_MAINTAIN`: operators hold it (their
platform role), and so does the credits service, whose operator console has the form.
The service calls on behalf of the operator who used the form and says who
(``on_behalf_of``), which the notice records as ``NAME (operator console)``; a user
calling with their own token is recorded as themselves and may not name anyone else.

``PUT`` with ``{"message": "..."}`` (one line of at most 500 printable characters)
answers the notice; ``DELETE`` answers ``{"hub": ..., "ended": true|false}`` (false:
it was not in maintenance). An unknown hub is a 404.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from jupyterhub.apihandlers import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from computehub import maintenance
from computehub.credits.names import USER_PATTERN
from computehub.spawners.scopes import HUBS_MAINTAIN
from computehub.spawners.spawner import status_source

PATH = r"/api/computehub/hubs/([^/]+)/maintenance"
#: What the notice says of an operator who used the credits service's console.
VIA_CONSOLE = "{name} (operator console)"


def parse_request(body: Any, caller_kind: str, caller_name: str) -> tuple[str, str]:
    """The message and who sets it, from a ``PUT``'s body and the caller.

    Raises:
        ValueError: with a sentence that says what is wrong.
    """
    if not isinstance(body, dict) or not set(body) <= {"message", "on_behalf_of"}:
        raise ValueError('expected {"message": "<what people should read>"}')
    message = body.get("message")
    if not isinstance(message, str):
        raise ValueError("message must be text")
    text = maintenance.check_message(message)
    who = body.get("on_behalf_of")
    if who is None:
        return text, caller_name
    if caller_kind != "service":
        raise ValueError("only a service acts on behalf of someone; leave out on_behalf_of")
    if not isinstance(who, str) or not re.fullmatch(USER_PATTERN, who):
        raise ValueError("on_behalf_of must be a user name")
    return text, VIA_CONSOLE.format(name=who)


def notice_json(notice: maintenance.Maintenance) -> dict[str, str]:
    """A notice as the API answers it."""
    return {
        "hub": notice.hub,
        "message": notice.message,
        "by": notice.by,
        "since": notice.since.isoformat(),
    }


class MaintenanceHandler(APIHandler):  # type: ignore[misc]
    """Put a hub in maintenance (``PUT``) or take it out (``DELETE``)."""

    def _known(self, hub: str) -> str:
        registry, _client = status_source(self.config)
        if hub not in registry:
            raise web.HTTPError(404, f"no hub is named {hub!r}")
        return hub

    def _caller(self) -> tuple[str, str]:
        user = self.current_user
        return str(getattr(user, "kind", "user")), str(user.name)

    @needs_scope(HUBS_MAINTAIN)  # type: ignore[untyped-decorator]
    async def put(self, hub: str) -> None:
        """Close ``hub`` to new sessions with the message people will read."""
        hub = self._known(hub)
        kind, name = self._caller()
        try:
            message, by = parse_request(self.get_json_body(), kind, name)
            notice = await asyncio.to_thread(maintenance.start, hub, message, by)
        except (ValueError, maintenance.MaintenanceError) as err:
            raise web.HTTPError(400, str(err)) from None
        self.log.info("Hub %s put in maintenance by %s: %s", hub, by, message)
        self.finish(json.dumps(notice_json(notice)))

    @needs_scope(HUBS_MAINTAIN)  # type: ignore[untyped-decorator]
    async def delete(self, hub: str) -> None:
        """Open ``hub`` to new sessions again."""
        hub = self._known(hub)
        kind, name = self._caller()
        who = self.get_argument("on_behalf_of", None)
        by = VIA_CONSOLE.format(name=who) if who and kind == "service" else name
        try:
            ended = await asyncio.to_thread(maintenance.end, hub)
        except maintenance.MaintenanceError as err:
            raise web.HTTPError(400, str(err)) from None
        if ended:
            self.log.info("Hub %s taken out of maintenance by %s", hub, by)
        self.finish(json.dumps({"hub": hub, "ended": ended}))
