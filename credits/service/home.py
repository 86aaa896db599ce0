"""``/services/credits/``: the page for people, or a short JSON answer for programs."""

from __future__ import annotations

from typing import Any

from tornado import web

from computehub.credits import records as r
from computehub.credits.service import (
    access,
    applypage,
    noticeviews,
    page,
    pulllink,
    statementviews,
)
from computehub.credits.service.base import BaseHandler
from computehub.credits.service.errors import ApiError
from computehub.credits.service.scopes import READ


def wants_html(accept: str) -> bool:
    """Whether an ``Accept`` header asks for a page (browsers send ``text/html`` first)."""
    return "text/html" in accept.lower()


class IndexHandler(BaseHandler):
    """Sends a browser through the hub's login, then shows the user's credits and sessions."""

    localized = True

    @web.authenticated
    async def get(self) -> None:
        """The page for ``Accept: text/html``; otherwise who is logged in and where the API is."""
        prefix = self.ctx.hub_auth.base_url
        if not self._html():
            self.send_json(
                {
                    "user": self.current_user["name"],
                    "api": f"{prefix}api/v1",
                    "openapi": f"{prefix}api/v1/openapi.json",
                }
            )
            return
        caller = self.require_caller()
        if not caller.reader:
            raise ApiError(403, f"your login lacks the {READ} scope, which shows your credits")
        accounts = await self.ctx.call(self.ctx.ledger.accounts_for_user, caller.name)
        per_account: list[list[r.Session]] = []
        for account in accounts:
            per_account.append(
                await self.ctx.call(
                    self.ctx.ledger.sessions,
                    account.account,
                    limit=page.SESSION_LIMIT,
                    user=caller.name,
                )
            )
        teaches = caller.admin or any(
            row.kind == "course" and access.may_follow_course(caller, row.role) for row in accounts
        )
        hub = pulllink.hub_of_request(
            self.request.protocol,
            self.request.headers.get("X-Forwarded-Proto"),
            self.request.host,
            self.ctx.hub_auth.hub_prefix,
        )
        materials: list[tuple[str, str]] = []
        for row in accounts:
            if row.kind != "course" or row.role != "student":
                continue
            try:
                course = await self.ctx.call(self.ctx.ledger.course, row.account)
            except ApiError as err:
                if err.status == 404:  # a course account that was never made a course
                    continue
                raise
            if course.repository is not None and course.archived_at is None:
                link = pulllink.pull_link(hub, course.repository, "", course.branch)
                materials.append((f"{course.title} ({course.id})", link))
        mine = await self.ctx.call(self.ctx.ledger.applications, applicant=caller.name)
        unseen = [row for row in mine if row.unseen]
        latest = page.latest_sessions(per_account)
        statements = await self.ctx.call(
            self.ctx.ledger.statements, [row.hold.id for row in latest]
        )
        html = page.render(
            caller.name,
            accounts,
            latest,
            soon=self.ctx.now() + self.ctx.expiring_soon,
            links=self._links(),
            teaches=teaches,
            materials=materials,
            news=applypage.decisions_notice(unseen, self._links())
            + await noticeviews.page_notices(self, caller.name),
            statements={key: statementviews.statement_html(row) for key, row in statements.items()},
            downloads=statementviews.downloads_html(
                [row.account for row in accounts], self._links().service, self.ctx.now()
            ),
        )
        if unseen:
            # Shown once: the next visit no longer says it (the application's page does).
            seen = [row.id for row in unseen]
            await self.ctx.call(self.ctx.ledger.mark_applications_seen, caller.name, seen)
        self._html_headers()
        self.finish(html)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A browser gets the refusal as a page, programs as ``{"message": ...}``."""
        if not self._html():
            super().write_error(status_code, **kwargs)
            return
        self.error_headers(status_code)
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = error.message if isinstance(error, ApiError) else self._reason
        self._html_headers()
        self.finish(page.error_page(status_code, message, links=self._links()))

    def _html(self) -> bool:
        return wants_html(self.request.headers.get("Accept", ""))

    def _html_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", page.CONTENT_SECURITY_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")

    def _links(self) -> page.Links:
        base = self.ctx.hub_auth.base_url
        return page.Links(
            hub_prefix=self.ctx.hub_auth.hub_prefix, api=f"{base}api/v1", service=base
        )
