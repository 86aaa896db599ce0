"""Reading sessions' energy back from Slurm's accounting (the epilog's AdminComment). Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from computehub.credits.energy import AwaitingEnergy
from computehub.extensions.energyhook import EnergyNote
from computehub.spawners.energy import energy_by_hold

PLACED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
T = int(PLACED.timestamp())
HOLD = AwaitingEnergy(hold_id=9, hub="lahore", job_id="7", user="bob", created_at=PLACED)
NOTE = "computehub-energy/1 wh=1.5 s=60 gpus=1"


@pytest.mark.parametrize(
    ("lines", "found"),
    [
        pytest.param(
            [f"7|bob|{T + 1}|{NOTE}"], {9: EnergyNote(Decimal("1.5"), 60, 1)}, id="its-job"
        ),
        pytest.param([f"7|bob|{T + 1}|"], {}, id="not-yet-recorded"),
        pytest.param([f"7|eve|{T + 1}|{NOTE}"], {}, id="another-users-job-with-its-id"),
        pytest.param([f"7|bob|{T - 3600}|{NOTE}"], {}, id="an-older-job-with-its-id"),
        pytest.param([f"7|bob|{T + 1}|checked by ops"], {}, id="an-operators-comment"),
        pytest.param(
            [
                f"7|bob|{T + 1}|computehub-energy/1 wh=1 s=5 gpus=1",
                f"7|bob|{T + 9}|computehub-energy/1 wh=unknown s=0 gpus=1 why=no-start-reading",
            ],
            {9: EnergyNote(None, 0, 1, "no-start-reading")},
            id="the-latest-run",
        ),
        pytest.param([f"8|bob|{T + 1}|{NOTE}", "garbage"], {}, id="other-jobs-and-junk"),
    ],
)
def test_a_sessions_energy_is_its_own_jobs(lines: list[str], found: dict[int, EnergyNote]) -> None:
    assert energy_by_hold("\n".join(lines), [HOLD]) == found
