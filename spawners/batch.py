"""The batch request: sbatch's argv and the job script, built from validated values only.

A pure function, so that what reaches Slurm is tested with plain tables. No
value here is ever interpreted by a shell: argv goes to ``exec``, the script
contains only paths the operator configured.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from computehub.spawners.containers import ContainerLaunch, launch_line, launch_words
from computehub.spawners.jobticket import JobClaim
from computehub.spawners.options import SessionRequest

#: Every notebook job's name starts with this; the full name is :func:`job_name`.
JOB_NAME_PREFIX = "jupyterhub-"
_JOB_NAME = re.compile(r"jupyterhub-([a-z][a-z0-9-]{0,30})-([1-9][0-9]{0,17})")


def job_name(hub: str, hold_id: int) -> str:
    """The name of the job a hold pays for: ``jupyterhub-<hub>-<hold id>``.

    The hold is placed before sbatch runs, so the name ties a job to its hold from the
    moment it exists: a hub that dies before it records the job id, or a reused job id,
    can't lose or confuse it.
    """
    return f"{JOB_NAME_PREFIX}{hub}-{hold_id}"


def hold_of_job_name(hub: str, name: str) -> int | None:
    """The hold id in a platform job's name on ``hub``; None for any other name."""
    match = _JOB_NAME.fullmatch(name)
    if match is None or match.group(1) != hub:
        return None
    return int(match.group(2))


@dataclass(frozen=True)
class JobPlacement:
    """Where and how big: the hub-side facts the request needs besides the user's choice."""

    username: str
    home: PurePosixPath
    partition: str
    cpus: int
    memory_gb: int
    env_prefix: PurePosixPath
    sbatch: str = "sbatch"
    sudo: str = "sudo"
    #: The Slurm GRES type of the chosen GPUs or MIG slices (default: the GPU type).
    gres_type: str | None = None
    #: The user's uid (what a job ticket names).
    uid: int = 0
    #: Run the server inside an image through the cluster's runtime (``env_prefix`` is
    #: then the environment's prefix inside the image); None: straight from the prefix.
    container: ContainerLaunch | None = None


@dataclass(frozen=True)
class BatchRequest:
    """What to run (argv, never a shell) and what to feed it on stdin."""

    argv: tuple[str, ...]
    script: str
    env_keys: tuple[str, ...]


def build_batch_request(
    req: SessionRequest,
    where: JobPlacement,
    env_keys: Sequence[str],
    *,
    hold_id: int,
    ticket: Callable[[JobClaim], str] | None = None,
) -> BatchRequest:
    """sbatch argv (as the user, through sudo) and the job script for ``req``.

    The job is never requeued (``--no-requeue``): a requeued job would run again on a
    fresh time limit that no hold pays for.

    Args:
        req: the validated session request.
        where: the hub-side placement facts.
        env_keys: names of the environment variables the job must receive (the
            spawner's environment); passed through sudo by name, so that values
            such as the API token never appear on a command line.
        hold_id: the hold that pays for the job (its name carries it).
        ticket: signs what the job asks for (see ``jobticket.py``), for clusters whose
            ``job_submit.lua`` guard admits only the portal's jobs. The ticket becomes
            the job's comment through an ``#SBATCH`` line of the script (read from
            stdin), so it is on no command line that other users could see.
    """
    keys = tuple(sorted(set(env_keys) | {"SLURM_CONF"}))
    name = job_name(req.hub, hold_id)
    gres = f"gpu:{where.gres_type or req.gpu_type}:{req.gpus}" if req.gpu_type else ""
    argv: list[str] = [
        where.sudo,
        "-n",
        "-u",
        where.username,
        f"--preserve-env={','.join(keys)}",
        where.sbatch,
        "--parsable",
        f"--job-name={name}",
        f"--partition={where.partition}",
        f"--time={req.minutes}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={where.cpus}",
        f"--mem={where.memory_gb}G",
        f"--chdir={where.home}",
        f"--output={where.home}/.computehub-{req.hub}-%j.log",
        "--export=ALL",
        "--no-requeue",
    ]
    if gres:
        argv.append(f"--gres={gres}")
    directives = ""
    if ticket is not None:
        claim = JobClaim(
            cluster=req.hub,
            uid=where.uid,
            name=name,
            partition=where.partition,
            minutes=req.minutes,
            gres=gres,
            cpus=where.cpus,
            memory_mb=where.memory_gb * 1024,
        )
        directives = f"#SBATCH --comment={ticket(claim)}\n"
    bindir = where.env_prefix / "bin"
    server = [str(bindir / "batchspawner-singleuser"), str(bindir / "jupyterhub-singleuser")]
    if where.container is not None:
        server = [
            *launch_words(where.container, home=where.home, gpus=bool(gres), cpus=where.cpus),
            *server,
        ]
    script = (
        "#!/bin/bash\n"
        + directives
        + f"# computehub notebook session on {req.hub} (generated; see spawners/batch.py)\n"
        "set -euo pipefail\n"
        f'export PATH={shlex.quote(str(bindir))}:"$PATH"\n'
        f"exec {launch_line(server)}\n"
    )
    return BatchRequest(tuple(argv), script, keys)
