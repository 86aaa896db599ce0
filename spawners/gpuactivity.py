"""``/hub/api/computehub/gpu-activity``: the servers' GPU reports, kept by the hub.

Each notebook server pushes how long its GPUs have been idle (see
:mod:`computehub.extensions.activity`) with its own token::

    POST /hub/api/computehub/gpu-activity
    {"gpus": 1, "idle_s": 1830.0, "busy_s": 5400.0, "busy_percent": 5, "samples": 183,
     "hub": "karachi", "job_id": "42"}

``busy_s`` (how long in all the busiest GPU was at or above ``busy_percent``) is
optional: older servers omit it. The hub keeps the latest report of each server with the
time it came, attributed to the server whose token sent it: the hub, job and hold are
the spawner's own (``hub`` and ``job_id`` in a report, if given, must be that server's,
or the report is refused). Only a server's own token may report; a user's other tokens,
other users and services get 403.

The GPU-idle service reads them (``custom:computehub:gpu-activity:read``)::

    GET /hub/api/computehub/gpu-activity
    {"reports": [{"user": "ayesha", "server": "", "hub": "karachi", "job_id": "42",
                  "hold_id": 7, "gpus": 1, "idle_s": 1830.0, "busy_s": 5400.0, "busy_percent": 5,
                  "samples": 183, "age_s": 12.5, "received_at": "2026-…+00:00"}]}

listing only servers that are up, each with the report of its current job. Reports
live in the hub's memory: after a hub restart a server is missing until it reports
again, and a missing report never stops a server.

When a session ends, the spawner records its GPU-busy hours in the ledger from the
latest report of its job (:func:`busy_gpu_hours`). A report is the user's own server
speaking of its own session: the figure is clamped to the session's GPUs times its
elapsed time, and it is a statistic for the operator console, never billed.
"""

from __future__ import annotations

import json
import math
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from jupyterhub.apihandlers import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from computehub.spawners.owntoken import own_spawner
from computehub.spawners.scopes import GPU_ACTIVITY_READ

PATH = r"/api/computehub/gpu-activity"
#: A report is a few dozen bytes.
MAX_BODY = 4096
#: No session idles longer than this (ten years): a larger figure is garbage.
MAX_IDLE_S = 10 * 365 * 86400.0
MAX_GPUS = 64


class ReportError(ValueError):
    """A report the hub refuses; the message says why."""


@dataclass(frozen=True)
class Measurement:
    """What a server says of its GPUs."""

    gpus: int
    idle_s: float | None
    busy_percent: int
    samples: int
    #: Seconds in all the busiest GPU was at or above ``busy_percent``; None when the
    #: server did not say (older servers) or could not measure it.
    busy_s: float | None = None


def _whole(body: dict[str, Any], key: str, low: int, high: int) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ReportError(f"{key} must be a whole number from {low} to {high}")
    return value


