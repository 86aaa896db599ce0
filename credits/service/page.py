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
from computehub.credits.service.energywords import energy_in_words
from computehub.credits.service.views import amount

#: How many sessions the page lists.
SESSION_LIMIT = 20
#: Bootstrap as the hub ships it, under the hub's prefix.
BOOTSTRAP = "static/components/bootstrap/dist/css/bootstrap.min.css"
#: The page loads styles and the logo from its own origin (the hub's proxy) and runs nothing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)
_STATUS_WORDS = {"open": "running", "settled": "ended", "voided": "never started"}
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
    return ", ".join(gpus + others) or "CPU only"


def status_in_words(status: str) -> str:
    """A hold's status as its user would say it."""
    return _STATUS_WORDS.get(status, status)


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
        f'href="{escape(links.service)}courses">Courses you teach</a></p>'
        if teaches
        else ""
    )
    body = "\n".join(
        [
            navbar(user, hub),
            '<main class="container my-4">',
            '<h1 class="h3 mb-4">Your credits and sessions</h1>',
            news,
            f'<p id="ch-apply-link"><a class="btn btn-outline-primary btn-sm" '
            f'href="{escape(links.service)}applications">Apply for credits, or follow your '
            "applications</a></p>",
            courses,
            _materials(materials),
            _accounts(accounts, soon),
            downloads,
            _sessions(sessions, statements),
            '<p class="text-body-secondary small">Times are UTC. Amounts are credits. '
            f'Programs can read the same figures from the <a href="{escape(links.api)}'
            '/openapi.json">REST API</a>.</p>',
            "</main>",
        ]
    )
    return document("Your credits and sessions", hub, body)


def error_page(status: int, message: str, *, links: Links | None = None) -> str:
    """A short page for a refusal or failure, in the page's style."""
    hub = escape((links or Links()).hub_prefix)
    body = (
        '<main class="container my-4">'
        f'<h1 class="h3">Credits: error {status}</h1>'
        f'<p class="alert alert-warning" id="ch-error">{escape(message)}</p>'
        f'<p><a href="{hub}home">Back to the hub</a></p></main>'
    )
    return document(f"Credits: error {status}", hub, body)


def document(title: str, hub: str, body: str, *, refresh_s: int | None = None) -> str:
    """A whole HTML document with the hub's Bootstrap; ``title`` is escaped, ``body`` is HTML.

    ``refresh_s``: the page reloads itself this often (no script: a ``meta`` refresh).
    """
    refresh = f'<meta http-equiv="refresh" content="{int(refresh_s)}">\n' if refresh_s else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{refresh}"
        f"<title>{escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{hub}{BOOTSTRAP}">\n'
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def navbar(user: str, hub: str) -> str:
    """The hub's bar: its logo, Home and Token, and who is logged in (escaped)."""
    return (
        '<nav class="navbar navbar-expand border-bottom">'
        '<div class="container-fluid">'
        f'<a class="navbar-brand" href="{hub}home"><img src="{hub}logo" alt="JupyterHub" '
        'height="28"></a>'
        '<ul class="navbar-nav me-auto">'
        f'<li class="nav-item"><a class="nav-link" href="{hub}home">Home</a></li>'
        f'<li class="nav-item"><a class="nav-link" href="{hub}token">Token</a></li>'
        "</ul>"
        f'<span class="navbar-text" id="ch-user">{escape(user)}</span>'
        "</div></nav>"
    )


def _materials(materials: Sequence[tuple[str, str]]) -> str:
    if not materials:
        return ""
    items = "".join(
        f'<li><a class="ch-materials-link" href="{escape(link)}">{escape(course)}: open the '
        "course materials in JupyterLab</a></li>"
        for course, link in materials
    )
    return (
        '<section id="ch-materials"><h2 class="h5">Course materials</h2>'
        "<p>Each link copies the course's files into your home (or brings them up to date, "
        f"keeping your own changes) and opens them in JupyterLab.</p><ul>{items}</ul></section>"
    )


