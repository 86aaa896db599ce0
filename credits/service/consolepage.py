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

from computehub.credits import console as cs
from computehub.credits.display import credits_text
from computehub.credits.service import applypage, svgplot
from computehub.credits.service.consoletables import BY_TITLES, PERIOD_COLUMNS, Column, Table
from computehub.credits.service.page import Links, document, navbar
from computehub.credits.service.statuspage import state_words
from computehub.i18n import _
from computehub.i18n.catalog import N_, bdi, language
from computehub.i18n.choice import DEFAULT
from computehub.i18n.formats import datetime_text

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
    "started": N_(
        "The hub is in maintenance: no new sessions start there, and its running "
        "sessions show your message."
    ),
    "ended": N_("The hub takes new sessions again."),
    "not-in-maintenance": N_("That hub was not in maintenance."),
}


def notice_text(saved: str) -> str:
    """The notice after the maintenance form was used, in the page's language (or ``""``)."""
    return _(NOTICES[saved]) if saved in NOTICES else ""


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
            '<p class="alert alert-warning" id="ch-hub-unknown">'
            + _(
                "The hub did not tell the hubs' status: GPUs, queues and controllers are "
                "unknown; sessions come from the ledger."
            )
            + "</p>"
        )
    period = "".join(_panel(t[f"period-{by}"], view.query, links, level="h3") for by in BY_TITLES)
    body = "\n".join(
        [
            navbar(user, hub, back_to=f"{links.service}console"),
            '<main class="container-fluid my-4 px-4">',
            '<h1 class="h3 mb-3">' + _("Operator console") + "</h1>",
            alerts,
            _choice_form(view.query, links),
            '<section id="ch-now"><h2 class="h4 mt-4">' + _("Hubs now") + "</h2>",
            _panel(t["hubs"], view.query, links, level=None),
            _maintenance_form(t["hubs"], view.xsrf, view.query, links),
            "</section>",
            '<section id="ch-period"><h2 class="h4 mt-4">' + _("The period") + "</h2>",
            _total(view.total, view.query),
            period,
            "</section>",
            '<section id="ch-programme"><h2 class="h4 mt-4">' + _("The programme") + "</h2>",
            _panel(t["applications"], view.query, links, level="h3"),
            f'<p class="small"><a href="{escape(links.service)}applications/queue">'
            + _("Review the applications")
            + "</a></p>",
            _panel(t["funding"], view.query, links, level="h3"),
            _panel(t["accounts"], view.query, links, level="h3"),
            "</section>",
            "</main>",
        ]
    )
    return document(_("Operator console"), hub, body)


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
        + field("since", _("From (UTC day)"), "date", "")
        + field("until", _("Until, not included"), "date", "")
        + field("days", _("Expiring within days"), "number", "30")
        + field("below", _("Near zero: less than"), "text", "10")
        + '<div class="col-auto"><button class="btn btn-sm btn-primary" type="submit">'
        + _("Show")
        + "</button></div></form>"
        '<p class="text-body-secondary small mt-2">'
        + _(
            "A session counts in the period in which it was settled (charged), as the "
            "ledger's report counts it. GPU-busy hours are what the sessions' own servers "
            "reported when they stopped (a statistic, never billed); a session that never "
            "reported is not recorded (see the documentation)."
        )
        + "</p>"
    )


def _total(total: Mapping[str, Any], query: Mapping[str, str]) -> str:
    since, until = escape(query.get("since_shown", "")), escape(query.get("until_shown", ""))
    items = "".join(
        '<div class="col"><div class="small text-body-secondary">' + escape(_(c.title)) + "</div>"
        f'<div class="fs-5" data-figure="{escape(c.title)}">{_cell(total[c.key], c)}</div></div>'
        for c in PERIOD_COLUMNS
    )
    return (
        '<p class="small" id="ch-period-words">'
        + _("From {since} until {until} (UTC).").format(since=since, until=until)
        + "</p>"
        f'<div class="row row-cols-auto g-4 mb-3" id="ch-total">{items}</div>'
    )


def _shown(value: Any, null: str = N_("not recorded")) -> str:
    if value is None:
        return '<span class="text-body-secondary">' + escape(_(null)) + "</span>"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return escape(str(value))


#: An account's kind in words (as the credits page says it).
_ACCOUNT_KINDS: Final = {
    "personal": N_("personal"),
    "project": N_("project"),
    "course": N_("course"),
}
#: Columns whose values are the ledger's names for things, said in words on an Urdu page
#: (English shows the names, as the JSON and CSV have them).
_VALUE_WORDS: Final = {
    "kind": lambda v: _(_ACCOUNT_KINDS[v]) if v in _ACCOUNT_KINDS else v,
    "organisation_kind": applypage.kind_words,
    "status": applypage.status_words,
}
#: The groups the ledger names by a word of its own: no value, and sessions without GPUs.
_GROUP_WORDS: Final = {cs.NONE_LABEL: N_("none"), cs.CPU_ONLY: N_("CPU only")}


