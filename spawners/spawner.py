"""``ComputeHubSpawner``: a notebook server as a Slurm job on a chosen regional hub.

Built on batchspawner's ``SlurmSpawner`` for its lifecycle (start → poll →
stop); what it does through a shell or from unvalidated input is replaced:
options are validated against the site file (``options.py``), the batch
request is a pure function (``batch.py``), every Slurm command runs as argv
with its hub's ``SLURM_CONF`` and a timeout (``slurmclient.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import PurePosixPath
from typing import Any

import batchspawner  # noqa: F401  (registers batchspawner's handler, replaced next)
from batchspawner.batchspawner import JobStatus, SlurmSpawner
from tornado import web
from traitlets import Float, Integer, Unicode, default

from computehub.auth.policy import PLATFORM_ROLES
from computehub.credits.errors import InsufficientCreditError
from computehub.sitefile import Site, load_site
from computehub.spawners import api, estimate, extend, gpuactivity
from computehub.spawners.access import Entitlements
from computehub.spawners.availability import GpuAvailability
from computehub.spawners.batch import JobPlacement, build_batch_request
from computehub.spawners.billing import Billing, Standing, ledger_for, ledger_url
from computehub.spawners.form import render_form
from computehub.spawners.options import (
    ANY_HUB,
    OptionsError,
    SessionRequest,
    parse_form,
    validate,
)
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import JobInfo, SlurmClient, SlurmError, SlurmUnavailableError

api.install()
extend.install()
estimate.install()
gpuactivity.install()

#: How long the spawn form recalls why the last session ended.
NOTICE_FOR = timedelta(days=7)
_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED"}
_RUNNING = {"RUNNING", "COMPLETING"}


@cache
def _registry(path: str, mtime: float) -> HubRegistry:
    return HubRegistry(load_site(path))


@cache
def _client(registry: HubRegistry, bin_dir: str, ttl_s: float) -> SlurmClient:
    # One client per registry, shared by every spawner: its caches (free GPUs,
    # node addresses) then serve all users.
    return SlurmClient(registry, bin_dir or None, availability_ttl_s=ttl_s)


async def _apply_user_options(spawner: ComputeHubSpawner, user_options: dict[str, Any]) -> None:
    """JupyterHub's ``apply_user_options`` hook: refuse bad options with a 400."""
    options = user_options or {}
    free = None
    if isinstance(options, dict) and options.get("hub") == ANY_HUB:
        free = await spawner.free_gpus()
    standing, who = await spawner.standing()
    try:
        spawner.session_request = validate(
            options, spawner.registry, free, standing.accounts, who=who
        )
    except OptionsError as err:
        raise web.HTTPError(400, f"Invalid spawn option {err}") from None


