"""The pages of applications for credits over HTTP: ``/services/credits/applications...``.

``GET /applications`` is the applicant's page (their applications, the form);
``POST /applications`` prices what was typed (``action=estimate``) or submits it.
``GET /applications/queue`` is the reviewers' queue; ``GET /applications/{id}`` one
application with its history and the forms the caller may use, each posting to
``/applications/{id}/{step}`` and answered with a 303 back to the page. Who may do
what is :mod:`~computehub.credits.service.access`'s, as for the REST API
(:mod:`~computehub.credits.service.applying`). Forms from browsers carry JupyterHub's
``_xsrf`` token (``HubOAuth`` checks it before it accepts the cookie).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tornado import web

from computehub.credits.applications import QUEUED, Application
from computehub.credits.service import access, applying, applypage
from computehub.credits.service.errors import ApiError
from computehub.credits.service.teach import PageHandler, _text
from computehub.i18n import _
from computehub.i18n.catalog import isolate

_FIELDS = (
    "organisation",
    "organisation_kind",
    "title",
    "summary",
    "category",
    "gpu",
    "hours",
    "starts_on",
    "ends_on",
    "account_choice",
    "new_account",
)


class _ApplyPageHandler(PageHandler):
    def person(self) -> access.Caller:
        caller = self.require_caller()
        if not access.may_apply(caller):
            raise ApiError(403, _("applying for credits needs a person's login"))
        return caller

    def typed(self) -> applypage.FormValues:
        """What the form sent, as it was typed (shown again if it is refused)."""
        values = {key: self.get_body_argument(key, "") for key in _FIELDS}
        return applypage.FormValues(**values)

    def body_of(self, values: applypage.FormValues) -> dict[str, Any]:
        """The form's fields as the API's body: the account is new or one's own."""
        new = values.account_choice == "new"
        return {
            "organisation": values.organisation,
            "organisation_kind": values.organisation_kind,
            "title": values.title,
            "summary": values.summary,
            "category": values.category,
            "gpu": values.gpu,
            "hours": values.hours.strip(),
            "starts_on": values.starts_on,
            "ends_on": values.ends_on,
            "account": values.new_account.strip() if new else values.account_choice,
            "new_account": new,
        }

    async def form_view(
        self,
        caller: access.Caller,
        values: applypage.FormValues,
        *,
        error: str = "",
        priced: bool = False,
    ) -> applypage.FormView:
        rates = applypage.gpu_rates(await self.ctx.call(self.ctx.ledger.rates))
        mine = await self.ctx.call(self.ctx.ledger.accounts_for_user, caller.name)
        owned = [b.account for b in mine if b.role == "owner" and b.kind in ("personal", "project")]
        if not values.gpu and rates:
            values = dataclasses.replace(values, gpu=next(iter(rates)))
        if not values.starts_on:
            start, end = applypage.default_period(self.ctx.now().date())
            values = dataclasses.replace(values, starts_on=start, ends_on=end)
        return applypage.FormView(values, rates, owned, error=error, priced=priced)

    async def render_apply(
        self, caller: access.Caller, form: applypage.FormView, *, notice: str = ""
    ) -> None:
        mine = await self.ctx.call(self.ctx.ledger.applications, applicant=caller.name)
        self.html_headers()
        self.finish(
            applypage.apply_page(
                caller.name,
                mine,
                form,
                self.ctx.programme,
                xsrf=_text(self.xsrf_token),
                review=access.may_review(caller),
                notice=notice,
                links=self.links(),
            )
        )

    async def render_application(
        self,
        caller: access.Caller,
        row: Application,
        *,
        notice: str = "",
        edit: applypage.FormView | None = None,
    ) -> None:
        mine = row.applicant == caller.name
        if edit is None and mine and row.status in ("submitted", "changes_requested"):
            edit = await self.form_view(caller, applypage.FormValues.of(row))
        view = applypage.ApplicationView(
            row=row,
            review=access.may_review(caller),
            decide=access.may_decide(caller),
            edit=edit if mine else None,
            notice=notice,
        )
        html = applypage.application_page(
            caller.name, view, self.ctx.programme, xsrf=_text(self.xsrf_token), links=self.links()
        )
        if mine and row.unseen:
            await self.ctx.call(self.ctx.ledger.mark_applications_seen, caller.name, [row.id])
        self.html_headers()
        self.finish(html)

    def back_to(self, row_id: int, saved: str) -> None:
        self.redirect(
            f"{self.ctx.hub_auth.base_url}applications/{row_id}?saved={saved}", status=303
        )


class ApplyPageHandler(_ApplyPageHandler):
    """``GET /applications`` (the page) and ``POST /applications`` (price, or submit)."""

    @web.authenticated
    async def get(self) -> None:
        """The caller's applications and the form."""
        caller = self.person()
        form = await self.form_view(caller, applypage.FormValues())
        await self.render_apply(caller, form)

    async def post(self) -> None:
        """``action=estimate`` shows the cost; ``action=submit`` (default) applies."""
        caller = self.person()
        values = self.typed()
        if self.get_body_argument("action", "submit") == "estimate":
            await self.render_apply(caller, await self.form_view(caller, values, priced=True))
            return
        try:
            wanted = applying.proposal_from(self.body_of(values), self.ctx.programme)
            made = await self.ctx.call(self.ctx.ledger.submit_application, caller.name, wanted)
        except ApiError as err:
            if err.status not in (400, 409, 422):
                raise
            self.set_status(422)
            form = await self.form_view(
                caller,
                values,
                error=_("The application was not submitted: {problem}.").format(
                    problem=isolate(err.message)
                ),
                priced=True,
            )
            await self.render_apply(caller, form)
            return
        self.back_to(made.id, "submitted")


