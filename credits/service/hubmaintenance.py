"""The credits service asks the hub to put a hub in maintenance, or to take it out.

The hub keeps the notices (``spawners/maintenanceapi.py``); the service calls
``PUT``/``DELETE /hub/api/computehub/hubs/{hub}/maintenance`` with its own token,
whose role holds ``custom:computehub:hubs:maintain``, on behalf of the operator who
used the console's form (``on_behalf_of``). Only operators reach the form.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

#: Where the hub answers, under its API URL.
PATH = "/computehub/hubs/{hub}/maintenance"


class MaintenanceRefusedError(RuntimeError):
    """The hub refused the change (the message is the hub's sentence, for the operator)."""


class HubUnreachableError(RuntimeError):
    """The hub did not answer (for the log; the operator reads a sentence)."""


class HubMaintenance:
    """Puts hubs in maintenance through the hub's API, with a timeout.

    Args:
        api_url: the hub's API (``$JUPYTERHUB_API_URL``).
        token: the service's token (``$JUPYTERHUB_API_TOKEN``).
        timeout_s: the longest wait for the hub's answer.
    """

    def __init__(self, api_url: str, token: str, timeout_s: float = 15.0) -> None:
        self.api = api_url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s

    async def _send(
        self, method: str, hub: str, body: str | None, query: str = ""
    ) -> dict[str, object]:
        url = self.api + PATH.format(hub=quote(hub, safe="")) + query
        try:
            response = await AsyncHTTPClient().fetch(
                url,
                method=method,
                body=body,
                headers={
                    "Authorization": f"token {self._token}",
                    "Content-Type": "application/json",
                },
                connect_timeout=min(5.0, self.timeout_s),
                request_timeout=self.timeout_s,
                allow_nonstandard_methods=True,
            )
            answer = json.loads(response.body)
        except HTTPClientError as err:
            if err.code in (400, 404) and err.response is not None:
                try:
                    said = json.loads(err.response.body).get("message")
                except ValueError:
                    said = None
                raise MaintenanceRefusedError(str(said or "the hub refused the change")) from None
            raise HubUnreachableError(f"{method} {url}: {err}") from None
        except (OSError, ValueError) as err:
            raise HubUnreachableError(f"{method} {url}: {err}") from None
        if not isinstance(answer, dict):
            raise HubUnreachableError(f"{method} {url}: not an object")
        return answer

    async def start(self, hub: str, message: str, operator: str) -> dict[str, object]:
        """Put ``hub`` in maintenance with ``message``, set by ``operator``."""
        body = json.dumps({"message": message, "on_behalf_of": operator})
        return await self._send("PUT", hub, body)

    async def end(self, hub: str, operator: str) -> bool:
        """Take ``hub`` out of maintenance; False if it was not in maintenance."""
        answer = await self._send("DELETE", hub, None, "?" + urlencode({"on_behalf_of": operator}))
        return bool(answer.get("ended"))
