"""The instructor's page: the courses one teaches, and one course's pool, sharing and roster.

Pure functions to HTML, like :mod:`~computehub.credits.service.page` (same frame and
look, every value escaped, no script). Forms post back to the page with JupyterHub's
``_xsrf`` token; they are shown to the course's staff and operators only (a TA
reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from urllib.parse import quote

from computehub.credits import records as r
from computehub.credits.display import credits_text
from computehub.credits.roster import RosterPlan
from computehub.credits.service.formgraders import Assignment, Coursework
from computehub.credits.service.page import Links, document, navbar
from computehub.credits.service.teaching import (
    RosterRow,
    own_allowance_text,
    sharing_in_words,
)
from computehub.credits.service.views import amount
from computehub.i18n import _
from computehub.i18n.catalog import N_, bdi
from computehub.i18n.formats import date_text, datetime_text, number_text

#: As the credits page's policy, but its forms post back to the service, and Bootstrap's
#: form controls draw their arrows with ``data:`` images.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'self'; form-action 'self'; base-uri 'none'"
)
_ROLE_WORDS = {
    "owner": N_("owner"),
    "instructor": N_("instructor"),
    "ta": N_("teaching assistant"),
    "student": N_("student"),
    "not on the roster": N_("not on the roster"),
}


def role_word(role: str | None) -> str:
    """A role in a course, in words (someone outside it is an operator)."""
    if not role:
        return _("operator")
    return _(_ROLE_WORDS[role]) if role in _ROLE_WORDS else role


def term_text(course: r.Course) -> str:
    """A course's term: ``2026-01-05 to 2027-06-30`` (the page's language's dates)."""
    return _("{start} to {end}").format(
        start=date_text(course.starts_on), end=date_text(course.ends_on)
    )


def _when(value: datetime | None) -> str:
    """A time on the page (UTC, to the minute, in the page's language); ``—`` for none."""
    return datetime_text(value) if value is not None else "—"


@dataclass(frozen=True)
class RosterResult:
    """What a roster upload did or would do, or why the file was refused.

    Attributes:
        plan: the dry run's or the applied plan; ``None`` when refused.
        text: the file's text, carried to the apply button after a dry run.
        errors: ``(line, message)`` of a refused file.
    """

    plan: RosterPlan | None
    text: str = ""
    errors: Sequence[tuple[int | None, str]] = field(default_factory=tuple)


@dataclass(frozen=True)
class PullLinkForm:
    """The nbgitpuller link generator's fields and what it made.

    Attributes:
        hub: the hub's address the link goes to (the page's hub unless one was typed).
        path: the file or folder in the repository.
        link: the link made, or ``""``.
        error: why no link was made, or ``""``.
    """

    hub: str = ""
    path: str = ""
    link: str = ""
    error: str = ""


@dataclass(frozen=True)
class AllowanceForm:
    """A student's allowance form that was refused: what was typed and why.

    Attributes:
        username: the student the form was for.
        text: what was typed, shown again in that student's field.
        error: the sentence that says why nothing was saved.
    """

    username: str
    text: str
    error: str


@dataclass(frozen=True)
class CourseView:
    """Everything one course's page shows.

    Attributes:
        course: the course.
        role: the caller's role in it (``None`` for an operator outside it).
        rows: its roster with each person's use.
        manage: whether the caller may change its roster and sharing.
        xsrf: JupyterHub's XSRF token for the forms.
        notice: a sentence to show at the top (what was just saved).
        roster: a roster upload's result.
        link: the nbgitpuller link generator's fields and what it made.
        allowance: a student's allowance form that was refused, shown again.
        coursework: its assignments from its formgrader; ``None``: it has none.
    """

    course: r.Course
    role: str | None
    rows: Sequence[RosterRow]
    manage: bool
    xsrf: str
    notice: str = ""
    roster: RosterResult | None = None
    link: PullLinkForm = field(default_factory=lambda: PullLinkForm())
    allowance: AllowanceForm | None = None
    coursework: Coursework | None = None


