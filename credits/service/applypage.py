"""The pages of applications for credits: apply, one application, the reviewers' queue.

Pure functions to HTML, like :mod:`~computehub.credits.service.coursepage` (the same
frame and look, every value escaped, no script). Forms post back to the service with
JupyterHub's ``_xsrf`` token; each form is shown only to those who may use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape

from computehub.credits.applications import Application
from computehub.credits.display import credits_text
from computehub.credits.money import MAX_HOURS, round_credits
from computehub.credits.service.page import Links, document, navbar
from computehub.credits.service.views import amount
from computehub.sitefile.schema import Programme

_KINDS = {
    "startup": "Startup",
    "research-group": "Research group",
    "course": "Course",
    "public-body": "Public body",
}
_STATUS = {
    "submitted": ("submitted, awaiting review", "text-bg-primary"),
    "changes_requested": ("changes requested", "text-bg-warning"),
    "approving": ("being approved", "text-bg-info"),
    "approved": ("approved", "text-bg-success"),
    "rejected": ("rejected", "text-bg-danger"),
}
_ACTIONS = {
    "submit": "applied",
    "comment": "commented",
    "recommend": "recommended",
    "request-changes": "asked for changes",
    "resubmit": "changed and resubmitted",
    "approve": "approved",
    "reject": "rejected",
}
#: What a notice in the page's address may say after a form was saved.
NOTICES = {
    "submitted": "Your application was submitted. Reviewers will look at it; you will "
    "see their decision here and on your credits page.",
    "resubmit": "Your changed application was submitted again.",
    "comment": "Your comment was added.",
    "recommend": "Your recommendation was recorded.",
    "changes": "The applicant was asked for changes.",
    "approve": "The application was approved and its credits granted.",
    "reject": "The application was rejected.",
}


@dataclass(frozen=True)
class FormValues:
    """What the application form shows: what was typed, or an application's fields."""

    organisation: str = ""
    organisation_kind: str = "startup"
    title: str = ""
    summary: str = ""
    category: str = ""
    gpu: str = ""
    hours: str = ""
    starts_on: str = ""
    ends_on: str = ""
    account_choice: str = "new"
    new_account: str = ""

    @classmethod
    def of(cls, row: Application) -> FormValues:
        """An application's fields, to edit them."""
        wanted = row.proposal
        return cls(
            organisation=wanted.organisation,
            organisation_kind=wanted.organisation_kind,
            title=wanted.title,
            summary=wanted.summary,
            category=wanted.category,
            gpu=wanted.resource.removeprefix("gpu:"),
            hours=amount(wanted.hours),
            starts_on=wanted.starts_on.isoformat(),
            ends_on=wanted.ends_on.isoformat(),
            account_choice="new" if wanted.new_account else wanted.account,
            new_account=wanted.account if wanted.new_account else "",
        )


@dataclass(frozen=True)
class FormView:
    """The application form: its values, the choices it offers, and what it says.

    Attributes:
        values: the fields.
        rates: credits per GPU-hour of each GPU type today (the highest of any hub).
        owned: the accounts the applicant owns (a top-up or renewal credits one).
        error: why the form was not accepted, or ``""``.
        priced: whether to show the cost of what was typed.
    """

    values: FormValues
    rates: Mapping[str, Decimal]
    owned: Sequence[str] = ()
    error: str = ""
    priced: bool = False


@dataclass(frozen=True)
class ApplicationView:
    """One application's page.

    Attributes:
        row: the application.
        review: whether the caller may comment and recommend.
        decide: whether the caller may ask for changes, approve and reject.
        edit: the applicant's form to change it (while undecided), or ``None``.
        notice: what was just saved.
    """

    row: Application
    review: bool
    decide: bool
    edit: FormView | None = None
    notice: str = ""


def gpu_rates(rates: Mapping[tuple[str, str], Decimal]) -> dict[str, Decimal]:
    """Credits per GPU-hour of each GPU type: the highest rate of any hub that prices it."""
    found: dict[str, Decimal] = {}
    for (_hub, resource), rate in rates.items():
        if resource.startswith("gpu:"):
            gpu = resource.removeprefix("gpu:")
            found[gpu] = max(rate, found.get(gpu, rate))
    return dict(sorted(found.items()))


def status_badge(status: str) -> str:
    """An application's status as a badge, in words."""
    words, style = _STATUS.get(status, (status, "text-bg-secondary"))
    return f'<span class="badge {style} ch-status" data-status="{escape(status)}">{words}</span>'


