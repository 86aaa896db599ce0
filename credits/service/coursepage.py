"""The instructor's page: the courses one teaches, and one course's pool, sharing and roster.

Pure functions to HTML, like :mod:`~computehub.credits.service.page` (same frame and
look, every value escaped, no script). Forms post back to the page with JupyterHub's
``_xsrf`` token; they are shown to the course's staff and operators only (a TA
reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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
    share_left_text,
    sharing_in_words,
    when,
)
from computehub.credits.service.views import amount

#: As the credits page's policy, but its forms post back to the service, and Bootstrap's
#: form controls draw their arrows with ``data:`` images.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'self'; form-action 'self'; base-uri 'none'"
)
_ROLE_WORDS = {"owner": "owner", "instructor": "instructor", "ta": "teaching assistant"}


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
            f'<td class="ch-term">{c.starts_on:%Y-%m-%d} to {c.ends_on:%Y-%m-%d}</td>'
            f'<td class="ch-role">{escape(_ROLE_WORDS.get(c.members.get(user, ""), "operator"))}'
            f"</td><td>{_state(c)}</td>"
            f'<td class="ch-available text-end">{credits_text(c.pool.available)}</td></tr>'
            for c in courses
        )
        table = (
            '<table class="table table-sm align-middle" id="ch-courses">'
            "<thead><tr><th>Course</th><th>Term</th><th>Your role</th><th>State</th>"
            '<th class="text-end">Pool available</th></tr></thead>'
            f"<tbody>\n{rows}\n</tbody></table>"
        )
    else:
        table = '<p class="alert alert-light" id="ch-no-courses">There is no course yet.</p>'
    body = "\n".join(
        [
            navbar(user, hub),
            '<main class="container my-4">',
            _crumbs(links, None),
            '<h1 class="h3 mb-4">Courses you teach</h1>',
            table,
            "</main>",
        ]
    )
    return document("Courses you teach", hub, body)


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
            navbar(user, hub),
            '<main class="container my-4">',
            _crumbs(links, course),
            f'<h1 class="h3">{escape(course.title)} '
            f'<span class="text-body-secondary fs-5">{escape(course.id)}</span> {_state(course)}'
            "</h1>",
            notice,
            _summary(view),
            _sharing(view, links),
            _roster(view, links),
            _upload(view, links) if view.manage else "",
            _materials(view, links),
            _assignments(view, links),
            '<p class="text-body-secondary small">Times are UTC. Amounts are credits. '
            "<em>Used</em> is what a person's sessions took from the pool: charges of "
            "ended sessions and what running ones hold.</p>",
            "</main>",
        ]
    )
    return document(f"{course.title}: course", hub, body)


def _crumbs(links: Links, course: r.Course | None) -> str:
    base = escape(links.service)
    items = [f'<li class="breadcrumb-item"><a href="{base}">Credits and sessions</a></li>']
    if course is None:
        items.append('<li class="breadcrumb-item active">Courses you teach</li>')
    else:
        items.append(
            f'<li class="breadcrumb-item"><a href="{base}courses">Courses you teach</a></li>'
        )
        items.append(f'<li class="breadcrumb-item active">{escape(course.id)}</li>')
    return f'<nav aria-label="breadcrumb"><ol class="breadcrumb">{"".join(items)}</ol></nav>'


def _state(course: r.Course) -> str:
    if course.archived_at is not None:
        return (
            f'<span class="badge text-bg-secondary ch-state" title="archived on '
            f'{course.archived_at:%Y-%m-%d}">archived</span>'
        )
    return '<span class="badge text-bg-success ch-state">current</span>'


def _summary(view: CourseView) -> str:
    course, pool = view.course, view.course.pool
    role = _ROLE_WORDS.get(view.role or "", "operator")
    archived = (
        f'<dd class="col-sm-9">archived on {when(course.archived_at)} UTC: nothing more '
        "is spent from its pool; its history stays.</dd>"
        if course.archived_at is not None
        else '<dd class="col-sm-9">current</dd>'
    )
    return (
        '<dl class="row mb-4" id="ch-course">'
        f'<dt class="col-sm-3">Term</dt><dd class="col-sm-9 ch-term">'
        f"{course.starts_on:%Y-%m-%d} to {course.ends_on:%Y-%m-%d}</dd>"
        f'<dt class="col-sm-3">State</dt>{archived}'
        f'<dt class="col-sm-3">Your role</dt><dd class="col-sm-9 ch-role">{escape(role)}</dd>'
        '<dt class="col-sm-3">Pool</dt><dd class="col-sm-9 ch-pool">'
        f'<span class="ch-balance">{credits_text(pool.balance)}</span> in it, '
        f'<span class="ch-held">{credits_text(pool.held)}</span> held by running sessions, '
        f'<strong><span class="ch-available">{credits_text(pool.available)}</span> left'
        "</strong> to spend</dd></dl>"
    )


def _sharing(view: CourseView, links: Links) -> str:
    sharing = view.course.sharing
    text = (
        '<h2 class="h5">Sharing the pool</h2>'
        f'<p id="ch-sharing">{escape(sharing_in_words(sharing))}</p>'
    )
    if not view.manage:
        return text
    share = sharing.share or "none"
    options = "".join(
        f'<option value="{value}"{" selected" if value == share else ""}>{label}</option>'
        for value, label in (
            ("none", "No term limit"),
            ("equal", "Equal share of the pool per student"),
            ("fixed", "Fixed allowance per student"),
        )
    )
    allowance = amount(sharing.allowance) if sharing.allowance is not None else ""
    cap = amount(sharing.weekly_cap) if sharing.weekly_cap is not None else ""
    action = f"{escape(links.service)}courses/{escape(view.course.id)}/sharing"
    return text + (
        f'<form method="post" action="{action}" class="row g-2 align-items-end mb-4" '
        'id="ch-sharing-form">'
        f'<input type="hidden" name="_xsrf" value="{escape(view.xsrf)}">'
        '<div class="col-md-4"><label class="form-label" for="ch-share">For the term</label>'
        f'<select class="form-select" name="share" id="ch-share">{options}</select></div>'
        '<div class="col-md-3"><label class="form-label" for="ch-allowance">'
        "Allowance (credits, fixed only)</label>"
        f'<input class="form-control" name="allowance" id="ch-allowance" value="{allowance}" '
        'inputmode="decimal"></div>'
        '<div class="col-md-3"><label class="form-label" for="ch-weekly-cap">'
        "Weekly cap (credits, empty for none)</label>"
        f'<input class="form-control" name="weekly_cap" id="ch-weekly-cap" value="{cap}" '
        'inputmode="decimal"></div>'
        '<div class="col-md-2"><button class="btn btn-primary w-100" type="submit" '
        'id="ch-sharing-save">Save sharing</button></div></form>'
    )


def _roster(view: CourseView, links: Links) -> str:
    csv_link = f"{escape(links.service)}courses/{escape(view.course.id)}/roster.csv"
    head = (
        '<div class="d-flex align-items-center justify-content-between">'
        '<h2 class="h5 mb-0">Roster and use of the pool</h2>'
        f'<a class="btn btn-outline-secondary btn-sm" id="ch-csv" href="{csv_link}" download>'
        "Download CSV</a></div>"
    )
    refused = view.allowance
    error = (
        f'<p class="alert alert-danger mt-2" id="ch-allowance-error">{escape(refused.error)}</p>'
        if refused is not None
        else ""
    )
    explain = (
        '<p class="small text-body-secondary mt-2 mb-0" id="ch-allowance-help">'
        "<em>Own allowance</em>: credits a student may spend from the pool for the term, "
        "in place of the course's share (the weekly cap still applies). Leave it empty and "
        "set it to give them the course's share again.</p>"
        if view.manage
        else ""
    )
    rows = "\n".join(_roster_row(row, view, links) for row in view.rows)
    return (
        head + error + explain + '<div class="table-responsive mt-2 mb-4"><table '
        'class="table table-sm align-middle" id="ch-roster">'
        "<thead><tr><th>User</th><th>Role</th>"
        '<th class="text-end">Used</th><th class="text-end">Charged</th>'
        '<th class="text-end">Held now</th><th class="text-end">Sessions</th>'
        '<th>Last activity (UTC)</th><th class="text-end">Share left</th>'
        "<th>Own allowance</th></tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table></div>"
    )


def _roster_row(row: RosterRow, view: CourseView, links: Links) -> str:
    use = row.use
    role = _ROLE_WORDS.get(row.role, row.role)
    muted = " text-body-secondary" if row.role not in ("student",) else ""
    return (
        f'<tr data-username="{escape(row.username)}">'
        f'<td class="ch-username">{escape(row.username)}</td>'
        f'<td class="ch-role{muted}">{escape(role)}</td>'
        f'<td class="ch-used text-end fw-semibold">{credits_text(use.used)}</td>'
        f'<td class="ch-charged text-end">{credits_text(use.charged)}</td>'
        f'<td class="ch-held text-end">{credits_text(use.held)}</td>'
        f'<td class="ch-sessions text-end">{use.sessions}</td>'
        f'<td class="ch-last">{when(use.last_activity) or "—"}</td>'
        f'<td class="ch-share-left text-end">{escape(share_left_text(row, shown=True)) or "—"}</td>'
        f'<td class="ch-allowance">{_allowance_cell(row, view, links)}</td></tr>'
    )


def _allowance_cell(row: RosterRow, view: CourseView, links: Links) -> str:
    """A student's own allowance; for the course's staff, a form to set it."""
    shown = own_allowance_text(row)
    if row.role != "student":
        return "—"
    if not view.manage:
        return escape(shown) if shown else "course share"
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
        f'name="allowance" value="{escape(value)}" inputmode="decimal" size="8" '
        f'placeholder="course share" aria-label="Own allowance of {user} in credits '
        "(empty: the course's share)\">"
        '<button class="btn btn-outline-primary btn-sm ch-allowance-save" type="submit">'
        "Set</button></form>"
    )


def _upload(view: CourseView, links: Links) -> str:
    action = f"{escape(links.service)}courses/{escape(view.course.id)}/roster"
    xsrf = f'<input type="hidden" name="_xsrf" value="{escape(view.xsrf)}">'
    result = _roster_result(view.roster, action, xsrf) if view.roster else ""
    text = escape(view.roster.text) if view.roster and view.roster.plan is None else ""
    return (
        '<h2 class="h5" id="ch-upload">Load a roster file</h2>'
        '<p class="small text-body-secondary">One person a line, <code>username,role</code>; '
        "roles <code>instructor</code>, <code>ta</code>, <code>student</code>. The file is "
        "the whole roster except owners: whoever it does not list is taken off the course. "
        "Preview first: nothing changes until you apply.</p>"
        f"{result}"
        f'<form method="post" action="{action}" enctype="multipart/form-data" class="mb-4" '
        f'id="ch-roster-form">{xsrf}<input type="hidden" name="action" value="dry-run">'
        '<div class="mb-2"><label class="form-label" for="ch-roster-file">A CSV file</label>'
        '<input class="form-control" type="file" name="file" id="ch-roster-file" '
        'accept=".csv,text/csv"></div>'
        '<div class="mb-2"><label class="form-label" for="ch-roster-text">or its text</label>'
        '<textarea class="form-control font-monospace" name="csv" id="ch-roster-text" rows="4" '
        f'placeholder="username,role">{text}</textarea></div>'
        '<button class="btn btn-outline-primary" type="submit" id="ch-roster-preview">'
        "Preview changes</button></form>"
    )


def _roster_result(result: RosterResult, action: str, xsrf: str) -> str:
    if result.plan is None:
        items = "".join(
            f"<li>{'the file' if line is None else f'line {line}'}: {escape(message)}</li>"
            for line, message in result.errors
        )
        return (
            '<div class="alert alert-danger" id="ch-roster-errors"><p>The roster file was '
            "refused, nothing changed: correct these lines.</p>"
            f'<ul class="mb-0">{items}</ul></div>'
        )
    plan = result.plan
    changes = (
        [f"add {escape(user)} as {escape(role)}" for user, role in plan.add.items()]
        + [f"take {escape(user)} ({escape(role)}) off" for user, role in plan.remove.items()]
        + [
            f"make {escape(c.username)} {escape(c.after)} (was {escape(c.before)})"
            for c in plan.change
        ]
    )
    listed = (
        "".join(f"<li>{change}</li>" for change in changes) if changes else "<li>no change</li>"
    )
    summary = f"{plan.unchanged} unchanged"
    if plan.applied:
        return (
            '<div class="alert alert-success" id="ch-roster-applied"><p>The roster was '
            f'applied ({summary}):</p><ul class="mb-0">{listed}</ul></div>'
        )
    apply = (
        f'<form method="post" action="{action}" class="mt-2" id="ch-roster-apply-form">'
        f'{xsrf}<input type="hidden" name="action" value="apply">'
        f'<input type="hidden" name="csv" value="{escape(result.text)}">'
        '<button class="btn btn-primary" type="submit" id="ch-roster-apply">'
        "Apply these changes</button></form>"
        if changes
        else ""
    )
    return (
        '<div class="alert alert-info" id="ch-roster-preview-result"><p>Preview: this file '
        f"would make these changes ({summary}); nothing has changed yet.</p>"
        f'<ul class="mb-0">{listed}</ul>{apply}</div>'
    )


def _materials(view: CourseView, links: Links) -> str:
    """The course's repository, its form (staff) and the nbgitpuller link generator."""
    course = view.course
    page = f"{escape(links.service)}courses/{escape(course.id)}"
    if course.repository is None:
        where = (
            '<p class="alert alert-light" id="ch-materials">No repository of course materials '
            "is set: set one to make nbgitpuller links for the students.</p>"
        )
    else:
        branch = escape(course.branch) if course.branch else "its default branch"
        where = (
            f'<p id="ch-materials">Students pull <code id="ch-repository">'
            f"{escape(course.repository)}</code> ({branch}) into their home with the links "
            "below: the first click clones it, later clicks bring new files and changes "
            "without overwriting a student's own edits.</p>"
        )
    form = ""
    if view.manage:
        form = (
            f'<form method="post" action="{page}/repository" class="row g-2 align-items-end '
            'mb-3" id="ch-repository-form">'
            f'<input type="hidden" name="_xsrf" value="{escape(view.xsrf)}">'
            '<div class="col-md-7"><label class="form-label" for="ch-repository-url">'
            "Repository (https://, http:// or git:// URL the cluster's nodes reach; empty "
            "for none)</label>"
            f'<input class="form-control" name="repository" id="ch-repository-url" '
            f'value="{escape(course.repository or "")}"></div>'
            '<div class="col-md-3"><label class="form-label" for="ch-branch">Branch '
            "(empty: default)</label>"
            f'<input class="form-control" name="branch" id="ch-branch" '
            f'value="{escape(course.branch or "")}"></div>'
            '<div class="col-md-2"><button class="btn btn-primary w-100" type="submit" '
            'id="ch-repository-save">Save repository</button></div></form>'
        )
    generator = ""
    if course.repository is not None:
        made = ""
        if view.link.error:
            made = f'<p class="alert alert-danger" id="ch-link-error">{escape(view.link.error)}</p>'
        elif view.link.link:
            made = (
                '<label class="form-label" for="ch-link">The link (select it and copy it into '
                "your course's pages or LMS)</label>"
                f'<input class="form-control font-monospace mb-3" id="ch-link" readonly '
                f'value="{escape(view.link.link)}">'
            )
        generator = (
            f'<form method="get" action="{page}#ch-link" class="row g-2 align-items-end mb-2" '
            'id="ch-link-form">'
            '<div class="col-md-5"><label class="form-label" for="ch-link-path">File or folder '
            "in the repository (empty: the repository)</label>"
            f'<input class="form-control" name="path" id="ch-link-path" '
            f'value="{escape(view.link.path)}" placeholder="week1/intro.ipynb"></div>'
            '<div class="col-md-5"><label class="form-label" for="ch-link-hub">Hub</label>'
            f'<input class="form-control" name="hub" id="ch-link-hub" '
            f'value="{escape(view.link.hub)}"></div>'
            '<div class="col-md-2"><button class="btn btn-outline-primary w-100" '
            'type="submit" id="ch-link-make">Make link</button></div></form>' + made
        )
    return '<h2 class="h5">Course materials</h2>' + where + form + generator


