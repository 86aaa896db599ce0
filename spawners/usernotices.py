"""The hub's side of notices: the same notices the credits service serves, for the hub's pages.

The spawn form and the hub's home page are the hub's own pages, drawn from the
ledger the spawner already reads; they compute the notices with the very functions
behind the credits service's ``GET /api/v1/notices``
(:func:`~computehub.credits.noticereads.notice_figures` and
:func:`~computehub.credits.notices.notices`), so every page and the widget say the same.
The ledger is read in a worker thread: the hub's event loop never waits on it.

The home page (``hub_config/templates/home.html``) calls the template variable
``computehub_notices`` (:func:`~computehub.spawners.usernotices.home_notices`), which
JupyterHub's asynchronous templates await, with the page's language (the credit notices'
sentences are in it; an application's decision stays English, as its pages). Besides
the credit notices, the home page says when a decision on one of the person's
applications for credits is waiting for them on the credits page (the credits page
marks it seen when it shows it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from computehub.clock import Clock, utcnow
from computehub.credits.ledger import Ledger
from computehub.credits.noticereads import notice_figures
from computehub.credits.notices import Notice, Rules, notices
from computehub.credits.service.applypage import decision_in_words
from computehub.i18n import _, use
from computehub.i18n.catalog import isolate
from computehub.i18n.choice import DEFAULT

log = logging.getLogger("computehub.notices")


async def read_notices(
    ledger: Ledger, rules: Rules, username: str, clock: Clock = utcnow
) -> list[Notice]:
    """The user's notices, read in a worker thread."""
    figures = await asyncio.to_thread(notice_figures, ledger, username)
    return notices(figures, rules, clock())


def _decisions(ledger: Ledger, username: str) -> list[dict[str, str]]:
    """Decisions on the user's applications they have not seen on the credits page yet."""
    found = []
    for row in ledger.applications(applicant=username):
        words = decision_in_words(row) if row.unseen else ""
        if words:
            found.append(
                {
                    "kind": "decision",
                    "account": row.proposal.account,
                    "text": _("Your application \u201c{title}\u201d: {decision}").format(
                        title=isolate(row.proposal.title), decision=words
                    ),
                    "link": f"applications/{row.id}",
                }
            )
    return found


def home_notices(
    ledger: Callable[[], Ledger], rules: Rules, clock: Clock = utcnow
) -> Callable[[Any], Callable[[], Awaitable[list[dict[str, str]]]]]:
    """The template variable ``computehub_notices``: per user, a function the page awaits.

    JupyterHub calls a callable template variable with the current user for every page;
    this returns at once, and only the home page calls (and awaits) what it returns, so
    no other page reads the ledger. A ledger that can't be read is logged and the page
    shows no notices. Each notice is ``{"kind", "account", "text", "link"}``, ``link``
    the path under the credits service (``services/credits/``) of the page that says more.
    """

    def for_user(user: Any) -> Callable[[], Awaitable[list[dict[str, str]]]]:
        async def found(lang: str = DEFAULT) -> list[dict[str, str]]:
            name = getattr(user, "name", None)
            if not name:
                return []
            try:
                book = ledger()
                with use(lang):  # the page's language (the template passes it)
                    rows = await read_notices(book, rules, name, clock)
                    # to_thread copies the context: the decisions are in it too.
                    decisions = await asyncio.to_thread(_decisions, book, name)
            except Exception:  # the home page must open whatever the ledger does
                log.exception("Notices for %s could not be read", name)
                return []
            return [
                {"kind": row.kind, "account": row.account, "text": row.text, "link": ""}
                for row in rows
            ] + decisions

        return found

    return for_user
