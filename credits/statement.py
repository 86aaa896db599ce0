"""A session's statement: the ledger's rows for one hold turned into line items that add up.

Pure: :func:`~computehub.credits.statement.build` takes what the ledger recorded for a
session (:class:`~computehub.credits.statement.LedgerRows`: the hold, its resources and
rates, its journal entries, its charge and usage, its energy) and returns the lines a
person reads, with the checks that they add up exactly to the ledger:

- held = the hold entry + every extension entry = the hold's amount;
- held = charged + returned (once the session is closed);
- charged = the resource lines' costs + the cap line (the charge is never more than
  the hold: what the usage cost beyond it is shown as a line of its own).

Where each figure comes from (nothing is estimated):

====================  ================================================================
hub, job id           the hold (the job id is what the spawner attached after ``sbatch``)
server                the hold's server name, as the spawner gave it (``""``: default)
GPU type and count    the hold's resources
rate in force         the rate of each resource when the hold was placed (the hold keeps it)
start, end            when the hold was placed (just before the job was submitted) and
                      when it was settled or voided (after Slurm's accounting said the job
                      ended); the ledger does not record Slurm's own start and end times
hours charged         the resource-hours settled, from Slurm's accounting (``sacct``)
GPU-idle minutes      the GPU-idle rule's end note, when that rule stopped the session
energy                the node's measurement (NVML), once recorded; "unknown" if it could not;
                      its source says ``simulated`` for the demo's fake GPUs
held, charged,        the journal's hold, extension, charge and release entries
returned
why it ended          the end note, when something other than its user ended it
====================  ================================================================

The node a session ran on is not in the ledger (Slurm's accounting knows it); the
statement says so rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from computehub.credits.console import GPU_IDLE_NOTE_PREFIX

#: The energy source of readings from the demo's fake GPUs (not a measurement).
SIMULATED = "simulated"
#: Journal entry kinds that reserve credit for a hold.
RESERVING = ("hold", "extend")
#: The idle time the GPU-idle rule writes in its end note: "... use for 42 min (the limit ...".
_IDLE_FOR = re.compile(r" use for (\d+) (min|s) ")


@dataclass(frozen=True)
class EntryRow:
    """One journal entry of the hold: its kind, amount, reserved hours and time."""

    id: int
    kind: str
    amount: Decimal
    created_at: datetime
    hours: Decimal | None = None
    reason: str = ""


@dataclass(frozen=True)
class ResourceRow:
    """A resource the hold reserved: how many, at what rate per unit-hour."""

    resource: str
    count: int
    rate: Decimal


@dataclass(frozen=True)
class UsageRow:
    """A resource's settled usage: resource-hours, the rate they were priced at, the cost."""

    resource: str
    hours: Decimal
    rate: Decimal
    cost: Decimal


@dataclass(frozen=True)
class ChargeRow:
    """The settlement: what was charged (capped at the hold) and what the usage cost."""

    amount: Decimal
    cost: Decimal
    created_at: datetime


@dataclass(frozen=True)
class LedgerRows:
    """What the ledger recorded for one session (one hold)."""

    hold_id: int
    account: str
    hub: str
    job_id: str | None
    status: str
    user: str
    placed_at: datetime
    closed_at: datetime | None
    hours: Decimal
    amount: Decimal
    resources: Sequence[ResourceRow]
    entries: Sequence[EntryRow]
    charge: ChargeRow | None = None
    usage: Sequence[UsageRow] = ()
    end_note: str | None = None
    energy_recorded: bool = False
    energy_wh: Decimal | None = None
    gpu_busy_hours: Decimal | None = None
    #: The JupyterHub server the session ran in (``""``: the default server).
    server_name: str = ""
    #: Where the energy figure came from (``nvml``; ``simulated``: the demo's fake GPUs).
    energy_source: str | None = None


