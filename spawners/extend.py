"""``POST /hub/api/computehub/extend``: more time for a running session, if funded.

Called by the notebook widget with the server's own token (or by the user).
Body: ``{"hours": "1", "dry_run": true}``. A dry run answers what the extension
would cost; a real one adds to the session's hold first, then moves Slurm's time
limit, so a job never runs past what its account funded. Answers
``{"cost", "available", "funded_until"}`` or ``{"message"}`` with 400/402/409/503.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from jupyterhub.apihandlers import APIHandler, default_handlers
from tornado import web

from computehub.credits.errors import ConflictError, InsufficientCreditError

PATH = r"/api/computehub/extend"
_HOURS = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,2})?$")


def parse_extension(body: Any) -> tuple[Decimal, bool]:
    """The hours asked for and whether it is a dry run; ValueError with a reason."""
    if not isinstance(body, dict) or not set(body) <= {"hours", "dry_run"}:
        raise ValueError('expected {"hours": "<hours>", "dry_run": true|false}')
    hours = body.get("hours")
    if isinstance(hours, bool) or not isinstance(hours, str | int) or not _HOURS.match(str(hours)):
        raise ValueError("hours must be a number of hours such as 1 or 0.5")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValueError("dry_run must be true or false")
    value = Decimal(str(hours))
    if value <= 0:
        raise ValueError("hours must be more than 0")
    return value, dry_run


class ExtendHandler(APIHandler):  # type: ignore[misc]
    """Extend the caller's default server (the session the widget runs in)."""

    def _error(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(json.dumps({"message": message}))

    @web.authenticated
    async def post(self) -> None:
        user = self.current_user
        if getattr(user, "kind", None) != "user":
            raise web.HTTPError(403, "only a user (or their server) can extend a session")
        try:
            hours, dry_run = parse_extension(self.get_json_body())
        except ValueError as err:
            return self._error(400, str(err))
        spawner = user.spawners.get("")
        if spawner is None or not spawner.active or not getattr(spawner, "hold_id", 0):
            return self._error(409, "you have no running session to extend")
        hub = spawner.registry[spawner.hub_name]
        ledger = spawner.billing.ledger
        hold = await asyncio.to_thread(ledger.hold, spawner.hold_id)
        total = hold.hours + hours
        if total > hub.limits.max_hours:
            return self._error(
                400,
                f"a session on {hub.display_name} lasts at most {hub.limits.max_hours} h; "
                f"this one has {hold.hours} h",
            )
        cost = hold.per_hour * hours
        funded_until = hold.created_at + timedelta(hours=float(total))
        balance = await asyncio.to_thread(ledger.balance, hold.account)
        if dry_run:
            self.finish(
                json.dumps(
                    {
                        "cost": str(cost),
                        "available": str(balance.available),
                        "funded_until": funded_until.isoformat(),
                    }
                )
            )
            return
        try:
            await spawner.billing.extend(hold.id, hours, key=f"extend:{hold.id}:{uuid.uuid4()}")
        except InsufficientCreditError as err:
            return self._error(
                402,
                f"Not enough credits in {err.account}: {err.available} available, "
                f"{err.requested} needed for {hours} more h",
            )
        except ConflictError as err:
            return self._error(409, f"the session can't be extended: {err}")
        try:
            await spawner.slurm.set_time_limit(
                spawner.hub_name, spawner.job_id, math.ceil(total * 60)
            )
        except Exception as err:  # the extra hold is released when the session is settled
            spawner.log.warning("Extending job %s failed: %s", spawner.job_id, err)
            return self._error(503, f"Slurm did not take the new time limit ({err}); try again")
        balance = await asyncio.to_thread(ledger.balance, hold.account)
        spawner.log.info(
            "Session %s/%s of %s extended by %s h (%s credits)",
            spawner.hub_name,
            spawner.job_id,
            user.name,
            hours,
            cost,
        )
        self.finish(
            json.dumps(
                {
                    "cost": str(cost),
                    "available": str(balance.available),
                    "funded_until": funded_until.isoformat(),
                }
            )
        )


def install() -> None:
    """Add the handler to JupyterHub's API handler table."""
    default_handlers[:] = [h for h in default_handlers if h[0] != PATH]
    default_handlers.append((PATH, ExtendHandler))
