"""The operator console's tables: one shape for the page, the CSV and the JSON export.

Pure functions from :mod:`~computehub.credits.console`'s figures to
:class:`~computehub.credits.service.consoletables.Table`: columns with their titles,
and rows of JSON values (amounts as exact decimal strings, as the rest of the API
writes them; counts as integers; unknown figures as null). The page draws a table
and its plot from it, ``.csv`` writes it, the REST API answers its rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from computehub.credits import console as cs
from computehub.credits.applications import Application
from computehub.credits.service.views import amount, instant, optional_amount
from computehub.i18n.catalog import N_

#: The tables of the console, by the name their export and API use.
TABLE_NAMES: Final = (
    "hubs",
    "period-hub",
    "period-account_kind",
    "period-category",
    "period-gpu_type",
    "applications",
    "funding",
    "accounts",
)
#: The titles of the period's breakdowns.
BY_TITLES: Final = {
    "hub": N_("By hub"),
    "account_kind": N_("By account kind"),
    "category": N_("By category"),
    "gpu_type": N_("By GPU type"),
}


@dataclass(frozen=True)
class Column:
    """A column: its key in the JSON rows and the CSV header, its title on the page, and
    what the page says for a null (a figure nobody recorded, or Slurm did not tell)."""

    key: str
    title: str
    numeric: bool = False
    null: str = N_("not recorded")
    #: An ISO 8601 time: the page shows it to the minute, in UTC.
    time: bool = False
    #: Credits (exact in the JSON and CSV): the page shows them with 2 decimals.
    credits: bool = False


@dataclass(frozen=True)
class Table:
    """A table of the console, and what its plot draws.

    Attributes:
        name: its name (one of :data:`~computehub.credits.service.consoletables.TABLE_NAMES`).
        title: its heading.
        columns: its columns.
        rows: its rows, keyed by column.
        label: the column that names a row in the plot.
        plots: the plots under the table, each the numeric columns it draws as bars
            side by side (columns of one unit share a plot).
    """

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    label: str
    plots: tuple[tuple[str, ...], ...]

    def json(self) -> list[dict[str, Any]]:
        """The rows as the REST API answers them."""
        return [dict(row) for row in self.rows]

    def csv(self) -> str:
        """The table as CSV: a header of column keys, then one line per row (null is empty)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([c.key for c in self.columns])
        for row in self.rows:
            writer.writerow(["" if row[c.key] is None else _cell(row[c.key]) for c in self.columns])
        return out.getvalue()


def _cell(value: Any) -> str:
    text = str(value)
    # A spreadsheet runs a cell that starts with these (CSV injection): quote it as text.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_KEY_TITLES: Final = {
    "hub": N_("Hub"),
    "account_kind": N_("Account kind"),
    "category": N_("Category"),
    "gpu_type": N_("GPU type"),
}
PERIOD_COLUMNS: Final = (
    Column("sessions", N_("Sessions"), True),
    Column("gpu_hours", N_("GPU-hours allocated"), True),
    Column("gpu_busy_hours", N_("GPU-hours busy"), True),
    Column("credits_charged", N_("Credits charged"), True, credits=True),
    Column("wh", N_("Wh"), True),
    Column("culled", N_("Sessions culled"), True),
    Column("credits_saved", N_("Credits culling saved"), True, credits=True),
    Column("wh_simulated", N_("Wh simulated (demo GPUs)"), True),
)


def period_row(figures: cs.PeriodFigures) -> dict[str, Any]:
    """One group's figures as JSON values (``key`` names the group)."""
    return {
        "key": figures.key,
        "sessions": figures.sessions,
        "gpu_hours": amount(figures.gpu_hours),
        "gpu_busy_hours": optional_amount(figures.gpu_busy_hours),
        "credits_charged": amount(figures.charged),
        "wh": optional_amount(figures.wh),
        "culled": figures.culled,
        "credits_saved": amount(figures.saved),
        "wh_simulated": optional_amount(figures.wh_simulated),
    }


def period_table(by: str, figures: Sequence[cs.PeriodFigures]) -> Table:
    """The period's figures broken down ``by``.

    ``by`` is one of :data:`~computehub.credits.console.GROUPINGS`.
    """
    return Table(
        name=f"period-{by}",
        title=BY_TITLES[by],
        columns=(Column("key", _KEY_TITLES[by]), *PERIOD_COLUMNS),
        rows=tuple(period_row(f) for f in figures),
        label="key",
        plots=(("gpu_hours", "gpu_busy_hours"), ("credits_charged", "credits_saved")),
    )