@dataclass(frozen=True)
class Line:
    """One line item of a statement.

    Attributes:
        kind: ``hold``, ``extend`` (credit reserved), ``usage`` (a resource's charge),
            ``cap`` (the usage's cost beyond the hold, not charged), ``release``
            (credit given back).
        what: the line in words.
        amount: its credits, exact; reservations and releases are positive amounts, the
            cap line is negative (it takes the excess off the usage).
        at: when its journal entry was made (usage and cap lines: the settlement).
        resource: the resource of a usage line.
        count: how many units of it the hold reserved.
        rate: credits per unit-hour in force (the hold's rate).
        hours: hours reserved (hold, extend) or resource-hours charged (usage).
    """

    kind: str
    what: str
    amount: Decimal
    at: datetime | None = None
    resource: str | None = None
    count: int | None = None
    rate: Decimal | None = None
    hours: Decimal | None = None


@dataclass(frozen=True)
class Statement:
    """A session's line items and totals, and whether they agree with the ledger.

    Attributes:
        held: credit reserved: the hold and its extensions.
        charged: what the settlement charged (``None`` while the session runs).
        returned: what went back to the account (``None`` while the session runs).
        usage_cost: the resource lines' total before the cap (``None`` unless settled).
        per_hour: credits per hour of the whole session at the rates in force.
        gpu_idle_minutes: how long the GPUs were idle when the GPU-idle rule stopped the
            session; ``None`` when the rule did not (or the ledger has no figure).
        closed_because: the reason recorded on the charge (or the void's release), e.g.
            "the session ended", "the start failed"; ``None`` while it runs.
        node: where it ran; the ledger does not record it (always ``None`` for now).
        differences: each way the lines fail to add up to the ledger; empty when they do.
    """

    hold_id: int
    account: str
    hub: str
    job_id: str | None
    status: str
    user: str
    started_at: datetime
    ended_at: datetime | None
    resources: Mapping[str, int]
    rates: Mapping[str, Decimal]
    per_hour: Decimal
    hours_funded: Decimal
    held: Decimal
    charged: Decimal | None
    returned: Decimal | None
    usage_cost: Decimal | None
    lines: tuple[Line, ...]
    end_note: str | None
    gpu_idle_minutes: int | None
    energy_recorded: bool
    energy_wh: Decimal | None
    closed_because: str | None = None
    #: GPU-hours the session's GPUs were busy, as its notebook server reported them
    #: (clamped by the hub; statistics, never billing); None when not recorded.
    gpu_busy_hours: Decimal | None = None
    node: str | None = None
    differences: tuple[str, ...] = field(default_factory=tuple)
    #: The JupyterHub server it ran in (``""``: the user's default server).
    server_name: str = ""
    #: Where the energy figure came from: ``nvml`` (the node's GPUs) or ``simulated``
    #: (the demo's fake GPUs: not a measurement); None while no energy is recorded.
    energy_source: str | None = None

    @property
    def energy_simulated(self) -> bool:
        """Whether the recorded energy came from simulated GPUs (the demo), not a node's."""
        return self.energy_source == SIMULATED

    @property
    def adds_up(self) -> bool:
        """Whether every check passed."""
        return not self.differences


def gpu_idle_minutes(end_note: str | None) -> int | None:
    """The idle minutes in the GPU-idle rule's end note (whole minutes, rounded down).

    ``None`` for any other note (or none): the ledger records no idle time then.
    """
    if not end_note or not end_note.startswith(GPU_IDLE_NOTE_PREFIX):
        return None
    found = _IDLE_FOR.search(end_note)
    if found is None:
        return None
    number = int(found.group(1))
    return number if found.group(2) == "min" else number // 60


