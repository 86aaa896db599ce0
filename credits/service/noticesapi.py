"""``GET /api/v1/notices``: what the caller should know about the accounts they spend from.

Credit that expires within the site file's ``notices.expiring_within_days`` and an
available balance below one typical session (docs/notices.md), computed by
:func:`~computehub.credits.notices.notices`. The credits page, the hub's home page and
spawn form (through the same function on the hub's side) and the notebook widget (over
this endpoint, with the user's own token) all show these.
"""

from __future__ import annotations

from typing import Any

from computehub.credits.noticereads import notice_figures
from computehub.credits.notices import Notice, Rules, notices
from computehub.credits.service.errors import ApiError
from computehub.credits.service.handlers import _LedgerHandler
from computehub.credits.service.scopes import ADMIN
from computehub.credits.service.views import amount, instant


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


class NoticesHandler(_LedgerHandler):
    """``GET /notices``: the caller's notices (operators: ``?user=NAME``)."""

    async def get(self) -> None:
        """Notices for every account the user spends from, soonest expiry first."""
        caller = self.reader()
        user = self.arg("user") or caller.name
        if user != caller.name and not caller.admin:
            raise ApiError(403, f"only operators may read another user's notices ({ADMIN})")
        figures = await self.ctx.call(notice_figures, self.ctx.ledger, user)
        rules = self.ctx.notice_rules
        found = notices(figures, rules, self.ctx.now())
        self.send_json(
            {
                "user": user,
                "rules": rules_view(rules),
                "notices": [notice_view(row) for row in found],
            }
        )
