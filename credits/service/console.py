"""The operator console over HTTP: ``/services/credits/console``, its CSV exports and its
maintenance form. Operators only; everyone else gets a 403 page.

The page and each ``console/export/{table}.csv`` read the tables
:func:`~computehub.credits.service.consoleapi.gather` builds, the same the REST API
(``/api/v1/console/...``) answers as JSON. The maintenance form posts here with
JupyterHub's ``_xsrf`` token (``HubOAuth`` checks it before it accepts the cookie);
the service then asks the hub (:mod:`~computehub.credits.service.hubmaintenance`).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from tornado import web

from computehub.credits.service import access, consoleapi, consolepage
from computehub.credits.service.consoletables import TABLE_NAMES
from computehub.credits.service.errors import ApiError
from computehub.credits.service.hubmaintenance import HubUnreachableError, MaintenanceRefusedError
from computehub.credits.service.teach import PageHandler, _text
from computehub.i18n import _
from computehub.i18n.catalog import isolate
from computehub.i18n.formats import datetime_text

log = logging.getLogger("computehub.credits.service")
_ARGS = ("since", "until", "days", "below")


class _ConsolePage(PageHandler):
    csp = consolepage.CONTENT_SECURITY_POLICY

    def query(self) -> dict[str, str]:
        """The chosen period and lines, from the address (or the maintenance form)."""
        return {
            key: str(value) for key in _ARGS if (value := self.get_argument(key, None, strip=False))
        }

    def chosen(self) -> consoleapi.Choice:
        return consoleapi.choice(dict(self.query()), self.ctx.now(), self.ctx.expiring_soon)

    async def show(
        self, caller: access.Caller, *, notice: str = "", error: str = "", status: int = 200
    ) -> None:
        """Answer with the page (``error``: why the form was refused)."""
        query = self.query()
        try:
            chosen = self.chosen()
        except ApiError as err:
            # A choice that can't be read: the default period, and why.
            chosen = consoleapi.choice({}, self.ctx.now(), self.ctx.expiring_soon)
            error, query, status = err.message, {}, 400
        gathered = await consoleapi.gather(self.ctx, chosen)
        view = consolepage.ConsoleView(
            tables=gathered.tables,
            total=gathered.total,
            query=consolepage.shown_query(
                query, datetime_text(chosen.since), datetime_text(chosen.until)
            ),
            hub_answered=gathered.hub_answered,
            xsrf=_text(self.xsrf_token),
            notice=notice,
            error=error,
        )
        self.set_status(status)
        self.html_headers()
        self.set_header("Cache-Control", "no-store")
        self.finish(consolepage.render(caller.name, view, links=self.links()))


class ConsolePageHandler(_ConsolePage):
    """``GET /console``: the page."""

    @web.authenticated
    async def get(self) -> None:
        """Every panel for the chosen period (default the last 30 days)."""
        caller = consoleapi.operator(self.caller)
        saved = self.get_query_argument("saved", "")
        await self.show(caller, notice=consolepage.notice_text(saved))


class ExportHandler(_ConsolePage):
    """``GET /console/export/{table}.csv``: one table as CSV."""

    @web.authenticated
    async def get(self, table: str) -> None:
        """The table for the chosen period, as a file."""
        consoleapi.operator(self.caller)
        if table not in TABLE_NAMES:
            raise ApiError(404, f"the console has no table {table!r}")
        gathered = await consoleapi.gather(self.ctx, self.chosen())
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{table}.csv"')
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.finish(gathered.tables[table].csv())


class MaintenanceFormHandler(_ConsolePage):
    """``POST /console/maintenance``: put a hub in maintenance or take it out."""

    async def post(self) -> None:
        """``hub``, ``action`` (start or end) and, to start, ``message``."""
        caller = consoleapi.operator(self.caller)
        hub = self.get_body_argument("hub", "")
        action = self.get_body_argument("action", "")
        message = self.get_body_argument("message", "")
        client = self.ctx.hub_maintenance
        if action not in ("start", "end"):
            raise ApiError(400, "the form's action is start or end")
        if client is None:
            raise ApiError(503, "the service was started without the hub's API")
        try:
            if action == "start":
                await client.start(hub, message, caller.name)
                saved = "started"
            else:
                saved = "ended" if await client.end(hub, caller.name) else "not-in-maintenance"
        except MaintenanceRefusedError as err:
            error = _("Nothing was changed: {problem}").format(problem=isolate(str(err)))
            await self.show(caller, error=error, status=400)
            return
        except HubUnreachableError as err:
            log.warning("The hub did not change %s's maintenance: %s", hub, err)
            error = _("The hub did not answer; nothing was changed. Please try again.")
            await self.show(caller, error=error, status=503)
            return
        log.info("Operator %s: hub %s maintenance %s", caller.name, hub, action)
        self.back({"saved": saved})

    def back(self, args: dict[str, str]) -> None:
        """Back to the console, with the period it showed."""
        chosen = urlencode({**self.query(), **args})
        self.redirect(f"{self.ctx.hub_auth.base_url}console?{chosen}#ch-now", status=303)
