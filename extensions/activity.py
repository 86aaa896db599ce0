"""A Jupyter server extension that says how long the session's GPUs have been idle.

Loaded in the notebook server (``jupyter_server_config.d/computehub.json``), it
samples the GPUs Slurm gave the job every ``COMPUTEHUB_GPU_SAMPLE_S`` seconds
(default 10) through the same device seam as the widget, in a worker thread, and
answers ``GET {base_url}computehub/gpu-activity?busy_percent=5`` with::

    {"gpus": 2, "idle_s": 1830.0, "hub": "lahore", "job_id": "42",
     "samples": 183, "status": []}

``idle_s`` is null while no utilisation could be measured. The hub's GPU-idle
rule (``computehub.spawners.gpuidle``) calls it with a token that may access the
server. Nothing here imports hub-side code.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from .gpus import GpuReader, GpuReading
from .idle import IdleClock
from .nvml import backend_from_env

SAMPLE_ENV = "COMPUTEHUB_GPU_SAMPLE_S"
DEFAULT_SAMPLE_S = 10.0
ROUTE = "computehub/gpu-activity"


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

    def report(self, busy_percent: int) -> dict[str, Any]:
        """The answer of the activity endpoint."""
        gpus = len(self.last.gpus) if self.last else 0
        return {
            "gpus": gpus,
            "idle_s": self.clock.idle_seconds(busy_percent, time.monotonic()),
            "busy_percent": busy_percent,
            "samples": self.clock.samples,
            "hub": os.environ.get("COMPUTEHUB_HUB", ""),
            "job_id": os.environ.get("SLURM_JOB_ID", ""),
            "status": list(self.last.status) if self.last else [],
        }


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "computehub.extensions.activity"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.base.handlers import APIHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    interval = float(os.environ.get(SAMPLE_ENV, "") or DEFAULT_SAMPLE_S)
    activity = GpuActivity(
        GpuReader(backend_from_env(), os.environ.get("CUDA_VISIBLE_DEVICES")),
        IdleClock(time.monotonic()),
    )

    class ActivityHandler(APIHandler):
        @web.authenticated
        def get(self) -> None:
            raw = self.get_query_argument("busy_percent", "5")
            if not raw.isdigit() or not 1 <= int(raw) <= 100:
                raise web.HTTPError(400, "busy_percent is a whole number from 1 to 100")
            self.finish(activity.report(int(raw)))

    async def sample_forever() -> None:
        while True:
            try:
                await asyncio.to_thread(activity.sample)
            except Exception:  # a broken reading must not stop the sampling
                serverapp.log.exception("computehub: reading the GPUs failed")
            await asyncio.sleep(interval)

    route = url_path_join(serverapp.web_app.settings["base_url"], ROUTE)
    serverapp.web_app.add_handlers(".*$", [(route, ActivityHandler)])
    serverapp.io_loop.add_callback(lambda: _keep(asyncio.ensure_future(sample_forever())))
    serverapp.log.info("computehub: GPU activity at %s, sampled every %s s", route, interval)


_TASKS: set[asyncio.Future[None]] = set()


def _keep(task: asyncio.Future[None]) -> None:
    # The event loop keeps only weak references to tasks.
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
