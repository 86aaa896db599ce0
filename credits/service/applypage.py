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
from computehub.i18n import _, ngettext
from computehub.i18n.catalog import N_, bdi, isolate, language
from computehub.i18n.choice import DEFAULT
from computehub.i18n.formats import date_text, datetime_text, number_text
from computehub.sitefile.schema import Programme

_KINDS = {
    "startup": N_("Startup"),
    "research-group": N_("Research group"),
    "course": N_("Course"),
    "public-body": N_("Public body"),
}
_STATUS = {
    "submitted": (N_("submitted, awaiting review"), "text-bg-primary"),
    "changes_requested": (N_("changes requested"), "text-bg-warning"),
    "approving": (N_("being approved"), "text-bg-info"),
    "approved": (N_("approved"), "text-bg-success"),
    "rejected": (N_("rejected"), "text-bg-danger"),
}
_ACTIONS = {
    "submit": N_("applied"),
    "comment": N_("commented"),
    "recommend": N_("recommended"),
    "request-changes": N_("asked for changes"),
    "resubmit": N_("changed and resubmitted"),
    "approve": N_("approved"),
    "reject": N_("rejected"),
}
#: What a notice in the page's address may say after a form was saved (translated where
#: shown: :func:`~computehub.credits.service.applypage.notice_text`).
NOTICES = {
    "submitted": N_(
        "Your application was submitted. Reviewers will look at it; you will "
        "see their decision here and on your credits page."
    ),
    "resubmit": N_("Your changed application was submitted again."),
    "comment": N_("Your comment was added."),
    "recommend": N_("Your recommendation was recorded."),
    "changes": N_("The applicant was asked for changes."),
    "approve": N_("The application was approved and its credits granted."),
    "reject": N_("The application was rejected."),
}


def notice_text(saved: str) -> str:
    """The notice after the form ``saved`` was used, in the page's language (or ``""``)."""
    return _(NOTICES[saved]) if saved in NOTICES else ""


def kind_words(kind: str) -> str:
    """An organisation's kind in words, in the page's language."""
    return _(_KINDS[kind]) if kind in _KINDS else kind


def status_words(status: str) -> str:
    """An application's status in words, in the page's language."""
    return _(_STATUS[status][0]) if status in _STATUS else status


_kind = kind_words


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
    style = _STATUS[status][1] if status in _STATUS else "text-bg-secondary"
    shown = escape(status_words(status))
    return f'<span class="badge {style} ch-status" data-status="{escape(status)}">{shown}</span>'


def decision_in_words(row: Application) -> str:
    """The decision, in a sentence (empty while undecided)."""
    if row.status in ("approved", "approving") and row.approved_amount is not None:
        hours = _hours(row.approved_hours) if row.approved_hours is not None else "?"
        credit = credits_text(row.approved_amount)
        account = isolate(row.proposal.account)
        if row.approved_expires_at is None:
            expiry = _("the credit never expires")
        else:
            last = (row.approved_expires_at - timedelta(days=1)).date()
            expiry = _("the credit can be spent through {day}").format(day=_day(last))
        if row.status == "approved":
            text = _(
                "{hours} GPU-hours ({amount} credits) were granted into account {account}; "
                "{expiry}."
            )
        else:
            text = _(
                "{hours} GPU-hours ({amount} credits) are being granted into account "
                "{account}; {expiry}."
            )
        text = text.format(hours=hours, amount=credit, account=account, expiry=expiry)
        note = " " + _("Note: {note}").format(note=isolate(row.reason)) if row.reason else ""
        return text + note
    if row.status == "rejected":
        return _("Rejected: {reason}").format(reason=isolate(row.reason or ""))
    if row.status == "changes_requested":
        asked = [e for e in row.events if e.action == "request-changes"]
        if asked:
            return _("Changes requested: {message}").format(message=isolate(asked[-1].message))
        return _("Changes requested.")
    return ""


def _hours(value: Decimal) -> str:
    """GPU-hours as people read them: exact in English (as typed), the locale's otherwise."""
    return amount(value) if _english() else number_text(value)


def _day(value: date) -> str:
    """A day: ISO in English (as the form takes it), the locale's otherwise."""
    return value.isoformat() if _english() else date_text(value)


def _minute(value: datetime) -> str:
    """A time to the minute in UTC, as the credits page writes it."""
    return datetime_text(value)


