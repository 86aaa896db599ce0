"""A session's statement as JSON, as CSV and as the credits page's fold-out: pure functions.

JSON and CSV carry exact amounts (decimal strings, as the rest of the API:
:func:`~computehub.credits.service.views.amount`); the page shows credits with 2
decimals (:func:`~computehub.credits.display.credits_text`). Every value from the ledger
is escaped on the page; every text cell of the CSV is safe against formula injection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import quote

from computehub.credits.display import credits_text
from computehub.credits.service.energywords import energy_words, wh_text
from computehub.credits.service.page import resources_in_words
from computehub.credits.service.serverwords import server_after_title, server_words
from computehub.credits.service.teaching import safe_cell
from computehub.credits.service.views import amount, instant, optional_amount
from computehub.credits.statement import Line, Statement
from computehub.i18n import _, language
from computehub.i18n.catalog import N_
from computehub.i18n.formats import datetime_text

#: What the page and the API say of the node: the ledger does not record it.
NODE_UNKNOWN = N_("not recorded by the ledger (Slurm's accounting has it)")
_NONE = "\N{EM DASH}"
_LINE_WORDS = {
    "hold": "Reserved",
    "extend": "Extended",
    "usage": "Used",
    "cap": "Beyond the hold (not charged)",
    "release": "Returned",
}
CSV_HEADER = (
    "hold_id",
    "account",
    "user",
    "hub",
    "job_id",
    "resources",
    "status",
    "started_at",
    "ended_at",
    "line",
    "resource",
    "count",
    "rate_per_hour",
    "hours",
    "amount",
    "held",
    "charged",
    "returned",
    "gpu_idle_minutes",
    "energy_wh",
    "end_note",
    "server_name",
    "energy_source",
)


def energy_state(row: Statement) -> str:
    """``measured``, ``unknown`` (the node could not measure it) or ``pending`` (not yet)."""
    if not row.energy_recorded:
        return "pending"
    return "unknown" if row.energy_wh is None else "measured"


def line_json(line: Line) -> dict[str, Any]:
    """One line item, amounts exact."""
    return {
        "kind": line.kind,
        "what": line.what,
        "amount": amount(line.amount),
        "at": instant(line.at),
        "resource": line.resource,
        "count": line.count,
        "rate": optional_amount(line.rate),
        "hours": optional_amount(line.hours),
    }


def statement_json(row: Statement) -> dict[str, Any]:
    """The statement for the API: every amount an exact decimal string."""
    return {
        "hold_id": row.hold_id,
        "account": row.account,
        "user": row.user,
        "hub": row.hub,
        "node": row.node,
        "job_id": row.job_id,
        "status": row.status,
        "resources": dict(row.resources),
        "rates": {resource: amount(rate) for resource, rate in row.rates.items()},
        "per_hour": amount(row.per_hour),
        "started_at": instant(row.started_at),
        "ended_at": instant(row.ended_at),
        "hours_funded": amount(row.hours_funded),
        "held": amount(row.held),
        "charged": optional_amount(row.charged),
        "returned": optional_amount(row.returned),
        "usage_cost": optional_amount(row.usage_cost),
        "gpu_idle_minutes": row.gpu_idle_minutes,
        "gpu_busy_hours": optional_amount(row.gpu_busy_hours),
        "energy": energy_state(row),
        "energy_wh": wh_text(row.energy_wh),
        "energy_source": row.energy_source,
        "server_name": row.server_name,
        "end_note": row.end_note,
        "closed_because": row.closed_because,
        "lines": [line_json(line) for line in row.lines],
        "adds_up": row.adds_up,
        "differences": list(row.differences),
    }


def statement_csv(rows: Iterable[Statement]) -> str:
    """An account's statements as CSV: per session a ``session`` row, then its lines.

    Amounts are exact; the ``session`` row has the totals (held, charged, returned),
    each line row its amount.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        head = (
            str(row.hold_id),
            safe_cell(row.account),
            safe_cell(row.user),
            safe_cell(row.hub),
            safe_cell(row.job_id or ""),
            safe_cell(";".join(f"{res}={count}" for res, count in row.resources.items())),
            row.status,
            instant(row.started_at) or "",
            instant(row.ended_at) or "",
        )
        writer.writerow(
            (
                *head,
                "session",
                "",
                "",
                amount(row.per_hour),
                amount(row.hours_funded),
                "",
                amount(row.held),
                optional_amount(row.charged) or "",
                optional_amount(row.returned) or "",
                "" if row.gpu_idle_minutes is None else str(row.gpu_idle_minutes),
                wh_text(row.energy_wh) or "",
                safe_cell(row.end_note or ""),
                safe_cell(row.server_name),
                row.energy_source or "",
            )
        )
        for line in row.lines:
            writer.writerow(
                (
                    *head,
                    line.kind,
                    safe_cell(line.resource or ""),
                    "" if line.count is None else str(line.count),
                    optional_amount(line.rate) or "",
                    optional_amount(line.hours) or "",
                    amount(line.amount),
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                )
            )
    return out.getvalue()


