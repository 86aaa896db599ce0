"""The GPU-idle rule: stop sessions whose GPUs sit idle, and say what that saved.

``jupyterhub-idle-culler`` stops servers nobody uses; a notebook left open on a GPU
that does nothing is *used* in its eyes, and burns credits. Each notebook server
pushes how long its GPUs have been below the busy threshold to the hub, with its
own token (:mod:`computehub.extensions.activity`); the hub keeps the latest report
of each server, attributed to that server's job and hold
(:mod:`computehub.spawners.gpuactivity`). This service, run beside the hub like the
culler, reads those reports from the hub, stops the servers idle for ``--limit``
seconds, and, once the spawner has settled the session, writes on it what the stop
saved (the unused part of its hold) for the user to read beside the charge.

It never contacts a notebook server: a server is code its user controls, and a
token sent there is the user's to keep. Its hub scopes:
``custom:computehub:gpu-activity:read`` (the reports) and ``delete:servers`` (the
stop).

The rule: a server is stopped when the hub holds a report of its current job,
received at most ``--stale-after`` seconds ago, measured at this service's
``--busy-percent``, saying its (one or more) GPUs have been below that use for at
least ``--limit`` seconds. A missing, stale, unmeasured (``idle_s`` null: no
driver, MIG slices) or malformed report, one at another threshold, or a server
without GPUs, never stops a server.

A user can push reports for their own servers only: at worst they keep their own,
paid, server running, or get it stopped.
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
from typing import Any, TypeGuard
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from computehub.credits.console import GPU_IDLE_NOTE_PREFIX
from computehub.credits.errors import LedgerError
from computehub.credits.ledger import Ledger
from computehub.credits.records import Session

log = logging.getLogger("computehub.gpuidle")

#: The hub's report of every running server (:mod:`computehub.spawners.gpuactivity`).
REPORTS_PATH = "/computehub/gpu-activity"


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rule:
    """When a session's GPUs count as idle for too long."""

    limit_s: float
    busy_percent: int
    #: A report older than this says nothing about the server now.
    stale_after_s: float = 180.0

    def idle_for(self, report: Mapping[str, Any]) -> float | None:
        """The idle seconds that condemn a server, or None to leave it running."""
        gpus, idle_s, age_s = report.get("gpus"), report.get("idle_s"), report.get("age_s")
        if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 1:
            return None
        if not _number(age_s) or not 0 <= age_s <= self.stale_after_s:
            return None
        if report.get("busy_percent") != self.busy_percent:
            return None
        if not _number(idle_s):
            return None
        return float(idle_s) if idle_s >= self.limit_s else None


def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} min" if minutes else f"{int(seconds)} s"


def end_note(rule: Rule, idle_s: float, session: Session | None) -> str:
    """What the user reads beside the charge of a session this rule stopped."""
    why = (
        f"{GPU_IDLE_NOTE_PREFIX} {rule.busy_percent} % use for "
        f"{_minutes(idle_s)} (the limit is {_minutes(rule.limit_s)})."
    )
    if session is None or session.charged is None:
        return f"{why} The unused part of its hold goes back to your account."
    saved = session.hold.amount - session.charged
    return f"{why} That saved you {saved:.2f} credits, returned to {session.hold.account}."


@dataclass(frozen=True)
class Server:
    """A running server as the hub's report names it, with the hold the hub knows."""

    user: str
    name: str
    hold_id: int

    @property
    def label(self) -> str:
        return f"{self.user}/{self.name}" if self.name else self.user

    @property
    def path(self) -> str:
        """Its REST path under the hub API."""
        if self.name:
            return f"/users/{quote(self.user, safe='')}/servers/{quote(self.name, safe='')}"
        return f"/users/{quote(self.user, safe='')}/server"


def server_of(report: Mapping[str, Any]) -> Server | None:
    """The server a hub report is about (None for a malformed row)."""
    user, name, hold_id = report.get("user"), report.get("server"), report.get("hold_id")
    if not isinstance(user, str) or not user or not isinstance(name, str):
        return None
    if not isinstance(hold_id, int) or isinstance(hold_id, bool) or hold_id < 0:
        return None
    return Server(user, name, hold_id)


