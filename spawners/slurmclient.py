"""The one place that talks to Slurm: async, argv only (no shell), a timeout on every call.

Every command runs with its hub's ``SLURM_CONF`` and ``SLURM_TIME_FORMAT=%s``: times
come back as epoch seconds, whatever time zone a controller runs in.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from computehub.spawners.accounting import (
    CLOCK_SKEW_S,
    SACCT_FIELDS,
    JobRun,
    JobUsage,
    gpu_tres,
    parse_sacct,
    session_usage,
)
from computehub.spawners.availability import SINFO_FORMAT, GpuAvailability, parse_sinfo
from computehub.spawners.batch import JOB_NAME_PREFIX, BatchRequest
from computehub.spawners.capacity import BUSY_FORMAT, parse_busy
from computehub.spawners.queueboard import (
    Coalescer,
    QueueBoard,
    QueueSnapshot,
    pending_positions,
)
from computehub.spawners.registry import HubRegistry

_JOB_ID = re.compile(r"^([0-9]{1,12})(?:;[A-Za-z0-9_.-]+)?$")
#: What Slurm clients print when the controller does not answer.
_UNREACHABLE = re.compile(
    r"Socket timed out|Unable to contact slurm controller|Connection refused|"
    r"Transport endpoint|Zero Bytes were transmitted"
)
_INVALID_JOB = re.compile(r"Invalid job id specified")
#: squeue states of a job that will not run again (``squeue -t all`` lists them a while).
FINAL_QUEUE_STATES = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "REVOKED",
    }
)
#: ``squeue -O`` fields of :meth:`SlurmClient.job`; the name last (it may hold ``|``).
#: ``JobArrayID`` is the id as ``%i`` prints it (``123_[0-1]``, ``125+0``): a plain number
#: only for a plain job (``JobID`` prints an array's or a het component's bare number).
_JOB_FIELDS = (
    "JobArrayID",
    "State",
    "BatchHost",
    "Reason",
    "Partition",
    "TimeLimit",
    "UserName",
    "SubmitTime",
    "tres-alloc",
    "tres-per-node",
    "cpus-per-task",
    "MinMemory",
    "OverSubscribe",
    "RestartCnt",
    "StartTime",
    "Name",
)
#: ``squeue -O`` fields of :meth:`SlurmClient.live_jobs`; the name last.
_QUEUE_FIELDS = ("JobArrayID", "State", "UserName", "SubmitTime", "RestartCnt", "Name")
#: Job ids per sacct call when many jobs' accounting is read at once: one argument of
#: at most 2,000 x 13 bytes (Linux allows 128 KiB), one slurmdbd query for 2,000 jobs.
SACCT_CHUNK = 2000
#: sacct calls of one read that may run at once (slurmdbd answers them in parallel).
SACCT_PARALLEL = 4
_DURATION = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$")
_MEMORY = re.compile(r"^([0-9]{1,12})([KMGT]?)$")
_MB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}
#: ``OverSubscribe`` values of a job that may have its node to itself (``--exclusive``).
_EXCLUSIVE = frozenset({"NO", "USER", "MCS", "TOPO"})
#: squeue states of a job that was requeued and waits to run again.
REQUEUED_STATES = frozenset({"REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"})


class SlurmError(RuntimeError):
    """A Slurm command failed; ``message`` is Slurm's own words (for logs, not for users)."""


class SlurmUnavailableError(SlurmError):
    """The hub's Slurm controller did not answer: state unknown, change nothing."""


@dataclass(frozen=True)
class QueuedJob:
    """A job in a hub's queue, as ``squeue`` lists it (the id as printed: validate it)."""

    job_id: str
    name: str
    user: str
    state: str
    #: Submit time, epoch seconds (None when squeue printed none).
    submitted: int | None = None
    #: How often the job was requeued (Slurm's restart count).
    restarts: int = 0

    @property
    def requeued(self) -> bool:
        """Whether the job was requeued (it runs, or will run, again)."""
        return self.restarts > 0 or self.state in REQUEUED_STATES


