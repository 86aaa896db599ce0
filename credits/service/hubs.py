"""``/services/credits/hubs``: the hub status page, for anyone logged in.

The status comes from the hub (``GET /hub/api/computehub/hubs``), asked with the
service's own token, whose role holds only ``custom:computehub:hubs:read``: the hub
already reads every controller for its spawn form, so the service runs no Slurm
command and the page and the form always agree.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from computehub.credits.service import page, statuspage
from computehub.credits.service.teach import PageHandler

log = logging.getLogger("computehub.credits.service")

#: Where the hub answers, under its API URL.
HUBS_PATH = "/computehub/hubs"


class HubStatusError(RuntimeError):
    """The hub did not tell the hubs' status (for the log; people read a sentence)."""


class HubStatusReader:
    """Asks the hub for every hub's status, with a timeout.

    Args:
        api_url: the hub's API (``$JUPYTERHUB_API_URL``, ``http://.../hub/api``).
        token: the service's token (``$JUPYTERHUB_API_TOKEN``).
        timeout_s: the longest wait for the hub's answer; the hub itself waits at most
            each controller's ``slurm.timeout_s``, in parallel.
    """

    def __init__(self, api_url: str, token: str, timeout_s: float = 30.0) -> None:
        self.url = api_url.rstrip("/") + HUBS_PATH
        self._token = token
        self.timeout_s = timeout_s

    async def __call__(self) -> Any:
        """The hub's answer, parsed.

        Raises:
            HubStatusError: no answer in time, an error status, or not JSON.
        """
        try:
            response = await AsyncHTTPClient().fetch(
                self.url,
                headers={"Authorization": f"token {self._token}"},
                connect_timeout=min(5.0, self.timeout_s),
                request_timeout=self.timeout_s,
            )
            return json.loads(response.body)
        except (HTTPClientError, OSError, ValueError) as err:
            raise HubStatusError(f"GET {self.url}: {err}") from None


class HubStatusPageHandler(PageHandler):
    """The hubs' state, free GPUs and queue, as the hub tells it."""

    localized = True

    csp = page.CONTENT_SECURITY_POLICY

    @web.authenticated
    async def get(self) -> None:
        """Anyone logged in sees it; a hub that does not answer gets a sentence (503)."""
        caller = self.require_caller()
        reader = self.ctx.hub_status
        try:
            if reader is None:
                raise HubStatusError("the service was started without the hub's API")
            hubs = statuspage.parse_hubs(await reader())
        except (HubStatusError, statuspage.HubAnswerError) as err:
            log.warning("The hubs' status can't be shown: %s", err)
            self.set_status(503)
            self.html_headers()
            self.finish(statuspage.hub_unreachable_page(caller.name, links=self.links()))
            return
        self.html_headers()
        self.set_header("Cache-Control", "no-store")
        self.finish(statuspage.render(caller.name, hubs, links=self.links()))
