"""The hub registry: what each regional hub offers and how to reach its Slurm."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

from computehub.sitefile import Site
from computehub.sitefile.schema import Hub, Limits


@dataclass(frozen=True)
class HubEntry:
    """One hub as the spawner sees it."""

    name: str
    display_name: str
    region: str
    gpus: Mapping[str, int]
    mig: Mapping[str, Mapping[str, int]]
    rates: Mapping[str, Decimal]
    limits: Limits
    default_partition: str
    gpu_partitions: Mapping[str, str]
    environments: tuple[str, ...]
    slurm_env: Mapping[str, str]
    timeout_s: float
    #: The Slurm GRES type of each GPU resource: ``gpu:h100`` -> ``h100``,
    #: ``mig:h100:1g.10gb`` -> ``1g.10gb`` (or the site file's ``mig_gres``).
    gres_types: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: Each partition's longest session, hours (site file ``partitions.NAME.max_hours``).
    partition_hours: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    #: The key this hub's job_submit.lua guard checks tickets with (None: no guard).
    ticket_key_file: Path | None = None
    #: The site file says this hub runs without the guard, knowingly (``slurm.unguarded``).
    unguarded: bool = False

    def max_hours(self, resource: str) -> Decimal:
        """The longest session (or extension total) of ``resource`` on this hub, in hours.

        The hub's ``limits.max_hours`` and the ``max_hours`` of the partition the resource
        runs in, whichever is smaller. ``resource`` is ``cpu``, ``gpu:TYPE`` or
        ``mig:TYPE:PROFILE`` (as in a hold's resources).
        """
        partition = self.partition_for(gpu_of(resource))
        limit = self.partition_hours.get(partition)
        return self.limits.max_hours if limit is None else min(self.limits.max_hours, limit)

    def gres_type(self, resource: str) -> str | None:
        """The GRES type a resource is requested and accounted as; None for ``cpu``."""
        return self.gres_types.get(resource)

    def partition_for(self, gpu_type: str | None) -> str:
        """The partition a session with this GPU type (or CPU only) goes to."""
        if gpu_type is None:
            return self.default_partition
        return self.gpu_partitions.get(gpu_type, self.default_partition)


def gpu_of(resource: str) -> str | None:
    """The GPU type of a rated resource (``gpu:h100``, ``mig:h100:1g.10gb``); None for cpu."""
    kind, _, rest = resource.partition(":")
    return rest.partition(":")[0] if kind in ("gpu", "mig") and rest else None


def _entry(name: str, hub: Hub, all_envs: tuple[str, ...]) -> HubEntry:
    default = next((p for p, spec in hub.partitions.items() if spec.default), None)
    default = default or next(iter(hub.partitions))
    env: dict[str, str] = {}
    if hub.slurm.conf is not None:
        env["SLURM_CONF"] = str(hub.slurm.conf)
    return HubEntry(
        name=name,
        display_name=hub.display_name,
        region=hub.region,
        gpus=MappingProxyType({t: g.count for t, g in hub.gpus.items()}),
        mig=MappingProxyType({t: dict(g.mig) for t, g in hub.gpus.items() if g.mig}),
        rates=MappingProxyType(dict(hub.rates)),
        limits=hub.limits,
        default_partition=default,
        gpu_partitions=MappingProxyType(
            {t: g.partition for t, g in hub.gpus.items() if g.partition is not None}
        ),
        environments=tuple(hub.environments) if hub.environments else all_envs,
        slurm_env=MappingProxyType(env),
        timeout_s=hub.slurm.timeout_s,
        gres_types=MappingProxyType(_gres_types(hub)),
        partition_hours=MappingProxyType({p: spec.max_hours for p, spec in hub.partitions.items()}),
        ticket_key_file=hub.slurm.job_ticket_key_file,
        unguarded=hub.slurm.unguarded,
    )


def _gres_types(hub: Hub) -> dict[str, str]:
    types: dict[str, str] = {}
    for gpu, spec in hub.gpus.items():
        types[f"gpu:{gpu}"] = gpu
        for profile in spec.mig:
            types[f"mig:{gpu}:{profile}"] = spec.mig_gres.get(profile, profile)
    return types


class HubRegistry:
    """Every hub of the site file, by name, with the environment for its Slurm commands."""

    def __init__(self, site: Site) -> None:
        self.site = site
        envs = tuple(site.environments)
        self._hubs = {name: _entry(name, hub, envs) for name, hub in site.hubs.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._hubs

    def __getitem__(self, name: str) -> HubEntry:
        return self._hubs[name]

    def names(self) -> list[str]:
        """Hub names in site-file order."""
        return list(self._hubs)

    def command_env(self, name: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for any Slurm client command aimed at hub ``name``.

        Every command (sbatch, squeue, scancel, sinfo, sacct, scontrol) must get it:
        without it a query reaches the wrong cluster and a job is orphaned.
        """
        env = dict(os.environ if base is None else base)
        env.update(self._hubs[name].slurm_env)
        return env
