"""``GET /api/v1/notices``: what the caller should know about the accounts they spend from.

Credit that expires within the site file's ``notices.expiring_within_days`` and an
available balance below one typical session (docs/notices.md), computed by
:func:`~computehub.credits.notices.notices`; the JSON is
:func:`~computehub.credits.service.noticeviews.notice_view`.
"""

from __future__ import annotations

from computehub.credits.noticereads import notice_figures
from computehub.credits.notices import notices
from computehub.credits.service.errors import ApiError
from computehub.credits.service.handlers import _LedgerHandler
from computehub.credits.service.noticeviews import notice_view, rules_view
from computehub.credits.service.scopes import ADMIN


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
