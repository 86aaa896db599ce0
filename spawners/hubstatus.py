"""Each hub's state for people: up, degraded, down or in maintenance, free GPUs, queue.

Computed by the hub (JupyterHub's process), which already reads each controller
(``sinfo`` for free GPUs, through the shared :class:`SlurmClient` and its cache) and
knows which hubs an operator closed (:mod:`computehub.maintenance`). The spawn form,
every start and ``GET /hub/api/computehub/hubs`` (which the credits service's status
page reads) use this one computation. :func:`decide` is pure; :func:`read_statuses`
asks the client.

- **maintenance**: an operator closed the hub; no new sessions start there, the
  operator's message says why (whatever Slurm says).
- **down**: its controller did not answer (within the hub's ``slurm.timeout_s``): no
  new sessions start there; running sessions keep running and are settled when it
  answers again.
- **degraded**: its controller answers, but some of its GPUs are on nodes that take
  no work (down, drained) or Slurm shows fewer than the site file says.
- **up**: everything the site file describes is there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from computehub.maintenance import Maintenance
from computehub.spawners.availability import GpuAvailability
from computehub.spawners.registry import HubEntry, HubRegistry
from computehub.spawners.slurmclient import SlurmClient, SlurmError

UP: Final = "up"
DEGRADED: Final = "degraded"
DOWN: Final = "down"
MAINTENANCE: Final = "maintenance"
STATES: Final = (UP, DEGRADED, DOWN, MAINTENANCE)
#: States in which no new session starts.
CLOSED: Final = frozenset({DOWN, MAINTENANCE})


@dataclass(frozen=True)
class GpuLine:
    """One kind of GPU (or MIG slice) a hub offers, as Slurm sees it now.

    ``total``, ``free`` and ``out_of_service`` are None when the controller did not
    answer; ``expected`` is the count in the site file.
    """

    label: str
    gres: str
    expected: int
    total: int | None
    free: int | None
    out_of_service: int | None


@dataclass(frozen=True)
class HubStatus:
    """A hub's state and the sentence people read about it."""

    hub: str
    display_name: str
    region: str
    state: str
    message: str
    gpus: tuple[GpuLine, ...]
    #: Jobs waiting in its queue (None: unknown).
    queue: int | None
    checked_at: datetime
    #: Who closed it and since when (maintenance only).
    maintenance_by: str | None = None
    maintenance_since: datetime | None = None
    #: Whether its controller answered (free GPUs known).
    answered: bool = True

    @property
    def closed(self) -> bool:
        """Whether no new session starts here."""
        return self.state in CLOSED

    def as_json(self) -> dict[str, Any]:
        """The hub API's answer for this hub."""
        return {
            "hub": self.hub,
            "display_name": self.display_name,
            "region": self.region,
            "state": self.state,
            "message": self.message,
            "accepts_sessions": not self.closed,
            "gpus": [
                {
                    "label": g.label,
                    "gres": g.gres,
                    "expected": g.expected,
                    "total": g.total,
                    "free": g.free,
                    "out_of_service": g.out_of_service,
                }
                for g in self.gpus
            ],
            "queue": self.queue,
            "checked_at": self.checked_at.isoformat(),
            "maintenance_by": self.maintenance_by,
            "maintenance_since": (
                None if self.maintenance_since is None else self.maintenance_since.isoformat()
            ),
        }


def offered(hub: HubEntry) -> list[tuple[str, str, int]]:
    """(label, Slurm GRES type, count in the site file) of each GPU and MIG slice."""
    lines = [(gpu.upper(), gpu, count) for gpu, count in hub.gpus.items()]
    for gpu, profiles in hub.mig.items():
        for profile, count in profiles.items():
            gres = hub.gres_type(f"mig:{gpu}:{profile}") or profile
            lines.append((f"{gpu.upper()} {profile} slices", gres, count))
    return lines


def down_message(display_name: str) -> str:
    """What people read about a hub whose controller does not answer."""
    return (
        f"The {display_name} scheduler is not answering: no new sessions start there. "
        "Sessions already running there keep running."
    )


