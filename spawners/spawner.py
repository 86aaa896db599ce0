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
import math
import os
import pwd
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import batchspawner  # noqa: F401  (registers batchspawner's handler, replaced next)
from batchspawner.batchspawner import JobStatus, SlurmSpawner
from sqlalchemy.orm import object_session
from tornado import web
from traitlets import Float, Integer, Unicode, default

from computehub.auth.policy import PLATFORM_ROLES
from computehub.auth.system import SystemAccounts
from computehub.credits.errors import ConflictError, InsufficientCreditError
from computehub.credits.records import Hold
from computehub.sitefile import Site, load_site
from computehub.spawners import api, estimate, extend, gpuactivity
from computehub.spawners.access import Entitlements
from computehub.spawners.accounting import JobUsage
from computehub.spawners.availability import GpuAvailability
from computehub.spawners.batch import JobPlacement, build_batch_request, job_name
from computehub.spawners.billing import Billing, Standing, ledger_for, ledger_url
from computehub.spawners.form import render_form
from computehub.spawners.jobcheck import Expected, allocation_problem
from computehub.spawners.jobticket import JobClaim, load_key, sign
from computehub.spawners.options import (
    ANY_HUB,
    OptionsError,
    SessionRequest,
    parse_form,
    validate,
)
from computehub.spawners.registry import HubRegistry, gpu_of
from computehub.spawners.slurmclient import JobInfo, SlurmClient, SlurmError, SlurmUnavailableError

api.install()
extend.install()
estimate.install()
gpuactivity.install()

#: How long the spawn form recalls why the last session ended.
NOTICE_FOR = timedelta(days=7)
#: How long after a job's funded time its missing accounting stops keeping it "unknown".
OVERDUE_AFTER = timedelta(minutes=10)
_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED"}
_RUNNING = {"RUNNING", "COMPLETING"}


@cache
def _registry(path: str, mtime: float) -> HubRegistry:
    return HubRegistry(load_site(path))


@cache
def _ticket_key(path: str, mtime: float) -> bytes:
    return load_key(Path(path))


