"""The REST endpoints under ``/api/v1``: one handler per resource, all JSON."""

from __future__ import annotations

from typing import Any

from computehub.credits import records as r
from computehub.credits.keys import CLIENT_KEY_MAX, ClientKey
from computehub.credits.names import DEFAULT_SOURCE
from computehub.credits.service import access, noticeviews, params, views
from computehub.credits.service.base import BaseHandler
from computehub.credits.service.errors import ApiError
from computehub.credits.service.openapi import openapi
from computehub.credits.service.scopes import ADMIN, INSTRUCT, READ
from computehub.credits.service.serverscope import token_server


class _LedgerHandler(BaseHandler):
    """Shared checks on accounts and scopes."""

    def reader(self) -> access.Caller:
        caller = self.require_caller()
        if not caller.reader:
            raise ApiError(403, f"this token lacks the {READ} scope")
        return caller

    def admin(self) -> access.Caller:
        caller = self.require_caller()
        if not caller.admin:
            raise ApiError(403, f"only operators may do this (scope {ADMIN})")
        return caller

    async def figures(self, caller: access.Caller, name: str) -> r.Balance:
        """The account's figures; to anyone but an operator, unknown and not-yours look alike."""
        try:
            return await self.ctx.call(self.ctx.ledger.balance, name)
        except ApiError as err:
            if err.status == 404 and not caller.admin:
                raise self.not_yours(name) from None
            raise

    async def members(self, name: str) -> dict[str, str]:
        return await self.ctx.call(self.ctx.ledger.members, name)

    @staticmethod
    def not_yours(name: str) -> ApiError:
        return ApiError(403, f"account {name!r} is not one of yours")

    def arg(self, name: str) -> str | None:
        """A query argument as sent (not stripped: what the description declares is checked)."""
        value = self.get_query_argument(name, None, strip=False)
        return None if value is None else str(value)


class AccountsHandler(_LedgerHandler):
    """``GET /accounts``: the caller's accounts (operators: ``?user=NAME``)."""

    async def get(self) -> None:
        """The accounts a user belongs to, with figures and credits expiring soon."""
        caller = self.reader()
        user = self.arg("user") or caller.name
        if user != caller.name and not caller.admin:
            raise ApiError(403, f"only operators may list another user's accounts ({ADMIN})")
        rows = await self.ctx.call(self.ctx.ledger.accounts_for_user, user)
        soon = self.ctx.now() + self.ctx.expiring_soon
        self.send_json({"user": user, "accounts": [views.balance(row, soon=soon) for row in rows]})


class AccountHandler(_LedgerHandler):
    """``GET /accounts/{name}``: one account's figures (and members, for its managers)."""

    async def get(self, name: str) -> None:
        """Balance, held, available, expiry; members for owners, course staff, operators."""
        caller = self.reader()
        figures = await self.figures(caller, name)
        members = await self.members(name)
        role = members.get(caller.name)
        if not access.may_read_account(caller, role):
            raise self.not_yours(name)
        soon = self.ctx.now() + self.ctx.expiring_soon
        body = views.balance(figures, soon=soon)
        body["role"] = role
        if access.may_read_members(caller, figures.kind, role):
            body["members"] = members
        self.send_json(body)


class HistoryHandler(_LedgerHandler):
    """``GET /accounts/{name}/transactions``: the history (journal entries), newest first, paged.

    API v1 calls an account's journal entries its ``transactions`` (the path and the
    page's key), as a bank statement would; clients depend on both names.
    """

    async def get(self, name: str) -> None:
        """``?limit=N&before=ID``; ``next_before`` is the ``before`` of the next page."""
        caller = self.reader()
        limit = params.page_limit(self.arg("limit"))
        before = params.page_before(self.arg("before"))
        figures = await self.figures(caller, name)
        role = (await self.members(name)).get(caller.name)
        if not access.may_read_history(caller, figures.kind, role):
            raise self._refusal(caller, figures.kind, role, name)
        rows = await self.ctx.call(self.ctx.ledger.history, name, limit=limit + 1, before=before)
        page = rows[:limit]
        self.send_json(
            {
                "account": name,
                "transactions": [views.entry(row) for row in page],
                "next_before": page[-1].id if len(rows) > limit else None,
            }
        )

    def _refusal(self, caller: access.Caller, kind: str, role: str | None, name: str) -> ApiError:
        if kind == "course" and role in ("owner", "instructor"):
            return ApiError(403, f"reading course {name!r}'s use needs the {INSTRUCT} scope")
        if role is not None:
            return ApiError(403, f"your role in {name!r} ({role}) does not show its history")
        return self.not_yours(name)