@dataclass(frozen=True)
class JobInfo:
    """A job as squeue shows it."""

    state: str
    node: str
    reason: str
    name: str = ""
    user: str = ""
    partition: str = ""
    #: The time limit in minutes (None: unlimited or unknown).
    minutes: int | None = None
    submitted: int | None = None
    #: Allocated GPUs (typed, by lower-cased GRES type) and the untyped count.
    gpus: Mapping[str, int] = field(default_factory=dict)
    gpus_any: int | None = None
    #: The GRES the job asks for per node, as ``--gres`` gives it (``gpu:h100:1``; empty
    #: for none): the GPU type it is allocated, even where accounting counts ``gres/gpu``.
    gres: str = ""
    #: CPUs per task and memory per node (MB) it asks for (None: not shown).
    cpus: int | None = None
    memory_mb: int | None = None
    #: Whether it may have its node to itself (``--exclusive``, ``=user``, ``=mcs``).
    exclusive: bool = False
    #: How often it was requeued (Slurm's restart count).
    restarts: int = 0
    #: When it started or, pending, when Slurm expects it to (the backfill scheduler's
    #: estimate, as ``squeue --start`` prints it); epoch seconds, None when Slurm can't tell.
    start: int | None = None

    @property
    def requeued(self) -> bool:
        """Whether the job was requeued (it runs, or will run, again)."""
        return self.restarts > 0 or self.state in REQUEUED_STATES


def parse_job_id(output: str) -> str:
    """The job id from ``sbatch --parsable`` (last line: ``ID`` or ``ID;cluster``)."""
    lines = output.strip().splitlines()
    match = _JOB_ID.match(lines[-1].strip()) if lines else None
    if match is None:
        raise SlurmError(f"sbatch printed no job id: {output.strip()[:200]!r}")
    return match.group(1)