def decision_in_words(row: Application) -> str:
    """The decision, in a sentence (empty while undecided)."""
    if row.status in ("approved", "approving") and row.approved_amount is not None:
        hours = amount(row.approved_hours) if row.approved_hours is not None else "?"
        expiry = (
            "never expires"
            if row.approved_expires_at is None
            else "can be spent through "
            f"{(row.approved_expires_at - timedelta(days=1)).date().isoformat()}"
        )
        done = "were granted into" if row.status == "approved" else "are being granted into"
        note = f" Note: {row.reason}" if row.reason else ""
        return (
            f"{hours} GPU-hours ({credits_text(row.approved_amount)} credits) {done} account "
            f"{row.proposal.account}; the credit {expiry}.{note}"
        )
    if row.status == "rejected":
        return f"Rejected: {row.reason}"
    if row.status == "changes_requested":
        asked = [e for e in row.events if e.action == "request-changes"]
        return f"Changes requested: {asked[-1].message}" if asked else "Changes requested."
    return ""


def apply_page(
    user: str,
    mine: Sequence[Application],
    form: FormView,
    programme: Programme,
    *,
    xsrf: str,
    review: bool,
    notice: str,
    links: Links,
) -> str:
    """The applicant's page: their applications and the form to apply."""
    hub = escape(links.hub_prefix)
    base = escape(links.service)
    queue = (
        f'<p><a class="btn btn-outline-primary btn-sm" id="ch-queue-link" '
        f'href="{base}applications/queue">The queue of applications to review</a></p>'
        if review
        else ""
    )
    body = "\n".join(
        [
            navbar(user, hub),
            '<main class="container my-4">',
            _crumbs(links, "Applications for credits"),
            '<h1 class="h3 mb-3">Applications for credits</h1>',
            _notice(notice),
            queue,
            _mine(mine, links),
            '<h2 class="h5 mt-4">Apply for credits</h2>',
            "<p>Ask for GPU-hours of one GPU type for a project. The cost in credits is "
            "priced at today's rate; an approved application is granted into the account "
            "you choose (a new project account you will own, or one you own already, for a "
            "renewal or a top-up).</p>",
            _form(form, programme, xsrf=xsrf, action=f"{base}applications", submit="Submit"),
            "</main>",
        ]
    )
    return document("Applications for credits", hub, body)


def application_page(
    user: str, view: ApplicationView, programme: Programme, *, xsrf: str, links: Links
) -> str:
    """One application: what was asked, the decision, the history, and the forms allowed."""
    hub = escape(links.hub_prefix)
    row = view.row
    base = f"{escape(links.service)}applications/{row.id}"
    parts = [
        navbar(user, hub),
        '<main class="container my-4">',
        _crumbs(links, f"Application {row.id}"),
        f'<h1 class="h3">{escape(row.proposal.title)} {status_badge(row.status)}</h1>',
        _notice(view.notice),
        _details(row, programme),
        _history(row),
    ]
    open_ = row.status in ("submitted", "changes_requested")
    if view.review and open_:
        parts.append(_review_forms(row, base, xsrf))
    if view.decide and open_:
        parts.append(_decision_forms(row, base, xsrf))
    if view.edit is not None:
        parts += [
            '<h2 class="h5 mt-4">Change and resubmit</h2>',
            _form(
                view.edit,
                programme,
                xsrf=xsrf,
                action=f"{base}/resubmit",
                submit="Resubmit",
                message=True,
            ),
        ]
    parts += [
        '<p class="text-body-secondary small mt-4">Times are UTC. Amounts are credits.</p>',
        "</main>",
    ]
    return document(f"Application {row.id}", hub, "\n".join(parts))