def course_list(user: str, courses: Sequence[r.Course], *, links: Links) -> str:
    """The courses the caller teaches (operators: every course)."""
    hub = escape(links.hub_prefix)
    base = escape(links.service)
    if courses:
        rows = "\n".join(
            f'<tr data-course="{escape(c.id)}">'
            f'<td class="ch-title"><a href="{base}courses/{escape(c.id)}">{escape(c.title)}</a>'
            f' <span class="text-body-secondary small">({escape(c.id)})</span></td>'
            f'<td class="ch-term">{escape(term_text(c))}</td>'
            f'<td class="ch-role">{escape(role_word(c.members.get(user)))}'
            f"</td><td>{_state(c)}</td>"
            f'<td class="ch-available text-end">{credits_text(c.pool.available)}</td></tr>'
            for c in courses
        )
        table = (
            '<table class="table table-sm align-middle" id="ch-courses">'
            "<thead><tr><th>"
            + _("Course")
            + "</th><th>"
            + _("Term")
            + "</th><th>"
            + _("Your role")
            + "</th><th>"
            + _("State")
            + "</th>"
            '<th class="text-end">' + _("Pool available") + "</th></tr></thead>"
            f"<tbody>\n{rows}\n</tbody></table>"
        )
    else:
        table = (
            '<p class="alert alert-light" id="ch-no-courses">'
            + _("There is no course yet.")
            + "</p>"
        )
    body = "\n".join(
        [
            navbar(user, hub, back_to=f"{links.service}courses"),
            '<main class="container my-4">',
            _crumbs(links, None),
            '<h1 class="h3 mb-4">' + _("Courses you teach") + "</h1>",
            table,
            "</main>",
        ]
    )
    return document(_("Courses you teach"), hub, body)


def course_page(user: str, view: CourseView, *, links: Links) -> str:
    """One course: its term, pool, sharing, roster with each use, forms and coursework."""
    hub = escape(links.hub_prefix)
    course = view.course
    notice = (
        f'<p class="alert alert-success" id="ch-notice">{escape(view.notice)}</p>'
        if view.notice
        else ""
    )
    body = "\n".join(
        [
            navbar(user, hub, back_to=f"{links.service}courses/{quote(course.id, safe='')}"),
            '<main class="container my-4">',
            _crumbs(links, course),
            f'<h1 class="h3">{bdi(escape(course.title))} '
            f'<span class="text-body-secondary fs-5">{escape(course.id)}</span> {_state(course)}'
            "</h1>",
            notice,
            _summary(view),
            _sharing(view, links),
            _roster(view, links),
            _upload(view, links) if view.manage else "",
            _materials(view, links),
            _assignments(view, links),
            '<p class="text-body-secondary small">'
            + _(
                "Times are UTC. Amounts are credits. <em>Used</em> is what a person's "
                "sessions took from the pool: charges of ended sessions and what running "
                "ones hold."
            )
            + "</p>",
            "</main>",
        ]
    )
    return document(_("{title}: course").format(title=course.title), hub, body)


def _crumbs(links: Links, course: r.Course | None) -> str:
    base = escape(links.service)
    items = [
        f'<li class="breadcrumb-item"><a href="{base}">' + _("Credits and sessions") + "</a></li>"
    ]
    if course is None:
        items.append('<li class="breadcrumb-item active">' + _("Courses you teach") + "</li>")
    else:
        items.append(
            f'<li class="breadcrumb-item"><a href="{base}courses">'
            + _("Courses you teach")
            + "</a></li>"
        )
        items.append(f'<li class="breadcrumb-item active">{escape(course.id)}</li>')
    label = escape(_("breadcrumb"))
    return f'<nav aria-label="{label}"><ol class="breadcrumb">{"".join(items)}</ol></nav>'


