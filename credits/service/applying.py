"""Applications for credits over the REST API: ``/applications[/queue|/{id}[/...]]``.

Anyone who logged in applies and reads their own applications; reviewers (scope
``custom:credits:review``) and operators read the queue and every application,
comment and recommend; only operators ask for changes, approve (which grants) and
reject. To anyone else, an application that is not theirs and one that does not
exist look alike (403). The fields are read by
:func:`~computehub.credits.service.applying.proposal_from` for the JSON body and the
page's form alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from computehub.credits import applications as a
from computehub.credits.applications import Application
from computehub.credits.names import ACCOUNT_PATTERN
from computehub.credits.service import access, params, views
from computehub.credits.service.context import ServiceContext
from computehub.credits.service.errors import ApiError
from computehub.credits.service.handlers import _LedgerHandler
from computehub.sitefile.schema import Programme

_GPU = re.compile(a.GPU_PATTERN)
_ACCOUNT = re.compile(ACCOUNT_PATTERN)
_LINE = re.compile(a.LINE_PATTERN)
_PARAGRAPH = re.compile(a.PARAGRAPH_PATTERN)
_CATEGORY = re.compile(a.CATEGORY_PATTERN)
_HOURS = re.compile(params.HOURS_PATTERN)
_DAY = re.compile(params.DAY_PATTERN)
_ID = re.compile(r"[0-9]{1,10}")
#: The largest id an application can have (the column is a 32-bit integer).
ID_MAX = 2**31 - 1


def _field(body: Mapping[str, Any], key: str) -> Any:
    value = body.get(key)
    if value is None:
        raise ApiError(400, f"{key!r} is required")
    return value


def _string(body: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str) -> str:
    value = _field(body, key)
    limit = a.SUMMARY_MAX if pattern is _PARAGRAPH else a.TITLE_MAX
    if not isinstance(value, str) or len(value) > limit or not pattern.fullmatch(value):
        raise ApiError(400, f"{key!r} must be {what}")
    return value


def day_of(body: Mapping[str, Any], key: str) -> date:
    """A day field, ``YYYY-MM-DD``."""
    value = _field(body, key)
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ApiError(400, f"{key!r} must be a day as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{key!r} is not a day of the calendar: {value!r}") from None


def hours_of(body: Mapping[str, Any], key: str, *, required: bool = True) -> Decimal | None:
    """GPU-hours: a decimal string (at most 4 places, up to 87,600) or a whole number."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise ApiError(400, f'{key!r} is required: GPU-hours such as "200"')
        return None
    # JSON Schema's integer includes 377.0, which Python's json reads as a float.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 87600:
        return Decimal(value)
    if isinstance(value, str) and _HOURS.fullmatch(value):
        return Decimal(value)
    raise ApiError(400, f'{key!r} must be GPU-hours: a positive number up to 87600, such as "200"')


def proposal_from(body: Mapping[str, Any], programme: Programme) -> a.Proposal:
    """An application's fields from a JSON body or a form, checked as the description says.

    Raises:
        ApiError: 400 for a malformed field; 422 for a category the site file does not
            list, or a period that ends before it starts.
    """
    kind = _field(body, "organisation_kind")
    if kind not in a.ORGANISATION_KINDS:
        raise ApiError(400, f"'organisation_kind' is one of {', '.join(a.ORGANISATION_KINDS)}")
    category = _string(body, "category", _CATEGORY, "a category id such as flood-prediction")
    found = programme.categories.get(category)
    if found is None:
        listed = ", ".join(sorted(programme.categories)) or "none: applications are closed"
        raise ApiError(422, f"{category!r} is not one of the programme's categories ({listed})")
    starts_on, ends_on = day_of(body, "starts_on"), day_of(body, "ends_on")
    if ends_on < starts_on:
        raise ApiError(
            422,
            f"the period ends ({ends_on.isoformat()}) before it starts ({starts_on.isoformat()})",
        )
    new_account = body.get("new_account", False)
    if not isinstance(new_account, bool):
        raise ApiError(400, "'new_account' is true or false")
    try:
        return a.proposal(
            organisation=_string(body, "organisation", _LINE, "one line of 1 to 200 characters"),
            organisation_kind=str(kind),
            title=_string(body, "title", _LINE, "one line of 1 to 200 characters"),
            summary=_string(body, "summary", _PARAGRAPH, "text of 1 to 5000 characters"),
            category=category,
            priority=found.priority,
            gpu=_string(body, "gpu", _GPU, "a GPU type such as a100"),
            hours=hours_of(body, "hours") or Decimal(0),
            starts_on=starts_on,
            ends_on=ends_on,
            account=_string(body, "account", _ACCOUNT, "an account name"),
            new_account=new_account,
        )
    except ValueError as err:
        raise ApiError(400, str(err)) from None