def queue_page(
    user: str, rows: Sequence[Application], programme: Programme, *, now: datetime, links: Links
) -> str:
    """The reviewers' queue: priority categories first, then the oldest."""
    hub = escape(links.hub_prefix)
    base = escape(links.service)
    if rows:
        body_rows = "\n".join(_queue_row(row, programme, now, base) for row in rows)
        table = (
            '<div class="table-responsive"><table class="table table-sm align-middle" '
            'id="ch-queue"><thead><tr><th>Priority</th><th>Category</th><th>Project</th>'
            '<th>Applicant</th><th class="text-end">Asked</th><th>Submitted (UTC)</th>'
            f"<th>Status</th><th>Recommendations</th></tr></thead><tbody>\n{body_rows}\n"
            "</tbody></table></div>"
        )
    else:
        table = (
            '<p class="alert alert-light" id="ch-queue-empty">No application awaits a decision.</p>'
        )
    body = "\n".join(
        [
            navbar(user, hub),
            '<main class="container my-4">',
            _crumbs(links, "Queue"),
            '<h1 class="h3 mb-3">Applications awaiting a decision</h1>',
            "<p>Priority categories first, then the oldest.</p>",
            table,
            "</main>",
        ]
    )
    return document("Applications awaiting a decision", hub, body)


def decisions_notice(rows: Sequence[Application], links: Links) -> str:
    """The credits page's notice of decisions the applicant has not seen yet."""
    if not rows:
        return ""
    base = escape(links.service)
    items = "".join(
        f'<li data-application="{row.id}"><a href="{base}applications/{row.id}">'
        f"{escape(row.proposal.title)}</a>: {status_badge(row.status)} "
        f'<span class="ch-decision">{escape(decision_in_words(row))}</span></li>'
        for row in rows
    )
    return (
        '<section class="alert alert-info" id="ch-decisions"><h2 class="h6">News of your '
        f'applications for credits</h2><ul class="mb-0">{items}</ul></section>'
    )


def _crumbs(links: Links, here: str) -> str:
    base = escape(links.service)
    items = [
        f'<li class="breadcrumb-item"><a href="{base}">Credits and sessions</a></li>',
        f'<li class="breadcrumb-item"><a href="{base}applications">Applications</a></li>',
    ]
    if here != "Applications for credits":
        items.append(f'<li class="breadcrumb-item active">{escape(here)}</li>')
    return f'<nav aria-label="breadcrumb"><ol class="breadcrumb">{"".join(items)}</ol></nav>'


def _notice(notice: str) -> str:
    if not notice:
        return ""
    return f'<p class="alert alert-success" id="ch-notice">{escape(notice)}</p>'


def _asked(row: Application) -> str:
    return (
        f"{amount(row.proposal.hours)} GPU-hours of {escape(_gpu(row))}"
        f" ({credits_text(row.estimate)} credits)"
    )


def _gpu(row: Application) -> str:
    return row.proposal.resource.removeprefix("gpu:").upper()