def _accounts(accounts: Sequence[r.Balance], soon: datetime) -> str:
    if not accounts:
        return (
            '<p class="alert alert-info" id="ch-no-accounts">You belong to no credit account '
            "yet: ask your platform's support for one.</p>"
        )
    rows = "\n".join(_account_row(row, soon) for row in accounts)
    return (
        '<h2 class="h5">Accounts</h2>'
        '<table class="table table-sm align-middle mb-4" id="ch-accounts">'
        "<thead><tr><th>Account</th><th>Your role</th>"
        '<th class="text-end">Balance</th><th class="text-end">Held</th>'
        '<th class="text-end">Available</th><th>Expiring soon</th></tr></thead>'
        f"<tbody>\n{rows}\n</tbody></table>"
    )


def _account_row(row: r.Balance, soon: datetime) -> str:
    expiring = _NONE
    if row.next_expiry_at is not None and _utc(row.next_expiry_at) <= _utc(soon):
        # Through its last day (a grant through the 8th expires at midnight starting the 9th).
        expiring = f"{credits_text(row.expiring)} through {last_day(row.next_expiry_at):%Y-%m-%d}"
    return (
        f'<tr data-account="{escape(row.account)}">'
        f'<td class="ch-account">{escape(row.account)} '
        f'<span class="text-body-secondary small">({escape(row.kind)})</span></td>'
        f'<td class="ch-role">{escape(row.role or _NONE)}</td>'
        f'<td class="ch-balance text-end">{credits_text(row.balance)}</td>'
        f'<td class="ch-held text-end">{credits_text(row.held)}</td>'
        f'<td class="ch-available text-end fw-semibold">{credits_text(row.available)}</td>'
        f'<td class="ch-expiring">{escape(expiring)}</td></tr>'
    )


def _sessions(sessions: Sequence[r.Session], statements: Mapping[int, str]) -> str:
    if not sessions:
        return '<p class="alert alert-light" id="ch-no-sessions">No sessions yet.</p>'
    rows = "\n".join(
        _session_row(row) + _statement_row(statements.get(row.hold.id)) for row in sessions
    )
    return (
        f'<h2 class="h5">Your latest sessions</h2>'
        '<div class="table-responsive"><table class="table table-sm align-middle" '
        'id="ch-sessions">'
        "<thead><tr><th>Started (UTC)</th><th>Account</th><th>Hub</th><th>Resources</th>"
        '<th class="text-end">Hours funded</th><th class="text-end">Held</th><th>Status</th>'
        '<th class="text-end">Charged</th><th class="text-end">Returned</th>'
        '<th class="text-end" title="measured by the node (NVML)">GPU energy</th><th>Note</th>'
        f"</tr></thead><tbody>\n{rows}\n</tbody></table></div>"
    )


def _session_row(row: r.Session) -> str:
    hold = row.hold
    badge = _STATUS_BADGES.get(hold.status, "text-bg-light")
    cost, back = charged(row), returned(row)
    return (
        f'<tr data-hold-id="{hold.id}" data-status="{escape(hold.status)}">'
        f'<td class="ch-started">{_utc(hold.created_at):%Y-%m-%d %H:%M}</td>'
        f'<td class="ch-account">{escape(hold.account)}</td>'
        f'<td class="ch-hub">{escape(hold.hub)}</td>'
        f'<td class="ch-resources">{escape(resources_in_words(hold.resources))}</td>'
        f'<td class="ch-hours text-end">{amount(hold.hours)}</td>'
        f'<td class="ch-held text-end">{credits_text(hold.amount)}</td>'
        f'<td class="ch-status"><span class="badge {badge}">'
        f"{escape(status_in_words(hold.status))}</span></td>"
        f'<td class="ch-charged text-end">{_NONE if cost is None else credits_text(cost)}</td>'
        f'<td class="ch-returned text-end">{_NONE if back is None else credits_text(back)}</td>'
        f'<td class="ch-energy text-end">{escape(energy_in_words(row) or _NONE)}</td>'
        f'<td class="ch-note small">{escape(row.end_note or "")}</td></tr>'
    )


def _statement_row(statement: str | None) -> str:
    """The session's statement under its row, across the table (folded until opened)."""
    if not statement:
        return ""
    return (
        f'<tr class="ch-statement-row"><td colspan="11" class="border-0 pt-0">{statement}</td></tr>'
    )


def _utc(value: datetime) -> datetime:
    """Aware times in UTC; naive ones (SQLite) are UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