def _label(value: str, table: Table) -> str:
    """A row's name in a plot: a group the ledger names by a word, in the page's language."""
    if language() == DEFAULT:
        return value
    if value in _GROUP_WORDS:
        return _(_GROUP_WORDS[value])
    if table.name == "period-account_kind":
        return str(_VALUE_WORDS["kind"](value))
    return value


def _group_column(table: Table, column: Column) -> Column:
    """The column as ``_cell`` reads it: the account kinds' groups are kinds."""
    if table.name == "period-account_kind" and column.key == "key":
        return Column("kind", column.title)
    return column


def _cell(value: Any, column: Column) -> str:
    """A value as the page shows it: times to the minute, credits with 2 decimals."""
    if column.time:
        return _minute(value)
    if column.credits and value is not None:
        return escape(credits_text(Decimal(str(value))))
    if column.key == "key" and value in _GROUP_WORDS and language() != DEFAULT:
        return escape(_(_GROUP_WORDS[value]))
    if column.key in _VALUE_WORDS and isinstance(value, str) and language() != DEFAULT:
        return escape(_VALUE_WORDS[column.key](value))
    if column.key == "state" and isinstance(value, str) and language() != DEFAULT:
        # A hub's state in the page's language (English shows the state as it is named).
        return escape(state_words(value))
    if isinstance(value, str) and value and language() != DEFAULT:
        return bdi(escape(value))  # a name or a message as written, in a right-to-left page
    return _shown(value, column.null)


def _minute(value: Any) -> str:
    """An ISO time as ``2026-12-05 00:30 UTC`` (null: none)."""
    if value is None:
        return _shown(None, N_("none"))
    moment = datetime.fromisoformat(str(value)).astimezone(UTC)
    return escape(f"{datetime_text(moment)} UTC")


def _panel(table: Table, query: Mapping[str, str], links: Links, *, level: str | None) -> str:
    title = _(table.title)
    head = f'<{level} class="h5 mt-4">{escape(title)}</{level}>' if level else ""
    titles = {c.key: _(c.title) for c in table.columns}
    header = "".join(
        f'<th class="{"text-end" if c.numeric else ""}">{escape(titles[c.key])}</th>'
        for c in table.columns
    )
    rows = "".join(
        f'<tr data-key="{escape(str(row[table.label]))}">'
        + "".join(
            f'<td class="{"text-end" if c.numeric else ""}" data-col="{c.key}">'
            f"{_cell(row[c.key], _group_column(table, c))}</td>"
            for c in table.columns
        )
        + "</tr>"
        for row in table.rows
    )
    if not table.rows:
        rows = (
            f'<tr><td colspan="{len(table.columns)}" class="text-body-secondary">'
            + _("None.")
            + "</td></tr>"
        )
    nulls = {c.key: _(c.null) for c in table.columns}
    labels = [_label(str(row[table.label]), table) for row in table.rows]
    plots = "".join(
        '<div class="col-auto">'
        + svgplot.bars(
            f"{title}: {', '.join(titles[k] for k in keys)}",
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
        '<p class="small">' + _("Export:") + f' <a class="ch-csv" href="{escape(csv)}">CSV</a> · '
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
        '<div class="col-auto"><label class="form-label small" for="ch-m-hub">'
        + _("Hub")
        + "</label>"
        f'<select class="form-select form-select-sm" id="ch-m-hub" name="hub">{options}'
        "</select></div>"
        '<div class="col"><label class="form-label small" for="ch-m-message">'
        + _("Message for people (one line)")
        + "</label>"
        '<input class="form-control form-control-sm" id="ch-m-message" name="message" '
        'maxlength="500"></div>'
        '<div class="col-auto"><button class="btn btn-sm btn-warning" type="submit" '
        'name="action" value="start" id="ch-m-start">' + _("Put in maintenance") + "</button> "
        '<button class="btn btn-sm btn-outline-secondary" type="submit" name="action" '
        'value="end" id="ch-m-end">' + _("End maintenance") + "</button></div></form>"
        '<p class="text-body-secondary small">'
        + _(
            "A hub in maintenance takes no new sessions; its running sessions keep running "
            "and show your message in their widget."
        )
        + "</p>"
    )


def shown_query(query: Mapping[str, str], since: str, until: str) -> dict[str, str]:
    """The form's values, with the period as the page states it."""
    return {**query, "since_shown": since, "until_shown": until}
