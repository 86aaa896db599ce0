"""A Jupyter server extension that reports to the hub how long the session's GPUs idle.

Loaded in the notebook server (``jupyter_server_config.d/computehub.json``), it
samples the GPUs Slurm gave the job every ``COMPUTEHUB_GPU_SAMPLE_S`` seconds
(default 10) through the same device seam as the widget, in a worker thread, and
every ``COMPUTEHUB_GPU_REPORT_S`` seconds pushes ::

    POST {JUPYTERHUB_API_URL}/computehub/gpu-activity
    {"gpus": 2, "idle_s": 1830.0, "busy_s": 5400.0, "busy_percent": 5, "samples": 183,
     "hub": "lahore", "job_id": "42"}

with the server's own token (``JUPYTERHUB_API_TOKEN``), to the hub and nowhere else.
``idle_s`` is how long the busiest GPU has been below ``COMPUTEHUB_GPU_BUSY_PERCENT``
(default 5), null while no utilisation could be measured; ``busy_s`` is how long in all,
since the server began sampling, the busiest GPU was at or above it (counted between
samples, see :class:`~computehub.extensions.idle.IdleClock`), null likewise. The hub
keeps the report as this server's (see :mod:`computehub.spawners.gpuactivity`) and its
GPU-idle rule reads it there: no one calls into the server for it. Without
``COMPUTEHUB_GPU_REPORT_S`` (the hub sets it when the GPU rule is on) the extension does
nothing. Nothing here imports hub-side code.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from .gpus import GpuReader, GpuReading
from .idle import IdleClock
from .nvml import backend_from_env

SAMPLE_ENV = "COMPUTEHUB_GPU_SAMPLE_S"
REPORT_ENV = "COMPUTEHUB_GPU_REPORT_S"
BUSY_ENV = "COMPUTEHUB_GPU_BUSY_PERCENT"
DEFAULT_SAMPLE_S = 10.0
DEFAULT_BUSY_PERCENT = 5
#: Under the hub's API URL.
REPORT_PATH = "/computehub/gpu-activity"
#: Seconds a report may take to reach the hub.
REPORT_TIMEOUT_S = 10.0


class GpuActivity:
    """The session's GPUs, sampled now and then, and how long they have been idle."""

    def __init__(self, reader: GpuReader, clock: IdleClock) -> None:
        self.reader = reader
        self.clock = clock
        self.last: GpuReading | None = None

    def sample(self) -> None:
        """Read the GPUs once (blocking: call it in a worker thread)."""
        reading = self.reader.read()
        self.last = reading
        self.clock.observe((g.utilization for g in reading.gpus), time.monotonic())

    def report(self, busy_percent: int, env: Mapping[str, str]) -> dict[str, Any]:
        """The report the hub receives (``env``: the job's, for its hub and job id)."""
        now = time.monotonic()
        return {
            "gpus": len(self.last.gpus) if self.last else 0,
            "idle_s": self.clock.idle_seconds(busy_percent, now),
            "busy_s": self.clock.busy_seconds(busy_percent, now),
            "busy_percent": busy_percent,
            "samples": self.clock.samples,
            "hub": env.get("COMPUTEHUB_HUB", ""),
            "job_id": env.get("SLURM_JOB_ID", ""),
        }


def settings_from(env: Mapping[str, str]) -> tuple[float, float | None, int]:
    """(sample seconds, report seconds or None for off, busy percent) from ``env``.

    Raises:
        ValueError: a setting that is not a number in its range.
    """
    sample_s = float(env.get(SAMPLE_ENV, "") or DEFAULT_SAMPLE_S)
    raw_report = env.get(REPORT_ENV, "")
    report_s = float(raw_report) if raw_report else None
    busy = env.get(BUSY_ENV, "") or str(DEFAULT_BUSY_PERCENT)
    if not busy.isascii() or not busy.isdigit() or not 1 <= int(busy) <= 100:
        raise ValueError(f"{BUSY_ENV} must be a whole number from 1 to 100, not {busy!r}")
    if not 0 < sample_s <= 3600 or (report_s is not None and not 0 < report_s <= 86400):
        raise ValueError(f"{SAMPLE_ENV} and {REPORT_ENV} must be positive numbers of seconds")
    return sample_s, report_s, int(busy)


class HubReporter:
    """Pushes reports to the hub with the server's own token, and nowhere else."""

    def __init__(self, api_url: str, token: str, log: Any) -> None:
        self.url = api_url.rstrip("/") + REPORT_PATH
        self.token = token
        self.log = log
        self._failing = False

    async def push(self, report: Mapping[str, Any]) -> bool:
        """POST one report; a failure is logged (once until the next success)."""
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

        request = HTTPRequest(
            self.url,
            method="POST",
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            body=json.dumps(report),
            request_timeout=REPORT_TIMEOUT_S,
            follow_redirects=False,
        )
        try:
            await AsyncHTTPClient().fetch(request)
        except (HTTPClientError, OSError) as err:
            if not self._failing:
                self.log.warning("computehub: the hub refused the GPU report: %s", err)
            self._failing = True
            return False
        if self._failing:
            self.log.info("computehub: the hub takes GPU reports again")
        self._failing = False
        return True


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "computehub.extensions.activity"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    env = os.environ
    try:
        sample_s, report_s, busy_percent = settings_from(env)
    except ValueError as err:
        serverapp.log.error("computehub: GPU reports off: %s", err)
        return
    api_url, token = env.get("JUPYTERHUB_API_URL", ""), env.get("JUPYTERHUB_API_TOKEN", "")
    if report_s is None or not api_url or not token:
        serverapp.log.info("computehub: GPU reports off (the hub's GPU-idle rule is not on)")
        return
    activity = GpuActivity(
        GpuReader(backend_from_env(), env.get("CUDA_VISIBLE_DEVICES")),
        IdleClock(time.monotonic()),
    )
    reporter = HubReporter(api_url, token, serverapp.log)

    async def sample_forever() -> None:
        while True:
            try:
                await asyncio.to_thread(activity.sample)
            except Exception:  # a broken reading must not stop the sampling
                serverapp.log.exception("computehub: reading the GPUs failed")
            await asyncio.sleep(sample_s)

    async def report_forever() -> None:
        while True:
            await asyncio.sleep(report_s)
            await reporter.push(activity.report(busy_percent, env))

    serverapp.io_loop.add_callback(lambda: _keep(asyncio.ensure_future(sample_forever())))
    serverapp.io_loop.add_callback(lambda: _keep(asyncio.ensure_future(report_forever())))
    serverapp.log.info(
        "computehub: GPUs sampled every %s s, reported to %s every %s s",
        sample_s,
        reporter.url,
        report_s,
    )


_TASKS: set[asyncio.Future[None]] = set()


def _keep(task: asyncio.Future[None]) -> None:
    # The event loop keeps only weak references to tasks.
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