def _mine(rows: Sequence[Application], links: Links) -> str:
    if not rows:
        return '<p id="ch-no-applications">You have not applied for credits yet.</p>'
    base = escape(links.service)
    body = "\n".join(
        f'<tr data-application="{row.id}"><td class="ch-title"><a href="{base}applications/'
        f'{row.id}">{escape(row.proposal.title)}</a></td>'
        f'<td class="ch-asked">{_asked(row)}</td>'
        f'<td class="ch-account">{escape(row.proposal.account)}</td>'
        f"<td>{status_badge(row.status)}</td>"
        f'<td class="ch-decision">{escape(decision_in_words(row))}</td></tr>'
        for row in rows
    )
    return (
        '<h2 class="h5">Your applications</h2><div class="table-responsive"><table '
        'class="table table-sm align-middle" id="ch-applications"><thead><tr><th>Project</th>'
        "<th>Asked</th><th>Account</th><th>Status</th><th>Decision</th></tr></thead>"
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def _details(row: Application, programme: Programme) -> str:
    wanted = row.proposal
    category = programme.categories.get(wanted.category)
    title = category.title if category else wanted.category
    priority = ' <span class="badge text-bg-warning">priority</span>' if wanted.priority else ""
    account = (
        f"{escape(wanted.account)} (a new project account, owned by {escape(row.applicant)})"
        if wanted.new_account
        else f"{escape(wanted.account)} (an account {escape(row.applicant)} owns)"
    )
    decision = decision_in_words(row)
    kind = _KINDS.get(wanted.organisation_kind, wanted.organisation_kind)
    decided = (
        f'<dt class="col-sm-3">Decision</dt>'
        f'<dd class="col-sm-9 ch-decision">{escape(decision)}</dd>'
        if decision
        else ""
    )
    return (
        '<dl class="row mb-4" id="ch-application">'
        f'<dt class="col-sm-3">Applicant</dt>'
        f'<dd class="col-sm-9 ch-applicant">{escape(row.applicant)}</dd>'
        f'<dt class="col-sm-3">Organisation</dt><dd class="col-sm-9 ch-organisation">'
        f"{escape(wanted.organisation)} ({escape(kind)})</dd>"
        f'<dt class="col-sm-3">Category</dt>'
        f'<dd class="col-sm-9 ch-category">{escape(title)}{priority}</dd>'
        '<dt class="col-sm-3">Summary</dt>'
        f'<dd class="col-sm-9 ch-summary">{_lines(wanted.summary)}</dd>'
        '<dt class="col-sm-3">Asked for</dt>'
        f'<dd class="col-sm-9 ch-asked">{_asked(row)}, at '
        f'<span class="ch-rate">{amount(row.rate)}</span> credits per GPU-hour</dd>'
        f'<dt class="col-sm-3">Period</dt><dd class="col-sm-9 ch-period">'
        f"{wanted.starts_on.isoformat()} to {wanted.ends_on.isoformat()}</dd>"
        f'<dt class="col-sm-3">Account to credit</dt><dd class="col-sm-9 ch-account">{account}</dd>'
        f"{decided}</dl>"
    )


def _history(row: Application) -> str:
    body = "\n".join(
        f'<tr><td class="ch-when">{e.at:%Y-%m-%d %H:%M}</td>'
        f'<td class="ch-actor">{escape(e.actor)}</td>'
        f'<td class="ch-action" data-action="{escape(e.action)}">'
        f"{escape(_ACTIONS.get(e.action, e.action))}</td>"
        f'<td class="ch-message">{_lines(e.message)}</td>'
        f'<td class="ch-detail small">{escape(e.detail)}</td></tr>'
        for e in row.events
    )
    return (
        '<h2 class="h5">History</h2><div class="table-responsive"><table class="table '
        'table-sm" id="ch-history"><thead><tr><th>When (UTC)</th><th>Who</th><th>What</th>'
        f"<th>Message</th><th>Details</th></tr></thead><tbody>\n{body}\n</tbody></table></div>"
    )


def _lines(text: str) -> str:
    """Escaped text whose new lines show (the page's policy allows no inline style)."""
    return "<br>".join(escape(line) for line in text.splitlines())


def _hidden(xsrf: str) -> str:
    return f'<input type="hidden" name="_xsrf" value="{escape(xsrf)}">'


def _review_forms(row: Application, base: str, xsrf: str) -> str:
    return (
        '<div class="row g-4 mt-1"><div class="col-md-6">'
        '<h2 class="h5">Comment</h2>'
        f'<form method="post" action="{base}/comment" id="ch-comment-form">{_hidden(xsrf)}'
        '<label class="form-label" for="ch-comment">Your comment (everyone who can read '
        "the application sees it)</label>"
        '<textarea class="form-control mb-2" name="message" id="ch-comment" rows="3" '
        'required maxlength="5000"></textarea>'
        '<button class="btn btn-outline-primary" type="submit" id="ch-comment-send">'
        "Add the comment</button></form></div>"
        '<div class="col-md-6"><h2 class="h5">Recommend</h2>'
        f'<form method="post" action="{base}/recommend" id="ch-recommend-form">{_hidden(xsrf)}'
        '<div class="row g-2"><div class="col-6"><label class="form-label" for="ch-recommendation">'
        'Recommendation</label><select class="form-select" name="recommendation" '
        'id="ch-recommendation"><option value="approve">Approve</option>'
        '<option value="reject">Reject</option></select></div>'
        '<div class="col-6"><label class="form-label" for="ch-recommend-hours">GPU-hours '
        f'(approve)</label><input class="form-control" name="hours" id="ch-recommend-hours" '
        f'inputmode="decimal" value="{amount(row.proposal.hours)}"></div></div>'
        '<label class="form-label mt-2" for="ch-recommend-message">Why</label>'
        '<textarea class="form-control mb-2" name="message" id="ch-recommend-message" rows="2" '
        'maxlength="5000"></textarea>'
        '<button class="btn btn-outline-primary" type="submit" id="ch-recommend-send">'
        "Record the recommendation</button></form></div></div>"
    )


def _decision_forms(row: Application, base: str, xsrf: str) -> str:
    expires = row.proposal.ends_on.isoformat()
    return (
        '<h2 class="h5 mt-4">Decide</h2><div class="row g-4">'
        '<div class="col-md-4">'
        f'<form method="post" action="{base}/approve" id="ch-approve-form">{_hidden(xsrf)}'
        '<label class="form-label" for="ch-approve-hours">GPU-hours to grant</label>'
        '<input class="form-control mb-2" name="hours" id="ch-approve-hours" inputmode="decimal" '
        f'required value="{amount(row.proposal.hours)}">'
        '<label class="form-label" for="ch-approve-expires">'
        "Last day the credit can be spent</label>"
        f'<input class="form-control mb-2" type="date" name="expires_on" id="ch-approve-expires" '
        f'required value="{expires}">'
        '<label class="form-label" for="ch-approve-message">Note for the applicant</label>'
        '<textarea class="form-control mb-2" name="message" id="ch-approve-message" rows="2" '
        'maxlength="5000"></textarea>'
        f'<p class="small text-body-secondary">Grants the hours at today\'s rate of '
        f"{escape(_gpu(row))} into "
        f"{escape(row.proposal.account)}, once.</p>"
        '<button class="btn btn-success" type="submit" id="ch-approve">Approve and grant</button>'
        "</form></div>"
        '<div class="col-md-4">'
        f'<form method="post" action="{base}/changes" id="ch-changes-form">{_hidden(xsrf)}'
        '<label class="form-label" for="ch-changes-message">'
        "What the applicant should change</label>"
        '<textarea class="form-control mb-2" name="message" id="ch-changes-message" rows="4" '
        'required maxlength="5000"></textarea>'
        '<button class="btn btn-warning" type="submit" id="ch-changes">Ask for changes</button>'
        "</form></div>"
        '<div class="col-md-4">'
        f'<form method="post" action="{base}/reject" id="ch-reject-form">{_hidden(xsrf)}'
        '<label class="form-label" for="ch-reject-reason">Reason (the applicant sees it)</label>'
        '<textarea class="form-control mb-2" name="reason" id="ch-reject-reason" rows="4" '
        'required maxlength="5000"></textarea>'
        '<button class="btn btn-danger" type="submit" id="ch-reject">Reject</button>'
        "</form></div></div>"
    )


def _queue_row(row: Application, programme: Programme, now: datetime, base: str) -> str:
    category = programme.categories.get(row.proposal.category)
    recommendations = "; ".join(
        f"{e.actor}: {e.detail.removeprefix('recommends: ')}" for e in row.recommendations
    )
    named = category.title if category else row.proposal.category
    waited = (now - row.created_at).days
    return (
        f'<tr data-application="{row.id}">'
        f'<td class="ch-priority">{"yes" if row.proposal.priority else ""}</td>'
        f'<td class="ch-category">{escape(named)}</td>'
        f'<td class="ch-title"><a href="{base}applications/{row.id}">'
        f"{escape(row.proposal.title)}</a>"
        f' <span class="small text-body-secondary">{escape(row.proposal.organisation)}</span></td>'
        f'<td class="ch-applicant">{escape(row.applicant)}</td>'
        f'<td class="ch-asked text-end">{_asked(row)}</td>'
        f'<td class="ch-submitted">{row.created_at:%Y-%m-%d %H:%M} ({waited} days)</td>'
        f"<td>{status_badge(row.status)}</td>"
        f'<td class="ch-recommendations small">{escape(recommendations)}</td></tr>'
    )


def _form(
    view: FormView,
    programme: Programme,
    *,
    xsrf: str,
    action: str,
    submit: str,
    message: bool = False,
) -> str:
    v = view.values
    error = (
        f'<p class="alert alert-danger" id="ch-form-error">{escape(view.error)}</p>'
        if view.error
        else ""
    )
    kinds = "".join(
        f'<option value="{k}"{" selected" if k == v.organisation_kind else ""}>{w}</option>'
        for k, w in _KINDS.items()
    )
    categories = "".join(
        f'<option value="{escape(k)}"{" selected" if k == v.category else ""}>'
        f"{escape(c.title)}{' (priority)' if c.priority else ''}</option>"
        for k, c in programme.categories.items()
    )
    gpus = "".join(
        f'<option value="{escape(g)}"{" selected" if g == v.gpu else ""}>{escape(g.upper())}: '
        f"{amount(rate)} credits per GPU-hour</option>"
        for g, rate in view.rates.items()
    )
    accounts = "".join(
        f'<option value="{escape(a)}"{" selected" if a == v.account_choice else ""}>'
        f"{escape(a)} (yours: a top-up or renewal)</option>"
        for a in view.owned
    )
    new_selected = " selected" if v.account_choice == "new" else ""
    note = (
        '<div class="col-12"><label class="form-label" for="ch-apply-message">What you '
        'changed (for the reviewers)</label><textarea class="form-control" name="message" '
        'id="ch-apply-message" rows="2" maxlength="5000"></textarea></div>'
        if message
        else ""
    )
    return (
        f"{error}{_estimate(view)}"
        f'<form method="post" action="{action}" class="row g-3" id="ch-apply-form">{_hidden(xsrf)}'
        '<div class="col-md-8"><label class="form-label" for="ch-organisation">Applying '
        'organisation</label><input class="form-control" name="organisation" id="ch-organisation" '
        f'required maxlength="200" value="{escape(v.organisation)}"></div>'
        '<div class="col-md-4"><label class="form-label" for="ch-kind">Kind</label>'
        f'<select class="form-select" name="organisation_kind" id="ch-kind">{kinds}</select></div>'
        '<div class="col-12"><label class="form-label" for="ch-title">Project title</label>'
        '<input class="form-control" name="title" id="ch-title" required maxlength="200" '
        f'value="{escape(v.title)}"></div>'
        '<div class="col-12"><label class="form-label" for="ch-summary">Summary: what the '
        "project does with the GPUs</label>"
        '<textarea class="form-control" name="summary" id="ch-summary" rows="4" required '
        f'maxlength="5000">{escape(v.summary)}</textarea></div>'
        '<div class="col-md-6"><label class="form-label" for="ch-category">Category</label>'
        f'<select class="form-select" name="category" id="ch-category">{categories}</select></div>'
        '<div class="col-md-6"><label class="form-label" for="ch-gpu">GPU type (today\'s '
        f'rate)</label><select class="form-select" name="gpu" id="ch-gpu">{gpus}</select></div>'
        '<div class="col-md-4"><label class="form-label" for="ch-hours">GPU-hours</label>'
        '<input class="form-control" name="hours" id="ch-hours" inputmode="decimal" required '
        f'value="{escape(v.hours)}"></div>'
        '<div class="col-md-4"><label class="form-label" for="ch-starts-on">From</label>'
        '<input class="form-control" type="date" name="starts_on" id="ch-starts-on" required '
        f'value="{escape(v.starts_on)}"></div>'
        '<div class="col-md-4"><label class="form-label" for="ch-ends-on">To (the last day)</label>'
        '<input class="form-control" type="date" name="ends_on" id="ch-ends-on" required '
        f'value="{escape(v.ends_on)}"></div>'
        '<div class="col-md-6"><label class="form-label" for="ch-account-choice">Account to '
        'credit</label><select class="form-select" name="account_choice" id="ch-account-choice">'
        f'<option value="new"{new_selected}>A new project account (named below)</option>'
        f"{accounts}</select></div>"
        '<div class="col-md-6"><label class="form-label" for="ch-new-account">New project '
        'account\'s name</label><input class="form-control" name="new_account" '
        f'id="ch-new-account" maxlength="64" value="{escape(v.new_account)}"></div>'
        f"{note}"
        '<div class="col-12"><button class="btn btn-outline-secondary me-2" type="submit" '
        'name="action" value="estimate" id="ch-price">Show the cost</button>'
        f'<button class="btn btn-primary" type="submit" name="action" value="submit" '
        f'id="ch-submit">{escape(submit)}</button></div></form>'
    )


def _estimate(view: FormView) -> str:
    """The cost of what was typed, at today's rate, when it can be priced."""
    if not view.priced:
        return ""
    rate = view.rates.get(view.values.gpu)
    try:
        hours = Decimal(view.values.hours)
    except ArithmeticError:
        return ""
    if rate is None or not hours.is_finite() or not 0 < hours <= MAX_HOURS:
        return ""
    cost = round_credits(hours * rate)
    return (
        f'<p class="alert alert-info" id="ch-estimate">{amount(hours)} GPU-hours of '
        f"{escape(view.values.gpu.upper())} at {amount(rate)} credits per GPU-hour cost "
        f'<strong class="ch-cost">{credits_text(cost)}</strong> credits at today\'s rate.</p>'
    )


def default_period(today: date) -> tuple[str, str]:
    """The form's period: from tomorrow, for six months."""
    start = today + timedelta(days=1)
    return start.isoformat(), (start + timedelta(days=182)).isoformat()
