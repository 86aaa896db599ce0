"""What a finished job really used, from Slurm accounting (``sacct``). Pure parsing.

``sacct -n -X -P -j ID -o State,ElapsedRaw,AllocTRES,UID,End`` prints e.g.
``COMPLETED|3600|billing=1,cpu=1,gres/gpu:h100=2,gres/gpu=2,node=1|1001|2026-11-23T01:00:00``.
slurmdbd may first store a finished job with uid 0 and an empty TRES and fill them
in a moment later, so a record is only *complete* once the uid is set and the job
has an end time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

SACCT_FIELDS = "State,ElapsedRaw,AllocTRES,UID,End"
#: States of a job that still runs or may run again: not settled yet.
_LIVE = ("PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED", "COMPLETING")
_GPU_TRES = re.compile(r"^gres/gpu:([^=]+)=(\d+)$")
SECONDS_PER_HOUR = Decimal(3600)
#: The ledger keeps resource-hours to 4 decimal places (0.36 s).
HOURS_STEP = Decimal("0.0001")


@dataclass(frozen=True)
class JobUsage:
    """A job's accounting record."""

    state: str
    elapsed_s: int
    gpus: Mapping[str, int]
    complete: bool

    def resource_hours(self, resource: str, gres_type: str | None = None) -> dict[str, Decimal]:
        """Resource-hours to charge for ``resource``.

        Args:
            resource: ``gpu:TYPE``, ``mig:TYPE:PROFILE`` or ``cpu``.
            gres_type: the Slurm GRES type the GPUs or slices were allocated as
                (default for ``gpu:TYPE``: TYPE); units are the allocated count of it.
        """
        if resource == "cpu":
            units = 1
        else:
            gres = gres_type or resource.removeprefix("gpu:")
            units = self.gpus.get(gres, 0)
        used = Decimal(self.elapsed_s * units) / SECONDS_PER_HOUR
        return {resource: used.quantize(HOURS_STEP, rounding=ROUND_HALF_UP)}


def parse_sacct(output: str) -> JobUsage | None:
    """The usage in sacct's first line for the job, or None when there is none yet."""
    line = next((ln for ln in output.splitlines() if ln.strip()), "")
    parts = line.split("|")
    if len(parts) < 5:
        return None
    state = parts[0].split()[0] if parts[0].strip() else ""
    try:
        elapsed = int(parts[1] or 0)
        uid = int(parts[3] or 0)
    except ValueError:
        return None
    gpus: dict[str, int] = {}
    for item in parts[2].split(","):
        match = _GPU_TRES.match(item.strip())
        if match:
            gpus[match.group(1)] = int(match.group(2))
    ended = parts[4].strip() not in ("", "Unknown", "None")
    complete = bool(state) and not state.startswith(_LIVE) and uid != 0 and ended
    return JobUsage(state, elapsed, gpus, complete)
