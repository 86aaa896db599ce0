"""The page people see at ``/services/credits/``: their accounts and what their sessions cost.

Pure functions from ledger records to HTML, no I/O, so the tests feed them plain
:mod:`~computehub.credits.records`. Every value from the ledger is escaped; the page
has no script and loads nothing but Bootstrap from the hub's own static files, so it
sits next to JupyterHub's pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from html import escape

from computehub.credits import records as r
from computehub.credits.display import credits_text
from computehub.credits.notices import last_day
from computehub.credits.service import theme
from computehub.credits.service.energywords import energy_in_words
from computehub.credits.service.serverwords import server_cell
from computehub.credits.service.views import amount
from computehub.i18n import _, language
from computehub.i18n.choice import direction
from computehub.i18n.formats import date_text, datetime_text, number_text
from computehub.i18n.hub import switch_links

#: How many sessions the page lists.
SESSION_LIMIT = 20
#: Bootstrap as the hub ships it, under the hub's prefix.
BOOTSTRAP = "static/components/bootstrap/dist/css/bootstrap.min.css"
#: Its right-to-left build (Urdu), which the hub ships beside it.
BOOTSTRAP_RTL = "static/components/bootstrap/dist/css/bootstrap.rtl.min.css"
#: The page loads styles and the logo from its own origin (the hub's proxy) and runs nothing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)
_STATUS_BADGES = {
    "open": "text-bg-primary",
    "settled": "text-bg-secondary",
    "voided": "text-bg-light",
}
_NONE = "—"
#: Between a count and a GPU: "2 x H100", with the multiplication sign.
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass(frozen=True)
class Links:
    """Where the page points: the hub (its static files, home) and the service's API."""

    hub_prefix: str = "/hub/"
    api: str = "/services/credits/api/v1"
    service: str = "/services/credits/"


def latest_sessions(
    per_account: Iterable[Sequence[r.Session]], limit: int = SESSION_LIMIT
) -> list[r.Session]:
    """The newest ``limit`` sessions of several accounts' lists (each already newest first)."""
    merged = [row for rows in per_account for row in rows]
    merged.sort(key=lambda row: (_utc(row.hold.created_at), row.hold.id), reverse=True)
    return merged[:limit]


def resources_in_words(counts: Mapping[str, int]) -> str:
    """``{"gpu:h100": 2}`` as ``2 x H100``; no GPUs is ``CPU only``.

    The sign between a count and its GPU is :data:`~computehub.credits.service.page.TIMES`.
    """
    gpus = [
        f"{count} {TIMES} {name.split(':', 1)[1].upper()}"
        for name, count in sorted(counts.items())
        if name.startswith("gpu:")
    ]
    others = [
        f"{count} {TIMES} {name}"
        for name, count in sorted(counts.items())
        if not name.startswith("gpu:") and name != "cpu"
    ]
    return ", ".join(gpus + others) or _("CPU only")


def status_in_words(status: str) -> str:
    """A hold's status as its user would say it."""
    words = {"open": _("running"), "settled": _("ended"), "voided": _("never started")}
    return words.get(status, status)


def charged(row: r.Session) -> Decimal | None:
    """What the session cost: the charge once settled, nothing if voided, unknown while open."""
    if row.hold.status == "settled":
        return row.charged if row.charged is not None else Decimal(0)
    if row.hold.status == "voided":
        return Decimal(0)
    return None


def returned(row: r.Session) -> Decimal | None:
    """The part of the hold given back: hold minus charge, or all of a voided hold."""
    cost = charged(row)
    return None if cost is None else row.hold.amount - cost