def _state(course: r.Course) -> str:
    if course.archived_at is not None:
        title = _("archived on {day}").format(day=date_text(course.archived_at.date()))
        return (
            f'<span class="badge text-bg-secondary ch-state" title="{escape(title)}">'
            + _("archived")
            + "</span>"
        )
    return '<span class="badge text-bg-success ch-state">' + _("current") + "</span>"


def _summary(view: CourseView) -> str:
    course, pool = view.course, view.course.pool
    role = role_word(view.role)
    archived = (
        '<dd class="col-sm-9">'
        + _(
            "archived on {when} UTC: nothing more is spent from its pool; its history stays."
        ).format(when=_when(course.archived_at))
        + "</dd>"
        if course.archived_at is not None
        else '<dd class="col-sm-9">' + _("current") + "</dd>"
    )
    pool_words = _(
        "{balance} in it, {held} held by running sessions, "
        "<strong>{available} left</strong> to spend"
    ).format(
        balance=f'<span class="ch-balance">{credits_text(pool.balance)}</span>',
        held=f'<span class="ch-held">{credits_text(pool.held)}</span>',
        available=f'<span class="ch-available">{credits_text(pool.available)}</span>',
    )
    return (
        '<dl class="row mb-4" id="ch-course">'
        '<dt class="col-sm-3">' + _("Term") + '</dt><dd class="col-sm-9 ch-term">'
        f"{escape(term_text(course))}</dd>"
        '<dt class="col-sm-3">' + _("State") + f"</dt>{archived}"
        '<dt class="col-sm-3">'
        + _("Your role")
        + f'</dt><dd class="col-sm-9 ch-role">{escape(role)}</dd>'
        '<dt class="col-sm-3">'
        + _("Pool")
        + '</dt><dd class="col-sm-9 ch-pool">'
        + pool_words
        + "</dd></dl>"
    )


def _sharing(view: CourseView, links: Links) -> str:
    sharing = view.course.sharing
    text = (
        '<h2 class="h5">' + _("Sharing the pool") + "</h2>"
        f'<p id="ch-sharing">{escape(sharing_in_words(sharing))}</p>'
    )
    if not view.manage:
        return text
    share = sharing.share or "none"
    options = "".join(
        f'<option value="{value}"{" selected" if value == share else ""}>{label}</option>'
        for value, label in (
            ("none", _("No term limit")),
            ("equal", _("Equal share of the pool per student")),
            ("fixed", _("Fixed allowance per student")),
        )
    )
    allowance = amount(sharing.allowance) if sharing.allowance is not None else ""
    cap = amount(sharing.weekly_cap) if sharing.weekly_cap is not None else ""
    action = f"{escape(links.service)}courses/{escape(view.course.id)}/sharing"
    return text + (
        f'<form method="post" action="{action}" class="row g-2 align-items-end mb-4" '
        'id="ch-sharing-form">'
        f'<input type="hidden" name="_xsrf" value="{escape(view.xsrf)}">'
        '<div class="col-md-4"><label class="form-label" for="ch-share">'
        + _("For the term")
        + "</label>"
        f'<select class="form-select" name="share" id="ch-share">{options}</select></div>'
        '<div class="col-md-3"><label class="form-label" for="ch-allowance">'
        + _("Allowance (credits, fixed only)")
        + "</label>"
        f'<input class="form-control" name="allowance" id="ch-allowance" value="{allowance}" '
        'inputmode="decimal" dir="ltr"></div>'
        '<div class="col-md-3"><label class="form-label" for="ch-weekly-cap">'
        + _("Weekly cap (credits, empty for none)")
        + "</label>"
        f'<input class="form-control" name="weekly_cap" id="ch-weekly-cap" value="{cap}" '
        'inputmode="decimal" dir="ltr"></div>'
        '<div class="col-md-2"><button class="btn btn-primary w-100" type="submit" '
        'id="ch-sharing-save">' + _("Save sharing") + "</button></div></form>"
    )