class SessionsHandler(_LedgerHandler):
    """``GET /accounts/{name}/sessions``: holds and charges, newest first, paged."""

    async def get(self, name: str) -> None:
        """Students of a course see only their own sessions on it."""
        caller = self.reader()
        limit = params.page_limit(self.arg("limit"))
        before = params.page_before(self.arg("before"))
        figures = await self.figures(caller, name)
        role = (await self.members(name)).get(caller.name)
        allowed, only = access.sessions_filter(caller, figures.kind, role)
        if not allowed:
            raise (
                self.not_yours(name)
                if role is None
                else ApiError(403, f"your role in {name!r} ({role}) does not show its sessions")
            )
        rows = await self.ctx.call(
            self.ctx.ledger.sessions, name, limit=limit + 1, before=before, user=only
        )
        page = rows[:limit]
        self.send_json(
            {
                "account": name,
                "sessions": [views.session(row) for row in page],
                "next_before": page[-1].hold.id if len(rows) > limit else None,
            }
        )


class GrantsHandler(_LedgerHandler):
    """``POST /accounts/{name}/grants``: operators issue credits."""

    async def post(self, name: str) -> None:
        """Body: ``amount``, optional ``expires``, ``note``, ``source``, ``idempotency_key``."""
        caller = self.admin()
        body = params.json_body(self.request.body)
        value = params.number(body, "amount")
        expires = params.expiry(params.text(body, "expires", limit=params.EXPIRES_MAX))
        grant = await self.ctx.call(
            self.ctx.ledger.grant,
            name,
            value,
            actor=caller.name,
            source=params.text(body, "source", limit=params.SOURCE_MAX) or DEFAULT_SOURCE,
            expires_at=expires,
            note=params.text(body, "note"),
            idempotency_key=self._key(caller, body),
        )
        figures = await self.ctx.call(self.ctx.ledger.balance, name)
        soon = self.ctx.now() + self.ctx.expiring_soon
        self.send_json(
            {"grant": views.grant(grant), "balance": views.balance(figures, soon=soon)}, 201
        )

    def _key(self, caller: access.Caller, body: dict[str, Any]) -> ClientKey | None:
        """The client's key (body or ``Idempotency-Key`` header), in the caller's namespace.

        So no caller can take the key of another's operation, nor of the platform's own
        (``first-login:<user>``, ``settle:<hub>:<job>``, ...): see
        :mod:`~computehub.credits.keys`.
        """
        raw = params.text(
            body, "idempotency_key", limit=CLIENT_KEY_MAX
        ) or self.request.headers.get("Idempotency-Key")
        if not raw:
            return None
        try:
            return ClientKey(caller.name, raw)
        except ValueError as err:
            raise ApiError(400, f"the idempotency key is refused: {err}") from None


class TransfersHandler(GrantsHandler):
    """``POST /transfers``: course staff to their students; operators between any accounts."""

    async def post(self) -> None:  # type: ignore[override]
        """Body: ``from``, ``to``, ``amount``, optional ``reason``, ``idempotency_key``."""
        caller = self.require_caller()
        if not (caller.admin or caller.instructor):
            raise ApiError(403, f"transfers need the {INSTRUCT} or {ADMIN} scope")
        body = params.json_body(self.request.body)
        source = params.text(body, "from", required=True, limit=params.ACCOUNT_NAME_MAX)
        target = params.text(body, "to", required=True, limit=params.ACCOUNT_NAME_MAX)
        value = params.number(body, "amount")
        if not caller.admin:
            source_figures = await self.figures(caller, source)
            source_members = await self.members(source)
            try:
                target_members = await self.members(target)
            except ApiError as err:
                if err.status != 404:
                    raise
                target_members = {}
            if not access.may_transfer(caller, source_figures.kind, source_members, target_members):
                raise ApiError(
                    403,
                    f"you may only transfer from a course you instruct to its students' "
                    f"accounts, not from {source!r} to {target!r}",
                )
        done = await self.ctx.call(
            self.ctx.ledger.transfer,
            source,
            target,
            value,
            actor=caller.name,
            reason=params.text(body, "reason"),
            idempotency_key=self._key(caller, body),
        )
        self.send_json({"transfer": views.transfer(done)}, 201)


