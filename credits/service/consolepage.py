"""The operator console's page (``/services/credits/console``): pure HTML, no I/O.

Each panel is a table of :mod:`~computehub.credits.service.consoletables`, its plots
(inline SVG from :mod:`~computehub.credits.service.svgplot`, drawn here: no script,
no CDN) and links to its CSV and JSON exports. The period is chosen with a plain GET
form; the maintenance form posts back to the service with JupyterHub's ``_xsrf``
token. Everything from the ledger and the hub is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any, Final
from urllib.parse import urlencode

from computehub.credits.display import credits_text
from computehub.credits.service import svgplot
from computehub.credits.service.consoletables import BY_TITLES, PERIOD_COLUMNS, Column, Table
from computehub.credits.service.page import Links, document, navbar

#: As the course page's policy: the forms post (or GET) back to the service; inline SVG
#: needs nothing more.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'self'; form-action 'self'; base-uri 'none'"
)
#: Where each table's JSON is, under the API (``{api}/console/...``), and its key there.
JSON_EXPORTS: Final = {
    "hubs": "console/hubs",
    "period-hub": "console/period",
    "period-account_kind": "console/period",
    "period-category": "console/period",
    "period-gpu_type": "console/period",
    "applications": "console/applications",
    "funding": "console/funding",
    "accounts": "console/accounts",
}
#: What the page says after the maintenance form was used.
NOTICES: Final = {
    "started": "The hub is in maintenance: no new sessions start there, and its running "
    "sessions show your message.",
    "ended": "The hub takes new sessions again.",
    "not-in-maintenance": "That hub was not in maintenance.",
}


@dataclass(frozen=True)
class ConsoleView:
    """What the page shows.

    Attributes:
        tables: every table, by name.
        total: the period's figures of all sessions (a row of the period tables).
        query: the choice as query arguments (``since``, ``until``, ``days``, ``below``),
            for the form and the export links.
        hub_answered: whether the hub told the hubs' status.
        xsrf: JupyterHub's XSRF token for the maintenance form.
        notice: a sentence after the maintenance form was used.
        error: a sentence when the form was refused.
    """

    tables: Mapping[str, Table]
    total: Mapping[str, Any]
    query: Mapping[str, str]
    hub_answered: bool
    xsrf: str
    notice: str = ""
    error: str = ""


def render(user: str, view: ConsoleView, *, links: Links) -> str:
    """The whole page."""
    hub = escape(links.hub_prefix)
    t = view.tables
    alerts = ""
    if view.notice:
        alerts += f'<p class="alert alert-success" id="ch-notice">{escape(view.notice)}</p>'
    if view.error:
        alerts += f'<p class="alert alert-warning" id="ch-error">{escape(view.error)}</p>'
    if not view.hub_answered:
        alerts += (
            '<p class="alert alert-warning" id="ch-hub-unknown">The hub did not tell the hubs\' '
            "status: GPUs, queues and controllers are unknown; sessions come from the ledger."
            "</p>"
        )
    period = "".join(_panel(t[f"period-{by}"], view.query, links, level="h3") for by in BY_TITLES)
    body = "\n".join(
        [
            navbar(user, hub),
            '<main class="container-fluid my-4 px-4">',
            '<h1 class="h3 mb-3">Operator console</h1>',
            alerts,
            _choice_form(view.query, links),
            '<section id="ch-now"><h2 class="h4 mt-4">Hubs now</h2>',
            _panel(t["hubs"], view.query, links, level=None),
            _maintenance_form(t["hubs"], view.xsrf, view.query, links),
            "</section>",
            '<section id="ch-period"><h2 class="h4 mt-4">The period</h2>',
            _total(view.total, view.query),
            period,
            "</section>",
            '<section id="ch-programme"><h2 class="h4 mt-4">The programme</h2>',
            _panel(t["applications"], view.query, links, level="h3"),
            f'<p class="small"><a href="{escape(links.service)}applications/queue">'
            "Review the applications</a></p>",
            _panel(t["funding"], view.query, links, level="h3"),
            _panel(t["accounts"], view.query, links, level="h3"),
            "</section>",
            "</main>",
        ]
    )
    return document("Operator console", hub, body)


def _choice_form(query: Mapping[str, str], links: Links) -> str:
    def field(name: str, label: str, kind: str, hint: str) -> str:
        return (
            f'<div class="col-auto"><label class="form-label small" for="ch-{name}">{label}'
            f'</label><input class="form-control form-control-sm" id="ch-{name}" '
            f'name="{name}" type="{kind}" value="{escape(query.get(name, ""))}" '
            f'placeholder="{escape(hint)}"></div>'
        )

    return (
        f'<form class="row g-2 align-items-end" method="get" id="ch-choice" '
        f'action="{escape(links.service)}console">'
        + field("since", "From (UTC day)", "date", "")
        + field("until", "Until, not included", "date", "")
        + field("days", "Expiring within days", "number", "30")
        + field("below", "Near zero: less than", "text", "10")
        + '<div class="col-auto"><button class="btn btn-sm btn-primary" type="submit">'
        "Show</button></div></form>"
        '<p class="text-body-secondary small mt-2">A session counts in the period in which '
        "it was settled (charged), as the ledger's report counts it. GPU-busy hours are what "
        "the sessions' own servers reported when they stopped (a statistic, never billed); "
        "a session that never reported is not recorded (see the documentation).</p>"
    )


def _total(total: Mapping[str, Any], query: Mapping[str, str]) -> str:
    since, until = escape(query.get("since_shown", "")), escape(query.get("until_shown", ""))
    items = "".join(
        f'<div class="col"><div class="small text-body-secondary">{escape(c.title)}</div>'
        f'<div class="fs-5" data-figure="{escape(c.title)}">{_cell(total[c.key], c)}</div></div>'
        for c in PERIOD_COLUMNS
    )
    return (
        f'<p class="small" id="ch-period-words">From {since} until {until} (UTC).</p>'
        f'<div class="row row-cols-auto g-4 mb-3" id="ch-total">{items}</div>'
    )


def _shown(value: Any, null: str = "not recorded") -> str:
    if value is None:
        return f'<span class="text-body-secondary">{escape(null)}</span>'
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value))


def _cell(value: Any, column: Column) -> str:
    """A value as the page shows it: times to the minute, credits with 2 decimals."""
    if column.time:
        return _minute(value)
    if column.credits and value is not None:
        return escape(credits_text(Decimal(str(value))))
    return _shown(value, column.null)


def _minute(value: Any) -> str:
    """An ISO time as ``2026-12-05 00:30 UTC`` (null: none)."""
    if value is None:
        return _shown(None, "none")
    moment = datetime.fromisoformat(str(value)).astimezone(UTC)
    return escape(f"{moment:%Y-%m-%d %H:%M} UTC")


def _panel(table: Table, query: Mapping[str, str], links: Links, *, level: str | None) -> str:
    head = f'<{level} class="h5 mt-4">{escape(table.title)}</{level}>' if level else ""
    header = "".join(
        f'<th class="{"text-end" if c.numeric else ""}">{escape(c.title)}</th>'
        for c in table.columns
    )
    rows = "".join(
        f'<tr data-key="{escape(str(row[table.label]))}">'
        + "".join(
            f'<td class="{"text-end" if c.numeric else ""}" data-col="{c.key}">'
            f"{_cell(row[c.key], c)}</td>"
            for c in table.columns
        )
        + "</tr>"
        for row in table.rows
    )
    if not table.rows:
        rows = f'<tr><td colspan="{len(table.columns)}" class="text-body-secondary">None.</td></tr>'
    titles = {c.key: c.title for c in table.columns}
    nulls = {c.key: c.null for c in table.columns}
    labels = [str(row[table.label]) for row in table.rows]
    plots = "".join(
        '<div class="col-auto">'
        + svgplot.bars(
            f"{table.title}: {', '.join(titles[k] for k in keys)}",
            labels,
            [
                svgplot.Series(
                    titles[k], tuple(svgplot.number(row[k]) for row in table.rows), nulls[k]
                )
                for k in keys
            ],
        )
        + "</div>"
        for keys in table.plots
    )
    export = {k: v for k, v in query.items() if k in ("since", "until", "days", "below") and v}
    suffix = f"?{urlencode(export)}" if export else ""
    csv = f"{links.service}console/export/{table.name}.csv{suffix}"
    json = f"{links.api}/{JSON_EXPORTS[table.name]}{suffix}"
    return (
        f'<div class="ch-panel mb-4" id="ch-{table.name}">{head}'
        '<div class="table-responsive"><table class="table table-sm align-middle">'
        f"<thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table></div>"
        f'<div class="row g-3">{plots}</div>'
        f'<p class="small">Export: <a class="ch-csv" href="{escape(csv)}">CSV</a> · '
        f'<a class="ch-json" href="{escape(json)}">JSON</a></p></div>'
    )


def _maintenance_form(hubs: Table, xsrf: str, query: Mapping[str, str], links: Links) -> str:
    options = "".join(
        f'<option value="{escape(str(row["hub"]))}">{escape(str(row["hub"]))}</option>'
        for row in hubs.rows
    )
    action = escape(f"{links.service}console/maintenance")
    # The period the page shows, so that the page comes back with it.
    kept = "".join(
        f'<input type="hidden" name="{key}" value="{escape(query[key])}">'
        for key in ("since", "until", "days", "below")
        if query.get(key)
    )
    return (
        f'<form class="row g-2 align-items-end mb-2" method="post" action="{action}" '
        'id="ch-maintenance">'
        f'<input type="hidden" name="_xsrf" value="{escape(xsrf)}">{kept}'
        '<div class="col-auto"><label class="form-label small" for="ch-m-hub">Hub</label>'
        f'<select class="form-select form-select-sm" id="ch-m-hub" name="hub">{options}'
        "</select></div>"
        '<div class="col"><label class="form-label small" for="ch-m-message">'
        "Message for people (one line)</label>"
        '<input class="form-control form-control-sm" id="ch-m-message" name="message" '
        'maxlength="500"></div>'
        '<div class="col-auto"><button class="btn btn-sm btn-warning" type="submit" '
        'name="action" value="start" id="ch-m-start">Put in maintenance</button> '
        '<button class="btn btn-sm btn-outline-secondary" type="submit" name="action" '
        'value="end" id="ch-m-end">End maintenance</button></div></form>'
        '<p class="text-body-secondary small">A hub in maintenance takes no new sessions; its '
        "running sessions keep running and show your message in their widget.</p>"
    )


def shown_query(query: Mapping[str, str], since: str, until: str) -> dict[str, str]:
    """The form's values, with the period as the page states it."""
    return {**query, "since_shown": since, "until_shown": until}
