"""The GPU-idle rule: stop sessions whose GPUs sit idle, and say what that saved.

``jupyterhub-idle-culler`` stops servers nobody uses; a notebook left open on a GPU
that does nothing is *used* in its eyes, and burns credits. This service, run
beside the hub like the culler, asks every running server how long its GPUs have
been below ``--busy-percent`` (the notebook server's ``computehub/gpu-activity``
endpoint, see :mod:`computehub.extensions.activity`), stops those idle for
``--limit`` seconds, and, once the spawner has settled the session, writes on it
what the stop saved (the unused part of its hold) for the user to read beside the
charge. Its hub scopes: ``list:users``, ``read:servers`` (to find the servers),
``access:servers`` (to ask them) and ``delete:servers`` (to stop them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from computehub.credits.errors import LedgerError
from computehub.credits.ledger import Ledger
from computehub.credits.records import Session

log = logging.getLogger("computehub.gpuidle")

ACTIVITY_ROUTE = "computehub/gpu-activity"


@dataclass(frozen=True)
class Rule:
    """When a session's GPUs count as idle for too long."""

    limit_s: float
    busy_percent: int

    def idle_for(self, report: Mapping[str, Any]) -> float | None:
        """The idle seconds that condemn a server, or None to leave it running.

        A server with no GPUs, or whose GPU use can't be measured (``idle_s`` null),
        is never stopped by this rule.
        """
        gpus, idle_s = report.get("gpus"), report.get("idle_s")
        if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 1:
            return None
        if not isinstance(idle_s, int | float) or isinstance(idle_s, bool):
            return None
        return float(idle_s) if idle_s >= self.limit_s else None


def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} min" if minutes else f"{int(seconds)} s"


def end_note(rule: Rule, idle_s: float, session: Session | None) -> str:
    """What the user reads beside the charge of a session this rule stopped."""
    why = (
        f"Stopped by computehub: its GPUs were below {rule.busy_percent} % use for "
        f"{_minutes(idle_s)} (the limit is {_minutes(rule.limit_s)})."
    )
    if session is None or session.charged is None:
        return f"{why} The unused part of its hold goes back to your account."
    saved = session.hold.amount - session.charged
    return f"{why} That saved you {saved:.2f} credits, returned to {session.hold.account}."


@dataclass(frozen=True)
class Server:
    """A running notebook server as the hub's REST API lists it."""

    user: str
    name: str
    url: str

    @property
    def label(self) -> str:
        return f"{self.user}/{self.name}" if self.name else self.user


def running_servers(users: Iterable[Mapping[str, Any]]) -> list[Server]:
    """The ready servers in a ``GET /users`` answer."""
    found = []
    for user in users:
        for name, server in (user.get("servers") or {}).items():
            if server.get("ready") and server.get("url"):
                found.append(Server(user["name"], name, server["url"]))
    return found