class GpuIdleService:
    """One pass or a loop of the rule, against the hub's REST API and the ledger."""

    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        ledger: Ledger,
        rule: Rule,
        settle_wait_s: float = 90.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.ledger = ledger
        self.rule = rule
        self.settle_wait_s = settle_wait_s

    async def _call(self, method: str, path: str, wait_s: float = 20) -> Any:
        """Call the hub's REST API (never anything else: the token is the service's)."""
        request = HTTPRequest(
            f"{self.api_url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            request_timeout=wait_s,
            follow_redirects=False,
        )
        # The client belongs to the running event loop: ask for it here, not earlier.
        response = await AsyncHTTPClient().fetch(request)
        return json.loads(response.body) if response.body else None

    async def one_pass(self) -> list[str]:
        """Judge every server's latest report once; returns the servers it stopped."""
        answer = await self._call("GET", REPORTS_PATH)
        reports = answer.get("reports") if isinstance(answer, dict) else None
        if not isinstance(reports, list):
            raise ValueError("the hub's GPU activity answer has no list of reports")
        rows = [r for r in reports if isinstance(r, dict)]
        outcomes = await asyncio.gather(*(self._judge(r) for r in rows), return_exceptions=True)
        stopped = []
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, Exception):  # one server's failure doesn't stop the pass
                log.error("Stopping %s/%s failed: %s", row.get("user"), row.get("server"), outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            elif outcome:
                stopped.append(outcome)
        return stopped

    async def _judge(self, report: Mapping[str, Any]) -> str | None:
        server = server_of(report)
        if server is None:
            return None
        if report.get("gpus") and report.get("busy_percent") != self.rule.busy_percent:
            log.warning(
                "%s reports GPU idleness at %s %%, not at this rule's %s %%: never stopped",
                server.label,
                report.get("busy_percent"),
                self.rule.busy_percent,
            )
        idle_s = self.rule.idle_for(report)
        if idle_s is None:
            return None
        log.warning(
            "Stopping %s: its %s GPU(s) were idle for %.0f s (limit %.0f s)",
            server.label,
            report.get("gpus"),
            idle_s,
            self.rule.limit_s,
        )
        await self._call("DELETE", server.path, wait_s=120)
        if server.hold_id:
            session = await self._settled(server.hold_id)
            note = end_note(self.rule, idle_s, session)
            try:
                await asyncio.to_thread(
                    self.ledger.note_session_end, server.hold_id, note, actor="gpu-idle"
                )
            except LedgerError as err:
                log.warning("No end note on hold %s: %s", server.hold_id, err)
            else:
                log.info("Hold %s: %s", server.hold_id, note)
        return server.label

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

    async def run(self, every_s: float, once: bool) -> bool:
        """A pass now, then every ``every_s`` seconds (until cancelled).

        Returns:
            With ``once``: whether the pass ran to its end.
        """
        while True:
            ok = True
            try:
                stopped = await self.one_pass()
                if stopped:
                    log.info("Stopped for idle GPUs: %s", ", ".join(stopped))
            except Exception:
                ok = False
                log.exception("The GPU-idle pass failed; trying again in %s s", every_s)
            if once:
                return ok
            await asyncio.sleep(every_s)


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m computehub.gpuidle --limit S [--busy-percent P] [--every S]``.

    Reads ``JUPYTERHUB_API_URL`` and ``JUPYTERHUB_API_TOKEN`` (set by the hub for a
    managed service) and ``COMPUTEHUB_DB_URL`` (the ledger).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=float, required=True, help="idle seconds before a stop")
    parser.add_argument("--busy-percent", type=int, default=5, help="GPU use that counts as busy")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between passes")
    parser.add_argument(
        "--stale-after",
        type=float,
        default=None,
        help="seconds after which a server's report no longer counts (default: 3 x --every)",
    )
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s gpu-idle] %(message)s"
    )
    env = os.environ
    from computehub.paths import default_ledger_url

    stale = args.stale_after if args.stale_after is not None else 3 * args.every
    with Ledger(env.get("COMPUTEHUB_DB_URL") or default_ledger_url()) as ledger:
        service = GpuIdleService(
            api_url=env["JUPYTERHUB_API_URL"],
            token=env["JUPYTERHUB_API_TOKEN"],
            ledger=ledger,
            rule=Rule(limit_s=args.limit, busy_percent=args.busy_percent, stale_after_s=stale),
        )
        try:
            ok = asyncio.run(service.run(args.every, args.once))
        except KeyboardInterrupt:  # the hub stops its managed services with SIGINT
            log.info("Stopped")
            ok = True
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
