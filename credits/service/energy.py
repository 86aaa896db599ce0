"""``GET /reports/energy``: sessions' GPU energy and credits per kWh, by group (operators).

The operator console calls the same ledger function (``Ledger.energy_report``); this is
its REST face, and ``computehub credits energy`` its command line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from computehub.credits.energy import GROUPS, EnergyRow
from computehub.credits.service import params, views
from computehub.credits.service.energywords import wh_text
from computehub.credits.service.errors import ApiError
from computehub.credits.service.handlers import _LedgerHandler

#: The start of a report whose ``since`` is not given: every session.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def energy_row(row: EnergyRow) -> dict[str, Any]:
    """One group of an energy report as JSON (decimals as strings, as every amount)."""
    return {
        "key": row.key,
        "sessions": row.sessions,
        "measured": row.measured,
        "unknown": row.unknown,
        "pending": row.pending,
        "wh": wh_text(row.wh),
        "credits": views.amount(row.credits),
        "credits_measured": views.amount(row.credits_measured),
        "credits_per_kwh": views.optional_amount(row.credits_per_kwh),
        "simulated": row.simulated,
    }


class EnergyReportHandler(_LedgerHandler):
    """``GET /reports/energy?since=&until=&by=hub|account|gpu|kind`` (operators)."""

    async def get(self) -> None:
        """Sessions settled in ``[since, until)``; ``by`` defaults to hub."""
        self.admin()
        by = self.arg("by") or "hub"
        if by not in GROUPS:
            raise ApiError(400, f"by must be one of {', '.join(GROUPS)}, not {by!r}")
        since = params.day(self.arg("since"), "since") or EARLIEST
        until = params.day(self.arg("until"), "until") or datetime.now(UTC)
        if until <= since:
            # A readable but empty period: the description allows it, the ledger refuses it.
            raise ApiError(422, "the period must end after it starts (until after since)")
        rows = await self.ctx.call(self.ctx.ledger.energy_report, since, until, by)
        self.send_json(
            {
                "by": by,
                "since": views.instant(since),
                "until": views.instant(until),
                "rows": [energy_row(row) for row in rows],
            }
        )
