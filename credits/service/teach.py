"""The instructor's page over HTTP: ``/services/credits/courses[/{id}[/roster.csv]]`` and its forms.

A course's staff (owners, instructors) and operators see it all and change its roster
and sharing; its TAs see it without the forms and are refused if they post; anyone
else gets a 403 page, and another course's instructor can't tell an unknown course
from one not theirs. Forms come from browsers with the hub's OAuth cookie and carry
JupyterHub's ``_xsrf`` token (checked by ``HubOAuth`` before it accepts the cookie);
a request with a token needs none.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from tornado import web

from computehub.credits import records as r
from computehub.credits.display import credits_text
from computehub.credits.errors import InvalidAmountError
from computehub.credits.money import parse_decimal
from computehub.credits.roster import RosterError, parse_roster
from computehub.credits.service import access, coursepage, page, params, pulllink, teaching
from computehub.credits.service.base import BaseHandler
from computehub.credits.service.courses import course_and_role
from computehub.credits.service.errors import ApiError
from computehub.credits.sharing import SHARES
from computehub.i18n import _
from computehub.i18n.catalog import N_, isolate

#: What a notice in the page's address may say after a form was saved.
_NOTICES = {
    "sharing": N_("The sharing of the pool was saved."),
    "repository": N_("The repository of course materials was saved."),
}
_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


class PageHandler(BaseHandler):
    """HTML answers and HTML refusals, in the credits page's look."""

    csp = coursepage.CONTENT_SECURITY_POLICY
    #: The pages (and their refusals) are in the reader's language (docs/languages.md);
    #: their CSV exports write no words of ours.
    localized = True

    def html_headers(self) -> None:
        """A page that runs no script and posts only back to the service."""
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", self.csp)
        self.set_header("X-Content-Type-Options", "nosniff")

    def links(self) -> page.Links:
        """The hub's, the API's and the service's prefixes."""
        base = self.ctx.hub_auth.base_url
        return page.Links(
            hub_prefix=self.ctx.hub_auth.hub_prefix, api=f"{base}api/v1", service=base
        )

    def page_hub(self) -> str:
        """The address of the hub this page was reached through."""
        return pulllink.hub_of_request(
            self.request.protocol,
            self.request.headers.get("X-Forwarded-Proto"),
            self.request.host,
            self.ctx.hub_auth.hub_prefix,
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every refusal is a short page that says why."""
        self.error_headers(status_code)
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            message = error.message
        elif isinstance(error, web.HTTPError) and error.log_message:
            message = error.log_message % error.args if error.args else error.log_message
        else:
            message = self._reason
        self.html_headers()
        self.finish(page.error_page(status_code, message, links=self.links()))

    def teacher(self) -> access.Caller:
        """The caller, who must be able to read (their login gives them this)."""
        caller = self.require_caller()
        if not caller.reader:
            raise ApiError(
                403,
                _("your login lacks the {scope} scope").format(
                    scope=isolate("custom:credits:read")
                ),
            )
        return caller

    async def course_for(self, caller: access.Caller, course: str) -> tuple[r.Course, str | None]:
        """The course if the caller teaches it (or is an operator), else a 403 (404: operators)."""
        return await course_and_role(
            self.ctx, caller, course, access.may_follow_course, _not_taught(course)
        )

    async def render_course(
        self,
        caller: access.Caller,
        course: r.Course,
        role: str | None,
        *,
        notice: str = "",
        roster: coursepage.RosterResult | None = None,
        link: coursepage.PullLinkForm | None = None,
        allowance: coursepage.AllowanceForm | None = None,
    ) -> None:
        """Answer with the course's page."""
        rows = await self.roster_rows(course)
        link = link or coursepage.PullLinkForm(hub=self.page_hub())
        view = coursepage.CourseView(
            course=course,
            role=role,
            rows=rows,
            manage=access.may_manage_roster(caller, role),
            xsrf=_text(self.xsrf_token),
            notice=notice,
            roster=roster,
            link=link,
            allowance=allowance,
            coursework=await self.ctx.formgraders.coursework(course.id),
        )
        self.html_headers()
        self.finish(coursepage.course_page(caller.name, view, links=self.links()))

    async def roster_rows(self, course: r.Course) -> list[teaching.RosterRow]:
        """The roster with each use, from the ledger's own figures."""
        use = await self.ctx.call(self.ctx.ledger.pool_use, course.id)
        shares = {
            user: await self.ctx.call(self.ctx.ledger.course_share, course.id, user)
            for user, role in course.members.items()
            if role == "student"
        }
        return teaching.roster_rows(course, use, shares)

    async def staff(self, course: str) -> tuple[access.Caller, r.Course, str | None]:
        """The caller, who must be the course's staff (a TA is refused) or an operator."""
        caller = self.teacher()
        found, role = await self.course_for(caller, course)
        if not access.may_manage_roster(caller, role):
            raise ApiError(
                403,
                _(
                    "only the instructors of {course} and operators change its roster or sharing"
                ).format(course=isolate(repr(course))),
            )
        return caller, found, role


def _not_taught(course: str) -> ApiError:
    return ApiError(
        403,
        _("course {course} is not one you teach: this page is for its staff").format(
            course=isolate(repr(course))
        ),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _allowance_notice(course: r.Course, user: str) -> str:
    """What the page says after a student's allowance was saved (nothing for a non-student)."""
    if course.members.get(user) != "student":
        return ""
    own = course.sharing.students.get(user)
    if own is None:
        return _("{user} has the course's share of the pool again.").format(user=isolate(user))
    return _("The allowance of {user} was saved: {amount} credits for the term.").format(
        user=isolate(user), amount=credits_text(own)
    )


class TeachingHandler(PageHandler):
    """``GET /courses``: the courses the caller teaches (staff, TA); operators: every one."""

    @web.authenticated
    async def get(self) -> None:
        """The list, or a page saying this is for the staff of a course."""
        caller = self.teacher()
        rows = await self.ctx.call(
            self.ctx.ledger.courses, user=None if caller.admin else caller.name
        )
        taught = [
            row for row in rows if access.may_follow_course(caller, row.members.get(caller.name))
        ]
        if not taught and not caller.admin:
            raise ApiError(
                403,
                _("this page is for the staff and teaching assistants of a course: you teach none"),
            )
        self.html_headers()
        self.finish(coursepage.course_list(caller.name, taught, links=self.links()))


class CoursePageHandler(PageHandler):
    """``GET /courses/{id}``: one course's page."""

    @web.authenticated
    async def get(self, course: str) -> None:
        """Term, pool, sharing, roster with each use; forms for its staff."""
        caller = self.teacher()
        found, role = await self.course_for(caller, course)
        saved = self.get_query_argument("saved", "")
        notice = _(_NOTICES[saved]) if saved in _NOTICES else ""
        if saved == "allowance":
            notice = _allowance_notice(found, self.get_query_argument("user", ""))
        await self.render_course(caller, found, role, notice=notice, link=self._link(found))

    def _link(self, course: r.Course) -> coursepage.PullLinkForm:
        """The link generator's fields from the address (``path``, ``hub``) and its link."""
        path = self.get_query_argument("path", None)
        hub = self.get_query_argument("hub", "").strip() or self.page_hub()
        if path is None or course.repository is None:
            return coursepage.PullLinkForm(hub=hub)
        try:
            made = pulllink.pull_link(hub, course.repository, path, course.branch)
        except pulllink.LinkError as err:
            return coursepage.PullLinkForm(hub=hub, path=path, error=str(err))
        return coursepage.PullLinkForm(hub=hub, path=path, link=made)


class RosterCsvHandler(PageHandler):
    """``GET /courses/{id}/roster.csv``: the roster table as a spreadsheet reads it."""

    @web.authenticated
    async def get(self, course: str) -> None:
        """CSV, every cell safe against formula injection, with a file name."""
        caller = self.teacher()
        found, _role = await self.course_for(caller, course)
        text = teaching.roster_csv(await self.roster_rows(found))
        name = _FILENAME.sub("_", found.id)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header(
            "Content-Disposition",
            f'attachment; filename="{name}-roster.csv"',
        )
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(text)


class RosterFormHandler(PageHandler):
    """``POST /courses/{id}/roster``: the roster form (a file or its text): preview or apply."""

    async def post(self, course: str) -> None:
        """``action`` is ``dry-run`` (the default) or ``apply``; the page shows the result."""
        caller, found, role = await self.staff(course)
        if len(self.request.body) > params.MAX_ROSTER_BODY:
            raise ApiError(413, _("the roster file is larger than 1 MiB"))
        text = self._file_text()
        if len(text) > params.CSV_MAX:
            raise ApiError(
                413,
                _("the roster file has more than {count} characters").format(count=params.CSV_MAX),
            )
        action = self.get_body_argument("action", "dry-run")
        if action not in ("dry-run", "apply"):
            raise ApiError(400, _("'action' is dry-run or apply"))
        uploader = None if caller.admin else caller.name
        try:
            lines = parse_roster(text)
            if action == "apply":
                plan = await self.ctx.call(
                    self.ctx.ledger.apply_course_roster,
                    course,
                    lines,
                    actor=caller.name,
                    uploader=uploader,
                )
            else:
                plan = await self.ctx.call(
                    self.ctx.ledger.plan_course_roster, course, lines, uploader=uploader
                )
        except RosterError as err:
            self.set_status(422)
            result = coursepage.RosterResult(
                None, text, tuple((e.line, e.message) for e in err.errors)
            )
            await self.render_course(caller, found, role, roster=result)
            return
        if plan.applied:
            found, role = await self.course_for(caller, course)
        await self.render_course(caller, found, role, roster=coursepage.RosterResult(plan, text))

    def _file_text(self) -> str:
        upload = self.request.files.get("file")
        if upload and upload[0].body:
            try:
                return upload[0].body.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ApiError(400, _("the roster file is not UTF-8 text")) from None
        text = self.get_body_argument("csv", "")
        if "\x00" in text:
            raise ApiError(400, _("the roster file has a NUL character"))
        return text


class SharingFormHandler(PageHandler):
    """``POST /courses/{id}/sharing``: the sharing form; back to the page once saved."""

    async def post(self, course: str) -> None:
        """``share`` none, equal or fixed; ``allowance`` (fixed only); ``weekly_cap``."""
        caller, _found, _role = await self.staff(course)
        share: str | None = self.get_body_argument("share", "none")
        if share == "none":
            share = None
        elif share not in SHARES:
            raise ApiError(400, _("'share' is none, equal or fixed"))
        allowance = self.get_body_argument("allowance", "").strip() or None
        weekly_cap = self.get_body_argument("weekly_cap", "").strip() or None
        if share != "fixed":
            allowance = None
        elif allowance is None:
            raise ApiError(422, _("a fixed allowance per student needs an amount of credits"))
        await self.ctx.call(
            self.ctx.ledger.set_course_sharing,
            course,
            actor=caller.name,
            share=share,
            allowance=allowance,
            weekly_cap=weekly_cap,
        )
        self.redirect(
            f"{self.ctx.hub_auth.base_url}courses/{quote(course)}?saved=sharing", status=303
        )


class RepositoryFormHandler(PageHandler):
    """``POST /courses/{id}/repository``: the materials form; back to the page once saved."""

    async def post(self, course: str) -> None:
        """``repository`` (empty: none) and ``branch`` (empty: the default branch)."""
        caller, _found, _role = await self.staff(course)
        repository = self.get_body_argument("repository", "").strip() or None
        branch = self.get_body_argument("branch", "").strip() or None
        if repository is None:
            branch = None
        await self.ctx.call(
            self.ctx.ledger.set_course_repository,
            course,
            repository,
            actor=caller.name,
            branch=branch,
        )
        self.redirect(
            f"{self.ctx.hub_auth.base_url}courses/{quote(course)}?saved=repository", status=303
        )


class AllowanceFormHandler(PageHandler):
    """``POST /courses/{id}/allowances/{username}``: one student's own allowance, from the roster.

    The same ledger call and the same rule of who may as ``PUT
    /courses/{id}/allowances/{username}`` (the course's owners and instructors, and
    operators); a refused amount or someone who is not the course's student shows the
    page again with the sentence and what was typed (422), and nothing changes.
    """

    async def post(self, course: str, username: str) -> None:
        """``allowance``: credits for the term; empty gives the student the course's share."""
        caller, found, role = await self.staff(course)
        text = self.get_body_argument("allowance", "").strip()
        problem = _allowance_problem(found, username, text)
        if problem is not None:
            self.set_status(422)
            refused = coursepage.AllowanceForm(username, text, problem)
            await self.render_course(caller, found, role, allowance=refused)
            return
        await self.ctx.call(
            self.ctx.ledger.set_student_allowance,
            course,
            username,
            text or None,
            actor=caller.name,
        )
        self.redirect(
            f"{self.ctx.hub_auth.base_url}courses/{quote(course)}?saved=allowance"
            f"&user={quote(username, safe='')}#ch-roster",
            status=303,
        )


def _allowance_problem(course: r.Course, username: str, text: str) -> str | None:
    """Why a student's allowance can't be saved as typed, in a sentence; ``None`` if it can."""
    if course.members.get(username) != "student":
        return _(
            "The allowance was not saved: {user} is not a student of course {course}. "
            "Only the course's students have an allowance of their own."
        ).format(user=isolate(repr(username)), course=isolate(repr(course.id)))
    if not text:
        return None
    try:
        parse_decimal(text, what="the amount")
    except InvalidAmountError as err:
        return _(
            "The allowance of {user} was not saved: {problem}. Type a positive number of "
            "credits, or leave the field empty to give them the course's share again."
        ).format(user=isolate(username), problem=isolate(str(err)))
    return None