def _roster(view: CourseView, links: Links) -> str:
    csv_link = f"{escape(links.service)}courses/{escape(view.course.id)}/roster.csv"
    head = (
        '<div class="d-flex align-items-center justify-content-between">'
        '<h2 class="h5 mb-0">' + _("Roster and use of the pool") + "</h2>"
        f'<a class="btn btn-outline-secondary btn-sm" id="ch-csv" href="{csv_link}" download>'
        + _("Download CSV")
        + "</a></div>"
    )
    refused = view.allowance
    error = (
        f'<p class="alert alert-danger mt-2" id="ch-allowance-error">{escape(refused.error)}</p>'
        if refused is not None
        else ""
    )
    explain = (
        '<p class="small text-body-secondary mt-2 mb-0" id="ch-allowance-help">'
        + _(
            "<em>Own allowance</em>: credits a student may spend from the pool for the term, "
            "in place of the course's share (the weekly cap still applies). Leave it empty "
            "and set it to give them the course's share again."
        )
        + "</p>"
        if view.manage
        else ""
    )
    rows = "\n".join(_roster_row(row, view, links) for row in view.rows)
    return (
        head + error + explain + '<div class="table-responsive mt-2 mb-4"><table '
        'class="table table-sm align-middle" id="ch-roster">'
        "<thead><tr><th>" + _("User") + "</th><th>" + _("Role") + "</th>"
        '<th class="text-end">' + _("Used") + '</th><th class="text-end">' + _("Charged") + "</th>"
        '<th class="text-end">'
        + _("Held now")
        + '</th><th class="text-end">'
        + _("Sessions")
        + "</th>"
        "<th>" + _("Last activity (UTC)") + '</th><th class="text-end">' + _("Share left") + "</th>"
        "<th>" + _("Own allowance") + "</th></tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table></div>"
    )


def _roster_row(row: RosterRow, view: CourseView, links: Links) -> str:
    use = row.use
    role = role_word(row.role)
    muted = " text-body-secondary" if row.role not in ("student",) else ""
    return (
        f'<tr data-username="{escape(row.username)}">'
        f'<td class="ch-username">{escape(row.username)}</td>'
        f'<td class="ch-role{muted}">{escape(role)}</td>'
        f'<td class="ch-used text-end fw-semibold">{credits_text(use.used)}</td>'
        f'<td class="ch-charged text-end">{credits_text(use.charged)}</td>'
        f'<td class="ch-held text-end">{credits_text(use.held)}</td>'
        f'<td class="ch-sessions text-end">{number_text(use.sessions, 0)}</td>'
        f'<td class="ch-last">{_when(use.last_activity)}</td>'
        f'<td class="ch-share-left text-end">{escape(share_left_shown(row)) or "—"}</td>'
        f'<td class="ch-allowance">{_allowance_cell(row, view, links)}</td></tr>'
    )


def share_left_shown(row: RosterRow) -> str:
    """A student's share left as the page shows it (2 decimals), ``no limit``, or empty."""
    if row.share_left is not None:
        return credits_text(row.share_left)
    return _("no limit") if row.role == "student" else ""


