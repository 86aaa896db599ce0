"""The course endpoints: ``/courses``, one course, its archive and its roster file.

Operators create, change and archive courses. A course's people read it (its title,
term, pool and the hub resources kept for it); its staff and TAs also read its
roster; its staff (owners and instructors, never TAs) and operators load a roster
file (a dry run first) and set the git repository of its materials. To anyone but an
operator an unknown course and someone else's look alike (403), as accounts do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from computehub.credits import records as r
from computehub.credits.courses import (
    BRANCH_MAX,
    REPOSITORY_MAX,
    TITLE_MAX,
    TITLE_PATTERN,
    validate_branch,
    validate_repository,
)
from computehub.credits.names import ACCOUNT_PATTERN, USER_PATTERN
from computehub.credits.roster import RosterError, RosterPlan, parse_roster
from computehub.credits.service import access, params, views
from computehub.credits.service.context import ServiceContext
from computehub.credits.service.errors import ApiError
from computehub.credits.service.handlers import _LedgerHandler
from computehub.credits.sharing import SHARES
from computehub.sitefile import Site

_TITLE = re.compile(TITLE_PATTERN)
_ACCOUNT = re.compile(ACCOUNT_PATTERN)
_USER = re.compile(USER_PATTERN)
_DAY = re.compile(params.DAY_PATTERN)


async def course_and_role(
    ctx: ServiceContext,
    caller: access.Caller,
    course: str,
    allowed: Callable[[access.Caller, str | None], bool],
    refusal: ApiError,
) -> tuple[r.Course, str | None]:
    """The course and the caller's role in it, if ``allowed``; else ``refusal``.

    A course that does not exist is refused the same way (operators: a 404), so the
    answer never tells whether another course exists.
    """
    try:
        found = await ctx.call(ctx.ledger.course, course)
    except ApiError as err:
        if err.status == 404 and not caller.admin:
            raise refusal from None
        raise
    role = found.members.get(caller.name)
    if not allowed(caller, role):
        raise refusal
    return found, role


class _CourseHandler(_LedgerHandler):
    async def course_for(self, caller: access.Caller, course: str) -> tuple[r.Course, str | None]:
        """The course and the caller's role in it, or the refusal for a course not theirs."""
        return await course_and_role(
            self.ctx, caller, course, access.may_read_course, _not_yours(course)
        )

    async def staff_only(self, caller: access.Caller, course: str) -> None:
        """Refuse anyone but the course's staff (owners, instructors) and operators."""
        _found, role = await self.course_for(caller, course)
        if not access.may_manage_roster(caller, role):
            raise ApiError(
                403, f"only the instructors of {course!r} and operators share its credits"
            )

    def course_view(self, caller: access.Caller, course: r.Course, role: str | None) -> Any:
        return views.course(
            course,
            role=role,
            roster=access.may_read_members(caller, "course", role),
            resources=self.ctx.course_resources(course.id),
            soon=self.ctx.now() + self.ctx.expiring_soon,
        )


def _not_yours(course: str) -> ApiError:
    return ApiError(403, f"course {course!r} is not one of yours")


class CoursesHandler(_CourseHandler):
    """``GET /courses`` (the caller's; operators: every one) and ``POST /courses`` (operators)."""

    async def get(self) -> None:
        """The caller's courses, any role; every course for operators (``?archived=false``)."""
        caller = self.reader()
        archived = self.arg("archived")
        if archived not in (None, "", "true", "false"):
            raise ApiError(400, f"archived must be true or false, not {archived!r}")
        rows = await self.ctx.call(
            self.ctx.ledger.courses,
            user=None if caller.admin else caller.name,
            archived=archived != "false",
        )
        self.send_json(
            {
                "courses": [
                    self.course_view(caller, row, row.members.get(caller.name)) for row in rows
                ]
            }
        )

    async def post(self) -> None:
        """Body: ``id``, ``title``, ``starts_on``, ``ends_on``, optional ``owner``."""
        caller = self.admin()
        body = params.json_body(self.request.body)
        course = _matching(body, "id", _ACCOUNT, "a course id (an account name)", required=True)
        owner = _matching(body, "owner", _USER, "a user name") or None
        made = await self.ctx.call(
            self.ctx.ledger.create_course,
            course,
            _title(body, required=True) or "",
            _day(body, "starts_on", required=True) or date.min,
            _day(body, "ends_on", required=True) or date.min,
            actor=caller.name,
            owner=owner,
        )
        self.send_json(self.course_view(caller, made, made.members.get(caller.name)), 201)


