"""Sessions' GPU energy: read from Slurm's accounting, recorded in the ledger.

The node's epilog (``computehub-energy-hook``, run by slurmd as root) records a job's
energy as its AdminComment, which only a Slurm administrator may write; the job and the
notebook server (the user's code) can't. The reconciler reads it back with ``sacct`` for
the sessions settled lately whose energy the ledger lacks, and records it with its own
idempotent ledger operation: the charge is often settled before the epilog has run.
:func:`energy_by_hold` is the pure part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from computehub.credits.energy import AwaitingEnergy
from computehub.credits.errors import ConflictError
from computehub.credits.ledger import Ledger
from computehub.extensions.energyhook import EnergyNote, parse_comment
from computehub.spawners.accounting import CLOCK_SKEW_S, ENERGY_FIELDS
from computehub.spawners.slurmclient import SACCT_CHUNK, SlurmClient, SlurmError

log = logging.getLogger("computehub.energy")

#: Job ids per sacct call.
BATCH = SACCT_CHUNK


def energy_by_hold(output: str, awaiting: Iterable[AwaitingEnergy]) -> dict[int, EnergyNote]:
    """The energy notes in ``sacct -o ENERGY_FIELDS`` lines, by the hold each is for. Pure.

    A line is a hold's when its job id is the hold's job, its user placed the hold and it
    was submitted after the hold was placed (Slurm reuses job ids); of several runs (a
    requeued job), the latest. Lines whose AdminComment is not the hook's are ignored.
    """
    count = len(ENERGY_FIELDS.split(","))
    runs: dict[str, list[tuple[str, int, str]]] = {}
    for line in output.splitlines():
        parts = line.split("|", count - 1)
        if len(parts) != count:
            continue
        job_id, user, submitted, comment = (part.strip() for part in parts)
        if submitted.isascii() and submitted.isdigit():
            runs.setdefault(job_id, []).append((user, int(submitted), comment))
    found: dict[int, EnergyNote] = {}
    for hold in awaiting:
        since = hold.created_at.timestamp() - CLOCK_SKEW_S
        mine = sorted(
            (when, comment)
            for user, when, comment in runs.get(hold.job_id, [])
            if user == hold.user and when >= since
        )
        if mine and (note := parse_comment(mine[-1][1])) is not None:
            found[hold.hold_id] = note
    return found


async def collect_energy(
    ledger: Ledger, slurm: SlurmClient, hubs: Sequence[str], since: datetime
) -> dict[int, EnergyNote]:
    """Record the energy of sessions settled since ``since`` that the epilog has recorded.

    Hubs whose accounting does not answer are skipped (tried again next pass).

    Returns:
        What was recorded, by hold id.
    """
    awaiting = await asyncio.to_thread(ledger.holds_awaiting_energy, since)
    by_hub: dict[str, list[AwaitingEnergy]] = {}
    for hold in awaiting:
        if hold.hub in hubs and hold.job_id.isascii() and hold.job_id.isdigit():
            by_hub.setdefault(hold.hub, []).append(hold)
    recorded: dict[int, EnergyNote] = {}
    for hub, holds in by_hub.items():
        chunks = [holds[first : first + BATCH] for first in range(0, len(holds), BATCH)]
        try:  # the chunks' sacct calls overlap (SlurmClient.runs_of_chunks)
            outs = await slurm.runs_of_chunks(
                hub, [sorted({h.job_id for h in chunk}) for chunk in chunks], ENERGY_FIELDS
            )
        except SlurmError as err:
            log.warning("Energy of hub %s not read: sacct failed (%s)", hub, err)
            continue
        for chunk, out in zip(chunks, outs, strict=True):
            for hold_id, note in energy_by_hold(out, chunk).items():
                try:
                    await asyncio.to_thread(
                        ledger.record_energy,
                        hold_id,
                        note.wh,
                        seconds=round(note.seconds),
                        gpus=note.gpus,
                        actor="reconciler",
                        source=note.source,
                    )
                except ConflictError as err:
                    log.error("ALERT: energy of hold %s: %s", hold_id, err)
                    continue
                recorded[hold_id] = note
                log.info(
                    "Energy of hold %s: %s (%s)",
                    hold_id,
                    "unknown" if note.wh is None else f"{note.wh} Wh",
                    note.source,
                )
    return recorded
