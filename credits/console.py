"""The operator console's figures: pure aggregation over rows read from the ledger.

Nothing here does I/O. :mod:`~computehub.credits.consolerows` reads the rows (one
per settled session, one per funding source, one per account) and the functions
below sum them, so that a table test can give rows and check sums, and the console's
page, its REST API and its Prometheus metrics show the same figures.

A session counts in the period in which it was **settled** (its charge's time), as
:meth:`~computehub.credits.ledger.Ledger.report` counts it: the console's credits
charged for a period equal the ledger's report for the same period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal

#: How the GPU-idle rule's end note begins (:func:`~computehub.gpuidle.end_note`): a
#: session whose hold carries it was culled for idle GPUs.
GPU_IDLE_NOTE_PREFIX: Final = "Stopped by computehub: its GPUs were below"
#: The label of a group with no value (an account no application categorised).
NONE_LABEL: Final = "none"
#: The label of the GPU type of a session without GPUs.
CPU_ONLY: Final = "cpu only"

Grouping = Literal["hub", "account_kind", "category", "gpu_type"]
#: The ways the period's figures are broken down, in the page's order.
GROUPINGS: Final[tuple[Grouping, ...]] = ("hub", "account_kind", "category", "gpu_type")

_ZERO = Decimal(0)


def gpu_type(resources: Iterable[str]) -> str:
    """The GPU type a session ran on, from its resources.

    ``gpu:h100`` is ``h100``; a MIG slice ``mig:a100:1g.10gb`` is ``a100 1g.10gb``
    (slices are not whole GPUs, so they are a type of their own); no GPU is
    :data:`~computehub.credits.console.CPU_ONLY`.
    """
    kinds = sorted(r for r in resources if r.startswith(("gpu:", "mig:")))
    if not kinds:
        return CPU_ONLY
    return kinds[0].split(":", 1)[1].replace(":", " ")


def culled(end_note: str | None) -> bool:
    """Whether the GPU-idle rule stopped the session (its end note says so)."""
    return bool(end_note) and str(end_note).startswith(GPU_IDLE_NOTE_PREFIX)


@dataclass(frozen=True)
class SessionRow:
    """One settled session, as the console sums it.

    Attributes:
        hold_id: its hold.
        hub: where it ran.
        account_kind: personal, project or course.
        category: the programme category of the account (from the approved application
            that created or credited it), or None.
        gpu_type: see :func:`~computehub.credits.console.gpu_type`.
        gpu_hours: GPU-hours allocated (whole GPUs times the hours Slurm counted; MIG slices'
            slice-hours are counted here for their own type).
        charged: credits charged.
        held: the hold's amount (what it reserved, extensions included).
        culled: whether the GPU-idle rule stopped it.
        settled_at: when it was charged.
        wh: energy in Wh, as the node measured it (:mod:`~computehub.credits.energy`);
            None until it is recorded, or when the node could not measure it.
        gpu_busy_hours: GPU-hours its GPUs were busy, from its server's idle reports as
            the hub recorded them when it stopped (:mod:`~computehub.credits.gpubusy`;
            self-reported, clamped to its GPUs times its elapsed time); None when the
            server never reported (no GPUs, MIG slices, a hub restart); see docs/console.md.
        wh_simulated: whether ``wh`` came from simulated GPUs (the demo), not a node.
    """

    hold_id: int
    hub: str
    account_kind: str
    category: str | None
    gpu_type: str
    gpu_hours: Decimal
    charged: Decimal
    held: Decimal
    culled: bool
    settled_at: datetime
    wh: Decimal | None = None
    gpu_busy_hours: Decimal | None = None
    wh_simulated: bool = False

    @property
    def saved(self) -> Decimal:
        """Credits a cull saved: the unused part of the hold (as the end note says); else 0."""
        return max(self.held - self.charged, _ZERO) if self.culled else _ZERO

    def label(self, by: Grouping) -> str:
        """The group this session falls in when the figures are broken down ``by``."""
        value = {
            "hub": self.hub,
            "account_kind": self.account_kind,
            "category": self.category,
            "gpu_type": self.gpu_type,
        }[by]
        return value or NONE_LABEL


def _add_optional(total: Decimal | None, value: Decimal | None, first: bool) -> Decimal | None:
    """Sum that stays None when every value is None (a figure nobody recorded)."""
    if value is None:
        return total
    return value if first or total is None else total + value


@dataclass
class PeriodFigures:
    """The period's figures of one group (or of all sessions: ``key`` is ``total``).

    ``wh`` and ``gpu_busy_hours`` are None when no session in the group has them;
    ``wh_simulated`` is the part of ``wh`` read from simulated GPUs (the demo), None when
    no session's was.
    """

    key: str
    sessions: int = 0
    gpu_hours: Decimal = _ZERO
    gpu_busy_hours: Decimal | None = None
    charged: Decimal = _ZERO
    wh: Decimal | None = None
    culled: int = 0
    saved: Decimal = _ZERO
    wh_simulated: Decimal | None = None

    def add(self, row: SessionRow) -> None:
        """Count one session."""
        first = self.sessions == 0
        self.sessions += 1
        self.gpu_hours += row.gpu_hours
        self.charged += row.charged
        self.wh = _add_optional(self.wh, row.wh, first)
        if row.wh_simulated and row.wh is not None:
            self.wh_simulated = (self.wh_simulated or _ZERO) + row.wh
        self.gpu_busy_hours = _add_optional(self.gpu_busy_hours, row.gpu_busy_hours, first)
        if row.culled:
            self.culled += 1
            self.saved += row.saved


def in_period(rows: Iterable[SessionRow], since: datetime, until: datetime) -> list[SessionRow]:
    """The sessions settled in ``[since, until)``."""
    return [row for row in rows if since <= row.settled_at < until]


def breakdown(rows: Iterable[SessionRow], by: Grouping) -> list[PeriodFigures]:
    """The figures of each group ``by``, the groups sorted by name."""
    groups: dict[str, PeriodFigures] = {}
    for row in rows:
        key = row.label(by)
        groups.setdefault(key, PeriodFigures(key)).add(row)
    return [groups[key] for key in sorted(groups)]


def total(rows: Iterable[SessionRow]) -> PeriodFigures:
    """The figures of every session together."""
    figures = PeriodFigures("total")
    for row in rows:
        figures.add(row)
    return figures


@dataclass(frozen=True)
class LotRow:
    """One lot of credit (a part of a grant an account holds), as the console sums it.

    Attributes:
        source: its funding source.
        remaining: credit left in it (reserved included).
        reserved: the part open holds have claimed.
        expires_at: when its unreserved credit expires (None: never).
    """

    source: str
    remaining: Decimal
    reserved: Decimal
    expires_at: datetime | None


@dataclass
class FundingFigures:
    """Credits of one funding source: ``granted = spent + expired + remaining``.

    Attributes:
        source: the funding source.
        granted: every grant from it.
        spent: charged for sessions (what is neither left nor expired).
        expired: given back to the source when it expired.
        remaining: still in people's accounts.
        expiring: unreserved credit that expires before the console's horizon.
    """

    source: str
    granted: Decimal = _ZERO
    spent: Decimal = _ZERO
    expired: Decimal = _ZERO
    remaining: Decimal = _ZERO
    expiring: Decimal = _ZERO


def funding(
    granted: dict[str, Decimal],
    expired: dict[str, Decimal],
    lots: Iterable[LotRow],
    *,
    horizon: datetime,
) -> list[FundingFigures]:
    """Granted vs spent vs expiring per funding source, sorted by source.

    Credit moves between people's accounts in lots that keep their source, so what a
    source granted is, at any time, what is left in its lots, what expired back to it,
    and what was charged: ``spent = granted - expired - remaining``.

    Args:
        granted: each source's grants, summed.
        expired: each source's expired credit, summed.
        lots: every lot with credit left.
        horizon: "expiring" is what expires before it (a lot already past its expiry that
            the ledger has not expired yet counts too).
    """
    table: dict[str, FundingFigures] = {}

    def of(source: str) -> FundingFigures:
        return table.setdefault(source, FundingFigures(source))

    for source, value in granted.items():
        of(source).granted += value
    for source, value in expired.items():
        of(source).expired += value
    for lot in lots:
        figures = of(lot.source)
        figures.remaining += lot.remaining
        if lot.expires_at is not None and lot.expires_at < horizon:
            figures.expiring += lot.remaining - lot.reserved
    for figures in table.values():
        figures.spent = figures.granted - figures.expired - figures.remaining
    return [table[source] for source in sorted(table)]


@dataclass(frozen=True)
class AccountRow:
    """A person's account (personal, project or course) and its figures."""

    account: str
    kind: str
    balance: Decimal
    held: Decimal
    next_expiry_at: datetime | None = None

    @property
    def available(self) -> Decimal:
        """What can be spent or reserved now."""
        return self.balance - self.held