class CourseHandler(_CourseHandler):
    """``GET /courses/{id}`` (its people, operators) and ``PATCH`` (operators)."""

    async def get(self, course: str) -> None:
        """Title, term, pool, resources; the roster for its staff, TAs and operators."""
        caller = self.reader()
        found, role = await self.course_for(caller, course)
        self.send_json(self.course_view(caller, found, role))

    async def patch(self, course: str) -> None:
        """Body: any of ``title``, ``starts_on``, ``ends_on``."""
        caller = self.admin()
        body = params.json_body(self.request.body)
        changed = await self.ctx.call(
            self.ctx.ledger.update_course,
            course,
            actor=caller.name,
            title=_title(body),
            starts_on=_day(body, "starts_on"),
            ends_on=_day(body, "ends_on"),
        )
        self.send_json(self.course_view(caller, changed, changed.members.get(caller.name)))


class ArchiveHandler(_CourseHandler):
    """``POST /courses/{id}/archive``: operators end a course; its history stays."""

    async def post(self, course: str) -> None:
        """Nothing more is spent from the course's pool; archiving again changes nothing."""
        caller = self.admin()
        done = await self.ctx.call(self.ctx.ledger.archive_course, course, actor=caller.name)
        self.send_json(self.course_view(caller, done, done.members.get(caller.name)))


class SharingHandler(_CourseHandler):
    """``PUT /courses/{id}/sharing``: how the pool is shared (its staff, operators)."""

    async def put(self, course: str) -> None:
        """Body: ``share`` (equal, fixed or null), ``allowance`` (fixed only), ``weekly_cap``."""
        caller = self.reader()
        body = params.json_body(self.request.body)
        share = body.get("share")
        if share is not None and share not in SHARES:
            raise ApiError(400, f"'share' must be one of {', '.join(SHARES)} or null")
        allowance = _optional_amount(body, "allowance")
        weekly_cap = _optional_amount(body, "weekly_cap")
        if (share == "fixed") != (allowance is not None):
            raise ApiError(
                422, "a fixed share needs an 'allowance', and only a fixed share has one"
            )
        await self.staff_only(caller, course)
        await self.ctx.call(
            self.ctx.ledger.set_course_sharing,
            course,
            actor=caller.name,
            share=share,
            allowance=allowance,
            weekly_cap=weekly_cap,
        )
        found, role = await self.course_for(caller, course)
        self.send_json(self.course_view(caller, found, role))


class RepositoryHandler(_CourseHandler):
    """``PUT /courses/{id}/repository``: the git repository of its materials (staff, operators)."""

    async def put(self, course: str) -> None:
        """Body: ``repository`` (an https, http or git URL, or null for none), ``branch``."""
        caller = self.reader()
        body = params.json_body(self.request.body)
        if "repository" not in body:
            raise ApiError(400, "'repository' is required (a git URL, or null)")
        repository = _optional_text(body, "repository", REPOSITORY_MAX)
        branch = _optional_text(body, "branch", BRANCH_MAX)
        try:
            if repository is not None:
                validate_repository(repository)
            if branch is not None:
                validate_branch(branch)
        except ValueError as err:
            raise ApiError(400, str(err)) from None
        if repository is None:  # null removes the repository, and so its branch
            branch = None
        await self.staff_only(caller, course)
        await self.ctx.call(
            self.ctx.ledger.set_course_repository,
            course,
            repository,
            actor=caller.name,
            branch=branch,
        )
        found, role = await self.course_for(caller, course)
        self.send_json(self.course_view(caller, found, role))


class AllowanceHandler(_CourseHandler):
    """``PUT /courses/{id}/allowances/{username}``: one student's own allowance."""

    async def put(self, course: str, username: str) -> None:
        """Body: ``allowance`` (credits for the term), or null for the course's share again."""
        caller = self.reader()
        body = params.json_body(self.request.body)
        if not _USER.fullmatch(username):
            raise ApiError(400, f"{username!r} is not a user name")
        if "allowance" not in body:
            raise ApiError(400, "'allowance' is required (credits, or null)")
        allowance = _optional_amount(body, "allowance")
        await self.staff_only(caller, course)
        await self.ctx.call(
            self.ctx.ledger.set_student_allowance, course, username, allowance, actor=caller.name
        )
        found, role = await self.course_for(caller, course)
        self.send_json(self.course_view(caller, found, role))