class GpuIdleService:
    """One pass or a loop of the rule, against a hub's REST API and the ledger."""

    def __init__(
        self,
        *,
        api_url: str,
        public_url: str,
        token: str,
        ledger: Ledger,
        rule: Rule,
        settle_wait_s: float = 90.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.token = token
        self.ledger = ledger
        self.rule = rule
        self.settle_wait_s = settle_wait_s

    async def _call(self, method: str, url: str, wait_s: float = 20) -> Any:
        request = HTTPRequest(
            url,
            method=method,
            headers={"Authorization": f"token {self.token}"},
            request_timeout=wait_s,
        )
        # The client belongs to the running event loop: ask for it here, not earlier.
        response = await AsyncHTTPClient().fetch(request)
        return json.loads(response.body) if response.body else None

    async def one_pass(self) -> list[str]:
        """Check every running server once; returns the servers it stopped."""
        users = await self._call("GET", f"{self.api_url}/users?state=active")
        servers = running_servers(users or [])
        stopped = await asyncio.gather(*(self._check(server) for server in servers))
        return [label for label in stopped if label]

    async def _check(self, server: Server) -> str | None:
        url = f"{self.public_url}{server.url}{ACTIVITY_ROUTE}?busy_percent={self.rule.busy_percent}"
        try:
            report = await self._call("GET", url, wait_s=10)
        except HTTPClientError as err:
            # 404: an image without the activity extension; others: the server is busy
            # starting or stopping. Either way, not idle as far as anyone can tell.
            log.debug("No GPU activity from %s: %s", server.label, err)
            return None
        except OSError as err:
            log.debug("No GPU activity from %s: %s", server.label, err)
            return None
        idle_s = self.rule.idle_for(report if isinstance(report, dict) else {})
        if idle_s is None:
            return None
        hold = await asyncio.to_thread(self._hold_of, server, report)
        log.warning(
            "Stopping %s: its %s GPU(s) were idle for %.0f s (limit %.0f s)",
            server.label,
            report.get("gpus"),
            idle_s,
            self.rule.limit_s,
        )
        path = f"/users/{quote(server.user)}/servers/{quote(server.name)}"
        if not server.name:
            path = f"/users/{quote(server.user)}/server"
        await self._call("DELETE", f"{self.api_url}{path}", wait_s=120)
        if hold is not None:
            session = await self._settled(hold)
            note = end_note(self.rule, idle_s, session)
            await asyncio.to_thread(self.ledger.note_session_end, hold, note, actor="gpu-idle")
            log.info("Hold %s: %s", hold, note)
        return server.label

    def _hold_of(self, server: Server, report: Mapping[str, Any]) -> int | None:
        """The hold paying for the server's job, if it really is this user's."""
        hub, job_id = report.get("hub"), report.get("job_id")
        if not isinstance(hub, str) or not isinstance(job_id, str) or not hub or not job_id:
            return None
        try:
            hold = self.ledger.hold_for_job(hub, job_id)
        except (LedgerError, ValueError):
            return None
        if hold is None:
            return None
        # The server says which job it is; believe it only for its own user's hold.
        session = self.ledger.session(hold.id)
        return hold.id if session.created_by == server.user else None

    async def _settled(self, hold_id: int) -> Session | None:
        """The session once the spawner has settled it (None if that takes too long)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_wait_s
        while True:
            session = await asyncio.to_thread(self.ledger.session, hold_id)
            if session.charged is not None or session.hold.status != "open":
                return session
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(1)

    async def run(self, every_s: float, once: bool) -> None:
        """A pass now, then every ``every_s`` seconds (until cancelled)."""
        while True:
            try:
                stopped = await self.one_pass()
                if stopped:
                    log.info("Stopped for idle GPUs: %s", ", ".join(stopped))
            except Exception:
                log.exception("The GPU-idle pass failed; trying again in %s s", every_s)
            if once:
                return
            await asyncio.sleep(every_s)


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m computehub.spawners.gpuidle --limit S [--busy-percent P] [--every S]``.

    Reads ``JUPYTERHUB_API_URL`` and ``JUPYTERHUB_API_TOKEN`` (set by the hub for a
    managed service), ``COMPUTEHUB_PUBLIC_URL`` (where the proxy serves the
    notebook servers) and ``COMPUTEHUB_DB_URL`` (the ledger).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=float, required=True, help="idle seconds before a stop")
    parser.add_argument("--busy-percent", type=int, default=5, help="GPU use that counts as busy")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between passes")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s gpu-idle] %(message)s"
    )
    env = os.environ
    from computehub.paths import default_ledger_url

    with Ledger(env.get("COMPUTEHUB_DB_URL") or default_ledger_url()) as ledger:
        service = GpuIdleService(
            api_url=env["JUPYTERHUB_API_URL"],
            public_url=env["COMPUTEHUB_PUBLIC_URL"],
            token=env["JUPYTERHUB_API_TOKEN"],
            ledger=ledger,
            rule=Rule(limit_s=args.limit, busy_percent=args.busy_percent),
        )
        try:
            asyncio.run(service.run(args.every, args.once))
        except KeyboardInterrupt:  # the hub stops its managed services with SIGINT
            log.info("Stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
