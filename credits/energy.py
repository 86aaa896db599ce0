"""Energy per session: recorded apart from the charge, and reported per hub, account or GPU.

The ledger knows nothing of Slurm or NVML: it takes a hold id and watt-hours (or None:
the node could not measure them), keeps one figure per session, and aggregates them over
a period with the sessions' charges.
:func:`~computehub.credits.energy.aggregate_energy` is the pure part.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from sqlalchemy import select

from computehub.credits import models as m
from computehub.credits.core import LedgerCore, _Op
from computehub.credits.errors import ConflictError, UnknownHoldError

#: What an energy report can be grouped by.
EnergyGroup = Literal["hub", "account", "gpu", "kind"]
GROUPS: tuple[EnergyGroup, ...] = ("hub", "account", "gpu", "kind")
WH_STEP = Decimal("0.0001")
_CPU = "cpu"
#: ``session_energy.source`` of a figure from simulated GPUs (the demo's energy hook).
SIMULATED = "simulated"


@dataclass(frozen=True)
class EnergyRecord:
    """A session's recorded energy.

    Attributes:
        hold_id: The session's hold.
        wh: Watt-hours, or None when the node could not measure them (unknown).
        seconds: How long the GPUs were measured.
        gpus: How many GPUs (or MIG slices) were measured.
        source: Where the figure came from (``nvml``).
        recorded_at: When the ledger recorded it.
    """

    hold_id: int
    wh: Decimal | None
    seconds: int
    gpus: int
    source: str
    recorded_at: datetime


@dataclass(frozen=True)
class AwaitingEnergy:
    """A settled session whose energy has not reached the ledger.

    Attributes:
        hold_id: Its hold.
        hub: Its hub.
        job_id: Its job.
        user: Who placed the hold (the job ran as them).
        created_at: When the hold was placed (its job was submitted after).
    """

    hold_id: int
    hub: str
    job_id: str
    user: str
    created_at: datetime


@dataclass(frozen=True)
class EnergySession:
    """One settled session as an energy report sees it.

    Attributes:
        hold_id: The session's hold.
        hub: Its hub.
        account: The account that paid.
        kind: That account's kind (personal, project, course).
        gpu: The GPU resource it ran on (``gpu:h100``, ``mig:a100:1g.10gb``; ``cpu``).
        charged: Credits charged.
        wh: Watt-hours measured; None when unknown or not (yet) recorded.
        recorded: Whether the energy was recorded at all (False: not reached the ledger).
        simulated: Whether the figure came from simulated GPUs (the demo), not a node.
    """

    hold_id: int
    hub: str
    account: str
    kind: str
    gpu: str
    charged: Decimal
    wh: Decimal | None
    recorded: bool
    simulated: bool = False


@dataclass(frozen=True)
class EnergyRow:
    """The sessions of one group (a hub, an account, a GPU type) over a period.

    Attributes:
        key: The group's name.
        sessions: Sessions settled in the period.
        measured: Those whose energy was measured.
        unknown: Those whose node could not measure it.
        wh: Watt-hours of the measured sessions.
        credits: Credits charged for every session of the group.
        credits_measured: Credits charged for the measured sessions.
        credits_per_kwh: ``credits_measured`` per kWh of ``wh``; None without energy.
        simulated: Of the measured sessions, those whose figure came from simulated GPUs
            (the demo's): their watt-hours are in ``wh`` but were never measured.
    """

    key: str
    sessions: int
    measured: int
    unknown: int
    wh: Decimal
    credits: Decimal
    credits_measured: Decimal
    credits_per_kwh: Decimal | None
    simulated: int = 0

    @property
    def pending(self) -> int:
        """Sessions whose energy has not reached the ledger (yet)."""
        return self.sessions - self.measured - self.unknown


def _key(session: EnergySession, by: EnergyGroup) -> str:
    if by == "hub":
        return session.hub
    if by == "account":
        return session.account
    if by == "kind":
        return session.kind
    return session.gpu


def aggregate_energy(sessions: Iterable[EnergySession], by: EnergyGroup) -> list[EnergyRow]:
    """Sum sessions' energy and charges by ``by``, sorted by group name. Pure.

    Credits per kWh count only the sessions whose energy was measured, so that a session
    still waiting for its figure does not make a hub look more efficient than it is.

    Raises:
        ValueError: an unknown grouping.
    """
    if by not in GROUPS:
        raise ValueError(f"energy can be grouped by {', '.join(GROUPS)}, not {by!r}")
    groups: dict[str, list[EnergySession]] = {}
    for session in sessions:
        groups.setdefault(_key(session, by), []).append(session)
    rows = []
    for key in sorted(groups):
        members = groups[key]
        measured = [s for s in members if s.wh is not None]
        wh = sum((s.wh for s in measured if s.wh is not None), Decimal(0))
        credits_measured = sum((s.charged for s in measured), Decimal(0))
        per_kwh = None
        if wh > 0:
            per_kwh = (credits_measured * 1000 / wh).quantize(WH_STEP, rounding=ROUND_HALF_UP)
        rows.append(
            EnergyRow(
                key=key,
                sessions=len(members),
                measured=len(measured),
                unknown=sum(1 for s in members if s.recorded and s.wh is None),
                wh=wh.quantize(WH_STEP),
                credits=sum((s.charged for s in members), Decimal(0)),
                credits_measured=credits_measured,
                credits_per_kwh=per_kwh,
                simulated=sum(1 for s in measured if s.simulated),
            )
        )
    return rows


def _record(row: m.SessionEnergy) -> EnergyRecord:
    return EnergyRecord(row.hold_id, row.wh, row.seconds, row.gpus, row.source, row.recorded_at)


class EnergyMixin(LedgerCore):
    """Recording sessions' energy and reporting it; no credit moves here."""

    def record_energy(
        self,
        hold_id: int,
        wh: Decimal | None,
        *,
        seconds: int,
        gpus: int,
        actor: str,
        source: str = "nvml",
    ) -> EnergyRecord:
        """Record a session's energy once (None: the node could not measure it).

        Idempotent: recording the same figures again returns the first record; other
        figures for a session that has one are a conflict (the first measurement stands).
        A session may be settled before or after its energy is recorded.

        Raises:
            UnknownHoldError: no such hold.
            ConflictError: the session has other figures already.
            ValueError: negative figures.
        """
        if (wh is not None and wh < 0) or seconds < 0 or gpus < 0:
            raise ValueError("energy, seconds and GPUs are never negative")
        value = None if wh is None else wh.quantize(WH_STEP, rounding=ROUND_HALF_UP)

        def body(op: _Op) -> EnergyRecord:
            if op.db.get(m.Hold, hold_id) is None:
                raise UnknownHoldError(hold_id)
            row = op.db.get(m.SessionEnergy, hold_id)
            if row is not None:
                if (row.wh, row.seconds, row.gpus, row.source) != (value, seconds, gpus, source):
                    raise ConflictError(f"hold {hold_id} has energy recorded already ({row.wh} Wh)")
                return _record(row)
            row = m.SessionEnergy(
                hold_id=hold_id,
                wh=value,
                seconds=seconds,
                gpus=gpus,
                source=source,
                recorded_at=op.now,
                recorded_by=op.actor,
            )
            op.db.add(row)
            op.db.flush()
            return _record(row)

        return self._write(actor, body)

    def energy_of(self, hold_id: int) -> EnergyRecord | None:
        """A session's recorded energy, None while none is recorded."""
        with self._read() as db:
            row = db.get(m.SessionEnergy, hold_id)
            return None if row is None else _record(row)

    def holds_awaiting_energy(self, since: datetime) -> list[AwaitingEnergy]:
        """Settled holds closed since ``since`` with a job and no energy recorded, oldest first."""
        with self._read() as db:
            rows = db.execute(
                select(m.Hold.id, m.Hold.hub, m.Hold.job_id, m.Hold.created_by, m.Hold.created_at)
                .outerjoin(m.SessionEnergy, m.SessionEnergy.hold_id == m.Hold.id)
                .where(
                    m.Hold.status == m.HoldStatus.SETTLED,
                    m.Hold.job_id.is_not(None),
                    m.Hold.updated_at >= since,
                    m.SessionEnergy.hold_id.is_(None),
                )
                .order_by(m.Hold.id)
            ).all()
            return [
                AwaitingEnergy(hold_id, hub, str(job_id), user, created_at)
                for hold_id, hub, job_id, user, created_at in rows
            ]

    def energy_sessions(self, start: datetime, end: datetime) -> list[EnergySession]:
        """Sessions settled in ``[start, end)`` with their charge, GPU and energy."""
        with self._read() as db:
            rows = db.execute(
                select(
                    m.Charge.hold_id,
                    m.Charge.hub,
                    m.Account.name,
                    m.Account.kind,
                    m.Charge.amount,
                    m.SessionEnergy.hold_id,
                    m.SessionEnergy.wh,
                    m.SessionEnergy.source,
                )
                .join(m.Account, m.Account.id == m.Charge.account_id)
                .outerjoin(m.SessionEnergy, m.SessionEnergy.hold_id == m.Charge.hold_id)
                .where(m.Charge.created_at >= start, m.Charge.created_at < end)
                .order_by(m.Charge.hold_id)
            ).all()
            ids = [row[0] for row in rows]
            gpu_of: dict[int, str] = {}
            if ids:
                for hold_id, resource in db.execute(
                    select(m.HoldResource.hold_id, m.HoldResource.resource)
                    .where(m.HoldResource.hold_id.in_(ids))
                    .order_by(m.HoldResource.hold_id, m.HoldResource.resource)
                ):
                    if resource != _CPU or hold_id not in gpu_of:
                        gpu_of[hold_id] = resource
            return [
                EnergySession(
                    hold_id=hold_id,
                    hub=hub,
                    account=account,
                    kind=str(kind),
                    gpu=gpu_of.get(hold_id, _CPU),
                    charged=amount,
                    wh=wh,
                    recorded=recorded is not None,
                    simulated=source == SIMULATED,
                )
                for hold_id, hub, account, kind, amount, recorded, wh, source in rows
            ]

    def energy_report(self, start: datetime, end: datetime, by: EnergyGroup) -> list[EnergyRow]:
        """Energy and credits of the sessions settled in ``[start, end)``, grouped by ``by``.

        Raises:
            ValueError: an unknown grouping, or an empty period.
        """
        if end <= start:
            raise ValueError("the period's end must come after its start")
        return aggregate_energy(self.energy_sessions(start, end), by)