def _allowance_cell(row: RosterRow, view: CourseView, links: Links) -> str:
    """A student's own allowance; for the course's staff, a form to set it."""
    shown = own_allowance_text(row)
    if row.role != "student":
        return "—"
    if not view.manage:
        return escape(shown) if shown else escape(_("course share"))
    refused = view.allowance if view.allowance and view.allowance.username == row.username else None
    value = refused.text if refused is not None else shown
    invalid = " is-invalid" if refused is not None else ""
    user = escape(row.username)
    action = (
        f"{escape(links.service)}courses/{escape(view.course.id)}/allowances/"
        f"{escape(quote(row.username, safe=''))}"
    )
    return (
        f'<form method="post" action="{action}" class="d-flex gap-1 ch-allowance-form">'
        f'<input type="hidden" name="_xsrf" value="{escape(view.xsrf)}">'
        f'<input class="form-control form-control-sm ch-allowance-input{invalid}" '
        f'name="allowance" value="{escape(value)}" inputmode="decimal" size="8" dir="ltr" '
        'placeholder="'
        + escape(_("course share"))
        + '" aria-label="'
        + escape(_("Own allowance of {user} in credits (empty: the course's share)")).format(
            user=user
        )
        + '">'
        '<button class="btn btn-outline-primary btn-sm ch-allowance-save" type="submit">'
        + _("Set")
        + "</button></form>"
    )


def _upload(view: CourseView, links: Links) -> str:
    action = f"{escape(links.service)}courses/{escape(view.course.id)}/roster"
    xsrf = f'<input type="hidden" name="_xsrf" value="{escape(view.xsrf)}">'
    result = _roster_result(view.roster, action, xsrf) if view.roster else ""
    text = escape(view.roster.text) if view.roster and view.roster.plan is None else ""
    return (
        '<h2 class="h5" id="ch-upload">' + _("Load a roster file") + "</h2>"
        '<p class="small text-body-secondary">'
        + _(
            "One person a line, <code>username,role</code>; roles <code>instructor</code>, "
            "<code>ta</code>, <code>student</code>. The file is the whole roster except "
            "owners: whoever it does not list is taken off the course. Preview first: "
            "nothing changes until you apply."
        )
        + "</p>"
        f"{result}"
        f'<form method="post" action="{action}" enctype="multipart/form-data" class="mb-4" '
        f'id="ch-roster-form">{xsrf}<input type="hidden" name="action" value="dry-run">'
        '<div class="mb-2"><label class="form-label" for="ch-roster-file">'
        + _("A CSV file")
        + "</label>"
        '<input class="form-control" type="file" name="file" id="ch-roster-file" '
        'accept=".csv,text/csv"></div>'
        '<div class="mb-2"><label class="form-label" for="ch-roster-text">'
        + _("or its text")
        + "</label>"
        '<textarea class="form-control font-monospace" name="csv" id="ch-roster-text" rows="4" '
        f'dir="ltr" placeholder="username,role">{text}</textarea></div>'
        '<button class="btn btn-outline-primary" type="submit" id="ch-roster-preview">'
        + _("Preview changes")
        + "</button></form>"
    )


def _roster_result(result: RosterResult, action: str, xsrf: str) -> str:
    if result.plan is None:
        items = "".join(
            "<li>"
            + (_("the file") if line is None else _("line {number}").format(number=line))
            + f": {bdi(escape(message))}</li>"
            for line, message in result.errors
        )
        return (
            '<div class="alert alert-danger" id="ch-roster-errors"><p>'
            + _("The roster file was refused, nothing changed: correct these lines.")
            + f'</p><ul class="mb-0">{items}</ul></div>'
        )
    plan = result.plan
    changes = (
        [
            _("add {user} as {role}").format(
                user=f"{bdi(escape(user))}", role=escape(role_word(role))
            )
            for user, role in plan.add.items()
        ]
        + [
            _("take {user} ({role}) off").format(
                user=f"{bdi(escape(user))}", role=escape(role_word(role))
            )
            for user, role in plan.remove.items()
        ]
        + [
            _("make {user} {after} (was {before})").format(
                user=f"{bdi(escape(c.username))}",
                after=escape(role_word(c.after)),
                before=escape(role_word(c.before)),
            )
            for c in plan.change
        ]
    )
    listed = (
        "".join(f"<li>{change}</li>" for change in changes)
        if changes
        else "<li>" + _("no change") + "</li>"
    )
    summary = _("{count} unchanged").format(count=number_text(plan.unchanged, 0))
    if plan.applied:
        return (
            '<div class="alert alert-success" id="ch-roster-applied"><p>'
            + _("The roster was applied ({summary}):").format(summary=summary)
            + f'</p><ul class="mb-0">{listed}</ul></div>'
        )
    apply = (
        f'<form method="post" action="{action}" class="mt-2" id="ch-roster-apply-form">'
        f'{xsrf}<input type="hidden" name="action" value="apply">'
        f'<input type="hidden" name="csv" value="{escape(result.text)}">'
        '<button class="btn btn-primary" type="submit" id="ch-roster-apply">'
        + _("Apply these changes")
        + "</button></form>"
        if changes
        else ""
    )
    return (
        '<div class="alert alert-info" id="ch-roster-preview-result"><p>'
        + _(
            "Preview: this file would make these changes ({summary}); nothing has changed yet."
        ).format(summary=summary)
        + f'</p><ul class="mb-0">{listed}</ul>{apply}</div>'
    )


