"""Whether each hub's Slurm accounts the TRES its rates charge for (checked at hub start).

A GPU session is charged from the GPU count in Slurm's accounting record (``AllocTRES``);
Slurm records a GRES there only if ``AccountingStorageTRES`` lists it: ``gres/gpu``
(GPUs of any type) or ``gres/gpu:TYPE`` (GPUs requested with that type; MIG slices are a
GRES type of their own). A hub that sells ``gpu:h100`` needs one of them, or every
session would be charged its requested count only (see ``accounting.py``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from computehub.spawners.registry import HubEntry, HubRegistry
from computehub.spawners.slurmclient import parse_accounting_tres


def accepted_tres(gres_type: str) -> tuple[str, str]:
    """The TRES that count GPUs of ``gres_type``: the typed one, then the untyped one."""
    return f"gres/gpu:{gres_type.lower()}", "gres/gpu"


def missing_tres(hub: HubEntry, tracked: set[str]) -> list[tuple[str, str]]:
    """(rate, TRES to add) for each GPU rate of ``hub`` that Slurm does not account."""
    missing = []
    for resource in sorted(hub.rates):
        gres = hub.gres_type(resource)
        if gres is None:
            continue  # cpu: charged by the session's elapsed time, no TRES needed
        if not set(accepted_tres(gres)) & tracked:
            missing.append((resource, accepted_tres(gres)[0]))
    return missing


def tres_problem(hub: HubEntry, tracked: set[str]) -> str | None:
    """One line naming the first missing ``AccountingStorageTRES`` entry, or None."""
    missing = missing_tres(hub, tracked)
    if not missing:
        return None
    resource, entry = missing[0]
    where = hub.slurm_env.get("SLURM_CONF", "slurm.conf")
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return (
        f"hub {hub.name}: Slurm does not account {entry}, which the rate {resource} charges "
        f"for{more}: add {entry} (or gres/gpu) to AccountingStorageTRES in {where}"
    )


def check_accounting_tres(
    registry: HubRegistry, scontrol: str, timeout_s: float | None = None
) -> tuple[list[str], list[str]]:
    """Ask every hub's controller what it accounts.

    Args:
        registry: the hubs.
        scontrol: the scontrol binary.
        timeout_s: per hub (default: the hub's ``slurm.timeout_s``).

    Returns:
        (problems, unreachable): one line per hub that lacks a TRES, and one per hub
        whose controller did not answer (checked again by nobody: say so in the log).
    """
    problems: list[str] = []
    unreachable: list[str] = []
    for name in registry.names():
        hub = registry[name]
        if not any(hub.gres_type(resource) for resource in hub.rates):
            continue  # no GPU rates: nothing to account
        env: Mapping[str, str] = registry.command_env(name)
        conf = hub.slurm_env.get("SLURM_CONF")
        if conf is not None and not Path(conf).exists():
            unreachable.append(f"hub {name}: {conf} does not exist on this host")
            continue
        try:
            proc = subprocess.run(  # noqa: S603 (argv from the operator's configuration)
                [scontrol, "show", "config"],
                env=dict(env),
                capture_output=True,
                text=True,
                timeout=timeout_s or hub.timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            unreachable.append(f"hub {name}: scontrol show config failed ({err})")
            continue
        if proc.returncode != 0:
            unreachable.append(f"hub {name}: scontrol show config failed ({proc.stderr.strip()})")
            continue
        problem = tres_problem(hub, parse_accounting_tres(proc.stdout))
        if problem is not None:
            problems.append(problem)
    return problems, unreachable