def _english() -> bool:
    return language() == DEFAULT


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
        f'href="{base}applications/queue">' + _("The queue of applications to review") + "</a></p>"
        if review
        else ""
    )
    body = "\n".join(
        [
            navbar(user, hub, back_to=f"{links.service}applications"),
            '<main class="container my-4">',
            _crumbs(links, None),
            '<h1 class="h3 mb-3">' + _("Applications for credits") + "</h1>",
            _notice(notice),
            queue,
            _mine(mine, links),
            '<h2 class="h5 mt-4">' + _("Apply for credits") + "</h2>",
            "<p>"
            + _(
                "Ask for GPU-hours of one GPU type for a project. The cost in credits is "
                "priced at today's rate; an approved application is granted into the account "
                "you choose (a new project account you will own, or one you own already, for "
                "a renewal or a top-up)."
            )
            + "</p>",
            _form(form, programme, xsrf=xsrf, action=f"{base}applications", submit=_("Submit")),
            "</main>",
        ]
    )
    return document(_("Applications for credits"), hub, body)


def application_page(
    user: str, view: ApplicationView, programme: Programme, *, xsrf: str, links: Links
) -> str:
    """One application: what was asked, the decision, the history, and the forms allowed."""
    hub = escape(links.hub_prefix)
    row = view.row
    base = f"{escape(links.service)}applications/{row.id}"
    here = _("Application {number}").format(number=row.id)
    parts = [
        navbar(user, hub, back_to=f"{links.service}applications/{row.id}"),
        '<main class="container my-4">',
        _crumbs(links, here),
        f'<h1 class="h3">{bdi(escape(row.proposal.title))} {status_badge(row.status)}</h1>',
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
            '<h2 class="h5 mt-4">' + _("Change and resubmit") + "</h2>",
            _form(
                view.edit,
                programme,
                xsrf=xsrf,
                action=f"{base}/resubmit",
                submit=_("Resubmit"),
                message=True,
            ),
        ]
    parts += [
        '<p class="text-body-secondary small mt-4">'
        + _("Times are UTC. Amounts are credits.")
        + "</p>",
        "</main>",
    ]
    return document(here, hub, "\n".join(parts))


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
            'id="ch-queue"><thead><tr><th>'
            + _("Priority")
            + "</th><th>"
            + _("Category")
            + "</th><th>"
            + _("Project")
            + "</th><th>"
            + _("Applicant")
            + '</th><th class="text-end">'
            + _("Asked")
            + "</th><th>"
            + _("Submitted (UTC)")
            + "</th><th>"
            + _("Status")
            + "</th><th>"
            + _("Recommendations")
            + f"</th></tr></thead><tbody>\n{body_rows}\n"
            "</tbody></table></div>"
        )
    else:
        table = (
            '<p class="alert alert-light" id="ch-queue-empty">'
            + _("No application awaits a decision.")
            + "</p>"
        )
    body = "\n".join(
        [
            navbar(user, hub, back_to=f"{links.service}applications/queue"),
            '<main class="container my-4">',
            _crumbs(links, _("Queue")),
            '<h1 class="h3 mb-3">' + _("Applications awaiting a decision") + "</h1>",
            "<p>" + _("Priority categories first, then the oldest.") + "</p>",
            table,
            "</main>",
        ]
    )
    return document(_("Applications awaiting a decision"), hub, body)


def decisions_notice(rows: Sequence[Application], links: Links) -> str:
    """The credits page's notice of decisions the applicant has not seen yet."""
    if not rows:
        return ""
    base = escape(links.service)
    items = "".join(
        f'<li data-application="{row.id}"><a href="{base}applications/{row.id}">'
        f"{bdi(escape(row.proposal.title))}</a>: {status_badge(row.status)} "
        f'<span class="ch-decision">{escape(decision_in_words(row))}</span></li>'
        for row in rows
    )
    return (
        '<section class="alert alert-info" id="ch-decisions"><h2 class="h6">'
        + _("News of your applications for credits")
        + f'</h2><ul class="mb-0">{items}</ul></section>'
    )


