"""The Tornado application of the credits service and its routes."""

from __future__ import annotations

import re
import secrets
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado import web

from computehub.credits.service import (
    apply,
    applying,
    console,
    consoleapi,
    courses,
    energy,
    hubs,
    noticesapi,
    statementapi,
    teach,
    theme,
)
from computehub.credits.service import handlers as h
from computehub.credits.service.base import BaseHandler
from computehub.credits.service.consolemetrics import ConsoleCollector
from computehub.credits.service.context import ServiceContext
from computehub.credits.service.home import IndexHandler
from computehub.credits.service.metrics import MetricsHandler, registry_for

#: The REST API under ``{prefix}api/v1``: path template and handler, as the OpenAPI names them.
API_ROUTES: list[tuple[str, type[BaseHandler]]] = [
    ("/accounts", h.AccountsHandler),
    ("/accounts/{name}", h.AccountHandler),
    ("/accounts/{name}/transactions", h.HistoryHandler),
    ("/accounts/{name}/sessions", h.SessionsHandler),
    ("/accounts/{name}/grants", h.GrantsHandler),
    ("/transfers", h.TransfersHandler),
    ("/rates", h.RatesHandler),
    ("/estimate", h.EstimateHandler),
    ("/sessions/current", h.CurrentSessionHandler),
    ("/sessions/{hold_id}/statement", statementapi.SessionStatementHandler),
    ("/notices", noticesapi.NoticesHandler),
    ("/reports", h.ReportsHandler),
    ("/reports/energy", energy.EnergyReportHandler),
    ("/courses", courses.CoursesHandler),
    ("/courses/{course}", courses.CourseHandler),
    ("/courses/{course}/archive", courses.ArchiveHandler),
    ("/courses/{course}/roster", courses.RosterHandler),
    ("/courses/{course}/sharing", courses.SharingHandler),
    ("/courses/{course}/repository", courses.RepositoryHandler),
    ("/courses/{course}/allowances/{username}", courses.AllowanceHandler),
    ("/applications", applying.ApplicationsHandler),
    ("/applications/queue", applying.QueueHandler),
    ("/applications/{application}", applying.ApplicationHandler),
    ("/applications/{application}/comments", applying.CommentHandler),
    ("/applications/{application}/recommendation", applying.RecommendHandler),
    ("/applications/{application}/changes", applying.ChangesHandler),
    ("/applications/{application}/approval", applying.ApprovalHandler),
    ("/applications/{application}/rejection", applying.RejectionHandler),
    ("/console/hubs", consoleapi.HubsNowHandler),
    ("/console/period", consoleapi.PeriodHandler),
    ("/console/funding", consoleapi.FundingHandler),
    ("/console/accounts", consoleapi.NearZeroHandler),
    ("/console/applications", consoleapi.OpenApplicationsHandler),
    ("/openapi.json", h.OpenApiHandler),
]


class OAuthCallbackHandler(HubOAuthCallbackHandler):  # type: ignore[misc]
    """JupyterHub's OAuth callback, with the service's own ``HubOAuth``.

    The login's state (next URL, PKCE code verifier) lives in the ``HubOAuth`` that
    sent the browser to the hub; JupyterHub's handler would otherwise use a singleton
    of its own and find no verifier.
    """

    def initialize(self, ctx: ServiceContext) -> None:
        """Tornado hook: the shared context."""
        self.hub_auth = ctx.hub_auth


_PARAM = re.compile(r"\{(\w+)\}")


def _pattern(template: str) -> str:
    return _PARAM.sub(r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))


def make_app(ctx: ServiceContext, *, cookie_secret: bytes | None = None) -> web.Application:
    """The service's application, with every route under the hub's service prefix.

    Args:
        ctx: the ledger, JupyterHub auth and clock the handlers share.
        cookie_secret: signs the OAuth cookie; random by default, so a restart of the
            service only means logging in through the hub again.
    """
    prefix = ctx.hub_auth.base_url
    api = f"{prefix}api/v1"
    context: dict[str, Any] = {"ctx": ctx}
    routes: list[Any] = [
        (prefix, IndexHandler, context),
        (f"{prefix}oauth_callback", OAuthCallbackHandler, context),
        (f"{prefix}metrics", MetricsHandler, context),
        (f"{prefix}{theme.PATH}", theme.ThemeHandler),
        # Applications for credits (pages with forms, not part of the REST API).
        (f"{prefix}applications", apply.ApplyPageHandler, context),
        (f"{prefix}applications/queue", apply.QueuePageHandler, context),
        (prefix + _pattern("applications/{application}"), apply.ApplicationPageHandler, context),
        (
            prefix + _pattern("applications/{application}/{step}"),
            apply.StepFormHandler,
            context,
        ),
        # The hubs' status, for anyone logged in (HTML, not part of the REST API).
        (f"{prefix}hubs", hubs.HubStatusPageHandler, context),
        # The operator console (HTML, CSV and its maintenance form; its JSON is the API's).
        (f"{prefix}console", console.ConsolePageHandler, context),
        (
            prefix + r"console/export/(?P<table>[a-z_-]+)\.csv",
            console.ExportHandler,
            context,
        ),
        (f"{prefix}console/maintenance", console.MaintenanceFormHandler, context),
        # An account's statement for a period (CSV for browsers, not part of the REST API).
        (
            prefix + _pattern("accounts/{name}/statement.csv"),
            statementapi.StatementCsvHandler,
            context,
        ),
        # The instructor's page (HTML and CSV, not part of the REST API).
        (f"{prefix}courses", teach.TeachingHandler, context),
        (prefix + _pattern("courses/{course}"), teach.CoursePageHandler, context),
        (prefix + _pattern("courses/{course}/roster.csv"), teach.RosterCsvHandler, context),
        (prefix + _pattern("courses/{course}/roster"), teach.RosterFormHandler, context),
        (prefix + _pattern("courses/{course}/sharing"), teach.SharingFormHandler, context),
        (
            prefix + _pattern("courses/{course}/repository"),
            teach.RepositoryFormHandler,
            context,
        ),
        (
            prefix + _pattern("courses/{course}/allowances/{username}"),
            teach.AllowanceFormHandler,
            context,
        ),
    ]
    routes += [(api + _pattern(template), handler, context) for template, handler in API_ROUTES]
    console_metrics = ConsoleCollector(ctx.ledger, ctx.clock)
    return web.Application(
        routes,
        cookie_secret=cookie_secret or secrets.token_bytes(32),
        computehub_metrics=registry_for(ctx.ledger, console_metrics),
        computehub_console_metrics=console_metrics,
        # HubOAuth checks XSRF itself before it accepts a cookie on a POST; token
        # requests need none. Tornado's own check would run before we know which it is.
        xsrf_cookies=False,
        default_handler_class=h.NotFoundHandler,
        default_handler_args=context,
    )