def statement_html(row: Statement) -> str:
    """The session's statement as a fold-out (``<details>``, no script) for the credits page."""
    facts = [
        ("Hub", _("Hub"), escape(row.hub)),
        ("Server", _("Server"), f"<bdi>{escape(server_words(row.server_name))}</bdi>"),
        ("Node", _("Node"), escape(row.node or _(NODE_UNKNOWN))),
        ("Job id", _("Job id"), escape(row.job_id or _("none (no job was attached)"))),
        ("GPUs", _("GPUs"), escape(_resources(row))),
        ("Started", _("Started"), _("{when} (hold placed)").format(when=_when(row.started_at))),
        (
            "Ended",
            _("Ended"),
            _("still running") if row.ended_at is None else f"{_when(row.ended_at)}",
        ),
        (
            "Rate in force",
            _("Rate in force"),
            _("{amount} credits per hour").format(amount=credits_text(row.per_hour)),
        ),
        ("GPU-idle minutes", _("GPU-idle minutes"), _idle(row)),
        ("GPU-busy hours", _("GPU-busy hours"), escape(_busy(row))),
        ("GPU energy", _("GPU energy"), escape(_energy(row))),
        ("Why it ended", _("Why it ended"), f"<bdi>{escape(_why(row))}</bdi>"),
    ]
    dl = "".join(
        f'<dt class="col-sm-3">{name}</dt><dd class="col-sm-9 ch-st-{_slug(key)}">{value}</dd>'
        for key, name, value in facts
    )
    lines = "".join(_line_row(line) for line in row.lines)
    totals = (
        '<tr class="table-light"><th colspan="5">' + _("Held") + "</th>"
        f'<td class="text-end ch-st-held">{credits_text(row.held)}</td></tr>'
        '<tr class="table-light"><th colspan="5">' + _("Charged") + "</th>"
        f'<td class="text-end ch-st-charged">{_maybe(row.charged)}</td></tr>'
        '<tr class="table-light"><th colspan="5">' + _("Returned") + "</th>"
        f'<td class="text-end ch-st-returned">{_maybe(row.returned)}</td></tr>'
    )
    check = (
        '<p class="small text-body-secondary ch-st-check mb-0">'
        + _(
            "Held = charged + returned, to the ten-thousandth of a credit (the CSV and the "
            "API have the exact figures)."
        )
        + "</p>"
        if row.adds_up
        else '<p class="alert alert-danger ch-st-check">'
        + _(
            "This statement does not add up to the ledger; please tell your platform's "
            "support: {differences}"
        ).format(differences=escape("; ".join(row.differences)))
        + "</p>"
    )
    return (
        f'<details class="ch-statement" data-hold-id="{row.hold_id}">'
        "<summary>"
        + _("Statement of session {id}").format(id=row.hold_id)
        + server_after_title(row.server_name)
        + "</summary>"
        f'<div class="p-2"><dl class="row small mb-2">{dl}</dl>'
        '<table class="table table-sm small mb-1 ch-st-lines"><thead><tr>'
        "<th>" + _("Line") + "</th><th>" + _("Resource") + "</th>"
        '<th class="text-end">' + _("Rate / unit-hour") + "</th>"
        '<th class="text-end">' + _("Hours") + "</th><th>" + _("When (UTC)") + "</th>"
        '<th class="text-end">' + _("Credits") + "</th>"
        f"</tr></thead><tbody>{lines}{totals}</tbody></table>{check}</div></details>"
    )