def _crumbs(links: Links, here: str | None) -> str:
    """The way back: the credits page, the applications, and ``here`` (none: the latter)."""
    base = escape(links.service)
    items = [
        f'<li class="breadcrumb-item"><a href="{base}">' + _("Credits and sessions") + "</a></li>",
        f'<li class="breadcrumb-item"><a href="{base}applications">'
        + _("Applications")
        + "</a></li>",
    ]
    if here is not None:
        items.append(f'<li class="breadcrumb-item active">{escape(here)}</li>')
    label = escape(_("breadcrumb"))
    return f'<nav aria-label="{label}"><ol class="breadcrumb">{"".join(items)}</ol></nav>'


def _notice(notice: str) -> str:
    if not notice:
        return ""
    return f'<p class="alert alert-success" id="ch-notice">{escape(notice)}</p>'


def _asked(row: Application) -> str:
    return escape(
        _("{hours} GPU-hours of {gpu} ({amount} credits)").format(
            hours=_hours(row.proposal.hours),
            gpu=isolate(_gpu(row)),
            amount=credits_text(row.estimate),
        )
    )


def _gpu(row: Application) -> str:
    return row.proposal.resource.removeprefix("gpu:").upper()


def _mine(rows: Sequence[Application], links: Links) -> str:
    if not rows:
        return '<p id="ch-no-applications">' + _("You have not applied for credits yet.") + "</p>"
    base = escape(links.service)
    body = "\n".join(
        f'<tr data-application="{row.id}"><td class="ch-title"><a href="{base}applications/'
        f'{row.id}">{bdi(escape(row.proposal.title))}</a></td>'
        f'<td class="ch-asked">{_asked(row)}</td>'
        f'<td class="ch-account">{bdi(escape(row.proposal.account))}</td>'
        f"<td>{status_badge(row.status)}</td>"
        f'<td class="ch-decision">{escape(decision_in_words(row))}</td></tr>'
        for row in rows
    )
    return (
        '<h2 class="h5">' + _("Your applications") + '</h2><div class="table-responsive"><table '
        'class="table table-sm align-middle" id="ch-applications"><thead><tr><th>'
        + _("Project")
        + "</th><th>"
        + _("Asked")
        + "</th><th>"
        + _("Account")
        + "</th><th>"
        + _("Status")
        + "</th><th>"
        + _("Decision")
        + "</th></tr></thead>"
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def _details(row: Application, programme: Programme) -> str:
    wanted = row.proposal
    category = programme.categories.get(wanted.category)
    title = category.title if category else wanted.category
    priority = (
        ' <span class="badge text-bg-warning">' + _("priority") + "</span>"
        if wanted.priority
        else ""
    )
    owner = f"{bdi(escape(row.applicant))}"
    account = f"{bdi(escape(wanted.account))} " + (
        _("(a new project account, owned by {user})").format(user=owner)
        if wanted.new_account
        else _("(an account {user} owns)").format(user=owner)
    )
    decision = decision_in_words(row)
    kind = _kind(wanted.organisation_kind)
    decided = (
        '<dt class="col-sm-3">'
        + _("Decision")
        + "</dt>"
        + f'<dd class="col-sm-9 ch-decision">{escape(decision)}</dd>'
        if decision
        else ""
    )
    asked = _("{asked}, at {rate} credits per GPU-hour").format(
        asked=_asked(row), rate=f'<span class="ch-rate">{amount(row.rate)}</span>'
    )
    period = _("{start} to {end}").format(start=_day(wanted.starts_on), end=_day(wanted.ends_on))
    return (
        '<dl class="row mb-4" id="ch-application">'
        '<dt class="col-sm-3">'
        + _("Applicant")
        + "</dt>"
        + f'<dd class="col-sm-9 ch-applicant">{bdi(escape(row.applicant))}</dd>'
        '<dt class="col-sm-3">'
        + _("Organisation")
        + '</dt><dd class="col-sm-9 ch-organisation">'
        + f"{bdi(escape(wanted.organisation))} ({escape(kind)})</dd>"
        '<dt class="col-sm-3">'
        + _("Category")
        + "</dt>"
        + f'<dd class="col-sm-9 ch-category">{bdi(escape(title))}{priority}</dd>'
        '<dt class="col-sm-3">'
        + _("Summary")
        + "</dt>"
        + f'<dd class="col-sm-9 ch-summary">{bdi(_lines(wanted.summary))}</dd>'
        '<dt class="col-sm-3">'
        + _("Asked for")
        + "</dt>"
        + f'<dd class="col-sm-9 ch-asked">{asked}</dd>'
        '<dt class="col-sm-3">'
        + _("Period")
        + '</dt><dd class="col-sm-9 ch-period">'
        + f"{escape(period)}</dd>"
        '<dt class="col-sm-3">'
        + _("Account to credit")
        + f'</dt><dd class="col-sm-9 ch-account">{account}</dd>'
        f"{decided}</dl>"
    )


def _history(row: Application) -> str:
    body = "\n".join(
        f'<tr><td class="ch-when text-nowrap">{_minute(e.at)}</td>'
        f'<td class="ch-actor">{bdi(escape(e.actor))}</td>'
        f'<td class="ch-action" data-action="{escape(e.action)}">'
        f"{escape(_action(e.action))}</td>"
        f'<td class="ch-message">{bdi(_lines(e.message))}</td>'
        f'<td class="ch-detail small">{bdi(escape(e.detail))}</td></tr>'
        for e in row.events
    )
    return (
        '<h2 class="h5">' + _("History") + '</h2><div class="table-responsive"><table class="table '
        'table-sm" id="ch-history"><thead><tr><th>'
        + _("When (UTC)")
        + "</th><th>"
        + _("Who")
        + "</th><th>"
        + _("What")
        + "</th><th>"
        + _("Message")
        + "</th><th>"
        + _("Details")
        + f"</th></tr></thead><tbody>\n{body}\n</tbody></table></div>"
    )


def _action(action: str) -> str:
    """A step in an application's history, in words."""
    return _(_ACTIONS[action]) if action in _ACTIONS else action


def _lines(text: str) -> str:
    """Escaped text whose new lines show (the page's policy allows no inline style)."""
    return "<br>".join(escape(line) for line in text.splitlines())


def _hidden(xsrf: str) -> str:
    return f'<input type="hidden" name="_xsrf" value="{escape(xsrf)}">'


def _review_forms(row: Application, base: str, xsrf: str) -> str:
    return (
        '<div class="row g-4 mt-1"><div class="col-md-6">'
        '<h2 class="h5">'
        + _("Comment")
        + "</h2>"
        + f'<form method="post" action="{base}/comment" id="ch-comment-form">{_hidden(xsrf)}'
        '<label class="form-label" for="ch-comment">'
        + _("Your comment (everyone who can read the application sees it)")
        + "</label>"
        '<textarea class="form-control mb-2" name="message" id="ch-comment" rows="3" '
        'required maxlength="5000"></textarea>'
        '<button class="btn btn-outline-primary" type="submit" id="ch-comment-send">'
        + _("Add the comment")
        + "</button></form></div>"
        '<div class="col-md-6"><h2 class="h5">'
        + _("Recommend")
        + "</h2>"
        + f'<form method="post" action="{base}/recommend" id="ch-recommend-form">{_hidden(xsrf)}'
        '<div class="row g-2"><div class="col-6"><label class="form-label" for="ch-recommendation">'
        + _("Recommendation")
        + '</label><select class="form-select" name="recommendation" '
        'id="ch-recommendation"><option value="approve">' + _("Approve") + "</option>"
        '<option value="reject">' + _("Reject") + "</option></select></div>"
        '<div class="col-6"><label class="form-label" for="ch-recommend-hours">'
        + _("GPU-hours (approve)")
        + '</label><input class="form-control" name="hours" id="ch-recommend-hours" dir="ltr" '
        + f'inputmode="decimal" value="{amount(row.proposal.hours)}"></div></div>'
        '<label class="form-label mt-2" for="ch-recommend-message">' + _("Why") + "</label>"
        '<textarea class="form-control mb-2" name="message" id="ch-recommend-message" rows="2" '
        'maxlength="5000"></textarea>'
        '<button class="btn btn-outline-primary" type="submit" id="ch-recommend-send">'
        + _("Record the recommendation")
        + "</button></form></div></div>"
    )


def _decision_forms(row: Application, base: str, xsrf: str) -> str:
    expires = row.proposal.ends_on.isoformat()
    return (
        '<h2 class="h5 mt-4">' + _("Decide") + '</h2><div class="row g-4">'
        '<div class="col-md-4">'
        + f'<form method="post" action="{base}/approve" id="ch-approve-form">{_hidden(xsrf)}'
        '<label class="form-label" for="ch-approve-hours">' + _("GPU-hours to grant") + "</label>"
        '<input class="form-control mb-2" name="hours" id="ch-approve-hours" inputmode="decimal" '
        + f'dir="ltr" required value="{amount(row.proposal.hours)}">'
        '<label class="form-label" for="ch-approve-expires">'
        + _("Last day the credit can be spent")
        + "</label>"
        + f'<input class="form-control mb-2" type="date" name="expires_on" id="ch-approve-expires" '
        f'required value="{expires}">'
        '<label class="form-label" for="ch-approve-message">'
        + _("Note for the applicant")
        + "</label>"
        '<textarea class="form-control mb-2" name="message" id="ch-approve-message" rows="2" '
        'maxlength="5000"></textarea>'
        '<p class="small text-body-secondary">'
        + _("Grants the hours at today's rate of {gpu} into {account}, once.").format(
            gpu=f"{bdi(escape(_gpu(row)))}",
            account=f"{bdi(escape(row.proposal.account))}",
        )
        + "</p>"
        '<button class="btn btn-success" type="submit" id="ch-approve">'
        + _("Approve and grant")
        + "</button></form></div>"
        '<div class="col-md-4">'
        + f'<form method="post" action="{base}/changes" id="ch-changes-form">{_hidden(xsrf)}'
        '<label class="form-label" for="ch-changes-message">'
        + _("What the applicant should change")
        + "</label>"
        '<textarea class="form-control mb-2" name="message" id="ch-changes-message" rows="4" '
        'required maxlength="5000"></textarea>'
        '<button class="btn btn-warning" type="submit" id="ch-changes">'
        + _("Ask for changes")
        + "</button></form></div>"
        '<div class="col-md-4">'
        + f'<form method="post" action="{base}/reject" id="ch-reject-form">{_hidden(xsrf)}'
        '<label class="form-label" for="ch-reject-reason">'
        + _("Reason (the applicant sees it)")
        + "</label>"
        '<textarea class="form-control mb-2" name="reason" id="ch-reject-reason" rows="4" '
        'required maxlength="5000"></textarea>'
        '<button class="btn btn-danger" type="submit" id="ch-reject">'
        + _("Reject")
        + "</button></form></div></div>"
    )


def _queue_row(row: Application, programme: Programme, now: datetime, base: str) -> str:
    category = programme.categories.get(row.proposal.category)
    recommendations = "; ".join(
        f"{isolate(e.actor)}: {isolate(e.detail.removeprefix('recommends: '))}"
        for e in row.recommendations
    )
    named = category.title if category else row.proposal.category
    waited = (now - row.created_at).days
    return (
        f'<tr data-application="{row.id}">'
        '<td class="ch-priority">' + (_("yes") if row.proposal.priority else "") + "</td>"
        f'<td class="ch-category">{bdi(escape(named))}</td>'
        f'<td class="ch-title"><a href="{base}applications/{row.id}">'
        f"{bdi(escape(row.proposal.title))}</a>"
        ' <span class="small text-body-secondary">'
        f"{bdi(escape(row.proposal.organisation))}</span></td>"
        f'<td class="ch-applicant">{bdi(escape(row.applicant))}</td>'
        f'<td class="ch-asked text-end">{_asked(row)}</td>'
        '<td class="ch-submitted">'
        + ngettext("{when} ({days} day)", "{when} ({days} days)", waited).format(
            when=_minute(row.created_at), days=waited
        )
        + "</td>"
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
        f'<option value="{k}"{" selected" if k == v.organisation_kind else ""}>'
        + escape(_kind(k))
        + "</option>"
        for k in _KINDS
    )
    categories = "".join(
        f'<option value="{escape(k)}"{" selected" if k == v.category else ""}>'
        + escape(c.title)
        + (" " + _("(priority)") if c.priority else "")
        + "</option>"
        for k, c in programme.categories.items()
    )
    gpus = "".join(
        f'<option value="{escape(g)}"{" selected" if g == v.gpu else ""}>'
        + escape(
            _("{gpu}: {rate} credits per GPU-hour").format(
                gpu=isolate(g.upper()), rate=amount(rate)
            )
        )
        + "</option>"
        for g, rate in view.rates.items()
    )
    accounts = "".join(
        f'<option value="{escape(a)}"{" selected" if a == v.account_choice else ""}>'
        + escape(_("{account} (yours: a top-up or renewal)").format(account=isolate(a)))
        + "</option>"
        for a in view.owned
    )
    new_selected = " selected" if v.account_choice == "new" else ""
    note = (
        '<div class="col-12"><label class="form-label" for="ch-apply-message">'
        + _("What you changed (for the reviewers)")
        + '</label><textarea class="form-control" name="message" '
        'id="ch-apply-message" rows="2" maxlength="5000"></textarea></div>'
        if message
        else ""
    )

    def label(target: str, words: str) -> str:
        return f'<label class="form-label" for="{target}">{words}</label>'

    return (
        f"{error}{_estimate(view)}"
        f'<form method="post" action="{action}" class="row g-3" id="ch-apply-form">{_hidden(xsrf)}'
        '<div class="col-md-8">'
        + label("ch-organisation", _("Applying organisation"))
        + '<input class="form-control" name="organisation" id="ch-organisation" '
        f'required maxlength="200" value="{escape(v.organisation)}"></div>'
        '<div class="col-md-4">'
        + label("ch-kind", _("Kind"))
        + '<select class="form-select" name="organisation_kind" id="ch-kind">'
        + f"{kinds}</select></div>"
        '<div class="col-12">'
        + label("ch-title", _("Project title"))
        + '<input class="form-control" name="title" id="ch-title" required maxlength="200" '
        f'value="{escape(v.title)}"></div>'
        '<div class="col-12">'
        + label("ch-summary", _("Summary: what the project does with the GPUs"))
        + '<textarea class="form-control" name="summary" id="ch-summary" rows="4" required '
        f'maxlength="5000">{escape(v.summary)}</textarea></div>'
        '<div class="col-md-6">'
        + label("ch-category", _("Category"))
        + '<select class="form-select" name="category" id="ch-category">'
        + f"{categories}</select></div>"
        '<div class="col-md-6">'
        + label("ch-gpu", _("GPU type (today's rate)"))
        + f'<select class="form-select" name="gpu" id="ch-gpu">{gpus}</select></div>'
        '<div class="col-md-4">'
        + label("ch-hours", _("GPU-hours"))
        + '<input class="form-control" name="hours" id="ch-hours" inputmode="decimal" required '
        f'dir="ltr" value="{escape(v.hours)}"></div>'
        '<div class="col-md-4">'
        + label("ch-starts-on", _("From"))
        + '<input class="form-control" type="date" name="starts_on" id="ch-starts-on" required '
        f'value="{escape(v.starts_on)}"></div>'
        '<div class="col-md-4">'
        + label("ch-ends-on", _("To (the last day)"))
        + '<input class="form-control" type="date" name="ends_on" id="ch-ends-on" required '
        f'value="{escape(v.ends_on)}"></div>'
        '<div class="col-md-6">'
        + label("ch-account-choice", _("Account to credit"))
        + '<select class="form-select" name="account_choice" id="ch-account-choice">'
        f'<option value="new"{new_selected}>'
        + _("A new project account (named below)")
        + f"</option>{accounts}</select></div>"
        '<div class="col-md-6">'
        + label("ch-new-account", _("New project account's name"))
        + '<input class="form-control" name="new_account" dir="ltr" '
        f'id="ch-new-account" maxlength="64" value="{escape(v.new_account)}"></div>'
        f"{note}"
        '<div class="col-12"><button class="btn btn-outline-secondary me-2" type="submit" '
        'name="action" value="estimate" id="ch-price">' + _("Show the cost") + "</button>"
        '<button class="btn btn-primary" type="submit" name="action" value="submit" '
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
        '<p class="alert alert-info" id="ch-estimate">'
        + _(
            "{hours} GPU-hours of {gpu} at {rate} credits per GPU-hour cost {cost} credits "
            "at today's rate."
        ).format(
            hours=_hours(hours),
            gpu=f"{bdi(escape(view.values.gpu.upper()))}",
            rate=amount(rate),
            cost=f'<strong class="ch-cost">{credits_text(cost)}</strong>',
        )
        + "</p>"
    )


def default_period(today: date) -> tuple[str, str]:
    """The form's period: from tomorrow, for six months."""
    start = today + timedelta(days=1)
    return start.isoformat(), (start + timedelta(days=182)).isoformat()