def build(rows: LedgerRows) -> Statement:
    """The statement of one session, with every check against the ledger's figures."""
    differences: list[str] = []
    lines: list[Line] = []
    entries = sorted(rows.entries, key=lambda e: (e.created_at, e.id))
    for entry in entries:
        if entry.kind in RESERVING:
            what = "credit reserved" if entry.kind == "hold" else "extended: more credit reserved"
            lines.append(
                Line(entry.kind, what, entry.amount, at=entry.created_at, hours=entry.hours)
            )
    held = sum((e.amount for e in entries if e.kind in RESERVING), Decimal(0))
    if held != rows.amount:
        differences.append(
            f"the hold is {rows.amount} but its hold and extension entries add up to {held}"
        )
    counts = {row.resource: row.count for row in rows.resources}
    charged_entries = [e.amount for e in entries if e.kind == "charge"]
    released = [e.amount for e in entries if e.kind == "release"]
    charged: Decimal | None = None
    usage_cost: Decimal | None = None
    if rows.charge is not None:
        charged = rows.charge.amount
        for use in sorted(rows.usage, key=lambda u: u.resource):
            lines.append(
                Line(
                    "usage",
                    f"{use.resource} used",
                    use.cost,
                    at=rows.charge.created_at,
                    resource=use.resource,
                    count=counts.get(use.resource),
                    rate=use.rate,
                    hours=use.hours,
                )
            )
        usage_cost = sum((use.cost for use in rows.usage), Decimal(0))
        if usage_cost != rows.charge.cost:
            differences.append(
                f"the usage lines cost {usage_cost} but the charge records a cost of "
                f"{rows.charge.cost}"
            )
        if usage_cost > charged:
            lines.append(
                Line(
                    "cap",
                    "beyond the hold, not charged",
                    charged - usage_cost,
                    at=rows.charge.created_at,
                )
            )
        if sum(charged_entries, Decimal(0)) != charged or len(charged_entries) != 1:
            differences.append(
                f"the charge is {charged} but the journal's charge entries are "
                f"{', '.join(map(str, charged_entries)) or 'none'}"
            )
        charge_lines = sum((ln.amount for ln in lines if ln.kind in ("usage", "cap")), Decimal(0))
        if charge_lines != charged:
            differences.append(f"the charge is {charged} but its lines add up to {charge_lines}")
    elif charged_entries:
        differences.append("the journal has a charge entry but the ledger has no charge")
    for entry in entries:
        if entry.kind == "release":
            lines.append(
                Line("release", "returned to the account", entry.amount, at=entry.created_at)
            )
    returned: Decimal | None = None
    if rows.status != "open":
        returned = sum(released, Decimal(0))
        if held != (charged or Decimal(0)) + returned:
            differences.append(
                f"held {held} is not charged {charged or Decimal(0)} + returned {returned}"
            )
    elif released or rows.charge is not None:
        differences.append("a running session has a charge or a release")
    # Why it closed: the settlement's reason (a void's is its release's); a settled
    # session's release only says "unused part of the hold".
    closing_kind = "release" if rows.status == "voided" else "charge"
    closing = [e.reason for e in entries if e.kind == closing_kind and e.reason]
    per_hour = sum((row.rate * row.count for row in rows.resources), Decimal(0))
    return Statement(
        hold_id=rows.hold_id,
        account=rows.account,
        hub=rows.hub,
        job_id=rows.job_id,
        status=rows.status,
        user=rows.user,
        started_at=rows.placed_at,
        ended_at=rows.closed_at,
        resources=dict(sorted(counts.items())),
        rates={row.resource: row.rate for row in sorted(rows.resources, key=lambda r: r.resource)},
        per_hour=per_hour,
        hours_funded=rows.hours,
        held=held,
        charged=charged if rows.status != "voided" else Decimal(0),
        returned=returned,
        usage_cost=usage_cost,
        lines=tuple(lines),
        end_note=rows.end_note,
        gpu_idle_minutes=gpu_idle_minutes(rows.end_note),
        energy_recorded=rows.energy_recorded,
        energy_wh=rows.energy_wh,
        gpu_busy_hours=rows.gpu_busy_hours,
        server_name=rows.server_name,
        energy_source=rows.energy_source if rows.energy_recorded else None,
        closed_because=closing[0] if closing and rows.status != "open" else None,
        differences=tuple(differences),
    )