def maintenance_message(display_name: str, message: str) -> str:
    """What people read when they choose a hub in maintenance (the operator's words in it)."""
    said = message if message.endswith((".", "!", "?")) else f"{message}."
    return f"{display_name} is in maintenance: {said} No new sessions start there until it ends."


def decide(
    hub: HubEntry,
    free: Mapping[str, GpuAvailability] | None,
    queue: int | None,
    notice: Maintenance | None,
    now: datetime,
    unsafe: bool = False,
) -> HubStatus:
    """The hub's status from what Slurm said (``free`` None: no answer) and its notice.

    ``unsafe``: the hub's start check found that its Slurm can't keep sessions honest
    (``tres.py``): it is down for people, whatever its controller says.
    """
    gpus = tuple(
        GpuLine(label, gres, count, None, None, None)
        if free is None
        else GpuLine(
            label,
            gres,
            count,
            free.get(gres, GpuAvailability(0, 0)).total,
            free.get(gres, GpuAvailability(0, 0)).free,
            free.get(gres, GpuAvailability(0, 0)).out_of_service,
        )
        for label, gres, count in offered(hub)
    )
    if notice is not None:
        state, message = MAINTENANCE, notice.message
    elif free is None:
        state, message = DOWN, down_message(hub.display_name)
    elif unsafe:
        state = DOWN
        message = (
            f"{hub.display_name} is not set up to run sessions safely: no new sessions start "
            "there until its operators fix it."
        )
    else:
        short = [
            g
            for g in gpus
            if (g.out_of_service or 0) > 0 or (g.total or 0) - (g.out_of_service or 0) < g.expected
        ]
        if short:
            parts = ", ".join(
                f"{g.expected - ((g.total or 0) - (g.out_of_service or 0))} of {g.expected} "
                f"{g.label}"
                for g in short
            )
            state = DEGRADED
            message = f"Some GPUs are out of service ({parts}); sessions still start on the others."
        else:
            state, message = UP, "Taking new sessions."
    return HubStatus(
        hub=hub.name,
        display_name=hub.display_name,
        region=hub.region,
        state=state,
        message=message,
        gpus=gpus,
        queue=queue,
        checked_at=now,
        maintenance_by=notice.by if notice else None,
        maintenance_since=notice.since if notice else None,
        answered=free is not None,
    )


async def _reading(
    client: SlurmClient, name: str
) -> tuple[dict[str, GpuAvailability] | None, int | None, str | None]:
    """Free GPUs and queue length of one hub; None for what did not answer, and why."""
    free_result, queue_result = await asyncio.gather(
        client.gpu_availability(name), client.queue_length(name), return_exceptions=True
    )
    for result in (free_result, queue_result):
        if isinstance(result, BaseException) and not isinstance(result, SlurmError):
            raise result
    free = None if isinstance(free_result, BaseException) else free_result
    queue = None if isinstance(queue_result, BaseException) else queue_result
    why = str(free_result) if isinstance(free_result, SlurmError) else None
    return free, queue, why


async def read_statuses(
    registry: HubRegistry,
    client: SlurmClient,
    notices: Mapping[str, Maintenance],
    now: datetime,
    names: Sequence[str] | None = None,
    unsafe: Collection[str] = (),
) -> tuple[list[HubStatus], dict[str, str]]:
    """Every hub's status (site-file order), read in parallel.

    ``unsafe``: hubs whose start check found problems (see :func:`decide`).

    Returns:
        the statuses, and for each hub that did not answer, Slurm's words (for the log).
    """
    wanted = list(names) if names is not None else registry.names()
    readings = await asyncio.gather(*(_reading(client, name) for name in wanted))
    statuses = []
    errors: dict[str, str] = {}
    for name, (free, queue, why) in zip(wanted, readings, strict=True):
        statuses.append(decide(registry[name], free, queue, notices.get(name), now, name in unsafe))
        if why is not None:
            errors[name] = why
    return statuses, errors