class QueuePageHandler(_ApplyPageHandler):
    """``GET /applications/queue``: reviewers and operators."""

    @web.authenticated
    async def get(self) -> None:
        """Open applications, priority categories first, then the oldest."""
        caller = self.require_caller()
        if not access.may_review(caller):
            raise ApiError(403, _("the queue of applications is for reviewers and operators"))
        rows = await self.ctx.call(self.ctx.ledger.applications, statuses=QUEUED)
        self.html_headers()
        self.finish(
            applypage.queue_page(
                caller.name, rows, self.ctx.programme, now=self.ctx.now(), links=self.links()
            )
        )


class ApplicationPageHandler(_ApplyPageHandler):
    """``GET /applications/{id}``: its applicant, reviewers and operators."""

    @web.authenticated
    async def get(self, application: str) -> None:
        """What was asked, the decision, the history, the forms the caller may use."""
        caller = self.require_caller()
        row = await applying.readable(self.ctx, caller, application)
        saved = self.get_query_argument("saved", "")
        await self.render_application(caller, row, notice=applypage.notice_text(saved))


class StepFormHandler(_ApplyPageHandler):
    """``POST /applications/{id}/{step}``: a step taken with one of the page's forms.

    Steps: resubmit, comment, recommend, changes, approve, reject.
    """

    async def post(self, application: str, step: str) -> None:
        """Take the step; back to the application's page."""
        caller = self.require_caller()
        row = await applying.readable(self.ctx, caller, application)
        ledger = self.ctx.ledger
        form = {key: self.get_body_argument(key, "") for key in ("message", "reason", "hours")}
        if step == "resubmit":
            await self._resubmit(caller, row)
            return
        if step in ("comment", "recommend") and not access.may_review(caller):
            raise ApiError(403, "only reviewers and operators comment and recommend")
        if step in ("changes", "approve", "reject") and not access.may_decide(caller):
            raise ApiError(
                403, "only operators decide on applications (approve, reject, ask for changes)"
            )
        if step == "comment":
            message = _required(form["message"], "comment")
            await self.ctx.call(ledger.comment_application, row.id, message, actor=caller.name)
        elif step == "recommend":
            choice = self.get_body_argument("recommendation", "")
            if choice not in ("approve", "reject"):
                raise ApiError(400, "the recommendation is approve or reject")
            await self.ctx.call(
                ledger.recommend_application,
                row.id,
                choice,
                actor=caller.name,
                hours=applying.hours_of(form, "hours", required=False)
                if choice == "approve"
                else None,
                message=form["message"],
            )
        elif step == "changes":
            message = _required(form["message"], "request for changes")
            await self.ctx.call(
                ledger.request_application_changes, row.id, message, actor=caller.name
            )
        elif step == "approve":
            expires = self.get_body_argument("expires_on", "")
            body: dict[str, Any] = {"expires_on": expires}
            last_day = applying.day_of(body, "expires_on") if expires else None
            await self.ctx.call(
                ledger.approve_application,
                row.id,
                actor=caller.name,
                hours=applying.hours_of(form, "hours", required=False),
                expires_on=last_day,
                message=form["message"],
                source=self.ctx.programme.source,
            )
        elif step == "reject":
            reason = _required(form["reason"], "reason")
            await self.ctx.call(ledger.reject_application, row.id, reason, actor=caller.name)
        else:
            raise ApiError(404, f"there is no step {step!r} of an application")
        self.back_to(row.id, step)

    async def _resubmit(self, caller: access.Caller, row: Application) -> None:
        if row.applicant != caller.name:
            raise ApiError(403, f"only {row.applicant} changes application {row.id}")
        values = self.typed()
        if self.get_body_argument("action", "submit") == "estimate":
            edit = await self.form_view(caller, values, priced=True)
            await self.render_application(caller, row, edit=edit)
            return
        try:
            wanted = applying.proposal_from(self.body_of(values), self.ctx.programme)
            await self.ctx.call(
                self.ctx.ledger.resubmit_application,
                row.id,
                caller.name,
                wanted,
                message=self.get_body_argument("message", ""),
            )
        except ApiError as err:
            if err.status not in (400, 409, 422):
                raise
            self.set_status(422)
            edit = await self.form_view(
                caller,
                values,
                error=_("The application was not resubmitted: {problem}.").format(
                    problem=isolate(err.message)
                ),
                priced=True,
            )
            await self.render_application(caller, row, edit=edit)
            return
        self.back_to(row.id, "resubmit")


def _required(text: str, what: str) -> str:
    if not text.strip():
        raise ApiError(400, f"the {what} is empty: write a few words")
    return text