class RatesHandler(_LedgerHandler):
    """``GET /rates``: credits per hour in force now (``?hub=NAME`` for one hub)."""

    async def get(self) -> None:
        """Current rates, sorted by hub and resource."""
        self.reader()
        rates = await self.ctx.call(self.ctx.ledger.rates, self.arg("hub"))
        self.send_json(
            {
                "rates": [
                    {"hub": hub, "resource": resource, "rate": views.amount(rate)}
                    for (hub, resource), rate in sorted(rates.items())
                ]
            }
        )


class EstimateHandler(_LedgerHandler):
    """``GET /estimate``: the cost of a session and how many hours an account affords."""

    async def get(self) -> None:
        """``?account=A&hub=H&resource=gpu:h100&count=2&hours=3``."""
        caller = self.reader()
        wanted = {key: self.arg(key) for key in ("account", "hub", "resource", "hours")}
        missing = [key for key, value in wanted.items() if not value]
        if missing:
            raise ApiError(400, f"estimate needs {', '.join(missing)}")
        account, hub, resource, hours = (str(wanted[k]) for k in wanted)
        units = params.count(self.arg("count"))
        await self.figures(caller, account)
        role = (await self.members(account)).get(caller.name)
        if not access.may_read_account(caller, role):
            raise self.not_yours(account)
        estimate = await self.ctx.call(
            self.ctx.ledger.estimate, account, hub, {resource: units}, hours
        )
        self.send_json(views.estimate(estimate, resource, units))


class CurrentSessionHandler(_LedgerHandler):
    """``GET /sessions/current``: the widget's view of the caller's running session."""

    async def get(self) -> None:
        """The caller's most recent open hold with a Slurm job, or 404.

        A server's own token reads that server's session
        (:func:`~computehub.credits.service.serverscope.token_server`).
        """
        caller = self.reader()
        row = await self.ctx.call(
            self.ctx.ledger.current_session, caller.name, token_server(caller)
        )
        if row is None:
            raise ApiError(
                404, f"{caller.name} has no running session: start a server from the hub first"
            )
        figures = await self.ctx.call(self.ctx.ledger.balance, row.hold.account)
        share = None
        if figures.kind == "course":
            share = await self.ctx.call(self.ctx.ledger.course_share, row.hold.account, caller.name)
        notice = self.ctx.hub_notice(row.hold.hub)
        # The widget's notices line: those of the session's account (docs/notices.md).
        notices = await noticeviews.account_notices(self, caller.name, row.hold.account)
        self.send_json(
            views.current_session(
                row,
                figures.available,
                self.ctx.now(),
                share,
                None if notice is None else views.maintenance_notice(notice),
            )
            | {"notices": notices}
        )


class ReportsHandler(_LedgerHandler):
    """``GET /reports``: charges summed by account, hub or resource (operators)."""

    async def get(self) -> None:
        """``?since=YYYY-MM-DD&until=YYYY-MM-DD&by=account|hub|resource``."""
        self.admin()
        by = self.arg("by") or "account"
        if by not in ("account", "hub", "resource"):
            raise ApiError(400, f"by must be account, hub or resource, not {by!r}")
        since = params.day(self.arg("since"), "since")
        until = params.day(self.arg("until"), "until")
        rows = await self.ctx.call(self.ctx.ledger.report, since=since, until=until, by=by)
        self.send_json(
            {
                "by": by,
                "since": views.instant(since),
                "until": views.instant(until),
                "rows": [views.report_row(row) for row in rows],
            }
        )


class OpenApiHandler(BaseHandler):
    """``GET /api/v1/openapi.json``: the API's description; public, as API docs are."""

    public = True

    def get(self) -> None:
        """The OpenAPI 3.1 document."""
        self.send_json(openapi(self.ctx.hub_auth.base_url))


class NotFoundHandler(BaseHandler):
    """Anything else under the prefix: a JSON 404 naming the API's description."""

    public = True

    def prepare(self) -> None:  # type: ignore[override]
        """No route: say where the routes are."""
        raise ApiError(
            404, f"no such endpoint; see {self.ctx.hub_auth.base_url}api/v1/openapi.json"
        )