def parse_minutes(text: str) -> int | None:
    """A Slurm duration (``[D-][HH:]MM:SS`` or minutes) in whole minutes; None if unlimited."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    match = _DURATION.match(text)
    if match is None:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) + (1 if seconds else 0)


def _epoch(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def parse_start(output: str, job_id: str) -> tuple[str, int | None, int | None] | None:
    """``squeue -h -j ID -o %i|%T|%S|%l`` for exactly ``job_id``: state, start, limit.

    The start is when the job started or, pending, when Slurm expects it to (the
    backfill scheduler's estimate, what ``squeue --start`` prints); None when Slurm
    can't tell (``N/A``, ``Unknown``, 0). The limit is in minutes (None: unlimited).
    """
    for line in output.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 4 or fields[0] != job_id:
            continue
        start = _epoch(fields[2])
        return fields[1], start or None, parse_minutes(fields[3])
    return None


def _count(text: str) -> int:
    return _epoch(text) or 0


def parse_memory_mb(text: str) -> int | None:
    """squeue's memory (``1G``, ``500M``, ``0``) in MB; None for anything else."""
    match = _MEMORY.match(text.strip())
    if match is None:
        return None
    return int(int(match.group(1)) * _MB[match.group(2)])


def _gres(tres_per_node: str) -> str:
    text = tres_per_node.strip()
    if text in ("", "N/A", "(null)"):
        return ""
    return re.sub(r"^gres[:/]", "", text)


def split_fields(line: str, count: int) -> list[str] | None:
    """The fields of one ``squeue -O 'A:|,B:|,...'`` line, the last free-form; None if cut."""
    if not line.endswith("|"):
        return None  # a name with a line break: not a whole line
    parts = line[:-1].split("|", count - 1)
    return parts if len(parts) == count else None


def _format(fields: Sequence[str]) -> str:
    return ",".join(f"{name}:|" for name in fields)


def parse_queue(output: str) -> list[QueuedJob]:
    """Lines of ``squeue -h -O`` with :data:`_QUEUE_FIELDS`; malformed lines are skipped."""
    jobs: list[QueuedJob] = []
    for line in output.splitlines():
        fields = split_fields(line, len(_QUEUE_FIELDS))
        if fields is None:
            continue
        job_id, state, user, submitted, restarts, name = fields
        jobs.append(
            QueuedJob(
                job_id.strip(),
                name,
                user.strip(),
                state.strip(),
                _epoch(submitted),
                _count(restarts),
            )
        )
    return jobs


def _job_info(fields: Sequence[str]) -> JobInfo:
    (
        _,
        state,
        node,
        reason,
        partition,
        limit,
        user,
        submitted,
        alloc,
        per_node,
        cpus,
        memory,
        oversubscribe,
        restarts,
        start,
        name,
    ) = fields
    typed, untyped = gpu_tres(alloc)
    return JobInfo(
        state=state.strip(),
        node=node.strip(),
        reason=reason.strip(),
        name=name,
        user=user.strip(),
        partition=partition.strip(),
        minutes=parse_minutes(limit),
        submitted=_epoch(submitted),
        gpus=typed,
        gpus_any=untyped,
        gres=_gres(per_node),
        cpus=_epoch(cpus),
        memory_mb=parse_memory_mb(memory),
        exclusive=oversubscribe.strip().upper() in _EXCLUSIVE,
        restarts=_count(restarts),
        start=_epoch(start) or None,
    )


def usages_of(
    runs: Sequence[JobRun], sessions: Sequence[tuple[str, str, str]]
) -> list[JobUsage | None]:
    """Each session's usage, ``(job id, name, user)``, from one sacct listing of their ids.

    The runs are grouped by id first: each session then reads only its own id's runs,
    as :func:`accounting.session_usage` would from a listing of that id alone. In the
    order of ``sessions``.
    """
    by_id: dict[str, list[JobRun]] = {}
    for run in runs:
        by_id.setdefault(run.job_id, []).append(run)
    return [
        session_usage(by_id.get(job_id, ()), job_id=job_id, name=name, user=user, since=0)
        for job_id, name, user in sessions
    ]


def parse_job(output: str, job_id: str) -> JobInfo | None:
    """The line of ``squeue -h -j ID -O`` (:data:`_JOB_FIELDS`) for exactly ``job_id``."""
    for line in output.splitlines():
        fields = split_fields(line, len(_JOB_FIELDS))
        if fields is not None and fields[0].strip() == job_id:
            return _job_info(fields)
    return None


def parse_snapshot(output: str) -> QueueSnapshot[JobInfo]:
    """A hub's whole queue from ``squeue -h -t all --sort=-p,i -O`` (:data:`_JOB_FIELDS`).

    Malformed lines are skipped. Job names are their owners' to choose and come last: a
    name with line breaks can hold a whole forged line for another job's id. squeue lists
    a job once, so an id listed twice is ambiguous and left out (its session then asks
    accounting, as for a job gone from the queue); the forger's own line is cut and
    skipped.
    """
    jobs: dict[str, JobInfo] = {}
    twice: set[str] = set()
    for line in output.splitlines():
        fields = split_fields(line, len(_JOB_FIELDS))
        if fields is None:
            continue
        job_id = fields[0].strip()
        if job_id in jobs:
            twice.add(job_id)
            continue
        jobs[job_id] = _job_info(fields)
    for job_id in twice:
        del jobs[job_id]
    rows = [(job_id, info.state, info.partition) for job_id, info in jobs.items()]
    return QueueSnapshot(jobs, pending_positions(rows))


@dataclass(frozen=True)
class SlurmConfig:
    """What the hub checks in a controller's configuration (``scontrol show config``).

    Attributes:
        accounting_tres: ``AccountingStorageTRES``, lower-cased.
        job_submit_plugins: ``JobSubmitPlugins``, lower-cased, without ``job_submit/``.
    """

    accounting_tres: frozenset[str]
    job_submit_plugins: frozenset[str]
    #: ``AccountingStorageEnforce``, lower-cased (reserved capacity needs ``limits``).
    enforce: frozenset[str] = frozenset()


def parse_config(text: str) -> SlurmConfig:
    """The settings of ``scontrol show config`` the hub checks (missing ones are empty)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()

    def items(key: str) -> frozenset[str]:
        raw = values.get(key, "")
        if raw.lower() in ("", "(null)", "none"):
            return frozenset()
        return frozenset(item.strip().lower() for item in raw.split(",") if item.strip())

    plugins = frozenset(p.removeprefix("job_submit/") for p in items("JobSubmitPlugins"))
    return SlurmConfig(items("AccountingStorageTRES"), plugins, items("AccountingStorageEnforce"))


#: How long a command killed on its timeout is waited for before its caller is told.
KILLED_WAIT_S = 5.0


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def run_argv(
    argv: Sequence[str],
    env: Mapping[str, str],
    limit_s: float,
    input_text: str | None = None,
) -> str:
    """Run argv and return stdout; :class:`SlurmUnavailableError` on timeout or no controller.

    The child never outlives the call: it is killed on timeout and when the caller is
    cancelled (a command whose effect must not be lost, sbatch, is shielded by its
    caller instead).
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(input_text.encode() if input_text is not None else None), limit_s
        )
    except TimeoutError:
        _kill(proc)
        # Python 3.11's wait() returns only once the child's pipes close: a killed
        # sudo's own child (sbatch) may hold them open, and the caller would never
        # hear of the timeout (seen with 300 sbatch at once). Bounded, too.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), KILLED_WAIT_S)
        raise SlurmUnavailableError(f"{argv[0]} did not answer within {limit_s:.0f} s") from None
    except asyncio.CancelledError:
        _kill(proc)
        raise
    stderr = err.decode(errors="replace").strip()
    if proc.returncode != 0:
        if _UNREACHABLE.search(stderr):
            raise SlurmUnavailableError(stderr)
        raise SlurmError(stderr or f"{argv[0]} exited with status {proc.returncode}")
    return out.decode(errors="replace")