def render(
    user: str,
    accounts: Sequence[r.Balance],
    sessions: Sequence[r.Session],
    *,
    soon: datetime,
    links: Links | None = None,
    teaches: bool = False,
    materials: Sequence[tuple[str, str]] = (),
    news: str = "",
    statements: Mapping[int, str] = {},
    downloads: str = "",
) -> str:
    """The whole page.

    Args:
        user: who is looking.
        accounts: the accounts they belong to
            (:meth:`~computehub.credits.ledger.Ledger.accounts_for_user`).
        sessions: their sessions, newest first (see
            :func:`~computehub.credits.service.page.latest_sessions`).
        soon: credits expiring before this count as expiring soon.
        links: the hub's and the API's URL prefixes.
        teaches: whether they teach a course (a link to the instructor's page).
        materials: ``(course, nbgitpuller link)`` of the courses they take that have
            course materials.
        news: the notice of decisions on their applications for credits they have not
            seen yet (HTML, see
            :func:`~computehub.credits.service.applypage.decisions_notice`).
        statements: each session's statement as HTML, by hold id (see
            :func:`~computehub.credits.service.statementviews.statement_html`); a session
            without one has no fold-out.
        downloads: the links to the accounts' statements as CSV (HTML, see
            :func:`~computehub.credits.service.statementviews.downloads_html`).
    """
    links = links or Links()
    hub = escape(links.hub_prefix)
    courses = (
        f'<p id="ch-teach-link"><a class="btn btn-outline-primary btn-sm" '
        f'href="{escape(links.service)}courses">' + _("Courses you teach") + "</a></p>"
        if teaches
        else ""
    )
    body = "\n".join(
        [
            navbar(user, hub, back_to=links.service),
            '<main class="container my-4">',
            '<h1 class="h3 mb-4">' + _("Your credits and sessions") + "</h1>",
            news,
            f'<p id="ch-apply-link"><a class="btn btn-outline-primary btn-sm" '
            f'href="{escape(links.service)}applications">'
            + _("Apply for credits, or follow your applications")
            + "</a></p>",
            courses,
            _materials(materials),
            _accounts(accounts, soon),
            downloads,
            _sessions(sessions, statements),
            '<p class="text-body-secondary small">'
            + _(
                "Times are UTC. Amounts are credits. Programs can read the same figures "
                'from the <a href="{api}">REST API</a>.'
            ).format(api=f"{escape(links.api)}/openapi.json")
            + "</p>",
            "</main>",
        ]
    )
    return document(_("Your credits and sessions"), hub, body)


def error_page(status: int, message: str, *, links: Links | None = None) -> str:
    """A short page for a refusal or failure, in the page's style."""
    hub = escape((links or Links()).hub_prefix)
    body = (
        '<main class="container my-4">'
        '<h1 class="h3">' + _("Credits: error {status}").format(status=status) + "</h1>"
        f'<p class="alert alert-warning" id="ch-error">{escape(message)}</p>'
        f'<p><a href="{hub}home">' + _("Back to the hub") + "</a></p></main>"
    )
    return document(_("Credits: error {status}").format(status=status), hub, body)


