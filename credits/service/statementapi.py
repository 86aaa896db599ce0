"""A session's statement (``GET /sessions/{hold_id}/statement``) and an account's statement
for a period as CSV (``/accounts/{name}/statement.csv``, a download for browsers).

Who may read them is who may read the account's sessions
(:func:`~computehub.credits.service.access.sessions_filter`): its owners and members,
a course's staff and TAs, operators; a course's student only their own sessions.
"""

from __future__ import annotations

import re

from tornado import web

from computehub.credits import statement as st
from computehub.credits.service import access, params, statementviews
from computehub.credits.service.errors import ApiError
from computehub.credits.service.handlers import _LedgerHandler
from computehub.credits.service.teach import PageHandler

_FILENAME = re.compile(r"[^A-Za-z0-9._-]")
_HOLD_ID = re.compile(r"[1-9][0-9]{0,9}")
#: Hold ids are 32-bit on PostgreSQL: a larger one is no hold (not a database error).
_HOLD_MAX = 2**31 - 1


async def _whose(
    handler: _LedgerHandler, caller: access.Caller, name: str
) -> tuple[bool, str | None, str | None]:
    """``(allowed, only_user, role)`` of the caller on account ``name``."""
    figures = await handler.figures(caller, name)
    role = (await handler.members(name)).get(caller.name)
    allowed, only = access.sessions_filter(caller, figures.kind, role)
    return allowed, only, role


class SessionStatementHandler(_LedgerHandler):
    """``GET /sessions/{hold_id}/statement``: one session's line items, amounts exact."""

    async def get(self, hold_id: str) -> None:
        """To anyone but an operator, an unknown session and another's look alike (403)."""
        caller = self.reader()
        if not _HOLD_ID.fullmatch(hold_id):
            raise ApiError(
                400, f"a session is a hold id (a positive whole number), not {hold_id!r}"
            )
        try:
            found: st.Statement = await self.ctx.call(self.ctx.ledger.statement, int(hold_id))
        except ApiError as err:
            if err.status == 404 and not caller.admin:
                raise self._not_yours(hold_id) from None
            raise
        allowed, only, _role = await _whose(self, caller, found.account)
        if not allowed or (only is not None and only != found.user):
            raise self._not_yours(hold_id)
        self.send_json(statementviews.statement_json(found))

    @staticmethod
    def _not_yours(hold_id: str) -> ApiError:
        return ApiError(403, f"session {hold_id} is not one of yours")


class StatementCsvHandler(_LedgerHandler, PageHandler):
    """``GET /accounts/{name}/statement.csv?since=YYYY-MM-DD&until=YYYY-MM-DD``.

    The account's sessions placed from ``since`` (included) to ``until`` (excluded),
    oldest first, with their line items; exact amounts. A browser gets a refusal as a page.
    """

    @web.authenticated
    async def get(self, name: str) -> None:
        """CSV with a file name; a course's student gets only their own sessions."""
        caller = self.reader()
        since = params.day(self.arg("since"), "since")
        until = params.day(self.arg("until"), "until")
        if since is not None and until is not None and until <= since:
            raise ApiError(400, "until must be after since")
        allowed, only, role = await _whose(self, caller, name)
        if not allowed:
            raise (
                self.not_yours(name)
                if role is None
                else ApiError(403, f"your role in {name!r} ({role}) does not show its sessions")
            )
        rows = await self.ctx.call(
            self.ctx.ledger.account_statement, name, since=since, until=until, user=only
        )
        period = "-".join(f"{day:%Y-%m-%d}" if day is not None else "all" for day in (since, until))
        filename = _FILENAME.sub("_", f"{name}-statement-{period}.csv")
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(statementviews.statement_csv(rows))
