"""What a job really used, from Slurm accounting (``sacct``). Pure parsing.

The client runs ``sacct -n -X -P -D --allusers -j ID -o`` :data:`SACCT_FIELDS` with
``SLURM_TIME_FORMAT=%s`` (times as epoch seconds, whatever the controller's time zone),
which prints one line per *run* of every job that had this id (the name last: it is
the one free-form field)::

    7|REQUEUED|5|billing=1,cpu=1,gres/gpu:h100=1,gres/gpu=1,node=1|1002|bob|1796393480|1796393481|1796393489|jupyterhub-lahore-12
    7|COMPLETED|3600|cpu=1,gres/gpu=1,node=1|1002|bob|1796393489|1796393519|1796397119|jupyterhub-lahore-12

``-D`` (``--duplicates``) lists every run: a requeued job has one record per run, and a
job id that Slurm reused (a controller whose state was reset, ``MaxJobId`` wrapping)
has the old job's records too. A session is therefore settled from the runs whose name
(``jupyterhub-<hub>-<hold id>``, one hold's only) and user are its own
(:func:`session_usage`); a job looked up by name alone must also have been submitted
after its hold was placed.

GPU counts come from AllocTRES, typed (``gres/gpu:h100=2``, any case: ``gres/gpu:H100``)
or untyped (``gres/gpu=2``, when Slurm tracks only that); see :meth:`JobRun.units`.
slurmdbd may first store a finished job with uid 0 and an empty TRES and fill them in a
moment later, so a run is only *final* once its uid is set and it has an end time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

SACCT_FIELDS = "JobID,State,ElapsedRaw,AllocTRES,UID,User,Submit,Start,End,JobName"
#: The fields of a job's energy as the node's epilog recorded it (the free text last).
ENERGY_FIELDS = "JobID,User,Submit,AdminComment"
#: States of a run that still runs or may run: not final.
LIVE_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "SUSPENDED",
        "COMPLETING",
        "CONFIGURING",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
    }
)
_TYPED_GPU = re.compile(r"^gres/gpu:([^=]+)=(\d{1,6})$")
_UNTYPED_GPU = re.compile(r"^gres/gpu=(\d{1,6})$")
SECONDS_PER_HOUR = Decimal(3600)
#: The ledger keeps resource-hours to 4 decimal places (0.36 s).
HOURS_STEP = Decimal("0.0001")
#: How far the hub's clock and a controller's may disagree when a job's submit time is
#: compared with its hold's creation (the hold is always placed before sbatch). Only a
#: job found by its name alone is compared so; the spawner alerts when a controller's
#: clock is off by more than half of this (measured at each submission).
CLOCK_SKEW_S = 120


def gpu_tres(alloc: str) -> tuple[dict[str, int], int | None]:
    """GPU counts in a TRES string: typed counts by lower-cased type, and the untyped one.

    >>> gpu_tres("cpu=1,gres/gpu:H100=2,gres/gpu=2")
    ({'h100': 2}, 2)
    """
    typed: dict[str, int] = {}
    untyped: int | None = None
    for item in alloc.split(","):
        if "gpu" not in item:  # most items (cpu=, mem=, node=, billing=): no match possible
            continue
        item = item.strip()
        if match := _TYPED_GPU.match(item):
            typed[match.group(1).lower()] = typed.get(match.group(1).lower(), 0) + int(
                match.group(2)
            )
        elif match := _UNTYPED_GPU.match(item):
            untyped = int(match.group(1))
    return typed, untyped


def _epoch(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


@dataclass(frozen=True)
class JobRun:
    """One run of a job, as one line of ``sacct -X -D`` shows it."""

    job_id: str
    name: str
    state: str
    elapsed_s: int
    #: Typed GPU counts from AllocTRES, by lower-cased GRES type.
    gpus: Mapping[str, int] = field(default_factory=dict)
    #: The untyped ``gres/gpu`` count, or None when AllocTRES has none.
    gpus_any: int | None = None
    uid: int = 0
    submitted: int | None = None
    ended: int | None = None
    #: The user the run ran as.
    user: str = ""
    #: When the run started (None: not yet, or never).
    started: int | None = None

    @property
    def live(self) -> bool:
        """Whether accounting says the run is still running or may run (pending...)."""
        return self.state in LIVE_STATES

    @property
    def final(self) -> bool:
        """Whether the run is over and its record complete (uid and end time set)."""
        return (
            bool(self.state)
            and self.state not in LIVE_STATES
            and self.uid != 0
            and self.ended is not None
        )

    def units(self, gres_type: str) -> int | None:
        """GPUs (or MIG slices) of ``gres_type`` the run had; None when AllocTRES doesn't say.

        A typed count is exact. Without any typed count, the untyped ``gres/gpu`` count is
        the session's: a session asks for one GRES type only. A typed count for another
        type only is no count of this one.
        """
        typed = self.gpus.get(gres_type.lower())
        if typed is not None:
            return typed
        if not self.gpus and self.gpus_any is not None:
            return self.gpus_any
        return None


def parse_sacct(output: str) -> list[JobRun]:
    """Every well-formed line of ``sacct -n -X -P -D -o SACCT_FIELDS``; others are skipped."""
    runs: list[JobRun] = []
    count = len(SACCT_FIELDS.split(","))
    for line in output.splitlines():
        parts = line.split("|", count - 1)
        if len(parts) != count:
            continue
        job_id, state_text, elapsed, alloc, uid, user, submitted, started, ended, name = parts
        state = state_text.split()[0] if state_text.strip() else ""
        try:
            elapsed_s = int(elapsed or 0)
            uid_n = int(uid or 0)
        except ValueError:
            continue
        typed, untyped = gpu_tres(alloc)
        runs.append(
            JobRun(
                job_id=job_id.strip(),
                name=name.strip(),
                state=state,
                elapsed_s=elapsed_s,
                gpus=typed,
                gpus_any=untyped,
                uid=uid_n,
                submitted=_epoch(submitted),
                ended=_epoch(ended),
                user=user.strip(),
                started=_epoch(started),
            )
        )
    return runs


@dataclass(frozen=True)
class JobUsage:
    """What one session's job used: all its runs (a requeued job has several)."""

    runs: tuple[JobRun, ...]

    @property
    def job_id(self) -> str:
        return self.runs[-1].job_id if self.runs else ""

    @property
    def state(self) -> str:
        """The state of the last run."""
        return self.runs[-1].state if self.runs else ""

    @property
    def elapsed_s(self) -> int:
        """Seconds run, over all runs."""
        return sum(run.elapsed_s for run in self.runs)

    @property
    def live(self) -> bool:
        """Whether accounting says a run still runs or may run (pending, running...)."""
        return any(run.live for run in self.runs)

    @property
    def started(self) -> int | None:
        """When the latest run that started did (epoch seconds); None if none started."""
        starts = [run.started for run in self.runs if run.started]
        return max(starts) if starts else None

    @property
    def requeued(self) -> bool:
        """Whether the job was requeued: more than one run, or a run that was."""
        return len(self.runs) > 1 or any(run.state == "REQUEUED" for run in self.runs)

    @property
    def final(self) -> bool:
        """Whether every run accounting has is over and its record complete.

        A job whose last run was requeued has final runs but may run again: see
        :attr:`complete`.
        """
        return bool(self.runs) and all(run.final for run in self.runs)

    @property
    def complete(self) -> bool:
        """Whether every run is final and the job won't run again (not just requeued).

        (A requeued job cancelled while it was still completing its run gets no record
        of the cancel: its last run stays REQUEUED. Only the queue, which lists it as
        CANCELLED for a while, then says that it ended.)
        """
        return self.final and self.runs[-1].state != "REQUEUED"

    def unaccounted(self, resource: str, gres_type: str | None) -> list[JobRun]:
        """Runs that ran with GPUs that accounting does not count (settled as requested)."""
        if resource == "cpu":
            return []
        gres = gres_type or resource.removeprefix("gpu:")
        return [run for run in self.runs if run.elapsed_s > 0 and not run.units(gres)]

    def resource_hours(
        self, resource: str, gres_type: str | None = None, requested: int = 0
    ) -> dict[str, Decimal]:
        """Resource-hours to charge for ``resource``, over every run.

        Args:
            resource: ``gpu:TYPE``, ``mig:TYPE:PROFILE`` or ``cpu``.
            gres_type: the Slurm GRES type the GPUs or slices were allocated as
                (default for ``gpu:TYPE``: TYPE).
            requested: the count the session asked for (and its hold paid for); a run
                that ran while accounting counts none of its GPUs is charged this count,
                never 0 (see :meth:`unaccounted`, which callers log as an error).
        """
        seconds = 0
        for run in self.runs:
            if resource == "cpu":
                units = 1
            else:
                units = run.units(gres_type or resource.removeprefix("gpu:")) or 0
                if units == 0 and run.elapsed_s > 0:
                    units = requested
            seconds += run.elapsed_s * units
        used = Decimal(seconds) / SECONDS_PER_HOUR
        return {resource: used.quantize(HOURS_STEP, rounding=ROUND_HALF_UP)}


