"""``GET /hub/api/computehub/estimate``: what the spawn form's choice would cost.

The spawn form calls it as the user changes their choice (with the hub's login
cookie and XSRF token). The query carries the form's fields (``hub``, ``gpu_type``,
``gpus``, ``hours``, ``account``, ``environment``); they go through the same
validation as a start (allow-lists, limits, roles and courses, the accounts the user
may charge), and the figures are the ledger's own estimate, as the credits
service's ``/estimate`` gives them. For a course's student the figures are those
the billing seam leaves them (``within_share``: ``available`` counts what their
limits leave) and ``share`` is its line for the limit that leaves the least
(``None`` otherwise); ``reserved`` says what GPUs the hub reserves mean for the
account (docs/capacity.md; ``None`` where none are reserved). Answers ``{"hub",
"hub_name", "account", "per_hour", "hours", "cost", "available",
"affordable_hours", "sufficient", "share", "reserved"}``, or
``{"message"}`` with a 400 naming the field that is refused. The caller needs
``custom:computehub:sessions`` for themselves (the login cookie has it; a
read-only token does not: 403).
"""

from __future__ import annotations

import json
from typing import Any

from jupyterhub.apihandlers import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from computehub.credits.errors import LedgerError
from computehub.spawners.options import ANY_HUB, KNOWN_KEYS, OptionsError, validate
from computehub.spawners.scopes import SESSIONS

PATH = r"/api/computehub/estimate"


class EstimateHandler(APIHandler):  # type: ignore[misc]
    """The price of a session the caller could start, and what their account funds."""

    def _error(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(json.dumps({"message": message}))

    async def get(self) -> None:
        # Not @web.authenticated: for a GET it would redirect to the login page.
        user = self.current_user
        if getattr(user, "kind", None) != "user":
            raise web.HTTPError(403, "only a user can ask what their session would cost")
        await self._estimate(user.name)

    @needs_scope(SESSIONS)  # type: ignore[untyped-decorator]
    async def _estimate(self, user_name: str) -> None:
        # JupyterHub's scope check: SESSIONS for this user (@needs_scope filters on
        # the argument's name).
        user = self.current_user
        spawner = user.get_spawner("", replace_failed=True)
        raw: dict[str, Any] = {}
        for key in self.request.query_arguments:
            if key not in KNOWN_KEYS:
                return self._error(400, f"{key}: unknown option")
            raw[key] = self.get_query_argument(key).strip()
        free = None
        closed: set[str] = set()
        if raw.get("hub") == ANY_HUB:
            free = await spawner.free_gpus()
            closed = {s.hub for s in await spawner.hub_statuses() if s.closed}
        standing, who = await spawner.standing()
        capacity = await spawner.capacity(standing, who)
        try:
            req = validate(
                raw,
                spawner.registry,
                free,
                standing.accounts,
                who=who,
                closed=closed,
                capacity=capacity,
            )
        except OptionsError as err:
            return self._error(400, str(err))
        try:
            figures, share = await spawner.billing.estimate_within_share(req)
        except LedgerError as err:
            return self._error(400, str(err))
        affordable = figures.affordable_hours
        self.finish(
            json.dumps(
                {
                    "hub": req.hub,
                    "hub_name": spawner.registry[req.hub].display_name,
                    "account": figures.account,
                    "per_hour": str(figures.per_hour),
                    "hours": str(req.hours),
                    "cost": str(figures.cost),
                    "available": str(figures.available),
                    "affordable_hours": None if affordable is None else str(affordable),
                    "sufficient": figures.sufficient,
                    "share": share,
                    "reserved": None
                    if capacity is None or req.mig_profile
                    else capacity.note(req.hub, req.gpu_type, req.account),
                }
            )
        )
