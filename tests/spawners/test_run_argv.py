"""A Slurm command that does not answer in time is reported, whatever its children do."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from computehub.spawners.slurmclient import KILLED_WAIT_S, SlurmUnavailableError, run_argv


async def test_a_timed_out_command_whose_child_keeps_its_pipes_is_reported() -> None:
    # sudo's child (sbatch) outlives a killed sudo and holds its stdout and stderr: the
    # caller must still hear of the timeout (Python 3.11's wait() waits for the pipes).
    argv = ["/bin/sh", "-c", "sleep 60 & sleep 60"]
    began = time.monotonic()
    with pytest.raises(SlurmUnavailableError, match="did not answer within"):
        await asyncio.wait_for(run_argv(argv, dict(os.environ), 0.5), KILLED_WAIT_S + 15)
    assert time.monotonic() - began < KILLED_WAIT_S + 10
