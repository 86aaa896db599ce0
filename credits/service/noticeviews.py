"""Notices as the credits service shows them: JSON for the API, HTML for the credits page.

Credit that expires within the site file's ``notices.expiring_within_days`` and an
available balance below one typical session (docs/notices.md), computed by
:func:`~computehub.credits.notices.notices`: ``GET /api/v1/notices``, the widget's
``notices`` in ``GET /api/v1/sessions/current`` and the credits page show the same,
as the hub's home page and spawn form do (through the same functions on the hub's side).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from computehub.credits.noticereads import notice_figures
from computehub.credits.notices import Notice, Rules, notices
from computehub.credits.service.base import BaseHandler
from computehub.credits.service.views import amount, instant
from computehub.i18n import _


def notice_view(row: Notice) -> dict[str, Any]:
    """One notice as the API answers it: amounts as decimal strings."""
    return {
        "kind": row.kind,
        "account": row.account,
        "text": row.text,
        "amount": amount(row.amount),
        "expires_at": instant(row.expires_at),
        "last_day": None if row.last_day is None else row.last_day.isoformat(),
        "threshold": None if row.threshold is None else amount(row.threshold),
    }


def rules_view(rules: Rules) -> dict[str, Any]:
    """The rules the notices were computed with."""
    low = rules.low_balance
    return {
        "expiring_within_days": rules.expiring_within.days,
        "low_balance": low if low is None or isinstance(low, str) else amount(low),
    }


def notice_items(found: Sequence[Notice]) -> str:
    """The notices as list items (HTML), with their kind and account for scripts and tests."""
    return "".join(
        f'<li class="ch-notice" data-kind="{escape(row.kind)}" '
        f'data-account="{escape(row.account)}">{escape(row.text)}</li>'
        for row in found
    )


def notices_section(found: Sequence[Notice]) -> str:
    """The credits page's notices, above its accounts (HTML; empty without notices)."""
    if not found:
        return ""
    items = notice_items(found)
    return (
        '<section class="alert alert-warning" id="ch-notices" role="status">'
        '<h2 class="h6">' + _("For your attention") + "</h2>"
        f'<ul class="mb-0">{items}</ul></section>'
    )


async def page_notices(handler: BaseHandler, user: str) -> str:
    """The notices section of ``user``'s credits page."""
    ctx = handler.ctx
    figures = await ctx.call(notice_figures, ctx.ledger, user)
    return notices_section(notices(figures, ctx.notice_rules, ctx.now()))


async def account_notices(handler: BaseHandler, user: str, account: str) -> list[dict[str, Any]]:
    """The notices of one of ``user``'s accounts, as the API answers them (the widget's)."""
    ctx = handler.ctx
    figures = await ctx.call(notice_figures, ctx.ledger, user)
    mine = [row for row in figures if row.account == account]
    return [notice_view(row) for row in notices(mine, ctx.notice_rules, ctx.now())]
