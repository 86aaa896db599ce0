"""Whether each hub's Slurm can keep its sessions honest (checked at hub start).

A GPU session is charged from the GPU count in Slurm's accounting record (``AllocTRES``);
Slurm records a GRES there only if ``AccountingStorageTRES`` lists it: ``gres/gpu``
(GPUs of any type) or ``gres/gpu:TYPE`` (GPUs requested with that type; MIG slices are a
GRES type of their own). A hub that sells ``gpu:h100`` needs one of them, or every
session would be charged its requested count only (see ``accounting.py``).

A hub with a job ticket key relies on the cluster's ``job_submit.lua`` guard: its
controller must run ``JobSubmitPlugins=lua``, or nothing stops users from submitting
to its GPU partitions directly, changing a pending session or requeueing it. A hub that
sells GPUs without a key runs unguarded: only with ``slurm.unguarded: true`` in the
site file, which says so.

A hub that reserves GPUs (docs/capacity.md) relies on Slurm enforcing the QOS that caps
the unreserved ones: ``AccountingStorageEnforce`` must include ``limits`` and ``qos``.

:func:`hub_problems` reads each controller through :class:`SlurmClient` (the one reader
of ``scontrol show config``); the rest is pure.
"""

from __future__ import annotations

from computehub.spawners.registry import HubEntry, HubRegistry
from computehub.spawners.slurmclient import SlurmClient, SlurmConfig, SlurmError


def accepted_tres(gres_type: str) -> tuple[str, str]:
    """The TRES that count GPUs of ``gres_type``: the typed one, then the untyped one."""
    return f"gres/gpu:{gres_type.lower()}", "gres/gpu"


def sells_gpus(hub: HubEntry) -> bool:
    """Whether any of the hub's rates is for GPUs or MIG slices."""
    return any(hub.gres_type(resource) for resource in hub.rates)


def missing_tres(hub: HubEntry, tracked: set[str] | frozenset[str]) -> list[tuple[str, str]]:
    """(rate, TRES to add) for each GPU rate of ``hub`` that Slurm does not account."""
    missing = []
    for resource in sorted(hub.rates):
        gres = hub.gres_type(resource)
        if gres is None:
            continue  # cpu: charged by the session's elapsed time, no TRES needed
        if not set(accepted_tres(gres)) & tracked:
            missing.append((resource, accepted_tres(gres)[0]))
    return missing


def _conf(hub: HubEntry) -> str:
    return hub.slurm_env.get("SLURM_CONF", "slurm.conf")


def tres_problem(hub: HubEntry, tracked: set[str] | frozenset[str]) -> str | None:
    """One line naming the first missing ``AccountingStorageTRES`` entry, or None."""
    missing = missing_tres(hub, tracked)
    if not missing:
        return None
    resource, entry = missing[0]
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return (
        f"hub {hub.name}: Slurm does not account {entry}, which the rate {resource} charges "
        f"for{more}: add {entry} (or gres/gpu) to AccountingStorageTRES in {_conf(hub)}"
    )


def guard_problem(hub: HubEntry, config: SlurmConfig) -> str | None:
    """Why a hub with a ticket key can't rely on its cluster's guard, or None."""
    if hub.ticket_key_file is None or "lua" in config.job_submit_plugins:
        return None
    return (
        f"hub {hub.name} has a job ticket key, but its Slurm does not run the job_submit.lua "
        f"guard: set JobSubmitPlugins=lua in {_conf(hub)} (see hub_config/slurm/job_submit.lua)"
    )


def unguarded_problem(hub: HubEntry) -> str | None:
    """Why a hub that sells GPUs may not start without a guard, or None.

    Without the guard, a session's owner can requeue its job again and again (each run
    gets a fresh time limit), change it while it waits, or submit to the GPU partitions
    directly. A site that accepts that says ``slurm.unguarded: true``.
    """
    if hub.ticket_key_file is not None or hub.unguarded or not sells_gpus(hub):
        return None
    return (
        f"hubs.{hub.name}.slurm: a hub that sells GPUs needs its cluster's job_submit.lua "
        "guard: give job_ticket_key_file (see hub_config/slurm/computehub-guard.conf), or "
        "set unguarded: true to run without it (unsafe: users can then requeue and change "
        "their sessions' jobs and use its GPU partitions directly)"
    )


def config_problems(hub: HubEntry, config: SlurmConfig) -> list[str]:
    """What a hub's controller configuration lacks (accounting TRES, the guard)."""
    problems = []
    if sells_gpus(hub) and (tres := tres_problem(hub, config.accounting_tres)) is not None:
        problems.append(tres)
    if (guard := guard_problem(hub, config)) is not None:
        problems.append(guard)
    return problems


def capacity_problem(hub: HubEntry, reserved: bool, config: SlurmConfig) -> str | None:
    """Why Slurm would not hold a hub's reserved GPUs (docs/capacity.md), or None.

    The cap on the unreserved GPUs is a QOS limit, which Slurm enforces only with
    ``AccountingStorageEnforce=limits``; ``qos`` keeps users from naming another QOS.
    """
    if not reserved or {"limits", "qos"} <= config.enforce:
        return None
    return (
        f"hub {hub.name} reserves GPUs, but its Slurm does not enforce QOS limits: set "
        f"AccountingStorageEnforce=associations,limits,qos in {_conf(hub)} "
        "(see docs/capacity.md)"
    )


async def hub_problems(registry: HubRegistry, client: SlurmClient, name: str) -> list[str]:
    """What stops ``name`` from running sessions safely: no guard where GPUs are sold
    (decided from the site file alone), or what its controller's configuration lacks.

    Raises:
        SlurmError: the controller did not answer (or SLURM_CONF is missing).
    """
    hub = registry[name]
    if (unguarded := unguarded_problem(hub)) is not None:
        return [unguarded]
    if not sells_gpus(hub) and hub.ticket_key_file is None:
        return []  # nothing to account, no guard to rely on
    config = await client.config(name)
    problems = config_problems(hub, config)
    reserved = bool(registry.site.hubs[name].reservations)
    if (capacity := capacity_problem(hub, reserved, config)) is not None:
        problems.append(capacity)
    return problems


async def check_hubs(registry: HubRegistry, client: SlurmClient) -> tuple[list[str], list[str]]:
    """Check every hub (see :func:`hub_problems`).

    Returns:
        (problems, unreachable): one line per thing a hub lacks, and one per hub whose
        controller did not answer (its sessions are checked before they start instead).
    """
    problems: list[str] = []
    unreachable: list[str] = []
    for name in registry.names():
        try:
            problems += await hub_problems(registry, client, name)
        except SlurmError as err:
            unreachable.append(f"hub {name}: scontrol show config failed ({err})")
    return problems, unreachable