def _seconds(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportError(f"{key} must be a number of seconds or null")
    if not math.isfinite(value) or not 0 <= value <= MAX_IDLE_S:
        raise ReportError(f"{key} must be from 0 to {MAX_IDLE_S:.0f} seconds")
    return float(value)


def parse_report(body: Any, hub: str, job_id: str) -> Measurement:
    """Check a pushed report against the sending server's own hub and job.

    Raises:
        ReportError: a malformed report, or one that claims another job.
    """
    allowed = {"gpus", "idle_s", "busy_s", "busy_percent", "samples", "hub", "job_id"}
    if not isinstance(body, dict):
        raise ReportError("expected a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ReportError(f"unknown field: {unknown[0]}")
    for key, own in (("hub", hub), ("job_id", job_id)):
        if key in body and body[key] != own:
            raise ReportError(f"{key} is not this server's")
    idle_s = _seconds(body, "idle_s")
    busy_s = _seconds(body, "busy_s")
    return Measurement(
        gpus=_whole(body, "gpus", 0, MAX_GPUS),
        idle_s=idle_s,
        busy_percent=_whole(body, "busy_percent", 1, 100),
        samples=_whole(body, "samples", 0, 2**53),
        busy_s=busy_s,
    )


#: GPU-hours are kept to the ledger's quantum.
_HOURS_STEP = Decimal("0.0001")


def busy_gpu_hours(
    measurement: Measurement, *, session_gpus: int, elapsed_s: float
) -> Decimal | None:
    """A session's GPU-busy hours from its server's report, clamped to what it could be.

    ``busy_s`` / 3600 times the GPUs, where the report (the user's own server) can claim
    no more GPUs than the session was given (``session_gpus``: whole GPUs and MIG slices
    of its hold) and no more busy seconds than the job ran (``elapsed_s``, Slurm's). Pure.

    Returns:
        None when nothing can be recorded: no busy time in the report (an older server,
        or utilisation not measured: MIG slices, no driver), or no GPUs.
    """
    gpus = min(measurement.gpus, max(0, session_gpus))
    if measurement.busy_s is None or gpus == 0:
        return None
    seconds = min(measurement.busy_s, max(0.0, elapsed_s))
    hours = Decimal(repr(seconds)) * gpus / 3600
    return hours.quantize(_HOURS_STEP, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Report:
    """A measurement as the hub received it, and whose it is (the hub's own record)."""

    hub: str
    job_id: str
    hold_id: int
    measurement: Measurement
    #: ``time.monotonic()`` on arrival (ages don't jump with the wall clock).
    received: float
    received_at: datetime


class ReportBook:
    """The latest report of each server, forgotten with the server."""

    def __init__(self) -> None:
        self._latest: weakref.WeakKeyDictionary[Any, Report] = weakref.WeakKeyDictionary()

    def record(self, spawner: Any, measurement: Measurement) -> Report:
        """Keep ``measurement`` as the latest of ``spawner``'s current job."""
        report = Report(
            hub=str(spawner.hub_name),
            job_id=str(spawner.job_id),
            hold_id=int(spawner.hold_id),
            measurement=measurement,
            received=time.monotonic(),
            received_at=datetime.now(UTC),
        )
        self._latest[spawner] = report
        return report

    def of(self, spawner: Any) -> Report | None:
        """The latest report of ``spawner``'s current job (hub, job and hold); else None."""
        report = self._latest.get(spawner)
        if report is None:
            return None
        same_job = (report.hub, report.job_id, report.hold_id) == (
            str(spawner.hub_name),
            str(spawner.job_id),
            int(spawner.hold_id),
        )
        return report if same_job else None

    def current(self) -> list[dict[str, Any]]:
        """The reports of the servers that are up, each of the job that runs now."""
        now = time.monotonic()
        rows = []
        for spawner, report in list(self._latest.items()):
            if not spawner.active:
                del self._latest[spawner]
                continue
            same_job = (report.hub, report.job_id, report.hold_id) == (
                str(spawner.hub_name),
                str(spawner.job_id),
                int(spawner.hold_id),
            )
            if not spawner.ready or not same_job:
                continue
            m = report.measurement
            rows.append(
                {
                    "user": spawner.user.name,
                    "server": spawner.name,
                    "hub": report.hub,
                    "job_id": report.job_id,
                    "hold_id": report.hold_id,
                    "gpus": m.gpus,
                    "idle_s": m.idle_s,
                    "busy_s": m.busy_s,
                    "busy_percent": m.busy_percent,
                    "samples": m.samples,
                    "age_s": round(now - report.received, 3),
                    "received_at": report.received_at.isoformat(),
                }
            )
        return sorted(rows, key=lambda row: (row["user"], row["server"]))


#: The hub process's reports.
REPORTS = ReportBook()


class GpuActivityHandler(APIHandler):  # type: ignore[misc]
    """Servers push their report (POST); the GPU-idle service reads them all (GET)."""

    @web.authenticated
    def post(self) -> None:
        spawner = own_spawner(self.current_user, self.get_auth_token())
        if spawner is None:
            raise web.HTTPError(403, "only a server's own token may report its GPU activity")
        if len(self.request.body or b"") > MAX_BODY:
            raise web.HTTPError(413, f"a report is at most {MAX_BODY} bytes")
        try:
            measurement = parse_report(
                self.get_json_body(), str(spawner.hub_name), str(spawner.job_id)
            )
        except ReportError as err:
            raise web.HTTPError(400, str(err)) from None
        REPORTS.record(spawner, measurement)
        self.set_status(204)
        self.finish()

    @needs_scope(GPU_ACTIVITY_READ)  # type: ignore[untyped-decorator]
    def get(self) -> None:
        self.finish(json.dumps({"reports": REPORTS.current()}))