def session_usage(
    runs: Iterable[JobRun], *, job_id: str | None, name: str, user: str, since: int
) -> JobUsage | None:
    """The runs of one session's job: its name and user, and its id if known.

    The name (``jupyterhub-<hub>-<hold id>``) is one hold's only, so a job with the
    session's id, name and user is the session's whatever the clocks say. A job looked
    up by name alone must also have been submitted after the hold was placed (give or
    take :data:`CLOCK_SKEW_S`): an older one is an earlier job's that had this name.

    Args:
        runs: sacct's lines for the job id (or the job name).
        job_id: the job's id; None to take any id (a job found by its name).
        name: the job's name (``jupyterhub-<hub>-<hold id>``).
        user: who placed the hold (the job runs as them); other users' runs are not it.
            A run recorded with uid 0 is kept: slurmdbd fills its user in a moment
            later, and until then it makes the usage incomplete (never charged from).
        since: when the hold was placed (epoch seconds), for a job found by its name.

    Returns:
        The session's usage, or None when accounting has no run of it yet.
    """
    mine = [
        run
        for run in runs
        if run.name == name
        and (run.user == user or run.uid == 0)  # uid 0: a record still being filled in
        and (
            run.job_id == job_id
            if job_id is not None
            else run.submitted is not None and run.submitted >= since - CLOCK_SKEW_S
        )
    ]
    if not mine:
        return None
    if job_id is None:  # by name: the runs of the first job submitted for this hold
        first = min(mine, key=lambda run: run.submitted or 0).job_id
        mine = [run for run in mine if run.job_id == first]
    mine.sort(key=lambda run: (run.submitted or 0, run.ended or 2**62))
    return JobUsage(tuple(mine))