class SessionError(web.HTTPError):
    """A start refused or ended with a sentence the user reads (spawn page, REST API)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        #: What JupyterHub shows on the spawn page's progress ("Spawn failed: ...").
        self.jupyterhub_message = message


@cache
def _client(registry: HubRegistry, bin_dir: str, ttl_s: float) -> SlurmClient:
    # One client per registry, shared by every spawner: its caches (free GPUs,
    # node addresses) then serve all users.
    return SlurmClient(registry, bin_dir or None, availability_ttl_s=ttl_s)


async def _apply_user_options(spawner: ComputeHubSpawner, user_options: dict[str, Any]) -> None:
    """JupyterHub's ``apply_user_options`` hook: refuse bad options with a 400."""
    spawner.refuse_system_account()
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

    ticket_ttl_s = Integer(
        300,
        min=30,
        max=600,
        help="How long a job ticket is valid (the clusters' job_submit.lua guard refuses "
        "tickets valid for longer than its max_ticket_ttl_s, 600 s by default).",
    ).tag(config=True)

    hub_name = Unicode("", help="The hub the current job runs on (spawner state).")
    hold_id = Integer(0, help="The ledger hold paying for the current job (spawner state).")

    session_request: SessionRequest | None = None
    _exec_host: str | None = None
    _job_info: JobInfo | None = None
    _slurm_down: str | None = None
    _queue_position: int | None = None
    #: The hold's record, read once per session.
    _hold: Hold | None = None
    #: Accounting of the job once it is gone from the queue.
    _usage: JobUsage | None = None
    #: Whether sbatch ran: "none" (not yet), "refused", "unknown" (no answer) or "submitted".
    _submission: str = "none"
    #: A start is running in this process (its state is stored while it runs).
    _starting: bool = False
    #: State loaded from the database says a start was running: the hub restarted during it.
    _interrupted: bool = False
    #: sbatch, while it runs (shielded from the start's cancellation).
    _submit_task: asyncio.Future[str] | None = None
    #: What a failed or cancelled start left to end (its job, its hold), while it runs.
    _start_cleanup: asyncio.Future[None] | None = None
    #: Why the start failed, for the progress messages.
    _failure: str | None = None

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

    def refuse_system_account(self) -> None:
        """403 for a system account (root, munge, daemon...): no hold, no job, ever.

        Login refuses them too; a user created another way (the REST API) meets this.
        """
        rules = self.site.auth.username
        why = SystemAccounts.of(rules.min_uid, rules.deny).refusal(self.user.name)
        if why is not None:
            self.log.warning("Refused a server for %s: %s", self.user.name, why)
            raise SessionError(
                403,
                f"{self.user.name} is a system account: it can't start notebook servers.",
            )

    async def _render_options_form(self) -> str:
        self.refuse_system_account()
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

    # -- the hub's record of the session -------------------------------------------------

    def _persist_state(self) -> None:
        """Store the spawner's state in the hub's database now, not when start() returns.

        JupyterHub stores ``get_state()`` only after ``start()`` returns; a hub that dies
        while a job is pending would forget the job. The state is written the way
        JupyterHub writes it (``orm_spawner.state``, then a commit of its session).
        """
        orm_spawner = self.orm_spawner
        session = object_session(orm_spawner) if orm_spawner is not None else None
        if session is None:
            return
        orm_spawner.state = self.get_state()
        session.commit()

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.hub_name = state.get("hub", "")
        self.hold_id = int(state.get("hold_id", 0))
        self._interrupted = bool(state.get("starting")) and not self._starting
        if self.hold_id and not self.job_id:
            self._submission = "unknown"

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.hub_name:
            state["hub"] = self.hub_name
        if self.hold_id:
            state["hold_id"] = self.hold_id
        if self._starting:
            state["starting"] = True
        return state

    def clear_state(self) -> None:
        super().clear_state()
        self.hub_name = ""
        self.hold_id = 0
        self._exec_host = None
        self._job_info = None
        self._hold = None
        self._usage = None
        self._submission = "none"
        self._interrupted = False

    async def _hold_record(self) -> Hold | None:
        if self._hold is None and self.hold_id:
            self._hold = await asyncio.to_thread(self.billing.ledger.hold, self.hold_id)
        return self._hold

    # -- start -----------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Submit and wait for the job, then until the server listens.

        Whatever ends a start early (an error, a timeout, the user's DELETE) cancels what
        was submitted and settles or voids its hold; sbatch itself is never interrupted,
        so a job it submitted is always known. JupyterHub checks a started server with
        an exponential backoff that lands about a second after the server is up;
        returning only once the port accepts connections lets its first check succeed.
        """
        self._starting = True
        self._failure = None
        try:
            ip, port = await self._start_job()
        except asyncio.CancelledError:
            # JupyterHub cancels a start on DELETE and on start_timeout, then stops the
            # server: the cleanup goes on in the background and poll()/stop() wait for it.
            self._start_cleanup = asyncio.ensure_future(self._give_up_start(cancelled=True))
            raise
        except BaseException:
            self._start_cleanup = asyncio.ensure_future(self._give_up_start(cancelled=False))
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._start_cleanup)
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
        self._starting = False
        self._persist_state()
        return ip, port

    async def _start_job(self) -> tuple[str, int]:
        self.ip = self.traits()["ip"].default_value
        self.port = self.traits()["port"].default_value
        if self.server:
            self.server.port = self.port
        await self.submit_batch_script()
        while True:
            status = await self.query_job_status()
            if status == JobStatus.RUNNING:
                break
            if status == JobStatus.NOTFOUND:
                raise self._fail(
                    500,
                    "The session's job ended before the notebook server started; "
                    "only what it used is charged. Please try again.",
                )
            await asyncio.sleep(self.startup_poll_interval)
        await self._check_allocation()
        self.ip = self.state_gethost()
        checked = asyncio.get_running_loop().time()
        while self.port == 0:
            await asyncio.sleep(self.startup_poll_interval)
            if asyncio.get_running_loop().time() - checked > 2:
                checked = asyncio.get_running_loop().time()
                if await self.query_job_status() == JobStatus.NOTFOUND:
                    raise self._fail(
                        500,
                        "The session's job ended before the notebook server started; "
                        "only what it used is charged. Please try again.",
                    )
        self.log.info("Notebook server job %s started at %s:%s", self.job_id, self.ip, self.port)
        return self.ip, self.port

    def _fail(self, status: int, message: str) -> SessionError:
        self._failure = message
        return SessionError(status, message)

    async def _check_allocation(self) -> None:
        """Cancel a job that does not have what its hold paid for (changed while pending)."""
        hold, info = await self._hold_record(), self._job_info
        if hold is None or info is None:
            return
        resource = next(iter(hold.resources))
        hub = self.registry[self.hub_name]
        gres = hub.gres_type(resource)
        expected = Expected(
            name=job_name(self.hub_name, hold.id),
            partition=hub.partition_for(gpu_of(resource)),
            minutes=math.ceil(hold.hours * 60),
            gres_type=gres,
            gpus=hold.resources[resource] if gres else 0,
        )
        problem = allocation_problem(info, expected)
        if problem is None:
            return
        self.log.error(
            "Job %s/%s of %s is not what hold %s paid for: %s; cancelling it",
            self.hub_name,
            self.job_id,
            self.user.name,
            hold.id,
            problem,
        )
        raise self._fail(
            409,
            "Slurm gave this session other resources than it was paid for (the job was "
            "changed while it waited), so it was stopped; only what it used is charged.",
        )

    async def _give_up_start(self, *, cancelled: bool) -> None:
        """End what a failed or cancelled start left: the job (even one sbatch is still
        submitting), then the hold."""
        try:
            if self._submit_task is not None:
                with contextlib.suppress(Exception):
                    await self._finish_submission(self._submit_task)
            if self.hold_id and (self.job_id or self._submission == "unknown"):
                with contextlib.suppress(Exception):
                    await self.billing.request_cancel(self.hold_id)
            if self.job_id and self.hub_name:
                try:
                    await self.slurm.cancel(self.hub_name, self.job_id)
                except SlurmError as cancel_err:
                    self.log.warning(
                        "Cancelling job %s/%s after a failed start failed (%s); "
                        "reconciliation will cancel it",
                        self.hub_name,
                        self.job_id,
                        cancel_err,
                    )
            await self._settle("the start was cancelled" if cancelled else "the start failed")
            self._persist_state()
        except Exception:
            self.log.exception("Cleaning up %s's failed start failed", self.user.name)
        finally:
            self._starting = False

    async def _wait_start_cleanup(self) -> None:
        """Let a failed start's cleanup finish before the server is polled or stopped."""
        cleanup = self._start_cleanup
        if cleanup is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(cleanup)
            self._start_cleanup = None

    async def _finish_submission(self, task: asyncio.Future[str]) -> None:
        """Wait for a sbatch the start no longer waits for, and record its job."""
        try:
            job_id = await task
        except SlurmError as err:
            if not isinstance(err, SlurmUnavailableError):
                self._submission = "refused"  # nothing was submitted: the hold is voided
            return
        finally:
            self._submit_task = None
        self.job_id = job_id
        self._submission = "submitted"
        with contextlib.suppress(ConflictError):
            await self.billing.attach(self.hold_id, self.hub_name, job_id)
        self.log.warning(
            "Job %s/%s was submitted after its start was given up; it is cancelled",
            self.hub_name,
            job_id,
        )

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
            uid=entry.pw_uid,
        )

    def _ticket_signer(self, hub: str) -> Callable[[JobClaim], str] | None:
        key_file = self.registry[hub].ticket_key_file
        if key_file is None:
            return None
        key = _ticket_key(str(key_file), os.stat(key_file).st_mtime)
        ttl = self.ticket_ttl_s

        def signer(claim: JobClaim) -> str:
            now = int(time.time())
            return sign(key, claim, now, now + ttl, secrets.token_hex(16))

        return signer

    async def submit_batch_script(self) -> str:
        """Hold the price, then submit the job as the user; store both as soon as they exist."""
        self.refuse_system_account()
        if self.session_request is None:  # start() called without JupyterHub's options hook
            await _apply_user_options(self, self.user_options or {})
        req = self.session_request
        assert req is not None  # set by the hook, or it raised a 400
        hub = self.registry[req.hub]
        try:
            pwd.getpwnam(self.user.name)
        except KeyError:
            raise SessionError(
                403,
                f"{self.user.name} has no account on the clusters; ask "
                f"{self.site.platform.support or 'your hub administrators'}",
            ) from None
        job_env = self.get_env()
        placement = self._placement(req)
        self.hub_name = req.hub
        await self._place_hold(req)
        self._persist_state()
        request = build_batch_request(
            req,
            placement,
            list(job_env),
            hold_id=self.hold_id,
            ticket=self._ticket_signer(req.hub),
        )
        job_env.update(self.registry.command_env(req.hub, {}))
        self.log.info(
            "Submitting %s's session to hub %s: %s", self.user.name, req.hub, " ".join(request.argv)
        )
        self._submission = "unknown"  # from here on, a job may exist
        self._submit_task = asyncio.ensure_future(self.slurm.submit(req.hub, request, job_env))
        try:
            job_id = await asyncio.shield(self._submit_task)
        except SlurmError as err:
            self._submit_task = None
            await self._not_submitted(req.hub, hub.display_name, err)
            raise AssertionError("unreachable") from None  # _not_submitted raises
        self._submit_task = None
        self.job_id = job_id
        self._submission = "submitted"
        try:
            await self.billing.attach(self.hold_id, req.hub, job_id)
        except ConflictError as err:
            # Slurm gave an id that an older open hold still names (its state was reset).
            self.log.error(
                "Job %s/%s can't be recorded on hold %s: %s", req.hub, job_id, self.hold_id, err
            )
            raise self._fail(
                503,
                f"The {hub.display_name} scheduler reused a job number still on record; "
                "the session was stopped. Please try again.",
            ) from None
        self._persist_state()
        self.log.info(
            "Job %s submitted on hub %s, paid by hold %s", self.job_id, req.hub, self.hold_id
        )
        return str(self.job_id)

    async def _not_submitted(self, hub: str, display: str, err: SlurmError) -> None:
        """sbatch failed: release the hold if nothing was submitted, else leave it to reconcile."""
        self.log.warning("sbatch for %s on %s failed: %s", self.user.name, hub, err)
        definite = not isinstance(err, SlurmUnavailableError) or "connect failure" in str(err)
        if definite:
            self._submission = "refused"
            await self.billing.void(self.hold_id, "not submitted: Slurm refused the job")
            self.hold_id = 0
        else:
            # No answer: a job may exist. The hold stays, with a cancel request: the
            # reconciler ends a job named for it, or voids it once none appears.
            self._submission = "unknown"
            await self.billing.request_cancel(self.hold_id)
        self._persist_state()
        if isinstance(err, SlurmUnavailableError):
            raise SessionError(
                503, f"The {display} scheduler is not answering; please try again in a few minutes."
            )
        support = self.site.platform.support or "your hub administrators"
        raise SessionError(
            400,
            f"The {display} scheduler refused this session; nothing was charged. "
            f"If it happens again, please tell {support}.",
        )

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
        self._hold = hold

    # -- settle ----------------------------------------------------------------------------

    async def _settle(self, why: str) -> None:
        """Charge what the job used and release the rest of its hold (once).

        Slurm's accounting may take a moment to complete a finished job's record; a
        hold whose record stays incomplete is left to reconciliation (with its cancel
        request), never voided while a job may exist.
        """
        if not self.hold_id:
            return
        if not self.job_id or not self.hub_name:
            if self._submission in ("none", "refused"):
                await self.billing.void(self.hold_id, f"no job was started ({why})")
            else:
                self.log.warning(
                    "Hold %s: sbatch did not answer; reconciliation ends any job it submitted",
                    self.hold_id,
                )
            self.hold_id = 0
            return
        hold = await self._hold_record()
        assert hold is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_wait_s
        usage = self._usage
        while usage is None or not usage.complete:
            try:
                usage = await self.slurm.usage(
                    self.hub_name, self.job_id, job_name(self.hub_name, hold.id), hold.created_at
                )
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
            self.hold_id = 0
            return
        gres = self.registry[self.hub_name].gres_type(next(iter(hold.resources)))
        try:
            charge = await self.billing.settle(hold, usage, gres)
        except ConflictError as err:  # settled by reconciliation meanwhile, differently
            self.log.warning("Hold %s was settled already: %s", hold.id, err)
            self.hold_id = 0
            return
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

    # -- poll and stop ---------------------------------------------------------------------

    async def poll(self) -> int | None:
        """None while the job is queued, running or unknown; settle once it has ended.

        A job is ended only when Slurm's accounting says so (or its funded time is long
        over): a controller that does not answer, or a job missing from a transiently
        empty queue, keeps the session. A start the hub was running when it stopped is
        ended here (its job cancelled, its hold settled), never left running unreachable.
        """
        await self._wait_start_cleanup()
        if self._interrupted:
            await self._end_interrupted_start()
            return 1
        status = await self.query_job_status()
        if status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.UNKNOWN):
            return None
        await self._settle("the session ended")
        self.clear_state()
        return 1

    async def _end_interrupted_start(self) -> None:
        self.log.warning(
            "%s's start on %s was interrupted by a hub restart: ending job %s (hold %s)",
            self.user.name,
            self.hub_name,
            self.job_id or "not recorded",
            self.hold_id,
        )
        self._interrupted = False
        if self.hold_id:
            hold = await self._hold_record()
            if hold is not None and not self.job_id and hold.job_id:
                self.job_id = hold.job_id  # recorded in the ledger, not yet in the state
                self._submission = "submitted"
            await self.billing.request_cancel(self.hold_id)
        if self.hold_id and not self.job_id and self.hub_name:
            with contextlib.suppress(SlurmError):
                named = await self.slurm.jobs_named(
                    self.hub_name, job_name(self.hub_name, self.hold_id)
                )
                for found in named:
                    if found.job_id.isdigit() and found.user == self.user.name:
                        await self.slurm.cancel(self.hub_name, found.job_id)
        if self.job_id and self.hub_name:
            try:
                await self.slurm.cancel(self.hub_name, self.job_id)
            except SlurmError as err:
                self.log.warning("Cancelling job %s/%s failed: %s", self.hub_name, self.job_id, err)
        await self._settle("the hub restarted during the start")
        self.clear_state()
        self._persist_state()

    async def stop(self, now: bool = False) -> None:
        """Cancel the job, then settle its hold from Slurm's accounting.

        The cancel is recorded in the ledger first: JupyterHub forgets the job whatever
        happens here, and a controller that does not answer gets the cancel from
        reconciliation once it does.
        """
        await self._wait_start_cleanup()
        if self.hold_id:
            try:
                await self.billing.request_cancel(self.hold_id)
            except Exception:
                self.log.exception("Recording the cancel of hold %s failed", self.hold_id)
        self.log.info("Stopping server job %s on %s", self.job_id, self.hub_name)
        try:
            await self.cancel_batch_job()
        except SlurmUnavailableError as err:
            self.log.warning(
                "The %s scheduler does not answer (%s): job %s is cancelled by reconciliation "
                "once it does",
                self.hub_name,
                err,
                self.job_id,
            )
            return
        if not now:
            for _ in range(10):
                if await self.query_job_status() not in (JobStatus.RUNNING, JobStatus.UNKNOWN):
                    break
                await asyncio.sleep(1)
        try:
            await self._settle("stopped")
        except Exception:
            self.log.exception("Settling %s/%s failed", self.hub_name, self.job_id)
            raise

    async def cancel_batch_job(self) -> None:
        if not self.job_id or not self.hub_name:
            return
        self.log.info("Cancelling job %s on hub %s", self.job_id, self.hub_name)
        await self.slurm.cancel(self.hub_name, self.job_id)

    async def query_job_status(self) -> JobStatus:
        """Ask the job's hub; an unreachable controller is UNKNOWN (never refund, never kill).

        A job Slurm's queue no longer lists, or whose id now belongs to another job, has
        ended only when its accounting is final (or long overdue); until then UNKNOWN.
        """
        if not self.job_id or not self.hub_name:
            return JobStatus.NOTFOUND
        try:
            info = await self.slurm.job(self.hub_name, self.job_id)
        except SlurmUnavailableError as err:
            self._slurm_down = str(err)
            self.job_status = "UNKNOWN the scheduler does not answer"
            return JobStatus.UNKNOWN
        except SlurmError as err:
            self.log.warning("squeue failed for %s/%s: %s", self.hub_name, self.job_id, err)
            self.job_status = "UNKNOWN squeue failed"
            return JobStatus.UNKNOWN
        self._slurm_down = None
        if info is not None and self.hold_id and info.name != job_name(self.hub_name, self.hold_id):
            info = None  # the id is another job's now (Slurm reused it)
        self._job_info = info
        if info is not None and info.state in _RUNNING:
            self.job_status = f"{info.state} {info.node}"
            if self._exec_host is None:
                self._exec_host = await self.slurm.node_address(self.hub_name, info.node)
            return JobStatus.RUNNING
        if info is not None and info.state in _PENDING:
            self.job_status = f"{info.state} {info.node}"
            req = self.session_request
            partition = self.registry[self.hub_name].partition_for(req.gpu_type if req else None)
            try:
                self._queue_position = await self.slurm.queue_position(
                    self.hub_name, self.job_id, partition
                )
            except SlurmError:
                self._queue_position = None
            return JobStatus.PENDING
        return await self._ended_or_unknown()

    async def _ended_or_unknown(self) -> JobStatus:
        hold = await self._hold_record() if self.hold_id else None
        if hold is None:
            self.job_status = ""
            return JobStatus.NOTFOUND
        try:
            self._usage = await self.slurm.usage(
                self.hub_name, self.job_id, job_name(self.hub_name, hold.id), hold.created_at
            )
        except SlurmError as err:
            self.log.warning("sacct failed for %s/%s: %s", self.hub_name, self.job_id, err)
            self._usage = None
        if self._usage is not None and self._usage.complete:
            self.job_status = ""
            return JobStatus.NOTFOUND
        overdue = hold.created_at + timedelta(hours=float(hold.hours)) + OVERDUE_AFTER
        if datetime.now(UTC) > overdue:
            self.log.error(
                "Job %s/%s is gone, its funded time long over, and its accounting never "
                "completed; the session ends (reconciliation settles hold %s)",
                self.hub_name,
                self.job_id,
                hold.id,
            )
            self.job_status = ""
            return JobStatus.NOTFOUND
        self.job_status = "UNKNOWN gone from the queue, accounting not final yet"
        return JobStatus.UNKNOWN

    def state_ispending(self) -> bool:
        return self._job_info is not None and self._job_info.state in _PENDING

    def state_isrunning(self) -> bool:
        return self._job_info is not None and self._job_info.state in _RUNNING

    def state_isunknown(self) -> bool:
        return self._slurm_down is not None

    def state_gethost(self) -> str:
        return self._exec_host or "127.0.0.1"

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Tell the user where their job is: queued (and why), starting, or connecting."""
        while True:
            info = self._job_info
            if self._failure:
                yield {"message": self._failure}
                return
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