class ComputeHubSpawner(SlurmSpawner):  # type: ignore[misc]
    """Start the user's server on the hub, GPU and hours they chose."""

    site_file = Unicode(
        os.environ.get("COMPUTEHUB_SITE", "/etc/computehub/site.yaml"),
        help="The site file (hubs, GPUs, rates, environments).",
    ).tag(config=True)

    slurm_bin_dir = Unicode(
        "", help="Directory of the Slurm client commands (default: found on PATH)."
    ).tag(config=True)

    sudo_command = Unicode(
        "/usr/bin/sudo", help="sudo, to submit the job as the user (never as root)."
    ).tag(config=True)

    settle_wait_s = Float(
        20.0,
        min=0,
        help="How long to wait for Slurm's accounting record of an ended job before "
        "leaving its settlement to reconciliation.",
    ).tag(config=True)

    free_gpus_cache_s = Float(
        10.0,
        min=0,
        help="How long the free GPUs seen with sinfo are reused (spawn form, any-hub choice).",
    ).tag(config=True)

    hub_name = Unicode("", help="The hub the current job runs on (spawner state).")
    hold_id = Integer(0, help="The ledger hold paying for the current job (spawner state).")

    session_request: SessionRequest | None = None
    _exec_host: str | None = None
    _job_info: JobInfo | None = None
    _slurm_down: str | None = None
    _queue_position: int | None = None

    @property
    def registry(self) -> HubRegistry:
        """The hub registry for the site file, reloaded when the file changes."""
        path = self.site_file
        return _registry(path, os.stat(path).st_mtime)

    @property
    def site(self) -> Site:
        return self.registry.site

    @property
    def billing(self) -> Billing:
        """Holds and charges for this user, on the site's ledger."""
        return Billing(ledger_for(ledger_url(self.site)), self.user.name)

    @property
    def slurm(self) -> SlurmClient:
        return _client(self.registry, self.slurm_bin_dir, self.free_gpus_cache_s)

    async def free_gpus(self) -> dict[str, dict[str, GpuAvailability]]:
        """Free GPUs per hub and type (hubs whose scheduler doesn't answer are left out)."""
        names = self.registry.names()
        results = await asyncio.gather(
            *(self.slurm.gpu_availability(h) for h in names), return_exceptions=True
        )
        free: dict[str, dict[str, GpuAvailability]] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, SlurmError):
                self.log.warning("Free GPUs of hub %s unknown: %s", name, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                free[name] = result
        return free

    def platform_roles(self) -> frozenset[str]:
        """The user's platform roles: the JupyterHub groups their login put them in."""
        return frozenset(g.name for g in self.user.groups) & frozenset(PLATFORM_ROLES)

    async def standing(self) -> tuple[Standing, Entitlements]:
        """The user's accounts in the ledger, and what the allow-lists see of the user."""
        standing = await self.billing.standing()
        return standing, Entitlements(roles=self.platform_roles(), courses=standing.courses)

    async def _render_options_form(self) -> str:
        standing, who = await self.standing()
        notice = await asyncio.to_thread(self._last_end_note, standing.accounts)
        free = await self.free_gpus()
        return render_form(self.registry, free, standing.available, who, notice)

    def _last_end_note(self, accounts: list[str]) -> str | None:
        """Why the user's latest session ended, if something else ended it lately."""
        ledger = self.billing.ledger
        latest = [
            row
            for account in accounts
            for row in ledger.sessions(account, limit=1, user=self.user.name)
            if row.closed_at is not None
        ]
        if not latest:
            return None
        last = max(latest, key=lambda row: row.closed_at or datetime.min.replace(tzinfo=UTC))
        recent = last.closed_at and datetime.now(UTC) - last.closed_at < NOTICE_FOR
        return last.end_note if recent else None

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return _apply_user_options

    @default("options_form")
    def _default_options_form(self) -> Any:
        return lambda spawner: spawner._render_options_form()

    @default("startup_poll_interval")
    def _default_startup_poll_interval(self) -> float:
        return 0.25

    async def start(self) -> tuple[str, int]:
        """Submit and wait for the job (batchspawner), then until the server listens.

        JupyterHub checks a started server with an exponential backoff that lands
        about a second after the server is up; returning only once the port
        accepts connections lets its first check succeed.
        """
        try:
            ip, port = await super().start()
        except BaseException:
            # A start that fails at any step releases what it held.
            if self.job_id and self.hub_name:
                with contextlib.suppress(SlurmError):
                    await self.slurm.cancel(self.hub_name, self.job_id)
            await self._settle("the start failed")
            raise
        deadline = asyncio.get_running_loop().time() + self.http_timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 1)
            except (OSError, TimeoutError):
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        return ip, port

    @default("env_keep")
    def _default_env_keep(self) -> list[str]:
        return ["LANG", "LC_ALL"]

    def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, str]:
        """Stage 1 of the options pipeline (stage 2 runs in ``apply_user_options``)."""
        try:
            return parse_form(formdata)
        except OptionsError as err:
            raise web.HTTPError(400, f"Invalid spawn option {err}") from None

    async def run_command(self, cmd: Any, input: Any = None, env: Any = None) -> str:
        """batchspawner's shell runner is closed: every command goes through SlurmClient."""
        raise RuntimeError("computehub runs no shell commands; use SlurmClient")

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        if self.session_request is not None:
            prefix = self.site.environments[self.session_request.environment].prefix
            env["PATH"] = f"{prefix}/bin:/usr/local/bin:/usr/bin:/bin"
            # The notebook server reports its hub with its GPU activity (gpuidle).
            env["COMPUTEHUB_HUB"] = self.session_request.hub
        return env

    def _placement(self, req: SessionRequest) -> JobPlacement:
        hub = self.registry[req.hub]
        entry = pwd.getpwnam(self.user.name)
        return JobPlacement(
            username=self.user.name,
            home=PurePosixPath(entry.pw_dir),
            partition=hub.partition_for(req.gpu_type),
            cpus=hub.limits.cpus_per_session,
            memory_gb=hub.limits.memory_gb_per_session,
            env_prefix=PurePosixPath(str(self.site.environments[req.environment].prefix)),
            sbatch=self.slurm.binary("sbatch"),
            sudo=self.sudo_command,
            gres_type=hub.gres_type(req.resource),
        )

    async def submit_batch_script(self) -> str:
        """Build the batch request from validated options and submit it as the user."""
        if self.session_request is None:  # start() called without JupyterHub's options hook
            await _apply_user_options(self, self.user_options or {})
        req = self.session_request
        assert req is not None  # set by the hook, or it raised a 400
        try:
            pwd.getpwnam(self.user.name)
        except KeyError:
            raise web.HTTPError(
                403,
                f"{self.user.name} has no account on the clusters; ask "
                f"{self.site.platform.support or 'your hub administrators'}",
            ) from None
        job_env = self.get_env()
        request = build_batch_request(req, self._placement(req), list(job_env))
        job_env.update(self.registry.command_env(req.hub, {}))
        self.hub_name = req.hub
        await self._place_hold(req)
        self.log.info(
            "Submitting %s's session to hub %s: %s", self.user.name, req.hub, " ".join(request.argv)
        )
        try:
            self.job_id = await self.slurm.submit(req.hub, request, job_env)
        except SlurmError as err:
            # Nothing was submitted: the hold goes back in full.
            await self.billing.void(self.hold_id, f"not submitted: {err}")
            self.hold_id = 0
            if isinstance(err, SlurmUnavailableError):
                raise web.HTTPError(
                    503, f"The {req.hub} hub's scheduler is not answering; try again soon ({err})"
                ) from None
            raise web.HTTPError(400, f"Slurm refused the session on {req.hub}: {err}") from None
        await self.billing.attach(self.hold_id, req.hub, self.job_id)
        self.log.info(
            "Job %s submitted on hub %s, paid by hold %s", self.job_id, req.hub, self.hold_id
        )
        return str(self.job_id)

    async def _place_hold(self, req: SessionRequest) -> None:
        """Reserve the session's price before anything reaches Slurm; 402 if not funded."""
        hub = self.registry[req.hub]
        units = req.gpus if req.gpu_type else 1
        per_hour = hub.rates[req.resource] * units
        try:
            hold = await self.billing.hold(req, key=f"start:{self.user.name}:{uuid.uuid4()}")
        except InsufficientCreditError as err:
            fundable = (
                f"; it can fund up to {err.affordable_hours} h"
                if err.affordable_hours is not None
                else ""
            )
            raise web.HTTPError(
                402,
                f"Not enough credits in {err.account}: {err.available} available, "
                f"this session needs {err.requested} ({per_hour} credits/h for {req.hours} h)"
                f"{fundable}.",
            ) from None
        self.hold_id = hold.id

    async def _settle(self, why: str) -> None:
        """Charge what the job used and release the rest of its hold (once).

        Slurm's accounting may take a moment to complete a finished job's record; a
        hold whose record stays incomplete is left to reconciliation, never voided
        while its job may still run.
        """
        if not self.hold_id:
            return
        if not self.job_id or not self.hub_name:
            await self.billing.void(self.hold_id, f"no job was started ({why})")
            self.hold_id = 0
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_wait_s
        usage = None
        while True:
            try:
                usage = await self.slurm.usage(self.hub_name, self.job_id)
            except SlurmError as err:
                self.log.warning("sacct failed for %s/%s: %s", self.hub_name, self.job_id, err)
            if (usage is not None and usage.complete) or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
        if usage is None or not usage.complete:
            self.log.warning(
                "Job %s/%s has no final accounting yet; hold %s is left for reconciliation",
                self.hub_name,
                self.job_id,
                self.hold_id,
            )
            return
        hold = await asyncio.to_thread(self.billing.ledger.hold, self.hold_id)
        resource = next(iter(hold.resources))
        gres = self.registry[self.hub_name].gres_type(resource)
        charge = await self.billing.settle(
            self.hold_id, self.hub_name, self.job_id, resource, usage, gres
        )
        self.log.info(
            "Session %s/%s of %s settled (%s): charged %s, released %s",
            self.hub_name,
            self.job_id,
            self.user.name,
            why,
            charge.amount,
            charge.released,
        )
        self.hold_id = 0

    async def poll(self) -> int | None:
        """None while the job is queued, running or unknown; settle once it is gone."""
        status = await self.query_job_status()
        if status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.UNKNOWN):
            return None
        await self._settle("the session ended")
        self.clear_state()
        return 1

    async def stop(self, now: bool = False) -> None:
        """Cancel the job, then settle its hold from Slurm's accounting."""
        await super().stop(now=now)
        try:
            await self._settle("stopped")
        except Exception:
            self.log.exception("Settling %s/%s failed", self.hub_name, self.job_id)
            raise

    async def query_job_status(self) -> JobStatus:
        """Ask the job's hub; an unreachable controller is UNKNOWN (never refund, never kill)."""
        if not self.job_id or not self.hub_name:
            return JobStatus.NOTFOUND
        try:
            info = await self.slurm.job(self.hub_name, self.job_id)
        except SlurmUnavailableError as err:
            self._slurm_down = str(err)
            self.job_status = f"UNKNOWN {err}"
            return JobStatus.UNKNOWN
        except SlurmError as err:
            self.log.warning("squeue failed for %s/%s: %s", self.hub_name, self.job_id, err)
            self.job_status = f"UNKNOWN {err}"
            return JobStatus.UNKNOWN
        self._slurm_down = None
        self._job_info = info
        if info is None:
            self.job_status = ""
            return JobStatus.NOTFOUND
        self.job_status = f"{info.state} {info.node}"
        if info.state in _RUNNING:
            if self._exec_host is None:
                self._exec_host = await self.slurm.node_address(self.hub_name, info.node)
            return JobStatus.RUNNING
        if info.state in _PENDING:
            req = self.session_request
            partition = self.registry[self.hub_name].partition_for(req.gpu_type if req else None)
            try:
                self._queue_position = await self.slurm.queue_position(
                    self.hub_name, self.job_id, partition
                )
            except SlurmError:
                self._queue_position = None
            return JobStatus.PENDING
        return JobStatus.NOTFOUND

    def state_ispending(self) -> bool:
        return self._job_info is not None and self._job_info.state in _PENDING

    def state_isrunning(self) -> bool:
        return self._job_info is not None and self._job_info.state in _RUNNING

    def state_isunknown(self) -> bool:
        return self._slurm_down is not None

    def state_gethost(self) -> str:
        return self._exec_host or "127.0.0.1"

    async def cancel_batch_job(self) -> None:
        if not self.job_id or not self.hub_name:
            return
        self.log.info("Cancelling job %s on hub %s", self.job_id, self.hub_name)
        await self.slurm.cancel(self.hub_name, self.job_id)

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.hub_name = state.get("hub", "")
        self.hold_id = int(state.get("hold_id", 0))

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.hub_name:
            state["hub"] = self.hub_name
        if self.hold_id:
            state["hold_id"] = self.hold_id
        return state

    def clear_state(self) -> None:
        super().clear_state()
        self.hub_name = ""
        self.hold_id = 0
        self._exec_host = None
        self._job_info = None

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Tell the user where their job is: queued (and why), starting, or connecting."""
        while True:
            info = self._job_info
            if self._slurm_down:
                yield {"message": f"The {self.hub_name} scheduler is not answering; waiting"}
            elif info is None:
                yield {"message": f"Submitting to the {self.hub_name or 'chosen'} hub..."}
            elif info.state in _PENDING:
                why = f"; Slurm says: {info.reason}" if info.reason not in ("", "None") else ""
                place = (
                    f", position {self._queue_position} in the queue"
                    if self._queue_position
                    else ""
                )
                yield {
                    "message": f"Job {self.job_id} waiting on {self.hub_name}{place}{why} "
                    "(waiting costs nothing)"
                }
            elif info.state in _RUNNING:
                yield {
                    "message": f"Job {self.job_id} running on {info.node}; "
                    "waiting for the notebook server"
                }
                return
            await asyncio.sleep(1)
