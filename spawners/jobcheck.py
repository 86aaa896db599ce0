"""Is the job Slurm started the one its hold paid for? Pure comparison of squeue's view.

A pending job's owner can change it with ``scontrol update`` (more GPUs, another type,
partition, CPUs or memory, exclusivity) unless the cluster's job_submit.lua guard
refuses it; the spawner checks the job when it starts and cancels one that is not what
was paid for. A job may have less time than funded (Slurm lets owners lower a time
limit), never more.

The GPU type is read from the GRES the job asks for per node (``tres-per-node``, e.g.
``gres:gpu:h100:1``): a typed request is allocated that type only, and Slurm shows it
even where accounting counts GPUs only as untyped ``gres/gpu`` (then ``tres-alloc``
gives the count, not the type).
"""

from __future__ import annotations

from dataclasses import dataclass

from computehub.spawners.slurmclient import JobInfo


@dataclass(frozen=True)
class Expected:
    """What the hold paid for."""

    name: str
    partition: str
    #: The funded time limit, minutes.
    minutes: int
    #: GRES type and count of the GPUs or slices; None and 0 for a CPU-only session.
    gres_type: str | None
    gpus: int
    #: CPUs per task and memory per node (MB) the session asked for (None: not checked).
    cpus: int | None = None
    memory_mb: int | None = None


def _gres_problem(info: JobInfo, expected: Expected) -> str | None:
    wanted = f"gpu:{expected.gres_type}:{expected.gpus}" if expected.gres_type else ""
    if info.gres.lower() == wanted.lower():
        return None
    if not wanted:
        return f"a CPU-only session asks for {info.gres}"
    return f"it asks for {info.gres or 'no GPUs'}, not {wanted}"


def allocation_problem(info: JobInfo, expected: Expected) -> str | None:
    """Why the running job differs from what was paid for (for the log), or None."""
    if info.name != expected.name:
        return f"its name is {info.name!r}, not {expected.name!r}"
    if info.partition != expected.partition:
        return f"it runs in partition {info.partition!r}, not {expected.partition!r}"
    if info.minutes is None or info.minutes > expected.minutes:
        shown = "no time limit" if info.minutes is None else f"{info.minutes} min"
        return f"it has {shown}, more than the {expected.minutes} min funded"
    if info.exclusive:
        return "it may have its node to itself (exclusive)"
    if expected.cpus is not None and info.cpus != expected.cpus:
        return f"it has {info.cpus} CPUs per task, not {expected.cpus}"
    if expected.memory_mb is not None and info.memory_mb != expected.memory_mb:
        return f"it has {info.memory_mb} MB of memory, not {expected.memory_mb}"
    if (problem := _gres_problem(info, expected)) is not None:
        return problem
    if expected.gres_type is None:
        if info.gpus or info.gpus_any:
            return f"a CPU-only session was given GPUs ({dict(info.gpus)}, {info.gpus_any})"
        return None
    other = {t: n for t, n in info.gpus.items() if t != expected.gres_type.lower() and n}
    if other:
        return f"it was given other GPUs: {other}"
    typed = info.gpus.get(expected.gres_type.lower())
    count = typed if typed is not None else info.gpus_any
    if count != expected.gpus:
        return f"it was given {count} {expected.gres_type} GPUs, not the {expected.gpus} paid for"
    return None
