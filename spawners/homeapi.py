"""``GET /hub/api/computehub/home``: what the hub's home page shows, for its user only.

The home page (``hub_config/templates/home.html``) reads this with the browser's
login: each of the user's servers that runs, starts or waits (named servers too),
with its session's figures from the ledger and its job as Slurm sees it now (state,
start or estimated start as ``squeue --start`` gives it, time limit, place in the
queue: all read from the hub's shared queue listing, one ``squeue`` per hub per
interval for every card, page and session poll),
the accounts the user may use with what expires soon, and their last sessions with
what each was charged. The cards are built by :mod:`computehub.spawners.homecards`.

The caller needs :data:`~computehub.spawners.scopes.SESSIONS` on their own user:
every user's login holds it; a server's own token holds it for that server only, so
it can't read the user's other sessions. The answer is only ever the caller's own.
The sentences are in the request's language (the ``computehub-lang`` cookie, else
``Accept-Language``; docs/languages.md); the exact values and times beside them never
are. The ledger is read in a worker thread; the listing's squeue has the hub's timeout,
and a hub that does not answer leaves its cards without Slurm's figures (logged).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from jupyterhub.apihandlers import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from computehub.credits import records as r
from computehub.credits.ledger import Ledger
from computehub.credits.notices import Rules
from computehub.credits.service.page import latest_sessions
from computehub.i18n import use
from computehub.i18n.hub import request_language
from computehub.spawners import homecards as hc
from computehub.spawners.batch import job_name
from computehub.spawners.queueboard import QueueSnapshot
from computehub.spawners.scopes import SESSIONS
from computehub.spawners.slurmclient import JobInfo, SlurmClient, SlurmError

PATH = r"/api/computehub/home"
log = logging.getLogger("computehub.home")


def _server(user: Any, spawner: Any) -> hc.Server:
    return hc.Server(
        name=spawner.name,
        url=user.server_url(spawner.name),
        ready=bool(spawner.ready),
        pending=spawner.pending,
        hub=str(getattr(spawner, "hub_name", "") or ""),
        job_id=str(getattr(spawner, "job_id", "") or ""),
        hold_id=int(getattr(spawner, "hold_id", 0) or 0),
    )


def view_of(snapshot: QueueSnapshot[JobInfo], server: hc.Server, user: str) -> hc.SlurmView:
    """What the hub's queue listing says of the server's job (pure).

    A job the listing does not show is gone; a job that is not the session's (its user
    or, once the hold is known, its name differ: Slurm reused the id) says nothing.
    The start is the job's or, pending, Slurm's estimate (what ``squeue --start``
    prints); a pending job's place is among its partition's pending jobs.
    """
    info = snapshot.jobs.get(server.job_id)
    if info is None:
        return hc.SlurmView(answered=True, state="GONE")
    if info.user != user or (server.hold_id and info.name != job_name(server.hub, server.hold_id)):
        return hc.SlurmView(answered=False)  # the id is someone else's job now
    pending = info.state == "PENDING"
    return hc.SlurmView(
        answered=True,
        state=info.state,
        start=None if info.start is None else datetime.fromtimestamp(info.start, UTC),
        limit_minutes=info.minutes,
        reason=info.reason if pending else "",
        position=snapshot.positions.get(server.job_id) if pending else None,
    )


async def slurm_view(client: SlurmClient, server: hc.Server, user: str) -> hc.SlurmView | None:
    """What Slurm says of the server's job now; None when there is no job to ask about.

    Read from the hub's shared queue listing (:meth:`SlurmClient.board`: one ``squeue``
    per hub per interval, shared with every session's poll and every other card and
    page), never with a ``squeue`` of its own.
    """
    if not server.hub or not server.job_id:
        return None
    try:
        snapshot = await client.board(server.hub).get()
    except SlurmError as err:
        log.warning("Home page: squeue for %s/%s failed: %s", server.hub, server.job_id, err)
        return hc.SlurmView(answered=False)
    return view_of(snapshot, server, user)


def read_ledger(
    ledger: Ledger, username: str, hold_ids: list[int]
) -> tuple[dict[int, r.Session], list[r.Balance], list[r.Session]]:
    """The sessions of the user's servers, their accounts and their latest sessions."""
    current = {hold_id: ledger.session(hold_id) for hold_id in hold_ids}
    accounts = ledger.accounts_for_user(username)
    # Open sessions come first in each list: ask for enough to have the ended ones.
    limit = hc.PAST_LIMIT + len(hold_ids) + 2
    per_account = [
        ledger.sessions(row.account, limit=limit, user=username)
        for row in accounts
        if row.role is not None
    ]
    return current, accounts, latest_sessions(per_account, limit)


def home_answer(
    servers: list[hc.Server],
    sessions: dict[int, r.Session],
    hubs: dict[str, hc.HubWords],
    views: list[hc.SlurmView | None],
    balances: list[r.Balance],
    latest: list[r.Session],
    expiring_within: timedelta,
    now: datetime,
) -> dict[str, Any]:
    """The endpoint's JSON, from what was read (pure)."""
    cards = []
    for server, view in zip(servers, views, strict=True):
        session = sessions.get(server.hold_id)
        cards.append(hc.session_card(server, session, hubs.get(server.hub), view, now))
    return {
        "now": now.isoformat(),
        "sessions": cards,
        "balances": hc.balance_rows(balances, now + expiring_within, now),
        "past": hc.past_rows(latest, now, hubs),
    }


class HomeHandler(APIHandler):  # type: ignore[misc]
    """The caller's sessions, balances and last sessions, for the hub's home page."""

    @web.authenticated
    async def get(self) -> None:
        user = self.current_user
        if getattr(user, "kind", None) != "user":
            raise web.HTTPError(403, "only a user has a home page")
        await self._answer(user.name)

    @needs_scope(SESSIONS)  # type: ignore[untyped-decorator]
    async def _answer(self, user_name: str) -> None:
        user = self.current_user
        default = user.spawner  # every spawner of the hub shares the site, ledger and client
        # Active servers are loaded (JupyterHub loads every running one at its start).
        spawners = sorted((s for s in user.spawners.values() if s.active), key=lambda s: s.name)
        servers = [_server(user, s) for s in spawners]
        registry = default.registry
        hubs = {
            name: hc.HubWords(registry[name].display_name, registry[name].region)
            for name in registry.names()
        }
        views = await asyncio.gather(
            *(slurm_view(default.slurm, server, user.name) for server in servers)
        )
        hold_ids = [s.hold_id for s in servers if s.hold_id]
        try:
            sessions, balances, latest = await asyncio.to_thread(
                read_ledger, default.billing.ledger, user.name, hold_ids
            )
        except Exception:
            log.exception("Home page: the ledger could not be read for %s", user.name)
            raise web.HTTPError(503, "the credit ledger is not answering") from None
        # A hold is the session of the server only if the user placed it.
        sessions = {k: v for k, v in sessions.items() if v.created_by == user.name}
        # The sentences are the page's: in its language (cookie, else Accept-Language).
        with use(request_language(self)):
            answer = home_answer(
                servers,
                sessions,
                hubs,
                list(views),
                balances,
                latest,
                Rules.from_site(default.site).expiring_within,
                datetime.now(UTC),
            )
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(answer))
