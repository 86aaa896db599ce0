"""A Jupyter server extension that tells this server's pages the session's credits.

``GET {base_url}computehub/api/session`` answers, to a browser logged in to this server
(JupyterHub's own check: the owner, or someone they shared it with) ::

    {"enabled": true, "now": "2026-12-05T03:00:00+00:00",
     "session": {"account": "alice", "hub": "lahore", "job_id": "42",
                 "available": "980.0000", "available_text": "980.00",
                 "funded_until": "2026-12-05T04:00:00+00:00"}}

or, when the credits cannot be read, ``{"enabled": true, "now": …, "message": "…"}``,
and ``{"enabled": false, "now": …}`` outside computehub sessions or with the widget off
(`computehub.extensions.autoload.widget_wanted`). The JupyterLab status item
(extensions/labextension) shows it. The figures come from the credits service, asked by
`HttpCreditsClient` with this server's own token (``JUPYTERHUB_API_TOKEN``), which never
leaves the server; answers are kept `CACHE_S` seconds, so many open tabs cost the credits
service one request per interval. Nothing here imports hub-side code.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .autoload import widget_wanted
from .creditsreader import CreditsError, HttpCreditsClient, SessionCredits

ROUTE = "computehub/api/session"
#: Seconds an answer of the credits service is reused.
CACHE_S = 10.0


def session_document(
    enabled: bool,
    now: datetime,
    session: SessionCredits | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """The JSON the status item reads (pure).

    Amounts are exact decimal strings, with ``available_text`` rounded to 2 decimals for
    display, as the widget shows them.
    """
    doc: dict[str, Any] = {"enabled": enabled, "now": now.isoformat()}
    if session is not None:
        doc["session"] = {
            "account": session.account,
            "hub": session.hub,
            "job_id": session.job_id,
            "available": str(session.available),
            "available_text": f"{session.available:,.2f}",
            "funded_until": session.funded_until.isoformat(),
        }
    elif message is not None:
        doc["message"] = message
    return doc


class CachedSession:
    """The credits service's last answer, refreshed at most every `max_age` seconds.

    Args:
        read: Reads the session (blocking; run in a worker thread).
        max_age: Seconds an answer is reused.
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        read: Callable[[], SessionCredits],
        max_age: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._max_age = max_age
        self._clock = clock
        self._lock = asyncio.Lock()
        self._at: float | None = None
        self._value: SessionCredits | CreditsError | None = None

    async def get(self) -> SessionCredits | CreditsError:
        """The session's credits, or the error that reading them gave."""
        async with self._lock:
            if self._at is None or self._clock() - self._at >= self._max_age:
                try:
                    self._value = await asyncio.to_thread(self._read)
                except CreditsError as err:
                    self._value = err
                self._at = self._clock()
            assert self._value is not None
            return self._value

    def forget(self) -> None:
        """Read afresh on the next request."""
        self._at = None


async def answer(enabled: bool, cache: CachedSession | None, now: datetime) -> dict[str, Any]:
    """The document for one request."""
    if not enabled or cache is None:
        return session_document(False, now)
    value = await cache.get()
    if isinstance(value, CreditsError):
        return session_document(True, now, message=value.message)
    return session_document(True, now, session=value)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "computehub.extensions.statusapi"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.base.handlers import APIHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    env: Mapping[str, str] = os.environ
    enabled = widget_wanted(env)
    cache = None
    if enabled:
        client = HttpCreditsClient.from_env(env)
        cache = CachedSession(client.current_session)

    class SessionHandler(APIHandler):
        auth_resource = "computehub"

        @web.authenticated
        async def get(self) -> None:
            if not self.authorizer.is_authorized(self, self.current_user, "read", "computehub"):
                raise web.HTTPError(403)
            self.set_header("Cache-Control", "no-store")
            self.finish(await answer(enabled, cache, datetime.now(UTC)))

    route = url_path_join(serverapp.web_app.settings["base_url"], ROUTE)
    serverapp.web_app.add_handlers(".*$", [(route, SessionHandler)])
    serverapp.log.info("computehub: session figures at %s (%s)", route, "on" if enabled else "off")
