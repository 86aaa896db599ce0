"""Reading what reserved capacity needs (docs/capacity.md): the ledger's accounts, Slurm's load.

The thin async side of :mod:`~computehub.spawners.capacity`: only hubs with reservations
are asked (sinfo, cached as the form's free GPUs are, and one squeue of their reserved
partitions); a hub whose controller does not answer is left out, and its start is
refused as any start on a hub that does not answer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from computehub.credits.ledger import Ledger
from computehub.sitefile.capacity import reserved_partition
from computehub.spawners.billing import Standing
from computehub.spawners.capacity import AccountProfile, Capacity, HubLoad
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import SlurmClient, SlurmError


async def _load(slurm: SlurmClient, hub: str, partitions: list[str]) -> HubLoad:
    free = await slurm.gpu_availability(hub)
    return HubLoad(free, await slurm.reserved_busy(hub, partitions))


async def load_capacity(
    registry: HubRegistry,
    slurm: SlurmClient,
    ledger: Ledger,
    standing: Standing,
    roles: frozenset[str],
    log: logging.Logger | Any,
) -> Capacity | None:
    """What the options check needs for one person's start; None when no hub reserves GPUs."""
    site = registry.site
    hubs = {
        name: [reserved_partition(spec, rid) for rid in spec.reservations]
        for name, spec in site.hubs.items()
        if spec.reservations
    }
    if not hubs:
        return None
    projects = [a for a in standing.accounts if standing.kinds.get(a) == "project"]
    origins = await asyncio.to_thread(ledger.account_origins, projects)
    profiles = {
        name: AccountProfile(
            name, standing.kinds.get(name, "unknown"), *origins.get(name, (None, None))
        )
        for name in standing.accounts
    }
    results = await asyncio.gather(
        *(_load(slurm, hub, parts) for hub, parts in hubs.items()), return_exceptions=True
    )
    load: dict[str, HubLoad] = {}
    for hub, result in zip(hubs, results, strict=True):
        if isinstance(result, SlurmError):
            log.warning("Reserved capacity of hub %s unknown: %s", hub, result)
        elif isinstance(result, BaseException):
            raise result
        else:
            load[hub] = result
    return Capacity(site, profiles, roles, load)