def _materials(view: CourseView, links: Links) -> str:
    """The course's repository, its form (staff) and the nbgitpuller link generator."""
    course = view.course
    page = f"{escape(links.service)}courses/{escape(course.id)}"
    if course.repository is None:
        where = (
            '<p class="alert alert-light" id="ch-materials">'
            + _(
                "No repository of course materials is set: set one to make nbgitpuller "
                "links for the students."
            )
            + "</p>"
        )
    else:
        branch = f"{bdi(escape(course.branch))}" if course.branch else _("its default branch")
        where = (
            '<p id="ch-materials">'
            + _(
                "Students pull {repository} ({branch}) into their home with the links "
                "below: the first click clones it, later clicks bring new files and changes "
                "without overwriting a student's own edits."
            ).format(
                repository=f'<code id="ch-repository">{escape(course.repository)}</code>',
                branch=branch,
            )
            + "</p>"
        )
    form = ""
    if view.manage:
        form = (
            f'<form method="post" action="{page}/repository" class="row g-2 align-items-end '
            'mb-3" id="ch-repository-form">'
            f'<input type="hidden" name="_xsrf" value="{escape(view.xsrf)}">'
            '<div class="col-md-7"><label class="form-label" for="ch-repository-url">'
            + _(
                "Repository (https://, http:// or git:// URL the cluster's nodes reach; "
                "empty for none)"
            )
            + "</label>"
            f'<input class="form-control" name="repository" id="ch-repository-url" dir="ltr" '
            f'value="{escape(course.repository or "")}"></div>'
            '<div class="col-md-3"><label class="form-label" for="ch-branch">'
            + _("Branch (empty: default)")
            + "</label>"
            f'<input class="form-control" name="branch" id="ch-branch" dir="ltr" '
            f'value="{escape(course.branch or "")}"></div>'
            '<div class="col-md-2"><button class="btn btn-primary w-100" type="submit" '
            'id="ch-repository-save">' + _("Save repository") + "</button></div></form>"
        )
    generator = ""
    if course.repository is not None:
        made = ""
        if view.link.error:
            made = f'<p class="alert alert-danger" id="ch-link-error">{escape(view.link.error)}</p>'
        elif view.link.link:
            made = (
                '<label class="form-label" for="ch-link">'
                + _("The link (select it and copy it into your course's pages or LMS)")
                + "</label>"
                f'<input class="form-control font-monospace mb-3" id="ch-link" readonly '
                f'value="{escape(view.link.link)}" dir="ltr">'
            )
        generator = (
            f'<form method="get" action="{page}#ch-link" class="row g-2 align-items-end mb-2" '
            'id="ch-link-form">'
            '<div class="col-md-5"><label class="form-label" for="ch-link-path">'
            + _("File or folder in the repository (empty: the repository)")
            + "</label>"
            f'<input class="form-control" name="path" id="ch-link-path" dir="ltr" '
            f'value="{escape(view.link.path)}" placeholder="week1/intro.ipynb"></div>'
            '<div class="col-md-5"><label class="form-label" for="ch-link-hub">'
            + _("Hub")
            + "</label>"
            f'<input class="form-control" name="hub" id="ch-link-hub" dir="ltr" '
            f'value="{escape(view.link.hub)}"></div>'
            '<div class="col-md-2"><button class="btn btn-outline-primary w-100" '
            'type="submit" id="ch-link-make">' + _("Make link") + "</button></div></form>" + made
        )
    return '<h2 class="h5">' + _("Course materials") + "</h2>" + where + form + generator


