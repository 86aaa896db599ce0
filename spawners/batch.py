"""The batch request: sbatch's argv and the job script, built from validated values only.

A pure function, so that what reaches Slurm is tested with plain tables. No
value here is ever interpreted by a shell: argv goes to ``exec``, the script
contains only paths the operator configured.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from computehub.spawners.options import SessionRequest


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


@dataclass(frozen=True)
class BatchRequest:
    """What to run (argv, never a shell) and what to feed it on stdin."""

    argv: tuple[str, ...]
    script: str
    env_keys: tuple[str, ...]


def build_batch_request(
    req: SessionRequest, where: JobPlacement, env_keys: Sequence[str]
) -> BatchRequest:
    """sbatch argv (as the user, through sudo) and the job script for ``req``.

    Args:
        req: the validated session request.
        where: the hub-side placement facts.
        env_keys: names of the environment variables the job must receive (the
            spawner's environment); passed through sudo by name, so that values
            such as the API token never appear on a command line.
    """
    keys = tuple(sorted(set(env_keys) | {"SLURM_CONF"}))
    argv: list[str] = [
        where.sudo,
        "-n",
        "-u",
        where.username,
        f"--preserve-env={','.join(keys)}",
        where.sbatch,
        "--parsable",
        f"--job-name=jupyterhub-{req.hub}",
        f"--partition={where.partition}",
        f"--time={req.minutes}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={where.cpus}",
        f"--mem={where.memory_gb}G",
        f"--chdir={where.home}",
        f"--output={where.home}/.computehub-{req.hub}-%j.log",
        "--export=ALL",
    ]
    if req.gpu_type is not None:
        argv.append(f"--gres=gpu:{where.gres_type or req.gpu_type}:{req.gpus}")
    bindir = where.env_prefix / "bin"
    script = (
        "#!/bin/bash\n"
        f"# computehub notebook session on {req.hub} (generated; see spawners/batch.py)\n"
        "set -euo pipefail\n"
        f'export PATH={shlex.quote(str(bindir))}:"$PATH"\n'
        f"exec {shlex.quote(str(bindir / 'batchspawner-singleuser'))} "
        f"{shlex.quote(str(bindir / 'jupyterhub-singleuser'))}\n"
    )
    return BatchRequest(tuple(argv), script, keys)
