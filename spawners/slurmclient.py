"""The one place that talks to Slurm: async, argv only (no shell), a timeout on every call."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from computehub.spawners.accounting import SACCT_FIELDS, JobUsage, parse_sacct
from computehub.spawners.availability import SINFO_FORMAT, GpuAvailability, parse_sinfo
from computehub.spawners.batch import BatchRequest
from computehub.spawners.registry import HubRegistry

_JOB_ID = re.compile(r"^([0-9]{1,12})(?:;[A-Za-z0-9_.-]+)?$")
#: What Slurm clients print when the controller does not answer.
_UNREACHABLE = re.compile(
    r"Socket timed out|Unable to contact slurm controller|Connection refused|"
    r"Transport endpoint|Zero Bytes were transmitted"
)
_INVALID_JOB = re.compile(r"Invalid job id specified")


class SlurmError(RuntimeError):
    """A Slurm command failed; ``message`` is Slurm's own words."""


class SlurmUnavailableError(SlurmError):
    """The hub's Slurm controller did not answer: state unknown, change nothing."""


@dataclass(frozen=True)
class JobInfo:
    """A job as squeue shows it."""

    state: str
    node: str
    reason: str


def parse_job_id(output: str) -> str:
    """The job id from ``sbatch --parsable`` (last line: ``ID`` or ``ID;cluster``)."""
    lines = output.strip().splitlines()
    match = _JOB_ID.match(lines[-1].strip()) if lines else None
    if match is None:
        raise SlurmError(f"sbatch printed no job id: {output.strip()[:200]!r}")
    return match.group(1)


async def run_argv(
    argv: Sequence[str],
    env: Mapping[str, str],
    limit_s: float,
    input_text: str | None = None,
) -> str:
    """Run argv and return stdout; :class:`SlurmUnavailableError` on timeout or no controller."""
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
        proc.kill()
        await proc.wait()
        raise SlurmUnavailableError(f"{argv[0]} did not answer within {limit_s:.0f} s") from None
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self._bin_dir = bin_dir
        self._node_addr: dict[tuple[str, str], str] = {}
        self._ttl = availability_ttl_s
        self._clock = clock
        self._free: dict[str, tuple[float, dict[str, GpuAvailability]]] = {}

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
        return await run_argv(argv, env, self.registry[hub].timeout_s, input_text)

    async def submit(self, hub: str, request: BatchRequest, job_env: Mapping[str, str]) -> str:
        """Submit a batch request; the job's environment passes through sudo by name."""
        out = await self._run(hub, request.argv, request.script, job_env)
        return parse_job_id(out)

    async def job(self, hub: str, job_id: str) -> JobInfo | None:
        """The job's state and node, or None when Slurm no longer knows it."""
        try:
            out = await self._run(
                hub, [self.binary("squeue"), "-h", "-j", job_id, "-o", "%T|%B|%r"]
            )
        except SlurmUnavailableError:
            raise
        except SlurmError as err:
            if _INVALID_JOB.search(str(err)):
                return None
            raise
        line = out.strip().splitlines()[0] if out.strip() else ""
        if not line:
            return None
        state, node, reason = [*line.split("|"), "", ""][:3]
        return JobInfo(state.strip(), node.strip(), reason.strip())

    async def cancel(self, hub: str, job_id: str) -> None:
        """Cancel a job (a job that already ended is not an error)."""
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

    async def gpu_availability(self, hub: str) -> dict[str, GpuAvailability]:
        """GPUs per type on ``hub`` and how many are free, cached for a few seconds."""
        cached = self._free.get(hub)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        out = await self._run(hub, [self.binary("sinfo"), "-h", "-N", "-O", SINFO_FORMAT])
        free = parse_sinfo(out)
        self._free[hub] = (self._clock(), free)
        return free

    async def queue_position(self, hub: str, job_id: str, partition: str) -> int | None:
        """1-based place of a pending job among its partition's pending jobs by priority."""
        out = await self._run(
            hub,
            [self.binary("squeue"), "-h", "-t", "PD", "-p", partition, "-o", "%i", "--sort=-p,i"],
        )
        ids = out.split()
        return ids.index(job_id) + 1 if job_id in ids else None

    async def usage(self, hub: str, job_id: str) -> JobUsage | None:
        """The job's accounting record (elapsed time, allocated GPUs), if slurmdbd has it."""
        out = await self._run(
            hub, [self.binary("sacct"), "-n", "-X", "-P", "-j", job_id, "-o", SACCT_FIELDS]
        )
        return parse_sacct(out)

    async def set_time_limit(self, hub: str, job_id: str, minutes: int) -> None:
        """Change a job's time limit (the funded time), as the cluster's admin."""
        await self._run(
            hub,
            [self.binary("scontrol"), "update", f"JobId={job_id}", f"TimeLimit={minutes}"],
        )

    async def live_jobs(self, hub: str, name_prefix: str) -> dict[str, datetime]:
        """Jobs still queued or running on ``hub`` whose name has the prefix: id → submitted.

        Slurm prints submit times in the controller's local time; they are read as UTC
        (the hubs' controllers run in UTC, as this bed's do).
        """
        out = await self._run(
            hub, [self.binary("squeue"), "-h", "-o", "%i|%j|%V", "-t", "PD,CF,R,CG,S"]
        )
        jobs: dict[str, datetime] = {}
        for line in out.splitlines():
            job_id, name, submitted = ([*line.split("|"), "", ""])[:3]
            if not name.startswith(name_prefix):
                continue
            try:
                jobs[job_id.strip()] = datetime.fromisoformat(submitted.strip()).replace(tzinfo=UTC)
            except ValueError:
                jobs[job_id.strip()] = datetime.now(UTC)  # unknown: treat as just submitted
        return jobs