def funded_end(usage: JobUsage | None, placed: datetime, hours: Decimal) -> datetime | None:
    """When a session's job must have ended, its time limit being the funded ``hours``.

    Counted from the start of its latest run that started (pending time is free and not
    limited); from when its hold was ``placed`` when accounting shows no run that
    started. None while accounting shows a run waiting to start (pending, requeued):
    a pending job may wait for days, and is never taken for ended.

    A job gone from the queue whose accounting is not final past this moment (plus a
    margin) has a stale record: the time limit would have ended it (e.g. a controller
    that lost its state leaves its jobs "running" in accounting).
    """
    if usage is not None and any(run.live and not run.started for run in usage.runs):
        return None  # pending, or requeued and waiting to run again
    started = usage.started if usage is not None else None
    anchor = datetime.fromtimestamp(started, UTC) if started is not None else placed
    return anchor + timedelta(hours=float(hours))


def clock_skew(submitted: int, before: float, after: float) -> int:
    """How far a controller's clock is from ours, from a job's submit time (epoch s).

    ``before`` and ``after`` are our clock around the sbatch that submitted it; Slurm
    prints whole seconds. Positive: the controller's clock is ahead.
    """
    if submitted > after + 1:
        return round(submitted - after)
    if submitted < before - 1:
        return round(submitted - before)
    return 0