def _assignments(view: CourseView, links: Links) -> str:
    """The course's nbgrader assignments, with links to its formgrader (its own tab)."""
    course = view.course
    if view.coursework is None:
        return (
            '<h2 class="h5 mt-4">Assignments</h2><p class="text-body-secondary small" '
            'id="ch-coursework">This course has no formgrader: an operator adds it to the '
            "site file's <code>nbgrader.courses</code> to release and grade assignments "
            "with nbgrader.</p>"
        )
    base = links.hub_prefix.removesuffix("hub/")
    formgrader = escape(f"{base}services/{quote(course.id, safe='')}/formgrader")
    opener = (
        f'<p><a class="btn btn-outline-primary btn-sm" id="ch-formgrader" href="{formgrader}" '
        'target="_blank" rel="noopener">Open the formgrader</a> <span class="text-body-secondary '
        'small">(in a tab of its own: create, release, collect, grade and return feedback)'
        "</span></p>"
    )
    work = view.coursework
    if work.assignments is None:
        return (
            '<h2 class="h5 mt-4">Assignments</h2>'
            f'<p class="alert alert-warning" id="ch-coursework">{escape(work.error)}</p>' + opener
        )
    if not work.assignments:
        return (
            '<h2 class="h5 mt-4">Assignments</h2><p id="ch-coursework">No assignments yet: '
            "create one in the formgrader.</p>" + opener
        )
    students = sum(1 for role in course.members.values() if role == "student")
    rows = "".join(_assignment_row(a, students, formgrader) for a in work.assignments)
    return (
        '<h2 class="h5 mt-4">Assignments</h2>'
        '<table class="table table-sm align-middle" id="ch-coursework"><thead><tr>'
        "<th>Assignment</th><th>State</th><th>Due</th><th>Submissions collected</th>"
        "<th>Autograded</th><th>Average score</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>" + opener
    )


def _assignment_row(a: Assignment, students: int, formgrader: str) -> str:
    state = "released" if a.released else "draft (not released)"
    badge = "text-bg-success" if a.released else "text-bg-secondary"
    link = f"{formgrader}/manage_submissions/{escape(quote(a.name, safe=''))}"
    average = f"{a.average:.1f} of {a.max_score:g}" if a.autograded else "—"
    return (
        f'<tr data-assignment="{escape(a.name)}"><td><a href="{link}" target="_blank" '
        f'rel="noopener">{escape(a.name)}</a></td>'
        f'<td><span class="badge {badge}">{state}</span></td>'
        f"<td>{escape(a.due) if a.due else '—'}</td>"
        f"<td>{a.collected} of {students}</td><td>{a.autograded}</td><td>{average}</td></tr>"
    )