def _assignments(view: CourseView, links: Links) -> str:
    """The course's nbgrader assignments, with links to its formgrader (its own tab)."""
    course = view.course
    heading = '<h2 class="h5 mt-4">' + _("Assignments") + "</h2>"
    if view.coursework is None:
        return (
            heading
            + '<p class="text-body-secondary small" id="ch-coursework">'
            + _(
                "This course has no formgrader: an operator adds it to the site file's "
                "<code>nbgrader.courses</code> to release and grade assignments with nbgrader."
            )
            + "</p>"
        )
    base = links.hub_prefix.removesuffix("hub/")
    formgrader = escape(f"{base}services/{quote(course.id, safe='')}/formgrader")
    opener = (
        f'<p><a class="btn btn-outline-primary btn-sm" id="ch-formgrader" href="{formgrader}" '
        'target="_blank" rel="noopener">'
        + _("Open the formgrader")
        + '</a> <span class="text-body-secondary small">'
        + _("(in a tab of its own: create, release, collect, grade and return feedback)")
        + "</span></p>"
    )
    work = view.coursework
    if work.assignments is None:
        return (
            heading
            + f'<p class="alert alert-warning" id="ch-coursework">{bdi(escape(work.error))}'
            + "</p>"
            + opener
        )
    if not work.assignments:
        return (
            heading
            + '<p id="ch-coursework">'
            + _("No assignments yet: create one in the formgrader.")
            + "</p>"
            + opener
        )
    students = sum(1 for role in course.members.values() if role == "student")
    rows = "".join(_assignment_row(a, students, formgrader) for a in work.assignments)
    return (
        heading + '<table class="table table-sm align-middle" id="ch-coursework"><thead><tr>'
        "<th>"
        + _("Assignment")
        + "</th><th>"
        + _("State")
        + "</th><th>"
        + _("Due")
        + "</th><th>"
        + _("Submissions collected")
        + "</th><th>"
        + _("Autograded")
        + "</th><th>"
        + _("Average score")
        + "</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>" + opener
    )


def _assignment_row(a: Assignment, students: int, formgrader: str) -> str:
    state = _("released") if a.released else _("draft (not released)")
    badge = "text-bg-success" if a.released else "text-bg-secondary"
    link = f"{formgrader}/manage_submissions/{escape(quote(a.name, safe=''))}"
    average = (
        _("{score} of {most}").format(
            score=number_text(a.average, 1), most=number_text(a.max_score, _decimals(a.max_score))
        )
        if a.autograded
        else "—"
    )
    return (
        f'<tr data-assignment="{escape(a.name)}"><td><a href="{link}" target="_blank" '
        f'rel="noopener">{escape(a.name)}</a></td>'
        f'<td><span class="badge {badge}">{state}</span></td>'
        f"<td>{escape(a.due) if a.due else '—'}</td>"
        "<td>"
        + _("{score} of {most}").format(
            score=number_text(a.collected, 0), most=number_text(students, 0)
        )
        + f"</td><td>{number_text(a.autograded, 0)}</td><td>{average}</td></tr>"
    )


def _decimals(value: float) -> int:
    """The digits after the point that ``:g`` would write of a maximum score (at most 2)."""
    text = f"{value:g}"
    return min(2, len(text.split(".", 1)[1])) if "." in text else 0
