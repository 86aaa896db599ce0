"""``ComputeHubSpawner``: a notebook server as a Slurm job on a chosen regional hub.

Built on batchspawner's ``SlurmSpawner`` for its lifecycle (start → poll →
stop), without the settings it ignores (``batchbase.py``); what it does through a
shell or from unvalidated input is replaced:
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
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from batchspawner.batchspawner import JobStatus
from sqlalchemy.orm import object_session
from tornado import web
from traitlets import Float, Integer, Unicode, default

from computehub import maintenance
from computehub.auth.policy import PLATFORM_ROLES
from computehub.auth.system import SystemAccounts
from computehub.clock import utcnow
from computehub.credits.errors import (
    ArchivedCourseError,
    ConflictError,
    CourseShareError,
    InsufficientCreditError,
)
from computehub.credits.notices import Rules
from computehub.credits.records import Hold
from computehub.i18n.catalog import ENV as LANGUAGE_ENV
from computehub.i18n.catalog import use as use_language
from computehub.i18n.hub import request_language
from computehub.maintenance import Maintenance
from computehub.sitefile import Site, load_site
from computehub.spawners.access import Entitlements
from computehub.spawners.accounting import CLOCK_SKEW_S, JobUsage, clock_skew, funded_end
from computehub.spawners.availability import GpuAvailability
from computehub.spawners.batch import JobPlacement, build_batch_request, job_name
from computehub.spawners.batchbase import BatchLifecycle
from computehub.spawners.billing import (
    Billing,
    Standing,
    archived_end_note,
    archived_refusal,
    job_resource,
    ledger_for,
    ledger_url,
    per_hour,
    share_refusal,
    start_refusal,
)
from computehub.spawners.capacity import Capacity
from computehub.spawners.capacityload import load_capacity
from computehub.spawners.containers import launch_for, mountable
from computehub.spawners.form import render_form
from computehub.spawners.gpuactivity import REPORTS, Report, busy_gpu_hours
from computehub.spawners.homecards import spawn_heading
from computehub.spawners.hubstatus import HubStatus, maintenance_message, read_statuses
from computehub.spawners.jobcheck import Expected, allocation_problem
from computehub.spawners.jobticket import JobClaim, load_key, sign
from computehub.spawners.options import (
    ANY_HUB,
    OptionsError,
    SessionRequest,
    parse_form,
    validate,
)
from computehub.spawners.reasons import waiting_reason
from computehub.spawners.registry import HubRegistry, gpu_of
from computehub.spawners.simgpus import with_simulated_gpus
from computehub.spawners.slurmclient import (
    FINAL_QUEUE_STATES,
    JobInfo,
    SlurmClient,
    SlurmError,
    SlurmUnavailableError,
)
from computehub.spawners.tres import hub_problems
from computehub.spawners.usernotices import read_notices

#: How long the spawn form recalls why the last session ended.
NOTICE_FOR = timedelta(days=7)
#: How long after a job's funded time (from its run's start) a job gone from the queue
#: whose accounting is not final stops keeping its session: a record still "running"
#: then is one the time limit would have ended (a controller that lost its state).
OVERDUE_AFTER = timedelta(minutes=10)
_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED"}
_RUNNING = {"RUNNING", "COMPLETING"}
#: What a hub's start check found, per registry (site file version) and hub: checked
#: once per hub before its first session (the hub's start checks reachable ones too).
_HUB_CHECKS: dict[tuple[HubRegistry, str], list[str]] = {}
#: The end note of a session whose job Slurm requeued.
REQUEUED_NOTE = (
    "Slurm requeued this session's job, which would have let it run past what was paid "
    "for; it was stopped, and every run was charged."
)


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
def _client(
    registry: HubRegistry, bin_dir: str, ttl_s: float, queue_interval_s: float = 0.5
) -> SlurmClient:
    # One client per registry, shared by every spawner: its caches (free GPUs,
    # node addresses, the queue listing) then serve all users.
    return SlurmClient(
        registry, bin_dir or None, availability_ttl_s=ttl_s, queue_interval_s=queue_interval_s
    )


def maintenance_notices(log: Any) -> dict[str, Maintenance]:
    """The hubs an operator put in maintenance (none, with an error logged, if the file
    can't be read: an unreadable notice must not stop every hub)."""
    try:
        return maintenance.read()
    except (maintenance.MaintenanceError, OSError) as err:
        log.error("The hubs' maintenance notices can't be read: %s", err)
        return {}


async def hub_statuses(
    registry: HubRegistry, client: SlurmClient, log: Any, names: list[str] | None = None
) -> list[HubStatus]:
    """Each hub's status now (see ``hubstatus.py``); Slurm's words for a hub that did not
    answer go to the log."""
    unsafe = {name for (reg, name), problems in _HUB_CHECKS.items() if reg is registry and problems}
    found, errors = await read_statuses(
        registry, client, maintenance_notices(log), utcnow(), names, unsafe
    )
    for name, why in errors.items():
        log.warning("Hub %s is down: its controller did not answer (%s)", name, why)
    return found


def status_source(config: Any) -> tuple[HubRegistry, SlurmClient]:
    """The registry and the shared Slurm client the spawners use, from the hub's config.

    For the hub API (no spawner there): the same ``ComputeHubSpawner`` settings
    (``site_file``, ``slurm_bin_dir``, ``free_gpus_cache_s``), so the status and the
    spawn form share one cache of Slurm's answers.
    """
    section = config.get("ComputeHubSpawner", {}) if config is not None else {}
    traits = ComputeHubSpawner.class_traits()

    def setting(name: str) -> Any:
        return section[name] if name in section else traits[name].default()

    site_file = str(setting("site_file"))
    registry = _registry(site_file, os.stat(site_file).st_mtime)
    return registry, _client(
        registry,
        str(setting("slurm_bin_dir")),
        float(setting("free_gpus_cache_s")),
        float(setting("queue_interval_s")),
    )


async def _apply_user_options(spawner: ComputeHubSpawner, user_options: dict[str, Any]) -> None:
    """JupyterHub's ``apply_user_options`` hook: refuse bad options with a 400."""
    spawner.refuse_system_account()
    options = user_options or {}
    spawner.begin_controller_check(options.get("hub") if isinstance(options, dict) else None)
    free = None
    closed: set[str] = set()
    if isinstance(options, dict) and options.get("hub") == ANY_HUB:
        free = await spawner.free_gpus()
        closed = {s.hub for s in await spawner.hub_statuses() if s.closed}
    standing, who = await spawner.standing()
    capacity = await spawner.capacity(standing, who)
    try:
        spawner.session_request = validate(
            options,
            spawner.registry,
            free,
            standing.accounts,
            who=who,
            closed=closed,
            capacity=capacity,
        )
    except OptionsError as err:
        raise web.HTTPError(400, f"Invalid spawn option {err}") from None


class ComputeHubSpawner(BatchLifecycle):
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

    queue_interval_s = Float(
        0.5,
        min=0.1,
        help="The least time between two reads of a hub's queue: one squeue of every job "
        "per hub per interval answers every session's poll (see docs/performance.md).",
    ).tag(config=True)

    poll_listing_age_s = Float(
        None,
        allow_none=True,
        min=0,
        help="How old a queue listing a running server's periodic poll may read (None: "
        "the poll interval). With it, the polls of every running session of a hub cost "
        "one squeue per hub per poll interval, however many there are; a job that ends "
        "is seen within two poll intervals. Starts and stops read a listing taken after "
        "their own sbatch or scancel, whatever this is (see docs/performance.md).",
    ).tag(config=True)

    controller_check_s = Float(
        5.0,
        min=0,
        help="Before it holds the price, a start asks whether its hub's controller "
        "answers: it takes the hub's last shared queue read when that answered (or "
        "failed) less than this many seconds ago, else waits for a new one. A controller "
        "that stopped answering since that read is found by the start's sbatch instead "
        "(nothing charged: the hold is voided, or left to reconciliation with a cancel "
        "request; the person is told to try again). 0: every start waits for a "
        "read begun after it asked (see docs/performance.md: at 300 people starting at "
        "once, 5 s made computehub faster than plain batchspawner, 0 slower).",
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
    session_partition = Unicode(
        "", help="The reserved partition the current job runs in, if any (spawner state)."
    )

    session_request: SessionRequest | None = None
    _exec_host: str | None = None
    _job_info: JobInfo | None = None
    _slurm_down: str | None = None
    _queue_position: int | None = None
    #: The client's clock after sbatch or scancel returned: the queue listing read for
    #: this session must be taken after it (the job, or its cancel, shows).
    _listed_after: float | None = None
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
    #: The job was requeued: its session is ended (the reason the start failed).
    _requeued: bool = False
    #: The course paying for the session was archived: its job is being ended.
    _archived: bool = False
    #: The queue lists the job in a final state (CANCELLED, COMPLETED...).
    _queue_final: bool = False
    #: The hub's clock before and after sbatch (epoch s), until the job's submit time
    #: has been compared with it (the controller's clock skew).
    _submit_window: tuple[float, float] | None = None
    #: The last waiting reason logged (Slurm's words go to the log, once per change).
    _logged_reason: str | None = None
    #: The start's controller check begun with its options (hub, the shared queue read).
    _controller_read: tuple[str, asyncio.Future[Any]] | None = None

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
        return _client(
            self.registry, self.slurm_bin_dir, self.free_gpus_cache_s, self.queue_interval_s
        )

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

    async def hub_statuses(self) -> list[HubStatus]:
        """Every hub's status: up, degraded, down or in maintenance, free GPUs, queue."""
        return await hub_statuses(self.registry, self.slurm, self.log)

    def platform_roles(self) -> frozenset[str]:
        """The user's platform roles: the JupyterHub groups their login put them in."""
        return frozenset(g.name for g in self.user.groups) & frozenset(PLATFORM_ROLES)

    async def standing(self) -> tuple[Standing, Entitlements]:
        """The user's accounts in the ledger, and what the allow-lists see of the user."""
        standing = await self.billing.standing()
        return standing, Entitlements(roles=self.platform_roles(), courses=standing.courses)

    async def capacity(self, standing: Standing, who: Entitlements) -> Capacity | None:
        """Reserved capacity as this person's start sees it (docs/capacity.md)."""
        return await load_capacity(
            self.registry, self.slurm, self.billing.ledger, standing, who.roles, self.log
        )

    def job_partition(self, gpu_type: str | None) -> str:
        """The partition of this session's job: a reserved one it was placed in, or the hub's."""
        if self.session_partition:
            return self.session_partition
        return self.registry[self.hub_name].partition_for(gpu_type)

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
        # In the language of the request that asked for the form (docs/languages.md):
        # the notices' sentences are written while it is set too.
        with use_language(request_language(self.handler)):
            return await self._options_form_html()

    async def _options_form_html(self) -> str:
        self.refuse_system_account()
        standing, who = await self.standing()
        notice = await asyncio.to_thread(self._last_end_note, standing.accounts)
        free = await self.free_gpus()
        statuses = {status.hub: status for status in await self.hub_statuses()}
        found = await read_notices(self.billing.ledger, Rules.from_site(self.site), self.user.name)
        return spawn_heading(self.name) + render_form(
            self.registry,
            free,
            standing.available,
            who,
            notice,
            notes=standing.notes,
            statuses=statuses,
            notices=found,
        )

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
            # The demo's simulated GPUs (site file demo.simulated_gpus), for the widget only.
            env = with_simulated_gpus(self.site, self.session_request, env)
        # The widget speaks the language of the request that started the session.
        env[LANGUAGE_ENV] = request_language(self.handler)
        return env

    # -- the hub's record of the session -------------------------------------------------

    def _stage_state(self) -> None:
        """Put the spawner's state on its database row for JupyterHub's next commit."""
        if self.orm_spawner is not None:
            self.orm_spawner.state = self.get_state()

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
        self.session_partition = str(state.get("partition", ""))
        self._interrupted = bool(state.get("starting")) and not self._starting
        if self.hold_id and not self.job_id:
            self._submission = "unknown"

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.hub_name:
            state["hub"] = self.hub_name
        if self.hold_id:
            state["hold_id"] = self.hold_id
        if self.session_partition:
            state["partition"] = self.session_partition
        if self._starting:
            state["starting"] = True
        return state

    def clear_state(self) -> None:
        super().clear_state()
        self.hub_name = ""
        self.hold_id = 0
        self.session_partition = ""
        self._exec_host = None
        self._job_info = None
        self._hold = None
        self._usage = None
        self._submission = "none"
        self._interrupted = False
        self._requeued = False
        self._archived = False
        self._queue_final = False
        self._submit_window = None
        self._logged_reason = None

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
        # JupyterHub commits its database as soon as start() returns (the server's
        # port), before anything else runs: the state rides in that commit, not in one
        # of its own (one fewer commit on the event loop per start).
        self._stage_state()
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
            if status == JobStatus.NOTFOUND or self._requeued:
                raise self._fail(
                    500,
                    "Slurm requeued the session's job, which the platform does not allow, "
                    "so it was stopped; only what it used is charged. Please try again."
                    if self._requeued
                    else "The session's job ended before the notebook server started; "
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
        resource, count = job_resource(hold.resources)
        hub = self.registry[self.hub_name]
        gres = hub.gres_type(resource)
        expected = Expected(
            name=job_name(self.hub_name, hold.id),
            partition=self.job_partition(gpu_of(resource)),
            minutes=math.ceil(hold.hours * 60),
            gres_type=gres,
            gpus=count if gres else 0,
            cpus=hub.limits.cpus_per_session,
            memory_mb=hub.limits.memory_gb_per_session * 1024,
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
        self._listed_after = self.slurm.now()
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
        container = launch_for(self.site, req.hub, req.environment)
        if container is not None and not mountable(PurePosixPath(entry.pw_dir)):
            raise SessionError(
                409,
                "Your home folder can't be used inside the "
                f"{self.site.environments[req.environment].display_name} image; choose "
                "another environment, or ask "
                f"{self.site.platform.support or 'your hub administrators'}",
            )
        return JobPlacement(
            username=self.user.name,
            home=PurePosixPath(entry.pw_dir),
            partition=req.partition or hub.partition_for(req.gpu_type),
            cpus=hub.limits.cpus_per_session,
            memory_gb=hub.limits.memory_gb_per_session,
            env_prefix=PurePosixPath(str(self.site.environments[req.environment].prefix)),
            sbatch=self.slurm.binary("sbatch"),
            sudo=self.sudo_command,
            gres_type=hub.gres_type(req.resource),
            uid=entry.pw_uid,
            container=container,
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
        await self._refuse_closed_hub(req.hub)
        await self._check_hub(req.hub)
        job_env = self.get_env()
        placement = self._placement(req)
        self.hub_name = req.hub
        self.session_partition = req.partition or ""
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
        before = time.time()
        self._submit_task = asyncio.ensure_future(self.slurm.submit(req.hub, request, job_env))
        try:
            job_id = await asyncio.shield(self._submit_task)
        except SlurmError as err:
            self._submit_task = None
            await self._not_submitted(req.hub, hub.display_name, err)
            raise AssertionError("unreachable") from None  # _not_submitted raises
        self._submit_task = None
        self._submit_window = (before, time.time())
        self._listed_after = self.slurm.now()
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

    def begin_controller_check(self, hub: object) -> None:
        """Begin the start's controller check (:meth:`_refuse_closed_hub`) for a hub it names.

        Called as the options are checked: the hub's shared queue read then runs while
        the person's standing is read from the ledger, not after it. Only a hub of the
        site file is asked (the options are not validated yet); any other choice, and
        "any hub", is asked when the start reaches the check.
        """
        self._controller_read = None
        if not isinstance(hub, str) or hub not in self.registry:
            return
        read = asyncio.ensure_future(self.slurm.board(hub).answered_within(self.controller_check_s))
        # A start refused before its check still consumes the read's outcome.
        read.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._controller_read = (hub, read)

    async def _refuse_closed_hub(self, name: str) -> None:
        """Refuse a session on a hub in maintenance, or whose controller does not answer
        now, before anything is held (a 503 with the sentence the form shows too).

        The controller is asked again (not the form's cached answer): a hub that went
        down since the page was drawn is refused here, not after a hold is placed. The
        question is the hub's shared queue read (one ``squeue`` per interval for every
        start of a class, not one ``sinfo`` each): the last one when it answered (or
        failed) less than ``controller_check_s`` ago, else one begun after this start
        asked (from :meth:`begin_controller_check`, while the ledger is read). A class
        starting at once waits for no read of its own: its sessions' polls keep the
        answer fresh.
        """
        hub = self.registry[name]
        begun, self._controller_read = self._controller_read, None
        notice = maintenance_notices(self.log).get(name)
        if notice is not None:
            raise SessionError(
                503,
                f"{maintenance_message(hub.display_name, notice.message)} Nothing was "
                "charged; choose another hub.",
            )
        try:
            if begun is not None and begun[0] == name:
                await begun[1]
            else:
                await self.slurm.board(name).answered_within(self.controller_check_s)
        except SlurmError as err:
            self.log.warning(
                "Hub %s refused a start: its controller did not answer (%s)", name, err
            )
            raise SessionError(
                503,
                f"The {hub.display_name} scheduler is not answering, so no session can "
                "start there now; nothing was charged. Choose another hub or try again "
                "in a few minutes.",
            ) from None

    async def _check_hub(self, name: str) -> None:
        """Refuse a session on a hub whose Slurm can't keep it honest (nothing is held).

        The hub's start checks every controller that answers; one that did not (or a
        site file changed since) is checked here, before its first session: a hub that
        sells GPUs without the guard (and without ``slurm.unguarded``), a controller that
        does not account a rated GPU, or one without the guard its ticket key relies on.
        A hub found fine is not asked again until the site file changes.
        """
        key = (self.registry, name)
        if _HUB_CHECKS.get(key) == []:
            return
        hub = self.registry[name]
        try:
            problems = await hub_problems(self.registry, self.slurm, name)
        except SlurmError as err:
            self.log.warning("Hub %s can't be checked (scontrol show config: %s)", name, err)
            raise SessionError(
                503,
                f"The {hub.display_name} scheduler is not answering; "
                "please try again in a few minutes.",
            ) from None
        _HUB_CHECKS[key] = problems
        if problems:
            self.log.error("Hub %s can't run sessions safely: %s", name, "; ".join(problems))
            support = self.site.platform.support or "your hub administrators"
            raise SessionError(
                503,
                f"The {hub.display_name} hub is not set up to run sessions safely; nothing "
                f"was charged. Please tell {support}.",
            )

    async def _job_named_for_hold(self, hub: str) -> str | None:
        """The user's job in ``hub``'s queue (any state) named for this session's hold.

        Raises:
            SlurmError: squeue failed.
        """
        named = await self.slurm.jobs_named(hub, job_name(hub, self.hold_id))
        mine = [
            job.job_id
            for job in named
            if job.job_id.isascii() and job.job_id.isdigit() and job.user == self.user.name
        ]
        return min(mine, key=int) if mine else None

    async def _not_submitted(self, hub: str, display: str, err: SlurmError) -> None:
        """sbatch failed: release the hold if nothing was submitted, else leave it to reconcile.

        A refusal may hide a job: someone who raced the portal with this session's ticket
        (the guard then refuses the portal's own sbatch, the ticket being used), or an
        sbatch that retried. The job named for the hold is looked up first: one found is
        recorded on the hold (it pays for it) and cancelled, never left running free.
        """
        self.log.warning("sbatch for %s on %s failed: %s", self.user.name, hub, err)
        definite = not isinstance(err, SlurmUnavailableError) or "connect failure" in str(err)
        found: str | None = None
        if definite:
            try:
                found = await self._job_named_for_hold(hub)
            except SlurmError as lookup_err:
                self.log.warning(
                    "Looking for a job named for hold %s failed: %s", self.hold_id, lookup_err
                )
                definite = False  # a job may exist: leave the hold to reconciliation
        if found is not None:
            await self._adopt_and_cancel(hub, found, err)
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

    async def _adopt_and_cancel(self, hub: str, job_id: str, err: SlurmError) -> None:
        """Record a job someone else submitted for this session's hold, cancel it, and fail.

        The hold pays for it (it is exactly the job the portal asked for, its ticket says
        so); the start's cleanup settles what it used.
        """
        self.log.error(
            "ALERT: %s's sbatch on %s was refused (%s), but job %s is named for hold %s: "
            "someone submitted it with the session's ticket; it is recorded on the hold "
            "and cancelled",
            self.user.name,
            hub,
            err,
            job_id,
            self.hold_id,
        )
        self.job_id = job_id
        self._submission = "submitted"
        try:
            await self.billing.attach(self.hold_id, hub, job_id)
        except ConflictError as attach_err:
            self.log.error("Job %s/%s can't be recorded: %s", hub, job_id, attach_err)
        await self.billing.request_cancel(self.hold_id)
        try:
            await self.slurm.cancel(hub, job_id)
        except SlurmError as cancel_err:
            self.log.warning(
                "Cancelling job %s/%s failed (%s); reconciliation cancels it",
                hub,
                job_id,
                cancel_err,
            )
        self._persist_state()
        raise self._fail(
            409,
            "Another job took this session's place (it was submitted with this session's "
            "ticket), so it was stopped; only what it used is charged. Please start again.",
        )

    async def _place_hold(self, req: SessionRequest) -> None:
        """Reserve the session's price before anything reaches Slurm; 402 if not funded."""
        try:
            hold = await self.billing.hold(req, server_name=self.name or "")
        except InsufficientCreditError as err:
            price = per_hour(self.registry[req.hub].rates, req.resources)
            raise web.HTTPError(402, start_refusal(err, price, req.hours)) from None
        except CourseShareError as err:
            raise web.HTTPError(402, share_refusal(err)) from None
        except ArchivedCourseError as err:
            raise web.HTTPError(409, archived_refusal(err)) from None
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
        # The server's latest GPU report of this job, taken before anything changes.
        gpu_report = REPORTS.of(self)
        hold = await self._hold_record()
        assert hold is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_wait_s
        usage = self._usage
        while not self._ended(usage):
            try:
                usage = await self.slurm.usage(
                    self.hub_name, self.job_id, job_name(self.hub_name, hold.id), self.user.name
                )
            except SlurmError as err:
                self.log.warning("sacct failed for %s/%s: %s", self.hub_name, self.job_id, err)
            if self._ended(usage) or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
        if usage is None or not self._ended(usage):
            self.log.warning(
                "Job %s/%s has no final accounting yet; hold %s is left for reconciliation "
                "(with a cancel request: a job still there is ended)",
                self.hub_name,
                self.job_id,
                self.hold_id,
            )
            try:  # the hub forgets the job now: the ledger keeps the request
                await self.billing.request_cancel(self.hold_id)
            except Exception:
                self.log.exception("Recording the cancel of hold %s failed", self.hold_id)
            self.hold_id = 0
            return
        await self._record_gpu_busy(hold, usage, gpu_report)
        try:
            charge = await self.billing.settle(hold, usage, self.registry[self.hub_name].gres_type)
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

    async def _record_gpu_busy(self, hold: Hold, usage: JobUsage, report: Report | None) -> None:
        """Record the session's GPU-busy hours from its server's last report; never raises.

        Nothing is recorded without a report of this job (the server never reported, or
        the hub restarted since) or without busy time in it (no GPUs, MIG slices): the
        console shows the session as not recorded. The report is the user's own server's:
        clamped to the hold's GPUs and Slurm's elapsed time (a statistic, never billed).
        """
        if report is None:
            return
        gpus = sum(n for r, n in hold.resources.items() if r.startswith(("gpu:", "mig:")))
        hours = busy_gpu_hours(report.measurement, session_gpus=gpus, elapsed_s=usage.elapsed_s)
        if hours is None:
            return
        try:
            await self.billing.record_gpu_busy(hold.id, hours)
        except Exception:  # a statistic: the stop goes on
            self.log.exception("Recording the GPU-busy hours of hold %s failed", hold.id)

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
        age = self.poll_interval if self.poll_listing_age_s is None else self.poll_listing_age_s
        status = await self._job_status(max_age=age)
        if status in (JobStatus.PENDING, JobStatus.RUNNING):
            await self._end_if_archived()
        if status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.UNKNOWN):
            return None
        await self._settle("the session ended")
        self.clear_state()
        return 1

    async def _end_if_archived(self) -> None:
        """End a session whose course was archived: cancel its job, say why.

        The ledger refuses new holds and extensions on an archived course; a session
        already running is ended here, within two of the hub's polls of it (the
        course's state is read once per poll interval for all its sessions), and settled as
        usual once Slurm's accounting says the job ended (a later poll). The cancel is
        recorded in the ledger first, so reconciliation ends the job if this cancel
        does not reach the controller.
        """
        if not self.hold_id or not self.job_id:
            return
        hold = await self._hold_record()
        if hold is None or hold.account == self.user.name:  # a personal account is no course
            return
        # A course's archived state read for any of its sessions within a poll interval
        # serves them all (one ledger read per course per interval).
        archived_at = await self.billing.archived(hold.account, max_age=self.poll_interval)
        if archived_at is None:
            return
        if not self._archived:
            self._archived = True
            self.log.info(
                "Course %s was archived: ending session %s/%s of %s (hold %s)",
                hold.account,
                self.hub_name,
                self.job_id,
                self.user.name,
                self.hold_id,
            )
            try:
                await self.billing.request_cancel(self.hold_id)
                await self.billing.note_end(
                    self.hold_id, archived_end_note(hold.account, archived_at)
                )
            except Exception:
                self.log.exception("Recording the end of hold %s failed", self.hold_id)
        try:
            await self.slurm.cancel(self.hub_name, self.job_id)
        except SlurmError as err:
            self.log.warning("Cancelling job %s/%s failed: %s", self.hub_name, self.job_id, err)

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
        self._listed_after = self.slurm.now()

    async def query_job_status(self) -> JobStatus:
        """Ask the job's hub: a listing no older than the queue interval (:meth:`_job_status`)."""
        return await self._job_status()

    async def _job_status(self, max_age: float | None = None) -> JobStatus:
        """Ask the job's hub; an unreachable controller is UNKNOWN (never refund, never kill).

        ``max_age``: how old a listing may answer (a periodic poll's; see
        :attr:`poll_listing_age_s`); a listing taken after this session's own sbatch or
        scancel is always required.

        A job Slurm's queue no longer lists, or whose id now belongs to another job, has
        ended only when its accounting is final (see :meth:`_ended_or_unknown`). A job
        that was requeued is cancelled (it would run again on a fresh time limit).
        """
        if not self.job_id or not self.hub_name:
            return JobStatus.NOTFOUND
        try:
            info, position = await self.slurm.queued(
                self.hub_name, self.job_id, self._listed_after, max_age
            )
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
        if info is not None:
            self._check_clock(info)
        self._queue_final = info is not None and info.state in FINAL_QUEUE_STATES
        if info is not None and info.requeued and not self._queue_final:
            await self._end_requeued(info)
            return await self._ended_or_unknown()
        if info is not None and info.state in _RUNNING:
            self.job_status = f"{info.state} {info.node}"
            if self._exec_host is None:
                self._exec_host = await self.slurm.node_address(self.hub_name, info.node)
            return JobStatus.RUNNING
        if info is not None and info.state in _PENDING:
            self.job_status = f"{info.state} {info.node}"
            if info.reason != self._logged_reason:
                self._logged_reason = info.reason
                self.log.info("Job %s/%s waits: %s", self.hub_name, self.job_id, info.reason)
            self._queue_position = position
            return JobStatus.PENDING
        return await self._ended_or_unknown()

    def _check_clock(self, info: JobInfo) -> None:
        """Compare the job's submit time with our clock around its sbatch (once a job)."""
        window, self._submit_window = self._submit_window, None
        if window is None or info.submitted is None:
            return
        skew = clock_skew(info.submitted, *window)
        if abs(skew) > CLOCK_SKEW_S / 2:
            self.log.error(
                "ALERT: the clock of hub %s's controller is %+d s off the hub's (job %s was "
                "submitted at %s): keep the clocks in sync (NTP); past %s s, jobs of starts "
                "the hub did not complete are not found by their names",
                self.hub_name,
                skew,
                self.job_id,
                info.submitted,
                CLOCK_SKEW_S,
            )

    async def _end_requeued(self, info: JobInfo) -> None:
        """Cancel a job Slurm requeued; its session is settled from every run (ALERT).

        With ``--no-requeue`` and the guard only an operator can requeue a session's
        job; on an unguarded cluster its owner can, again and again, each run with a
        fresh time limit while the hold caps the charge.
        """
        if not self._requeued:
            self._requeued = True
            self.log.error(
                "ALERT: job %s/%s of %s (hold %s) was requeued (state %s, %s restarts); a "
                "requeued job runs again on a fresh time limit: cancelling it, every run "
                "is charged",
                self.hub_name,
                self.job_id,
                self.user.name,
                self.hold_id,
                info.state,
                info.restarts,
            )
            if self.hold_id:
                try:
                    await self.billing.request_cancel(self.hold_id)
                    await self.billing.note_end(self.hold_id, REQUEUED_NOTE)
                except Exception:
                    self.log.exception("Recording the end of hold %s failed", self.hold_id)
        if info.state == "COMPLETING":
            # A job cancelled while its requeued run completes gets no accounting
            # record of the cancel: it is cancelled at the next poll, once pending.
            return
        try:
            await self.slurm.cancel(self.hub_name, self.job_id)
        except SlurmError as err:
            self.log.warning("Cancelling job %s/%s failed: %s", self.hub_name, self.job_id, err)

    async def _ended_or_unknown(self) -> JobStatus:
        """The job is gone from the queue (or its id is another job's): ended, or unknown.

        Ended when Slurm's accounting of it is final. A job whose accounting shows a run
        waiting (pending, requeued) is never taken for ended; nor is one that runs, or
        whose record is not final, until :data:`OVERDUE_AFTER` past its funded end (its
        latest run's start plus the hold's hours; see ``accounting.funded_end``): its
        time limit would have ended it, so the record is stale. Ending a session then
        records a cancel request first: reconciliation ends the job should it still
        exist, and settles the hold.
        """
        if not self.hold_id:
            self.job_status = ""
            return JobStatus.NOTFOUND
        try:  # read again: an extension since the start changed its hours
            hold = self._hold = await asyncio.to_thread(self.billing.ledger.hold, self.hold_id)
        except Exception:
            self.log.exception("Reading hold %s failed", self.hold_id)
            self.job_status = "UNKNOWN gone from the queue, the ledger did not answer"
            return JobStatus.UNKNOWN
        try:
            self._usage = await self.slurm.usage(
                self.hub_name, self.job_id, job_name(self.hub_name, hold.id), self.user.name
            )
        except SlurmError as err:
            self.log.warning("sacct failed for %s/%s: %s", self.hub_name, self.job_id, err)
            self._usage = None
            self.job_status = "UNKNOWN gone from the queue, sacct failed"
            return JobStatus.UNKNOWN
        if self._ended(self._usage):
            self.job_status = ""
            return JobStatus.NOTFOUND
        end = funded_end(self._usage, hold.created_at, hold.hours)
        if end is None or datetime.now(UTC) <= end + OVERDUE_AFTER:
            self.job_status = "UNKNOWN gone from the queue, accounting not final yet"
            return JobStatus.UNKNOWN
        self.log.error(
            "ALERT: job %s/%s is gone from the queue, %s past its funded end, and its "
            "accounting never completed; the session ends (a cancel is requested, and "
            "reconciliation settles hold %s)",
            self.hub_name,
            self.job_id,
            OVERDUE_AFTER,
            hold.id,
        )
        await self.billing.request_cancel(hold.id)
        self.job_status = ""
        return JobStatus.NOTFOUND

    def _ended(self, usage: JobUsage | None) -> bool:
        """Whether accounting (with the queue) says the job ended, every run final.

        A requeued job that was cancelled while its run completed keeps REQUEUED as its
        last accounted run; the queue listing it as ended (CANCELLED) says it won't run
        again.
        """
        if usage is None:
            return False
        return usage.complete or (self._queue_final and usage.final)

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
                reason = waiting_reason(info.reason)
                why = f": {reason}" if reason else ""
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
