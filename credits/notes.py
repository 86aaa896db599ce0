"""Notes on sessions: why one ended, for its user to read beside the charge."""

from __future__ import annotations

from sqlalchemy import update

from computehub.credits import models as m
from computehub.credits.core import LedgerCore, _Op
from computehub.credits.errors import UnknownHoldError

#: The longest end note kept (the column's size).
END_NOTE_MAX = 500


class NotesMixin(LedgerCore):
    """Writes that move no credit: notes on holds."""

    def note_session_end(self, hold_id: int, note: str, *, actor: str) -> None:
        """Record why a session ended (e.g. stopped after its GPUs were idle).

        The note is shown with the session's charge; a later note replaces it.

        Raises:
            UnknownHoldError: no such hold.
            ValueError: an empty or too long note.
        """
        note = note.strip()
        if not note or len(note) > END_NOTE_MAX:
            raise ValueError(f"a session's end note has 1 to {END_NOTE_MAX} characters")

        def body(op: _Op) -> None:
            changed = op.db.execute(
                update(m.Hold).where(m.Hold.id == hold_id).values(end_note=note)
            )
            if getattr(changed, "rowcount", 0) != 1:
                raise UnknownHoldError(hold_id)

        self._write(actor, body)

    def request_cancel(self, hold_id: int, *, actor: str) -> None:
        """Record that the platform asked Slurm to end the hold's job (the first time counts).

        Kept in the ledger so that the request survives the hub forgetting the job:
        reconciliation cancels a job whose open hold has it.

        Raises:
            UnknownHoldError: no such hold.
        """

        def body(op: _Op) -> None:
            hold = op.db.get(m.Hold, hold_id)
            if hold is None:
                raise UnknownHoldError(hold_id)
            if hold.cancel_requested_at is None:
                hold.cancel_requested_at = op.now

        self._write(actor, body)
