"""Is the job Slurm started the one its hold paid for? Pure comparison of squeue's view.

A pending job's owner can change it with ``scontrol update`` (more GPUs, another type
or partition) unless the cluster's job_submit.lua guard refuses it; the spawner checks
what Slurm allocated when the job starts and cancels a job that is not what was paid
for. A job may have less time than funded (Slurm lets owners lower a time limit), never
more.
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


def allocation_problem(info: JobInfo, expected: Expected) -> str | None:
    """Why the running job differs from what was paid for (for the log), or None."""
    if info.name != expected.name:
        return f"its name is {info.name!r}, not {expected.name!r}"
    if info.partition != expected.partition:
        return f"it runs in partition {info.partition!r}, not {expected.partition!r}"
    if info.minutes is None or info.minutes > expected.minutes:
        shown = "no time limit" if info.minutes is None else f"{info.minutes} min"
        return f"it has {shown}, more than the {expected.minutes} min funded"
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