class RosterHandler(_CourseHandler):
    """``POST /courses/{id}/roster``: a roster file (``username,role``), dry run or applied."""

    async def post(self, course: str) -> None:
        """Body: ``csv`` (the file's text) and ``dry_run`` (default true)."""
        caller = self.reader()
        body = params.json_body(self.request.body, params.MAX_ROSTER_BODY)
        text = params.text(body, "csv", required=True, limit=params.CSV_MAX)
        dry_run = body.get("dry_run", True)
        if dry_run is None:
            dry_run = True
        if not isinstance(dry_run, bool):
            raise ApiError(400, "'dry_run' must be true or false")
        _found, role = await self.course_for(caller, course)
        if not access.may_manage_roster(caller, role):
            raise ApiError(
                403, f"only the instructors of {course!r} and operators change its roster"
            )
        uploader = None if caller.admin else caller.name
        try:
            lines = parse_roster(text)
            if dry_run:
                plan = await self.ctx.call(
                    self.ctx.ledger.plan_course_roster, course, lines, uploader=uploader
                )
            else:
                plan = await self.ctx.call(
                    self.ctx.ledger.apply_course_roster,
                    course,
                    lines,
                    actor=caller.name,
                    uploader=uploader,
                )
        except RosterError as err:
            raise ApiError(
                422,
                "the roster file was refused, nothing changed: correct the lines below",
                errors=[{"line": e.line, "message": e.message} for e in err.errors],
            ) from None
        self.send_json(_plan(plan))


def _plan(plan: RosterPlan) -> dict[str, Any]:
    return {
        "course": plan.course,
        "applied": plan.applied,
        "add": [{"username": u, "role": role} for u, role in plan.add.items()],
        "remove": [{"username": u, "role": role} for u, role in plan.remove.items()],
        "change": [{"username": c.username, "from": c.before, "to": c.after} for c in plan.change],
        "unchanged": plan.unchanged,
    }


def _optional_text(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{key!r} must be a string or null")
    if len(value) > limit:
        raise ApiError(400, f"{key!r} has at most {limit} characters")
    return value


def _optional_amount(body: dict[str, Any], key: str) -> str | int | Decimal | None:
    return None if body.get(key) is None else params.number(body, key)


def _matching(
    body: dict[str, Any], key: str, pattern: re.Pattern[str], what: str, *, required: bool = False
) -> str:
    value = params.text(body, key, required=required, limit=200)
    if value and not pattern.fullmatch(value):
        raise ApiError(400, f"{key!r} must be {what}, not {value!r}")
    if required and not value:
        raise ApiError(400, f"{key!r} is required")
    return value


def _title(body: dict[str, Any], *, required: bool = False) -> str | None:
    if body.get("title") is None and not required:
        return None
    value = params.text(body, "title", required=required, limit=TITLE_MAX)
    if not _TITLE.fullmatch(value):
        raise ApiError(
            400, f"'title' has 1 to {TITLE_MAX} characters, not only spaces, no control ones"
        )
    return value


def _day(body: dict[str, Any], key: str, *, required: bool = False) -> date | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, f"{key!r} is required (YYYY-MM-DD)")
        return None
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ApiError(400, f"{key!r} must be a day as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{key!r} is not a day of the calendar: {value!r}") from None


def site_course_resources(site: Site) -> Callable[[str], list[dict[str, str]]]:
    """What the site file keeps for each course (``hubs.*.limits.access.*.courses``).

    The site file stays where these are decided (the spawner checks them at each
    start); the course only shows them.
    """
    kept: dict[str, list[dict[str, str]]] = {}
    for hub_name, hub in sorted(site.hubs.items()):
        for resource, rule in sorted(hub.limits.access.items()):
            for course in rule.courses:
                kept.setdefault(course, []).append({"hub": hub_name, "resource": resource})

    def resources(course: str) -> list[dict[str, str]]:
        return [dict(item) for item in kept.get(course, [])]

    return resources