def _line_row(line: Line) -> str:
    resource = _NONE if line.resource is None else escape(line.resource)
    if line.count is not None and line.resource is not None:
        resource = f"{line.count} \N{MULTIPLICATION SIGN} {resource}"
    hours = _NONE if line.hours is None else amount(line.hours)
    if line.kind == "usage" and line.hours is not None:
        hours = _("{hours} resource-h").format(hours=hours)
    elif line.hours is not None:
        hours = _("{hours} h").format(hours=hours)
    return (
        f'<tr data-line="{escape(line.kind)}"><td>{escape(_line_words(line.kind))}'
        f"</td><td>{resource}</td>"
        f'<td class="text-end">{_NONE if line.rate is None else credits_text(line.rate)}</td>'
        f'<td class="text-end">{hours}</td>'
        f"<td>{_NONE if line.at is None else _when(line.at)}</td>"
        f'<td class="text-end ch-st-amount">{credits_text(line.amount)}</td></tr>'
    )


def _line_words(kind: str) -> str:
    """A line's kind in words, in the page's language."""
    words = {
        "hold": _("Reserved"),
        "extend": _("Extended"),
        "usage": _("Used"),
        "cap": _("Beyond the hold (not charged)"),
        "release": _("Returned"),
    }
    return words.get(kind, _LINE_WORDS.get(kind, kind))


def _resources(row: Statement) -> str:
    return resources_in_words(row.resources)


def _idle(row: Statement) -> str:
    if row.gpu_idle_minutes is not None:
        return _("{minutes} min (when the GPU-idle rule stopped it)").format(
            minutes=row.gpu_idle_minutes
        )
    return _("not recorded (the GPU-idle rule did not stop it)")


def _busy(row: Statement) -> str:
    if row.gpu_busy_hours is None:
        return _("not recorded (no report from the notebook server)")
    allocated = sum(
        (line.hours or Decimal(0) for line in row.lines if line.kind == "usage" and _gpu(line)),
        Decimal(0),
    )
    busy = f"{row.gpu_busy_hours.normalize():f}"
    if allocated:
        return _(
            "{busy} GPU-hours of {charged} charged (as the notebook server reported them)"
        ).format(busy=busy, charged=f"{allocated.normalize():f}")
    return _("{busy} GPU-hours (as the notebook server reported them)").format(busy=busy)


def _gpu(line: Line) -> bool:
    return (line.resource or "").startswith(("gpu:", "mig:"))


def _energy(row: Statement) -> str:
    if not row.energy_recorded:
        return _("not recorded yet")
    return energy_words(row.energy_wh, row.energy_source)


def _why(row: Statement) -> str:
    if row.end_note:
        return row.end_note
    if row.closed_because:
        return row.closed_because
    if row.status == "open":
        return _("still running")
    if row.status == "voided":
        return _("it never started; its whole hold was returned")
    return _("no reason recorded")


def _maybe(value: Decimal | None) -> str:
    return _NONE if value is None else credits_text(value)


def _when(value: datetime) -> str:
    return datetime_text(value)


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def downloads_html(accounts: Iterable[str], service: str, now: datetime) -> str:
    """Links to each account's statement as CSV: this month, last month, everything.

    Links, not a form: the page's policy posts and submits nothing. Any period is
    ``statement.csv?since=YYYY-MM-DD&until=YYYY-MM-DD`` (docs/credits-service.md).
    """
    names = list(accounts)
    if not names:
        return ""
    today = now.astimezone(UTC).date() if now.tzinfo else now.date()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    next_month = (this_month + timedelta(days=32)).replace(day=1)
    periods = [
        (_month(this_month), f"?since={this_month}&until={next_month}"),
        (_month(last_month), f"?since={last_month}&until={this_month}"),
        (_("all sessions"), ""),
    ]
    items = "".join(
        f'<li data-account="{escape(name)}">{escape(name)}: '
        + ", ".join(
            f'<a class="ch-statement-csv" href="{escape(service)}accounts/'
            f'{escape(quote(name, safe=""))}/statement.csv{escape(query)}">{escape(label)}</a>'
            for label, query in periods
        )
        + "</li>"
        for name in names
    )
    return (
        '<section id="ch-statements" class="mb-4"><h2 class="h5">' + _("Statements (CSV)") + "</h2>"
        '<p class="small">'
        + _("Every session's line items with exact amounts, for a spreadsheet.")
        + f'</p><ul class="small">{items}</ul></section>'
    )


def _month(first: date) -> str:
    """A month and its year: ``December 2026``, ``دسمبر 2026``."""
    if language() == "en":
        return f"{first:%B %Y}"
    from babel.dates import format_date

    return format_date(first, "LLLL y", locale=language())
