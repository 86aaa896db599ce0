"""GPU-busy hours per session: recorded apart from the charge, for the operator console.

The ledger knows nothing of JupyterHub, Slurm or the servers' reports: it takes a hold
id and a number of GPU-hours the hub worked out (clamped to the session's GPUs times its
elapsed time) and keeps one figure per session. The figure is self-reported by the
user's own notebook server: a statistic, never billed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from computehub.credits import models as m
from computehub.credits.core import LedgerCore, _Op
from computehub.credits.errors import ConflictError, UnknownHoldError
from computehub.credits.money import QUANTUM


@dataclass(frozen=True)
class GpuBusyRecord:
    """A session's recorded GPU-busy hours.

    Attributes:
        hold_id: The session's hold.
        busy_hours: GPU-hours its GPUs were busy (at or above the idle rule's threshold).
        recorded_at: When the ledger recorded (or last raised) it.
    """

    hold_id: int
    busy_hours: Decimal
    recorded_at: datetime


def _record(row: m.SessionGpuBusy) -> GpuBusyRecord:
    return GpuBusyRecord(row.hold_id, row.busy_hours, row.recorded_at)


class GpuBusyMixin(LedgerCore):
    """Recording sessions' GPU-busy hours; no credit moves here."""

    def record_gpu_busy(self, hold_id: int, busy_hours: Decimal, *, actor: str) -> GpuBusyRecord:
        """Record a session's GPU-busy hours (rounded half up to the ledger's quantum).

        Idempotent, and only upward: the reports' busy time is cumulative, so recording
        the same figure again returns the record unchanged, a larger one (a later report
        of the same session) raises it, and a smaller one is a conflict (the larger figure
        stands). A session may be settled before or after its figure is recorded.

        Raises:
            UnknownHoldError: no such hold.
            ConflictError: the session has a larger figure already.
            ValueError: a negative or non-finite figure.
        """
        if not busy_hours.is_finite() or busy_hours < 0:
            raise ValueError("GPU-busy hours are a finite number, never negative")
        value = busy_hours.quantize(QUANTUM, rounding=ROUND_HALF_UP)

        def body(op: _Op) -> GpuBusyRecord:
            if op.db.get(m.Hold, hold_id) is None:
                raise UnknownHoldError(hold_id)
            row = op.db.get(m.SessionGpuBusy, hold_id)
            if row is None:
                row = m.SessionGpuBusy(
                    hold_id=hold_id, busy_hours=value, recorded_at=op.now, recorded_by=op.actor
                )
                op.db.add(row)
            elif value < row.busy_hours:
                raise ConflictError(
                    f"hold {hold_id} has {row.busy_hours} GPU-busy hours recorded already, "
                    f"more than {value}"
                )
            elif value > row.busy_hours:
                row.busy_hours, row.recorded_at, row.recorded_by = value, op.now, op.actor
            op.db.flush()
            return _record(row)

        return self._write(actor, body)

    def gpu_busy_of(self, hold_id: int) -> GpuBusyRecord | None:
        """A session's recorded GPU-busy hours, None while none is recorded."""
        with self._read() as db:
            row = db.get(m.SessionGpuBusy, hold_id)
            return None if row is None else _record(row)
