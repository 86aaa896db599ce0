"""Many sessions polled on the real bed with one squeue per hub per interval.

The hub's Slurm client runs the bed's real ``squeue`` through a wrapper that counts its
calls; N sessions poll their jobs as the spawner does while they start (every
``startup_poll_interval``), and every answer is checked against Slurm's own answer
for that job alone.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from computehub.localbed.bed import SlurmBed
from computehub.localbed.sitegen import bed_site, write_site
from computehub.sitefile import load_site
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import SlurmClient
from tests.support.slurmjobs import operator_submit, slurm_out

pytestmark = pytest.mark.integration

SESSIONS = 20
INTERVAL_S = 0.5
POLL_S = 0.25  # the spawner's startup_poll_interval
POLLING_S = 4.0


@pytest.fixture
def clean(slurm_bed: SlurmBed) -> Iterator[None]:
    yield
    for cluster in slurm_bed.clusters.values():
        cluster.cancel_all()


def counting_bin(tmp_path: Path) -> tuple[Path, Path]:
    """A directory of the real Slurm commands, each call of them logged, and the log."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    log.write_text("")
    for command in ("squeue", "scancel", "sacct"):
        real = shutil.which(command)
        assert real is not None
        wrapper = bin_dir / command
        wrapper.write_text(f'#!/bin/sh\necho {command} >> "{log}"\nexec {real} "$@"\n')
        wrapper.chmod(0o755)
    return bin_dir, log


async def test_many_sessions_are_polled_with_one_squeue_per_hub_per_interval(
    slurm_bed: SlurmBed,
    notebook_env: Path,
    test_users: dict[str, str],
    tmp_path: Path,
    clean: None,
) -> None:
    site = write_site(tmp_path / "site.yaml", bed_site(slurm_bed, notebook_env, test_users))
    registry = HubRegistry(load_site(site))
    bin_dir, log = counting_bin(tmp_path)
    client = SlurmClient(registry, str(bin_dir), queue_interval_s=INTERVAL_S)
    alone = SlurmClient(registry)  # Slurm's answer for one job, as batchspawner asks
    lahore = slurm_bed.clusters["lahore"]
    users = sorted(test_users)
    jobs = [
        operator_submit(
            lahore,
            users[n % len(users)],
            f"--job-name=scale-poll-{n}",
            "--time=5",
            "--cpus-per-task=1",
            "--mem=100M",
            "--wrap",
            "sleep 300",
        )
        for n in range(SESSIONS)
    ]
    submitted = client.now()  # every job exists: each session's listing must show it
    log.write_text("")
    seen: dict[str, list[str]] = {job: [] for job in jobs}

    async def session(job_id: str) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + POLLING_S
        while loop.time() < end:
            info, _ = await client.queued("lahore", job_id, submitted)
            assert info is not None, job_id
            seen[job_id].append(info.state)
            await asyncio.sleep(POLL_S)

    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(session(job) for job in jobs))
    elapsed = asyncio.get_running_loop().time() - started
    calls = log.read_text().split()
    polls = sum(len(states) for states in seen.values())
    # batchspawner would have run one squeue per poll: `polls` of them.
    assert calls.count("squeue") <= elapsed / INTERVAL_S + 1, (calls.count("squeue"), polls)
    assert polls >= SESSIONS * (POLLING_S / POLL_S) * 0.5
    assert set(calls) == {"squeue"}

    # Each answer is what Slurm says of that job alone (state, node, user, allocation).
    for job_id in jobs:
        info, place = await client.queued("lahore", job_id, client.now())
        single = await alone.job("lahore", job_id)
        assert info is not None
        assert single is not None
        assert (info.name, info.user, info.partition, info.cpus, info.memory_mb) == (
            single.name,
            single.user,
            single.partition,
            single.cpus,
            single.memory_mb,
        )
        assert info.state == single.state, job_id
        # The start (or a pending job's estimate) and limit the home page shows are
        # what squeue --start (pending) or squeue -j print for that job alone.
        alone_start = await alone.start_time("lahore", job_id, pending=info.state == "PENDING")
        assert alone_start is not None
        assert (info.start, info.minutes) == alone_start[1:], job_id
        if info.state == "PENDING":
            assert place == await alone.queue_position("lahore", job_id, info.partition)
        else:
            assert place is None

    # A listing asked for after a cancel shows the cancel, for every session at once.
    slurm_out(lahore, "scancel", *jobs)
    after = client.now()
    log.write_text("")
    listed = await asyncio.gather(*(client.queued("lahore", job, after) for job in jobs))
    assert all(info is None or info.state in ("CANCELLED", "COMPLETING") for info, _ in listed)
    assert log.read_text().split() == ["squeue"]
