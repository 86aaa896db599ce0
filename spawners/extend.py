"""``POST /hub/api/computehub/extend``: more time for a running session, if funded.

Called by the notebook widget with the server's own token (it extends that server's
session), or by the user with a token of theirs or their login (the home page): it
extends the server named in the body's ``server`` (a named server), their default
server without one. A server's own token may name only itself.
The token needs ``custom:computehub:sessions`` (:mod:`computehub.spawners.scopes`):
every user holds it for their servers and each server's token for itself; a
read-only token, or the OAuth token a visitor's browser gave another user's
server, does not.

Body: ``{"hours": "1", "dry_run": true, "server": "gpu-run"}`` (``server`` optional).
A dry run answers what the extension would cost; a real one adds to the session's
hold first (the ledger refuses, inside its transaction, to go past the hub's
``max_hours``), then moves Slurm's time limit to the hold's hours, so a job never runs
past what its account funded. The ledger checks an extension as it checks a start (a
course's limits too: 402 with the billing seam's sentence). Extensions of one session
run one at a time, so Slurm's limit ends at the hold's. Answers
``{"cost", "available", "funded_until"}`` or ``{"message"}`` with 400/402/403/409/503.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import weakref
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from jupyterhub.apihandlers import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from computehub.credits.errors import (
    ConflictError,
    CourseShareError,
    HoursLimitError,
    InsufficientCreditError,
)
from computehub.spawners.billing import extend, extend_refusal, share_refusal
from computehub.spawners.owntoken import own_spawner
from computehub.spawners.scopes import SESSIONS

PATH = r"/api/computehub/extend"
_HOURS = re.compile(r"[0-9]{1,3}(\.[0-9]{1,2})?")

#: One lock per hold: extensions of a session are applied (ledger, then Slurm) in turn.
_LOCKS: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def parse_extension(body: Any) -> tuple[Decimal, bool]:
    """The hours asked for and whether it is a dry run; ValueError with a reason."""
    if not isinstance(body, dict) or not set(body) <= {"hours", "dry_run", "server"}:
        raise ValueError('expected {"hours": "<hours>", "dry_run": true|false, "server": "<name>"}')
    hours = body.get("hours")
    if (
        isinstance(hours, bool)
        or not isinstance(hours, str | int)
        or not _HOURS.fullmatch(str(hours))
    ):
        raise ValueError("hours must be a number of hours such as 1 or 0.5")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValueError("dry_run must be true or false")
    value = Decimal(str(hours))
    if value <= 0:
        raise ValueError("hours must be more than 0")
    return value, dry_run


def parse_server(body: Any) -> str | None:
    """The server the body names (``""``: the default one), None when it names none."""
    if not isinstance(body, dict) or "server" not in body:
        return None
    name = body["server"]
    if not isinstance(name, str) or len(name) > 255 or "/" in name:
        raise ValueError("server must be the name of one of your servers")
    return name


def _lock(hold_id: int) -> asyncio.Lock:
    lock = _LOCKS.get(hold_id)
    if lock is None:
        lock = asyncio.Lock()
        _LOCKS[hold_id] = lock
    return lock


def _hours(value: Decimal) -> str:
    """``11.00`` as ``11``, ``2.50`` as ``2.5``."""
    return f"{value.normalize():f}"


def _limit_message(display_name: str, limit: Decimal, hours: Decimal) -> str:
    return (
        f"a session on {display_name} lasts at most {_hours(limit)} h; "
        f"this one has {_hours(hours)} h"
    )


def _figures(cost: Decimal, available: Decimal, funded_until: datetime) -> str:
    return json.dumps(
        {"cost": str(cost), "available": str(available), "funded_until": funded_until.isoformat()}
    )


class ExtendHandler(APIHandler):  # type: ignore[misc]
    """Extend the session of the calling server, or the caller's default server."""

    def _error(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(json.dumps({"message": message}))

    @web.authenticated
    async def post(self) -> None:
        user = self.current_user
        if getattr(user, "kind", None) != "user":
            raise web.HTTPError(403, "only a user (or their server) can extend a session")
        own = own_spawner(user, self.get_auth_token())
        try:
            named = parse_server(self.get_json_body())
        except ValueError as err:
            return self._error(400, str(err))
        if own is not None and named is not None and named != own.name:
            raise web.HTTPError(403, "a server's token extends only its own session")
        server = own.name if own is not None else (named or "")
        await self._extend(user.name, server)

    @needs_scope(SESSIONS)  # type: ignore[untyped-decorator]
    async def _extend(self, user_name: str, server_name: str) -> None:
        # JupyterHub's scope check: SESSIONS on this user's server (the arguments'
        # names are what @needs_scope filters on).
        user = self.current_user
        try:
            hours, dry_run = parse_extension(self.get_json_body())
        except ValueError as err:
            return self._error(400, str(err))
        spawner = user.spawners.get(server_name)
        if spawner is None or not spawner.active or not getattr(spawner, "hold_id", 0):
            return self._error(409, "you have no running session to extend")
        hub = spawner.registry[spawner.hub_name]
        ledger = spawner.billing.ledger
        hold_id = int(spawner.hold_id)
        async with _lock(hold_id):
            hold = await asyncio.to_thread(ledger.hold, hold_id)
            # The hub's limit, or the partition's where one of the session's resources
            # runs in one with a shorter one.
            limit = min(hub.max_hours(resource) for resource in hold.resources)
            if dry_run:
                if hold.hours + hours > limit:
                    return self._error(400, _limit_message(hub.display_name, limit, hold.hours))
                balance = await asyncio.to_thread(ledger.balance, hold.account)
                until = hold.created_at + timedelta(hours=float(hold.hours + hours))
                self.finish(_figures(hold.per_hour * hours, balance.available, until))
                return
            try:
                extended = await extend(ledger, hold_id, hours, limit, actor=user.name)
            except HoursLimitError as err:
                return self._error(400, _limit_message(hub.display_name, limit, err.current))
            except InsufficientCreditError as err:
                return self._error(402, extend_refusal(err, hours))
            except CourseShareError as err:
                return self._error(402, share_refusal(err, extension=True))
            except ConflictError as err:
                return self._error(409, f"the session can't be extended: {err}")
            try:
                await spawner.slurm.set_time_limit(
                    spawner.hub_name, spawner.job_id, math.ceil(extended.hours * 60)
                )
            except Exception:  # the extra hold is released when the session is settled
                spawner.log.exception("Extending job %s failed", spawner.job_id)
                return self._error(
                    503, "The scheduler did not take the new time limit; try again shortly."
                )
        cost = extended.amount - hold.amount
        balance = await asyncio.to_thread(ledger.balance, hold.account)
        spawner.log.info(
            "Session %s/%s of %s extended by %s h (%s credits), now %s h",
            spawner.hub_name,
            spawner.job_id,
            user.name,
            hours,
            cost,
            extended.hours,
        )
        until = extended.created_at + timedelta(hours=float(extended.hours))
        self.finish(_figures(cost, balance.available, until))
