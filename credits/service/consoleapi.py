"""The operator console's REST API (``/api/v1/console/...``), operators only.

Each endpoint answers one or more of the console's tables
(:mod:`~computehub.credits.service.consoletables`) as JSON; the page and its CSV
exports read the very same tables through
:func:`~computehub.credits.service.consoleapi.gather`. Every endpoint needs
:data:`~computehub.credits.service.scopes.ADMIN`: reviewers, students, researchers and
instructors are refused with a 403.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from computehub.credits import console as cs
from computehub.credits.errors import InvalidAmountError
from computehub.credits.money import parse_decimal
from computehub.credits.service import access, consoletables, params, statuspage
from computehub.credits.service.base import BaseHandler
from computehub.credits.service.context import ServiceContext
from computehub.credits.service.errors import ApiError
from computehub.credits.service.hubs import HubStatusError
from computehub.credits.service.scopes import ADMIN
from computehub.credits.service.views import amount, instant

log = logging.getLogger("computehub.credits.service")

#: The period the console shows when none is chosen: the last 30 days.
DEFAULT_PERIOD: Final = timedelta(days=30)
#: Accounts with less than this available are "near zero" unless ``?below=`` says otherwise.
DEFAULT_BELOW: Final = Decimal(10)
#: The farthest "expiring within" may look, in days (ten years).
MAX_DAYS: Final = 3660
_DAYS = re.compile(r"[0-9]{1,4}")
_AMOUNT = re.compile(params.AMOUNT_PATTERN)
#: Applications still waiting for a decision.
OPEN_STATUSES: Final = ("submitted", "changes_requested", "approving")


def operator(caller: access.Caller | None) -> access.Caller:
    """The caller if an operator; else a 401 (anonymous) or a 403."""
    if caller is None:
        raise ApiError(401, "authentication required: log in at the hub first")
    if not access.may_open_console(caller):
        raise ApiError(403, f"only operators may open the operator console (scope {ADMIN})")
    return caller


@dataclass(frozen=True)
class Choice:
    """What the operator chose: the period, the "expiring" horizon, the near-zero line."""

    since: datetime
    until: datetime
    expiring_days: int
    below: Decimal


def choice(args: dict[str, str | None], now: datetime, expiring_soon: timedelta) -> Choice:
    """The choice from query arguments (``since``, ``until``, ``days``, ``below``).

    Raises:
        ApiError: 400 for a day, number or amount that can't be read; 422 for a period
            that ends before it starts.
    """
    until = params.day(args.get("until"), "until") or now
    since = params.day(args.get("since"), "since") or until - DEFAULT_PERIOD
    if until <= since:
        # Well-formed days in the wrong order, as a course's term (the description can't say it).
        raise ApiError(422, "the period must end after it starts (until after since)")
    raw_days = args.get("days")
    days = expiring_soon.days
    if raw_days is not None:
        if not _DAYS.fullmatch(raw_days) or not 0 < int(raw_days) <= MAX_DAYS:
            raise ApiError(
                400, f"days must be a whole number from 1 to {MAX_DAYS}, not {raw_days!r}"
            )
        days = int(raw_days)
    below = DEFAULT_BELOW
    raw_below = args.get("below")
    if raw_below is not None:
        try:
            if not _AMOUNT.fullmatch(raw_below):
                raise ValueError(raw_below)
            below = parse_decimal(raw_below)
        except (InvalidAmountError, ValueError):
            raise ApiError(
                400, f"below must be a positive amount of credits, not {raw_below!r}"
            ) from None
    return Choice(since, until, days, below)


async def hubs_now(ctx: ServiceContext) -> tuple[list[cs.HubNow], bool]:
    """Each hub now (the hub's status and the ledger's open sessions), and whether the hub
    answered (if not, only the ledger's sessions are known)."""
    sessions = await ctx.call(ctx.ledger.console_open_sessions)
    try:
        if ctx.hub_status is None:
            raise HubStatusError("the service was started without the hub's API")
        views = statuspage.parse_hubs(await ctx.hub_status())
    except (HubStatusError, statuspage.HubAnswerError) as err:
        log.warning("The console can't show the hubs' status: %s", err)
        return [
            cs.HubNow(hub, "unknown", False, None, None, None, None, count)
            for hub, count in sorted(sessions.items())
        ], False
    return [
        cs.hub_now(
            v.hub,
            v.state,
            [cs.GpuReading(g.total, g.free, g.out_of_service) for g in v.gpus],
            v.queue,
            sessions.get(v.hub, 0),
            v.message if v.state == "maintenance" else "",
        )
        for v in views
    ], True


async def period(ctx: ServiceContext, chosen: Choice) -> cs.Console:
    """The period's figures."""
    rows = await ctx.call(ctx.ledger.console_sessions, chosen.since, chosen.until)
    return cs.console(rows, chosen.since, chosen.until)


async def funding(ctx: ServiceContext, chosen: Choice) -> list[cs.FundingFigures]:
    """Granted vs spent vs expiring per funding source."""
    granted, expired, lots = await ctx.call(ctx.ledger.console_funding)
    horizon = ctx.now() + timedelta(days=chosen.expiring_days)
    return cs.funding(granted, expired, lots, horizon=horizon)


async def near_zero(ctx: ServiceContext, chosen: Choice) -> list[cs.AccountRow]:
    """The accounts with less than ``chosen.below`` available."""
    return cs.near_zero(await ctx.call(ctx.ledger.console_accounts), chosen.below)


async def open_applications(ctx: ServiceContext) -> consoletables.Table:
    """The applications waiting for a decision, in queue order."""
    rows = await ctx.call(ctx.ledger.applications, statuses=list(OPEN_STATUSES))
    return consoletables.applications_table(rows)


@dataclass(frozen=True)
class Gathered:
    """Every table of the console for one choice, and what the page says above them."""

    chosen: Choice
    tables: dict[str, consoletables.Table]
    total: dict[str, Any]
    hub_answered: bool


async def gather(ctx: ServiceContext, chosen: Choice) -> Gathered:
    """Every table, for the page and the CSV exports."""
    hubs, answered = await hubs_now(ctx)
    figures = await period(ctx, chosen)
    tables = {"hubs": consoletables.hubs_table(hubs)}
    for by, rows in figures.by.items():
        tables[f"period-{by}"] = consoletables.period_table(by, rows)
    tables["applications"] = await open_applications(ctx)
    tables["funding"] = consoletables.funding_table(await funding(ctx, chosen))
    tables["accounts"] = consoletables.accounts_table(await near_zero(ctx, chosen))
    return Gathered(chosen, tables, consoletables.period_row(figures.total), answered)


class _ConsoleHandler(BaseHandler):
    """Operators only; the choice from the query."""

    def chosen(self) -> Choice:
        args = {
            key: self.get_query_argument(key, None, strip=False)
            for key in ("since", "until", "days", "below")
        }
        return choice(args, self.ctx.now(), self.ctx.expiring_soon)


class HubsNowHandler(_ConsoleHandler):
    """``GET /console/hubs``: each hub now."""

    async def get(self) -> None:
        """GPUs busy, free and down, sessions, queue, controller up, per hub."""
        operator(self.caller)
        hubs, answered = await hubs_now(self.ctx)
        self.send_json({"hub_answered": answered, "hubs": consoletables.hubs_table(hubs).json()})


class PeriodHandler(_ConsoleHandler):
    """``GET /console/period``: the period's figures, in total and by hub, kind, category, GPU."""

    async def get(self) -> None:
        """``?since=YYYY-MM-DD&until=YYYY-MM-DD`` (default the last 30 days)."""
        operator(self.caller)
        chosen = self.chosen()
        figures = await period(self.ctx, chosen)
        self.send_json(
            {
                "since": instant(chosen.since),
                "until": instant(chosen.until),
                "total": consoletables.period_row(figures.total),
                "by": {
                    by: consoletables.period_table(by, rows).json()
                    for by, rows in figures.by.items()
                },
            }
        )


class FundingHandler(_ConsoleHandler):
    """``GET /console/funding``: credits granted, spent and expiring per funding source."""

    async def get(self) -> None:
        """``?days=N``: "expiring" looks N days ahead (default the service's setting)."""
        operator(self.caller)
        chosen = self.chosen()
        rows = await funding(self.ctx, chosen)
        self.send_json(
            {
                "expiring_within_days": chosen.expiring_days,
                "sources": consoletables.funding_table(rows).json(),
            }
        )


class NearZeroHandler(_ConsoleHandler):
    """``GET /console/accounts``: people's accounts with little left."""

    async def get(self) -> None:
        """``?below=AMOUNT`` (default 10 credits available)."""
        operator(self.caller)
        chosen = self.chosen()
        rows = await near_zero(self.ctx, chosen)
        self.send_json(
            {"below": amount(chosen.below), "accounts": consoletables.accounts_table(rows).json()}
        )


class OpenApplicationsHandler(_ConsoleHandler):
    """``GET /console/applications``: applications waiting for a decision."""

    async def get(self) -> None:
        """In queue order."""
        operator(self.caller)
        table = await open_applications(self.ctx)
        self.send_json({"applications": table.json()})
