"""Reserved capacity in Slurm: what a hub's ``reservations`` mean for its cluster. Pure.

Slurm can't split one node's GPUs by partition or by a node reservation, so a
reservation is realised with a QOS and a partition (docs/capacity.md):

* every partition on the hub's nodes except the reserved ones carries the partition
  QOS ``<hub>-unreserved``, whose ``GrpTRES`` caps what all their jobs together may
  hold: ``gres/gpu:<type>`` at the type's GPUs minus the reserved ones, and
  ``gres/gpu`` at all GPU GRES of the hub minus the reserved ones (a request without
  a type, ``--gres=gpu:2`` or ``--gpus=2``, is counted only there);
* each reservation has its own partition on the same nodes, without that QOS: the
  sessions of entitled accounts run there. It is a portal partition: the cluster's
  job_submit.lua guard admits only jobs with the hub's ticket, which signs the
  partition, so nobody can pick it themselves;
* slurm.conf has ``AccountingStorageEnforce=associations,limits,qos``: Slurm enforces
  QOS limits only with ``limits``, which implies ``associations`` (every user who
  submits needs an association), and ``qos`` keeps users from naming a QOS their
  association does not list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from computehub.sitefile.schema import Hub

#: ``AccountingStorageEnforce`` a cluster with reserved capacity needs.
ENFORCE = "associations,limits,qos"


def default_partition(hub: Hub) -> str:
    """The hub's default partition (the first marked default, else the first)."""
    marked = [name for name, spec in hub.partitions.items() if spec.default]
    return marked[0] if marked else next(iter(hub.partitions))


def reserved_partition(hub: Hub, name: str) -> str:
    """The Slurm partition of reservation ``name``: its own setting or ``<default>-<name>``."""
    spec = hub.reservations[name]
    return spec.partition or f"{default_partition(hub)}-{name}"


def reserved_counts(hub: Hub) -> dict[str, int]:
    """Reserved GPUs per type, over all of the hub's reservations (one per type)."""
    counts: dict[str, int] = {}
    for spec in hub.reservations.values():
        for gpu, count in spec.gpus.items():
            counts[gpu] = counts.get(gpu, 0) + count
    return counts


def reservation_problems(hub: Hub) -> list[str]:
    """What is wrong with a hub's reservations (empty when nothing), for the site check."""
    problems: list[str] = []
    for name, spec in hub.reservations.items():
        for gpu in spec.gpus:
            if gpu not in hub.gpus:
                problems.append(f"reservations.{name}: the hub has no {gpu!r} GPUs")
    owners: dict[str, str] = {}
    for name, spec in hub.reservations.items():
        for gpu in spec.gpus:
            if gpu in owners:
                problems.append(
                    f"reservations.{name}: {gpu} GPUs are already reserved by {owners[gpu]}; "
                    "a GPU type can be in one reservation only"
                )
            owners.setdefault(gpu, name)
    for gpu, count in reserved_counts(hub).items():
        if gpu in hub.gpus and count > hub.gpus[gpu].count:
            problems.append(
                f"reservations: {count} {gpu} GPUs reserved but the hub has {hub.gpus[gpu].count}"
            )
    seen: dict[str, str] = {}
    for name in hub.reservations:
        partition = reserved_partition(hub, name)
        if partition in hub.partitions:
            problems.append(
                f"reservations.{name}: partition {partition!r} is one of the hub's partitions; "
                "a reservation needs a partition of its own"
            )
        if partition in seen:
            problems.append(
                f"reservations.{name}: partition {partition!r} is also {seen[partition]}'s"
            )
        seen[partition] = name
    return problems


@dataclass(frozen=True)
class SlurmCapacity:
    """What a hub's cluster must have for its reservations to hold on the Slurm side.

    Attributes:
        qos: the partition QOS of every partition on the hub's nodes but the reserved ones.
        grp_tres: that QOS's ``GrpTRES`` (``gres/gpu=N,gres/gpu:h100=M``).
        partitions: reservation name -> its partition (no QOS; a portal partition).
    """

    qos: str
    grp_tres: str
    partitions: Mapping[str, str]

    def sacctmgr_qos(self) -> list[str]:
        """sacctmgr's arguments that create (or set) the QOS: ``add qos NAME GrpTRES=...``."""
        return ["-i", "add", "qos", self.qos, f"GrpTRES={self.grp_tres}"]

    def sacctmgr_modify(self) -> list[str]:
        """sacctmgr's arguments that set the cap on an existing QOS."""
        return [
            "-i",
            "modify",
            "qos",
            "where",
            f"name={self.qos}",
            "set",
            f"GrpTRES={self.grp_tres}",
        ]


def slurm_capacity(name: str, hub: Hub) -> SlurmCapacity | None:
    """The Slurm side of hub ``name``'s reservations; None when it has none."""
    if not hub.reservations:
        return None
    reserved = reserved_counts(hub)
    gres_total = sum(spec.count + sum(spec.mig.values()) for spec in hub.gpus.values())
    caps = [f"gres/gpu={gres_total - sum(reserved.values())}"]
    caps += [f"gres/gpu:{gpu}={hub.gpus[gpu].count - count}" for gpu, count in reserved.items()]
    return SlurmCapacity(
        qos=f"{name}-unreserved",
        grp_tres=",".join(caps),
        partitions={rid: reserved_partition(hub, rid) for rid in hub.reservations},
    )


def deployment_lines(name: str, hub: Hub) -> list[str]:
    """What hub ``name``'s cluster must have for its reservations (empty: none), as text.

    The sacctmgr command, the slurm.conf settings and the guard's partitions, with the
    cap computed from the site file (``computehub capacity-plan SITE`` prints them).
    """
    plan = slurm_capacity(name, hub)
    if plan is None:
        return []
    own = ", ".join(hub.partitions)
    reserved = ", ".join(plan.partitions.values())
    conf = hub.slurm.conf or f"the slurm.conf of hub {name}"
    return [
        f"# hub {name} ({conf}); see docs/capacity.md",
        "# 1. in slurmdbd, before slurmctld reads a partition naming the QOS:",
        "sacctmgr " + " ".join(plan.sacctmgr_qos()),
        "# 2. slurm.conf:",
        f"AccountingStorageEnforce={ENFORCE}",
        f"#    QOS={plan.qos} on every partition on the hub's nodes but the reserved "
        f"({own}, and the users' own)",
        *(
            f"PartitionName={partition} Nodes=<the hub's nodes> Default=NO State=UP"
            for partition in plan.partitions.values()
        ),
        "# 3. computehub-guard.conf:",
        f"portal_partitions = {own}, {reserved}",
        "# 4. an association for every user who submits (sacctmgr add user NAME account=...)",
    ]
