"""Free GPUs per hub, from sinfo, and placement of an "any hub" request. Pure parsing.

``sinfo -h -N -O NodeList:|,StateCompact:|,Gres:|,GresUsed:|`` prints one line a
node, e.g. ``lahore-n1|mix|gpu:h100:4,gpu:l40s:2|gpu:h100:2(IDX:0-1),gpu:l40s:0(IDX:N/A)|``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

SINFO_FORMAT = "NodeList:|,StateCompact:|,Gres:|,GresUsed:|"
_GRES = re.compile(r"^gpu:([^:(]+):(\d+)")
#: Node states in which nothing new can start (sinfo's compact forms, with flags like ``*``).
_UNUSABLE = ("down", "drain", "drng", "fail", "maint", "unk", "boot", "futr", "npc", "pow", "resv")


@dataclass(frozen=True)
class GpuAvailability:
    """GPUs of one type on one hub: how many exist and how many are free now.

    ``out_of_service`` counts those on nodes that take no work (down, drained, ...).
    """

    total: int
    free: int
    out_of_service: int = 0


def _gres_counts(field: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in field.split(","):
        match = _GRES.match(item.strip())
        if match:
            counts[match.group(1)] = counts.get(match.group(1), 0) + int(match.group(2))
    return counts


def parse_sinfo(output: str) -> dict[str, GpuAvailability]:
    """GPU totals and free counts per type from sinfo's per-node lines."""
    total: dict[str, int] = {}
    free: dict[str, int] = {}
    idle: dict[str, int] = {}
    seen: set[str] = set()
    for line in output.splitlines():
        parts = line.split("|")
        if len(parts) < 4 or not parts[0].strip() or parts[0] in seen:
            continue
        seen.add(parts[0])  # a node in several partitions is listed once per partition
        state = parts[1].strip().lower().rstrip("*~#!%$@^-")
        have, used = _gres_counts(parts[2]), _gres_counts(parts[3])
        usable = not state.startswith(_UNUSABLE)
        for gpu, count in have.items():
            total[gpu] = total.get(gpu, 0) + count
            spare = max(count - used.get(gpu, 0), 0) if usable else 0
            free[gpu] = free.get(gpu, 0) + spare
            idle[gpu] = idle.get(gpu, 0) + (0 if usable else count)
    return {gpu: GpuAvailability(total[gpu], free[gpu], idle[gpu]) for gpu in total}


@dataclass(frozen=True)
class HubOffer:
    """What one hub can give a request right now."""

    hub: str
    rate: Decimal
    free: int


def choose_hub(offers: Sequence[HubOffer], count: int) -> HubOffer | None:
    """The cheapest hub with ``count`` free GPUs (ties: most free, then name); None if none."""
    fitting = [o for o in offers if o.free >= count]
    if not fitting:
        return None
    return min(fitting, key=lambda o: (o.rate, -o.free, o.hub))


def offers_for(
    resource: str,
    hubs: Mapping[str, tuple[Decimal, str]],
    free: Mapping[str, Mapping[str, GpuAvailability]],
) -> list[HubOffer]:
    """Offers for a GPU resource (a whole GPU or a MIG slice) from the hubs that sell it.

    Args:
        resource: ``gpu:<type>`` or ``mig:<type>:<profile>`` (for the offers' labels).
        hubs: for each hub that sells the resource, its rate and Slurm GRES type.
        free: free GPUs per hub and GRES type, from sinfo; hubs not in it are left out.
    """
    return [
        HubOffer(hub, rate, free[hub].get(gres, GpuAvailability(0, 0)).free)
        for hub, (rate, gres) in hubs.items()
        if hub in free and gres in free[hub]
    ]