class SlurmClient:
    """Slurm commands for the hubs of a registry, each with its hub's environment."""

    def __init__(
        self,
        registry: HubRegistry,
        bin_dir: str | None = None,
        *,
        availability_ttl_s: float = 10.0,
        queue_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self._bin_dir = bin_dir
        self._node_addr: dict[tuple[str, str], str] = {}
        self._ttl = availability_ttl_s
        self._clock = clock
        self._free: dict[str, tuple[float, dict[str, GpuAvailability] | SlurmError]] = {}
        self._queue: dict[str, tuple[float, int | SlurmError]] = {}
        self._queue_interval = queue_interval_s
        self._boards: dict[str, QueueBoard[QueueSnapshot[JobInfo]]] = {}
        self._accounting: dict[str, Coalescer[tuple[str, str, str], JobUsage | None]] = {}

    def now(self) -> float:
        """The client's clock (monotonic seconds): the ``not_before`` of :meth:`queued`."""
        return self._clock()

    def binary(self, name: str) -> str:
        """Absolute path of a Slurm client command."""
        if self._bin_dir:
            return f"{self._bin_dir}/{name}"
        return shutil.which(name) or f"/usr/bin/{name}"

    async def _run(
        self,
        hub: str,
        argv: Sequence[str],
        input_text: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> str:
        env = self.registry.command_env(hub)
        if extra_env:
            env.update(extra_env)
        env["SLURM_TIME_FORMAT"] = "%s"
        return await run_argv(argv, env, self.registry[hub].timeout_s, input_text)

    async def submit(self, hub: str, request: BatchRequest, job_env: Mapping[str, str]) -> str:
        """Submit a batch request; the job's environment passes through sudo by name.

        Cancelling this call kills sbatch, which may or may not have submitted the job:
        callers that must know (the spawner) shield it and let it finish.
        """
        out = await self._run(hub, request.argv, request.script, job_env)
        return parse_job_id(out)

    async def job(self, hub: str, job_id: str) -> JobInfo | None:
        """The job's state, node, name, limits and allocation; None when Slurm doesn't know it."""
        argv = [self.binary("squeue"), "-h", "-j", job_id, "-O", _format(_JOB_FIELDS)]
        out = await self._job_query(hub, argv)
        return None if out is None else parse_job(out, job_id)

    async def _job_query(self, hub: str, argv: list[str]) -> str | None:
        """``squeue -j``'s output; None when Slurm says it knows no such job."""
        try:
            return await self._run(hub, argv)
        except SlurmUnavailableError:
            raise
        except SlurmError as err:
            if _INVALID_JOB.search(str(err)):
                return None
            raise

    def board(self, hub: str) -> QueueBoard[QueueSnapshot[JobInfo]]:
        """The shared reads of ``hub``'s queue (one squeue per interval for every session)."""
        board = self._boards.get(hub)
        if board is None:
            argv = [self.binary("squeue"), "-h", "-t", "all", "--sort=-p,i"]
            argv += ["-O", _format(_JOB_FIELDS)]

            async def fetch() -> QueueSnapshot[JobInfo]:
                return parse_snapshot(await self._run(hub, argv))

            board = self._boards[hub] = QueueBoard(fetch, self._queue_interval, self._clock)
        return board

    async def queued(
        self,
        hub: str,
        job_id: str,
        not_before: float | None = None,
        max_age: float | None = None,
    ) -> tuple[JobInfo | None, int | None]:
        """A job as the hub's shared queue listing shows it, and its place if it waits.

        The listing is one ``squeue`` of the whole queue per interval, shared by every
        session of the hub (see ``queueboard.py``); ``not_before`` (the client's
        :meth:`now`) asks for a listing taken after it (a job submitted or cancelled
        since then shows as it is now); ``max_age`` lets a listing that old answer
        (:meth:`QueueBoard.get`). (None, None) when the queue does not list it.

        Raises:
            SlurmError: squeue failed (:class:`SlurmUnavailableError`: no answer).
        """
        snapshot = await self.board(hub).get(not_before, max_age)
        return snapshot.jobs.get(job_id), snapshot.positions.get(job_id)

    async def live_jobs(self, hub: str) -> list[QueuedJob]:
        """Every job in ``hub``'s queue that may run (again) whose name looks like a session.

        Ids are as squeue prints them (``123``, ``123_[0-1]``, ``125+0``): the caller
        decides which jobs are the platform's (see ``reconcile.plan``).
        """
        out = await self._run(
            hub, [self.binary("squeue"), "-h", "-t", "all", "-O", _format(_QUEUE_FIELDS)]
        )
        return [
            job
            for job in parse_queue(out)
            if job.name.startswith(JOB_NAME_PREFIX) and job.state not in FINAL_QUEUE_STATES
        ]

    async def jobs_named(self, hub: str, name: str) -> list[QueuedJob]:
        """Jobs in ``hub``'s queue (any state) named exactly ``name``."""
        out = await self._run(
            hub,
            [
                self.binary("squeue"),
                "-h",
                "-t",
                "all",
                f"--name={name}",
                "-O",
                _format(_QUEUE_FIELDS),
            ],
        )
        return [job for job in parse_queue(out) if job.name == name]

    async def cancel(self, hub: str, job_id: str) -> None:
        """Cancel a job (a job that already ended is not an error)."""
        if not job_id.isdigit():
            raise ValueError(f"not a plain job id: {job_id!r}")
        try:
            await self._run(hub, [self.binary("scancel"), job_id])
        except SlurmUnavailableError:
            raise
        except SlurmError as err:
            if not _INVALID_JOB.search(str(err)):
                raise

    async def node_address(self, hub: str, node: str) -> str:
        """The address the hub reaches a node at (its NodeAddr), cached."""
        key = (hub, node)
        if key not in self._node_addr:
            out = await self._run(hub, [self.binary("scontrol"), "-o", "show", "node", node])
            match = re.search(r"\bNodeAddr=(\S+)", out)
            self._node_addr[key] = match.group(1) if match else node
        return self._node_addr[key]

    async def gpu_availability(
        self, hub: str, *, fresh: bool = False
    ) -> dict[str, GpuAvailability]:
        """GPUs per type on ``hub`` and how many are free, cached for a few seconds.

        A controller that did not answer is remembered as long (one slow answer per
        period, not one per page). ``fresh`` asks now, and caches the answer.

        Raises:
            SlurmError: sinfo failed (:class:`SlurmUnavailableError`: no answer).
        """
        cached = self._free.get(hub)
        if not fresh and cached is not None and self._clock() - cached[0] < self._ttl:
            if isinstance(cached[1], SlurmError):
                raise cached[1]
            return cached[1]
        try:
            out = await self._run(hub, [self.binary("sinfo"), "-h", "-N", "-O", SINFO_FORMAT])
        except SlurmError as err:
            self._free[hub] = (self._clock(), err)
            raise
        free = parse_sinfo(out)
        self._free[hub] = (self._clock(), free)
        return free

    async def reserved_busy(self, hub: str, partitions: Sequence[str]) -> dict[str, int]:
        """GPUs per GRES type held by the jobs running in ``partitions`` (docs/capacity.md).

        Raises:
            SlurmError: squeue failed.
        """
        out = await self._run(
            hub,
            [
                self.binary("squeue"),
                "-h",
                "-t",
                "CF,R,CG",
                "-p",
                ",".join(partitions),
                "-O",
                BUSY_FORMAT,
            ],
        )
        return parse_busy(out)

    async def queue_length(self, hub: str) -> int:
        """How many jobs wait in ``hub``'s queue (every user's), cached as free GPUs are.

        Raises:
            SlurmError: squeue failed.
        """
        cached = self._queue.get(hub)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            if isinstance(cached[1], SlurmError):
                raise cached[1]
            return cached[1]
        try:
            out = await self._run(hub, [self.binary("squeue"), "-h", "-t", "PENDING", "-o", "%i"])
        except SlurmError as err:
            self._queue[hub] = (self._clock(), err)
            raise
        count = len(out.split())
        self._queue[hub] = (self._clock(), count)
        return count

    async def queue_position(self, hub: str, job_id: str, partition: str) -> int | None:
        """1-based place of a pending job among its partition's pending jobs by priority."""
        out = await self._run(
            hub,
            [self.binary("squeue"), "-h", "-t", "PD", "-p", partition, "-o", "%i", "--sort=-p,i"],
        )
        ids = out.split()
        return ids.index(job_id) + 1 if job_id in ids else None

    async def usage(self, hub: str, job_id: str, name: str, user: str) -> JobUsage | None:
        """Accounting of every run of the job ``job_id`` named ``name`` that ``user`` ran.

        ``--duplicates`` lists every run of the id (a requeued job, an id Slurm reused);
        only the runs of this session's job count (see ``accounting.session_usage``).
        Sessions asking at the same time (a stop storm) share ``sacct`` calls: those
        that ask while one runs go together in the next (:class:`queueboard.Coalescer`).
        """
        coalescer = self._accounting.get(hub)
        if coalescer is None:

            async def answer(
                sessions: list[tuple[str, str, str]],
            ) -> list[JobUsage | None]:
                return await self.usages(hub, sessions)

            coalescer = self._accounting[hub] = Coalescer(answer)
        return await coalescer.get((job_id, name, user))

    async def usages(
        self, hub: str, sessions: Sequence[tuple[str, str, str]]
    ) -> list[JobUsage | None]:
        """Accounting of many sessions' jobs, ``(job id, name, user)``, in few sacct calls.

        One ``sacct -j`` of every id (in chunks of :data:`SACCT_CHUNK`), each job's runs
        then read as :meth:`usage` reads one job's. In the order of ``sessions``.
        """
        chunks = [sessions[at : at + SACCT_CHUNK] for at in range(0, len(sessions), SACCT_CHUNK)]
        outs = await self.runs_of_chunks(
            hub, [sorted({job_id for job_id, _, _ in chunk}) for chunk in chunks], SACCT_FIELDS
        )
        found: list[JobUsage | None] = []
        for chunk, out in zip(chunks, outs, strict=True):
            found.extend(usages_of(parse_sacct(out), chunk))
        return found

    async def runs_of_chunks(
        self, hub: str, chunks: Sequence[Sequence[str]], fields: str
    ) -> list[str]:
        """``sacct``'s lines of ``fields`` for each chunk of job ids, in order.

        At most :data:`SACCT_PARALLEL` calls run at once (after an outage, thousands of
        ended jobs are read in a few calls that overlap, not one after another). The
        first that fails fails the whole read (the others are cancelled).
        """
        gate = asyncio.Semaphore(SACCT_PARALLEL)

        async def one(ids: Sequence[str]) -> str:
            async with gate:
                return await self._runs_of(hub, ids, fields)

        tasks = [asyncio.ensure_future(one(ids)) for ids in chunks]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    async def _runs_of(self, hub: str, job_ids: Sequence[str], fields: str) -> str:
        """``sacct``'s lines of ``fields`` for every run (``-D``) of ``job_ids``, any user's."""
        return await self._run(
            hub,
            [
                self.binary("sacct"),
                "-n",
                "-X",
                "-P",
                "-D",
                "--allusers",
                "-j",
                ",".join(job_ids),
                "-o",
                fields,
            ],
        )

    async def usage_by_name(
        self, hub: str, name: str, since: datetime, user: str
    ) -> JobUsage | None:
        """Accounting of ``user``'s first job named ``name`` submitted after ``since``.

        For a hold whose job id was never recorded: another user's job of that name
        (possible on a cluster without the guard) is never taken for it.
        """
        start = datetime.fromtimestamp(since.timestamp() - CLOCK_SKEW_S)  # the client's local time
        out = await self._run(
            hub,
            [
                self.binary("sacct"),
                "-n",
                "-X",
                "-P",
                "-D",
                "--allusers",
                f"--name={name}",
                "-S",
                start.strftime("%Y-%m-%dT%H:%M:%S"),
                "-E",
                "now",
                "-o",
                SACCT_FIELDS,
            ],
        )
        return session_usage(
            parse_sacct(out), job_id=None, name=name, user=user, since=int(since.timestamp())
        )

    async def start_time(
        self, hub: str, job_id: str, *, pending: bool
    ) -> tuple[str, int | None, int | None] | None:
        """A job's state, start (actual, or for a pending job Slurm's estimate, read with
        ``squeue --start``) and time limit (:func:`parse_start`); None when Slurm does
        not list it (a ``--start`` query lists only pending jobs).
        """
        argv = [self.binary("squeue"), "-h", "-j", job_id, "-o", "%i|%T|%S|%l"]
        if pending:
            argv.insert(2, "--start")
        out = await self._job_query(hub, argv)
        return None if out is None else parse_start(out, job_id)

    async def set_time_limit(self, hub: str, job_id: str, minutes: int) -> None:
        """Change a job's time limit (the funded time), as the cluster's admin."""
        await self._run(
            hub,
            [self.binary("scontrol"), "update", f"JobId={job_id}", f"TimeLimit={minutes}"],
        )

    async def config(self, hub: str) -> SlurmConfig:
        """What ``hub``'s controller is configured with (accounting TRES, job_submit plugins).

        Raises:
            SlurmUnavailableError: the controller did not answer, or the command is missing.
        """
        try:
            out = await self._run(hub, [self.binary("scontrol"), "show", "config"])
        except OSError as err:  # no such binary, or SLURM_CONF's directory unreadable
            raise SlurmUnavailableError(f"scontrol can't run: {err}") from None
        return parse_config(out)