def document(title: str, hub: str, body: str, *, refresh_s: int | None = None) -> str:
    """A whole HTML document with the hub's Bootstrap; ``title`` is escaped, ``body`` is HTML.

    ``refresh_s``: the page reloads itself this often (no script: a ``meta`` refresh).
    The page is in the request's language (``lang``, ``dir``; Bootstrap's right-to-left
    sheet for Urdu, see docs/languages.md), in dark theme when the browser prefers it
    (:mod:`~computehub.credits.service.theme`).
    """
    lang = language()
    rtl = direction(lang) == "rtl"
    sheet = BOOTSTRAP_RTL if rtl else BOOTSTRAP
    refresh = f'<meta http-equiv="refresh" content="{int(refresh_s)}">\n' if refresh_s else ""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}" dir="{direction(lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{refresh}"
        f"<title>{escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{hub}{sheet}">\n'
        f"{theme.head_lines()}"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def navbar(user: str, hub: str, back_to: str = "") -> str:
    """The hub's bar: its logo, Home and Token, the language switch, and who is logged in.

    ``back_to``: where the switch returns to (this page's path); a page without one
    has no switch (a page not translated yet, docs/languages.md). ``hub`` is escaped
    already, ``user`` is escaped here.
    """
    return (
        '<nav class="navbar navbar-expand border-bottom">'
        '<div class="container-fluid">'
        f'<a class="navbar-brand" href="{hub}home"><img src="{hub}logo" alt="JupyterHub" '
        'height="28"></a>'
        '<ul class="navbar-nav me-auto">'
        f'<li class="nav-item"><a class="nav-link" href="{hub}home">' + _("Home") + "</a></li>"
        f'<li class="nav-item"><a class="nav-link" href="{hub}token">' + _("Token") + "</a></li>"
        "</ul>"
        f"{language_switch(hub, back_to) if back_to else ''}"
        f'<span class="navbar-text" id="ch-user">{escape(user)}</span>'
        "</div></nav>"
    )


def language_switch(hub: str, back_to: str) -> str:
    """Links to read the page in each language (the hub's switch sets a cookie on ``/``)."""
    links = []
    for link in switch_links(hub, back_to, language()):
        if link.current:
            links.append(
                f'<span class="ch-lang-current fw-semibold px-1" lang="{link.language}">'
                f"{escape(link.name)}</span>"
            )
        else:
            links.append(
                f'<a class="ch-lang-link px-1" lang="{link.language}" '
                f'href="{escape(link.href)}">{escape(link.name)}</a>'
            )
    return f'<span id="ch-language-switch" class="navbar-text me-3">{"".join(links)}</span>'


def _materials(materials: Sequence[tuple[str, str]]) -> str:
    if not materials:
        return ""
    items = "".join(
        f'<li><a class="ch-materials-link" href="{escape(link)}">'
        + _("{course}: open the course materials in JupyterLab").format(course=escape(course))
        + "</a></li>"
        for course, link in materials
    )
    return (
        '<section id="ch-materials"><h2 class="h5">'
        + _("Course materials")
        + "</h2><p>"
        + _(
            "Each link copies the course's files into your home (or brings them up to "
            "date, keeping your own changes) and opens them in JupyterLab."
        )
        + f"</p><ul>{items}</ul></section>"
    )


def _accounts(accounts: Sequence[r.Balance], soon: datetime) -> str:
    if not accounts:
        return (
            '<p class="alert alert-info" id="ch-no-accounts">'
            + _("You belong to no credit account yet: ask your platform's support for one.")
            + "</p>"
        )
    rows = "\n".join(_account_row(row, soon) for row in accounts)
    return (
        '<h2 class="h5">' + _("Accounts") + "</h2>"
        '<table class="table table-sm align-middle mb-4" id="ch-accounts">'
        "<thead><tr><th>" + _("Account") + "</th><th>" + _("Your role") + "</th>"
        '<th class="text-end">' + _("Balance") + '</th><th class="text-end">' + _("Held") + "</th>"
        '<th class="text-end">'
        + _("Available")
        + "</th><th>"
        + _("Expiring soon")
        + "</th></tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table>"
    )


def _account_row(row: r.Balance, soon: datetime) -> str:
    expiring = _NONE
    if row.next_expiry_at is not None and _utc(row.next_expiry_at) <= _utc(soon):
        # Through its last day (a grant through the 8th expires at midnight starting the 9th).
        expiring = _("{amount} through {day}").format(
            amount=credits_text(row.expiring), day=date_text(last_day(row.next_expiry_at))
        )
    return (
        f'<tr data-account="{escape(row.account)}">'
        f'<td class="ch-account">{escape(row.account)} '
        f'<span class="text-body-secondary small">({escape(_kind(row.kind))})</span></td>'
        f'<td class="ch-role">{escape(_role(row.role) if row.role else _NONE)}</td>'
        f'<td class="ch-balance text-end">{credits_text(row.balance)}</td>'
        f'<td class="ch-held text-end">{credits_text(row.held)}</td>'
        f'<td class="ch-available text-end fw-semibold">{credits_text(row.available)}</td>'
        f'<td class="ch-expiring">{escape(expiring)}</td></tr>'
    )


def _sessions(sessions: Sequence[r.Session], statements: Mapping[int, str]) -> str:
    if not sessions:
        return '<p class="alert alert-light" id="ch-no-sessions">' + _("No sessions yet.") + "</p>"
    rows = "\n".join(
        _session_row(row) + _statement_row(statements.get(row.hold.id)) for row in sessions
    )
    return (
        '<h2 class="h5">' + _("Your latest sessions") + "</h2>"
        '<div class="table-responsive"><table class="table table-sm align-middle" '
        'id="ch-sessions">'
        "<thead><tr><th>"
        + _("Started (UTC)")
        + "</th><th>"
        + _("Account")
        + "</th><th>"
        + _("Hub")
        + "</th>"
        "<th>" + _("Resources") + "</th>"
        '<th class="text-end">'
        + _("Hours funded")
        + '</th><th class="text-end">'
        + _("Held")
        + "</th>"
        "<th>" + _("Status") + "</th>"
        '<th class="text-end">'
        + _("Charged")
        + '</th><th class="text-end">'
        + _("Returned")
        + "</th>"
        '<th class="text-end" title="'
        + _("measured by the node (NVML)")
        + '">'
        + _("GPU energy")
        + "</th>"
        "<th>" + _("Note") + "</th>"
        f"</tr></thead><tbody>\n{rows}\n</tbody></table></div>"
    )


def _session_row(row: r.Session) -> str:
    hold = row.hold
    badge = _STATUS_BADGES.get(hold.status, "text-bg-light")
    cost, back = charged(row), returned(row)
    return (
        f'<tr data-hold-id="{hold.id}" data-status="{escape(hold.status)}">'
        f'<td class="ch-started">{datetime_text(hold.created_at)}</td>'
        f'<td class="ch-account">{escape(hold.account)}</td>'
        f'<td class="ch-hub">{escape(hold.hub)}{server_cell(row.server_name)}</td>'
        f'<td class="ch-resources">{escape(resources_in_words(hold.resources))}</td>'
        f'<td class="ch-hours text-end">{_hours(hold.hours)}</td>'
        f'<td class="ch-held text-end">{credits_text(hold.amount)}</td>'
        f'<td class="ch-status"><span class="badge {badge}">'
        f"{escape(status_in_words(hold.status))}</span></td>"
        f'<td class="ch-charged text-end">{_NONE if cost is None else credits_text(cost)}</td>'
        f'<td class="ch-returned text-end">{_NONE if back is None else credits_text(back)}</td>'
        f'<td class="ch-energy text-end">{escape(energy_in_words(row) or _NONE)}</td>'
        f'<td class="ch-note small"><bdi>{escape(row.end_note or "")}</bdi></td></tr>'
    )


def _statement_row(statement: str | None) -> str:
    """The session's statement under its row, across the table (folded until opened)."""
    if not statement:
        return ""
    return (
        f'<tr class="ch-statement-row"><td colspan="11" class="border-0 pt-0">{statement}</td></tr>'
    )


def _hours(value: Decimal) -> str:
    """Hours funded: the API's exact figure in English, the locale's digits otherwise."""
    return amount(value) if language() == "en" else number_text(value)


def _kind(kind: str) -> str:
    """An account's kind in words."""
    words = {"personal": _("personal"), "project": _("project"), "course": _("course")}
    return words.get(kind, kind)


def _role(role: str) -> str:
    """A person's role in an account, in words."""
    words = {
        "owner": _("owner"),
        "member": _("member"),
        "student": _("student"),
        "instructor": _("instructor"),
    }
    return words.get(role, role)


def _utc(value: datetime) -> datetime:
    """Aware times in UTC; naive ones (SQLite) are UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