def hubs_table(hubs: Sequence[cs.HubNow]) -> Table:
    """Each hub now."""
    rows = tuple(
        {
            "hub": h.hub,
            "state": h.state,
            "controller_up": h.controller_up,
            "gpus_busy": h.gpus_busy,
            "gpus_free": h.gpus_free,
            "gpus_down": h.gpus_down,
            "sessions": h.sessions,
            "queue": h.queue,
            "message": h.message,
        }
        for h in hubs
    )
    return Table(
        name="hubs",
        title=N_("Hubs now"),
        columns=(
            Column("hub", N_("Hub")),
            Column("state", N_("State")),
            Column("controller_up", N_("Controller up")),
            Column("gpus_busy", N_("GPUs busy"), True, N_("unknown")),
            Column("gpus_free", N_("GPUs free"), True, N_("unknown")),
            Column("gpus_down", N_("GPUs down"), True, N_("unknown")),
            Column("sessions", N_("Sessions (running or queued)"), True),
            Column("queue", N_("Jobs waiting"), True, N_("unknown")),
            Column("message", N_("Maintenance message")),
        ),
        rows=rows,
        label="hub",
        plots=(("gpus_busy", "gpus_free", "gpus_down"), ("sessions", "queue")),
    )


def funding_table(sources: Sequence[cs.FundingFigures]) -> Table:
    """Credits granted, spent, expired, left and expiring soon, per funding source."""
    rows = tuple(
        {
            "source": f.source,
            "granted": amount(f.granted),
            "spent": amount(f.spent),
            "expired": amount(f.expired),
            "remaining": amount(f.remaining),
            "expiring": amount(f.expiring),
        }
        for f in sources
    )
    return Table(
        name="funding",
        title=N_("Credits per funding source"),
        columns=(
            Column("source", N_("Funding source")),
            Column("granted", N_("Granted"), True, credits=True),
            Column("spent", N_("Spent"), True, credits=True),
            Column("expired", N_("Expired"), True, credits=True),
            Column("remaining", N_("Left"), True, credits=True),
            Column("expiring", N_("Expiring soon"), True, credits=True),
        ),
        rows=rows,
        label="source",
        plots=(("granted", "spent", "expiring"),),
    )


def accounts_table(accounts: Sequence[cs.AccountRow]) -> Table:
    """The accounts near zero, the emptiest first."""
    rows = tuple(
        {
            "account": a.account,
            "kind": a.kind,
            "balance": amount(a.balance),
            "held": amount(a.held),
            "available": amount(a.available),
            "next_expiry_at": instant(a.next_expiry_at),
        }
        for a in accounts
    )
    return Table(
        name="accounts",
        title=N_("Accounts near zero"),
        columns=(
            Column("account", N_("Account")),
            Column("kind", N_("Kind")),
            Column("balance", N_("Balance"), True, credits=True),
            Column("held", N_("Held"), True, credits=True),
            Column("available", N_("Available"), True, credits=True),
            Column("next_expiry_at", N_("Next expiry"), null=N_("none"), time=True),
        ),
        rows=rows,
        label="account",
        plots=(("available",),),
    )


def applications_table(applications: Sequence[Application]) -> Table:
    """The open applications, in queue order (priority categories first, then the oldest)."""
    rows = tuple(
        {
            "id": a.id,
            "applicant": a.applicant,
            "organisation": a.proposal.organisation,
            "organisation_kind": a.proposal.organisation_kind,
            "category": a.proposal.category,
            "priority": a.proposal.priority,
            "status": a.status,
            "resource": a.proposal.resource,
            "hours": amount(a.proposal.hours),
            "estimate": amount(a.estimate),
            "created_at": instant(a.created_at),
        }
        for a in applications
    )
    return Table(
        name="applications",
        title=N_("Open applications"),
        columns=(
            Column("id", N_("No.")),
            Column("applicant", N_("Applicant")),
            Column("organisation", N_("Organisation")),
            Column("organisation_kind", N_("Kind")),
            Column("category", N_("Category")),
            Column("priority", N_("Priority")),
            Column("status", N_("Status")),
            Column("resource", N_("GPU")),
            Column("hours", N_("GPU-hours asked"), True),
            Column("estimate", N_("Credits asked"), True, credits=True),
            Column("created_at", N_("Submitted"), time=True),
        ),
        rows=rows,
        label="id",
        plots=(("estimate",),),
    )