def application_json(row: Application, *, programme: Programme) -> dict[str, Any]:
    """One application as the API answers it."""
    wanted = row.proposal
    category = programme.categories.get(wanted.category)
    return {
        "id": row.id,
        "applicant": row.applicant,
        "status": row.status,
        "organisation": wanted.organisation,
        "organisation_kind": wanted.organisation_kind,
        "title": wanted.title,
        "summary": wanted.summary,
        "category": wanted.category,
        "category_title": category.title if category else wanted.category,
        "priority": wanted.priority,
        "gpu": wanted.resource.removeprefix("gpu:"),
        "hours": views.amount(wanted.hours),
        "rate": views.amount(row.rate),
        "estimate": views.amount(row.estimate),
        "starts_on": wanted.starts_on.isoformat(),
        "ends_on": wanted.ends_on.isoformat(),
        "account": wanted.account,
        "new_account": wanted.new_account,
        "created_at": views.instant(row.created_at),
        "updated_at": views.instant(row.updated_at),
        "decision": {
            "hours": views.optional_amount(row.approved_hours),
            "amount": views.optional_amount(row.approved_amount),
            "expires_at": views.instant(row.approved_expires_at),
            "grant_id": row.grant_id,
            "reason": row.reason,
            "decided_at": views.instant(row.decided_at),
            "decided_by": row.decided_by,
        },
        "events": [
            {
                "at": views.instant(event.at),
                "actor": event.actor,
                "action": event.action,
                "message": event.message,
                "detail": event.detail,
            }
            for event in row.events
        ],
    }


def application_id(raw: str) -> int:
    """An application's id from the path: digits, or no such application (404)."""
    if not _ID.fullmatch(raw) or int(raw) > ID_MAX:
        raise ApiError(404, f"there is no application {raw!r}")
    return int(raw)


async def readable(ctx: ServiceContext, caller: access.Caller, raw: str) -> Application:
    """The application if the caller may read it; else a 403 (reviewers: a 404 if unknown)."""
    refusal = ApiError(403, f"application {raw} is not one of yours")
    try:
        found = await ctx.call(ctx.ledger.application, application_id(raw))
    except ApiError as err:
        if err.status == 404 and not access.may_review(caller):
            raise refusal from None
        raise
    if not access.may_read_application(caller, found.applicant):
        raise refusal
    return found


class _ApplicationsHandler(_LedgerHandler):
    def applicant(self) -> access.Caller:
        caller = self.require_caller()
        if not access.may_apply(caller):
            raise ApiError(403, "applying for credits needs a person's login (custom:credits:read)")
        return caller

    def reviewer(self) -> access.Caller:
        caller = self.require_caller()
        if not access.may_review(caller):
            raise ApiError(403, "only reviewers and operators see the queue of applications")
        return caller

    def decider(self) -> access.Caller:
        caller = self.require_caller()
        if not access.may_decide(caller):
            raise ApiError(
                403, "only operators decide on applications (approve, reject, ask for changes)"
            )
        return caller

    def answer(self, row: Application, status: int = 200) -> None:
        self.send_json(application_json(row, programme=self.ctx.programme), status)

    def statuses(self) -> list[str] | None:
        wanted = self.arg("status")
        if wanted in (None, ""):
            return None
        if wanted not in a.STATUS_FILTERS:
            raise ApiError(400, f"status is one of {', '.join(a.STATUS_FILTERS)}")
        if wanted == "open":
            return list(a.QUEUED)
        return [str(wanted)]


class ApplicationsHandler(_ApplicationsHandler):
    """``GET /applications`` (the caller's own) and ``POST /applications`` (apply)."""

    async def get(self) -> None:
        """The caller's applications, priority categories first (``?status=``)."""
        caller = self.applicant()
        rows = await self.ctx.call(
            self.ctx.ledger.applications, applicant=caller.name, statuses=self.statuses()
        )
        plain = [application_json(row, programme=self.ctx.programme) for row in rows]
        self.send_json({"applications": plain})

    async def post(self) -> None:
        """Apply with the fields of :func:`~computehub.credits.service.applying.proposal_from`.

        The cost is priced at today's rate.
        """
        caller = self.applicant()
        wanted = proposal_from(params.json_body(self.request.body), self.ctx.programme)
        made = await self.ctx.call(self.ctx.ledger.submit_application, caller.name, wanted)
        self.answer(made, 201)


class QueueHandler(_ApplicationsHandler):
    """``GET /applications/queue``: every application, for reviewers and operators."""

    async def get(self) -> None:
        """Priority categories first, then the oldest; ``?status=open`` (default) or another."""
        self.reviewer()
        statuses = self.statuses() if self.arg("status") else self._open()
        rows = await self.ctx.call(self.ctx.ledger.applications, statuses=statuses)
        plain = [application_json(row, programme=self.ctx.programme) for row in rows]
        self.send_json({"applications": plain})

    @staticmethod
    def _open() -> list[str]:
        return list(a.QUEUED)