def near_zero(accounts: Iterable[AccountRow], below: Decimal) -> list[AccountRow]:
    """The accounts with less than ``below`` available, the emptiest first."""
    rows = [row for row in accounts if row.available < below]
    return sorted(rows, key=lambda row: (row.available, row.account))


@dataclass(frozen=True)
class HubNow:
    """One hub now: what Slurm shows of it (through the hub) and its open sessions.

    GPU counts are None when the hub's controller did not answer.
    """

    hub: str
    state: str
    controller_up: bool
    gpus_total: int | None
    gpus_free: int | None
    gpus_down: int | None
    queue: int | None
    sessions: int
    message: str = ""

    @property
    def gpus_busy(self) -> int | None:
        """Allocated GPUs: those neither free nor out of service."""
        if self.gpus_total is None or self.gpus_free is None:
            return None
        return self.gpus_total - self.gpus_free - (self.gpus_down or 0)


@dataclass(frozen=True)
class GpuReading:
    """One GPU type of a hub as the hub's status answer gives it."""

    total: int | None
    free: int | None
    out_of_service: int | None


def _sum_known(values: Sequence[int | None]) -> int | None:
    return None if not values or any(v is None for v in values) else sum(v or 0 for v in values)


def hub_now(
    hub: str,
    state: str,
    gpus: Sequence[GpuReading],
    queue: int | None,
    sessions: int,
    message: str = "",
) -> HubNow:
    """A hub's figures now, summed over its GPU types.

    The controller is up when the hub is not ``down`` and Slurm told something of it
    (its GPUs or its queue): a hub in maintenance whose controller does not answer has
    neither, and counts as down.
    """
    answered = queue is not None or any(g.total is not None for g in gpus)
    return HubNow(
        hub=hub,
        state=state,
        controller_up=state != "down" and answered,
        gpus_total=_sum_known([g.total for g in gpus]),
        gpus_free=_sum_known([g.free for g in gpus]),
        gpus_down=_sum_known([g.out_of_service for g in gpus]),
        queue=queue,
        sessions=sessions,
        message=message,
    )


@dataclass
class Console:
    """Every figure of the console for one period (what the page and the API show)."""

    since: datetime
    until: datetime
    total: PeriodFigures
    by: dict[str, list[PeriodFigures]] = field(default_factory=dict)


def console(rows: Iterable[SessionRow], since: datetime, until: datetime) -> Console:
    """The period's figures: the total and each breakdown.

    The breakdowns are :data:`~computehub.credits.console.GROUPINGS`.
    """
    chosen = in_period(rows, since, until)
    return Console(
        since=since,
        until=until,
        total=total(chosen),
        by={by: breakdown(chosen, by) for by in GROUPINGS},
    )