class ApplicationHandler(_ApplicationsHandler):
    """``GET /applications/{id}`` and ``PUT`` (the applicant's new version)."""

    async def get(self, application: str) -> None:
        """The application and its history: its applicant, reviewers and operators."""
        caller = self.require_caller()
        self.answer(await readable(self.ctx, caller, application))

    async def put(self, application: str) -> None:
        """The applicant resubmits it, changed (while undecided); ``message`` optional."""
        caller = self.applicant()
        found = await readable(self.ctx, caller, application)
        if found.applicant != caller.name:
            raise ApiError(403, f"only {found.applicant} changes application {application}")
        body = params.json_body(self.request.body)
        wanted = proposal_from(body, self.ctx.programme)
        message = params.text(body, "message", limit=a.SUMMARY_MAX)
        changed = await self.ctx.call(
            self.ctx.ledger.resubmit_application, found.id, caller.name, wanted, message=message
        )
        self.answer(changed)


def _message(body: Mapping[str, Any], key: str, *, required: bool) -> str:
    if not required and body.get(key) in (None, ""):
        return ""
    return _string(body, key, _PARAGRAPH, "text of 1 to 5000 characters")


class _StepHandler(_ApplicationsHandler):
    """A step on one application: who may take it, and the ledger call."""

    #: Whether only operators may take it (else reviewers too).
    operators_only = False

    def who(self) -> access.Caller:
        return self.decider() if self.operators_only else self.reviewer()

    async def step(
        self, caller: access.Caller, found: Application, body: dict[str, Any]
    ) -> Application:
        raise NotImplementedError

    async def take(self, application: str) -> None:
        """Take the step; answer with the application and its history."""
        caller = self.who()
        found = await readable(self.ctx, caller, application)
        body = params.json_body(self.request.body)
        self.answer(await self.step(caller, found, body))


class CommentHandler(_StepHandler):
    """``POST /applications/{id}/comments``: ``{"message"}`` (reviewers, operators)."""

    async def post(self, application: str) -> None:
        """Take the step; the application with its history."""
        await self.take(application)

    async def step(
        self, caller: access.Caller, found: Application, body: dict[str, Any]
    ) -> Application:
        message = _message(body, "message", required=True)
        return await self.ctx.call(
            self.ctx.ledger.comment_application, found.id, message, actor=caller.name
        )


class RecommendHandler(_StepHandler):
    """``POST /applications/{id}/recommendation``: approve (with hours) or reject."""

    async def post(self, application: str) -> None:
        """Take the step; the application with its history."""
        await self.take(application)

    async def step(
        self, caller: access.Caller, found: Application, body: dict[str, Any]
    ) -> Application:
        choice = _field(body, "recommendation")
        if choice not in ("approve", "reject"):
            raise ApiError(400, "'recommendation' is approve or reject")
        return await self.ctx.call(
            self.ctx.ledger.recommend_application,
            found.id,
            str(choice),
            actor=caller.name,
            hours=hours_of(body, "hours", required=False),
            message=_message(body, "message", required=False),
        )


class ChangesHandler(_StepHandler):
    """``POST /applications/{id}/changes``: ask the applicant for changes (operators)."""

    operators_only = True

    async def post(self, application: str) -> None:
        """Take the step; the application with its history."""
        await self.take(application)

    async def step(
        self, caller: access.Caller, found: Application, body: dict[str, Any]
    ) -> Application:
        message = _message(body, "message", required=True)
        return await self.ctx.call(
            self.ctx.ledger.request_application_changes, found.id, message, actor=caller.name
        )


class ApprovalHandler(_StepHandler):
    """``POST /applications/{id}/approval``: grant, exactly once (operators)."""

    operators_only = True

    async def post(self, application: str) -> None:
        """Take the step; the application with its history."""
        await self.take(application)

    async def step(
        self, caller: access.Caller, found: Application, body: dict[str, Any]
    ) -> Application:
        expires = body.get("expires_on")
        last_day = None if expires in (None, "") else day_of(body, "expires_on")
        if last_day is not None and a.expiry_of(last_day) <= self.ctx.now():
            raise ApiError(422, f"the expiry {last_day.isoformat()} is not in the future")
        return await self.ctx.call(
            self.ctx.ledger.approve_application,
            found.id,
            actor=caller.name,
            hours=hours_of(body, "hours", required=False),
            expires_on=last_day,
            message=_message(body, "message", required=False),
            source=self.ctx.programme.source,
        )


class RejectionHandler(_StepHandler):
    """``POST /applications/{id}/rejection``: reject with a reason (operators)."""

    operators_only = True

    async def post(self, application: str) -> None:
        """Take the step; the application with its history."""
        await self.take(application)

    async def step(
        self, caller: access.Caller, found: Application, body: dict[str, Any]
    ) -> Application:
        reason = _message(body, "reason", required=True)
        return await self.ctx.call(
            self.ctx.ledger.reject_application, found.id, reason, actor=caller.name
        )
