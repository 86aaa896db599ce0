"""Jobs on the bed's clusters as the portal submits them, and as users or operators do.

Shared by the Slurm integration tests (imported by name: pytest puts each test
file's folder on the path).
"""

from __future__ import annotations

import secrets
import subprocess
import time

from computehub.localbed.slurm import SlurmCluster
from computehub.spawners.batch import job_name
from computehub.spawners.jobticket import JobClaim, load_key, sign


def slurm_out(cluster: SlurmCluster, *argv: str, user: str | None = None) -> str:
    """A Slurm command's stdout (as ``user`` through sudo, else as root); '' on failure."""
    prefix = ["sudo", "-n", "-u", user, "--preserve-env=SLURM_CONF"] if user else []
    return subprocess.run(
        [*prefix, *argv],
        env={**cluster.env, "SLURM_TIME_FORMAT": "%s"},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout.strip()


def slurm_run(
    cluster: SlurmCluster, *argv: str, user: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a Slurm command (as ``user`` through sudo, else as root); never raises."""
    prefix = ["sudo", "-n", "-u", user, "--preserve-env=SLURM_CONF"] if user else []
    return subprocess.run(
        [*prefix, *argv],
        input=stdin,
        env=cluster.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def portal_submit(
    cluster: SlurmCluster,
    user: str,
    uid: int,
    hold_id: int,
    *,
    gres: str = "",
    minutes: int = 5,
    command: str = "sleep 300",
) -> str:
    """Submit a job the way the portal does (name, partition, one CPU and 1 GB, as the
    user, and its ticket where the cluster has a key)."""
    name = job_name(cluster.name, hold_id)
    claim = JobClaim(cluster.name, uid, name, cluster.partition, minutes, gres, 1, 1024)
    directive = ""
    if cluster.ticket_key.exists():
        key = load_key(cluster.ticket_key)
        now = int(time.time())
        ticket = sign(key, claim, now, now + 300, secrets.token_hex(16))
        directive = f"#SBATCH --comment={ticket}\n"
    argv = [
        "sbatch",
        "--parsable",
        f"--job-name={name}",
        f"--partition={cluster.partition}",
        f"--time={minutes}",
        "--nodes=1",
        "--ntasks=1",
        "--cpus-per-task=1",
        "--mem=1G",
        "--no-requeue",
        "--output=/dev/null",
        "--chdir=/tmp",
    ]
    if gres:
        argv.append(f"--gres={gres}")
    done = slurm_run(cluster, *argv, user=user, stdin=f"#!/bin/bash\n{directive}{command}\n")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def operator_submit(cluster: SlurmCluster, user: str, *argv: str, script: str | None = None) -> str:
    """Submit as root for ``user`` (``--uid``): what an unguarded cluster lets users do."""
    done = slurm_run(
        cluster,
        "sbatch",
        "--parsable",
        f"--uid={user}",
        "--output=/dev/null",
        "--chdir=/tmp",
        *argv,
        stdin=script,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def job_state(cluster: SlurmCluster, job_id: str) -> str:
    """The job's state in accounting (its latest run), '' when there is none yet."""
    lines = slurm_out(cluster, "sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State").splitlines()
    return lines[-1] if lines else ""


def wait_state(cluster: SlurmCluster, job_id: str, state: str, timeout: float = 60) -> None:
    """Wait until squeue shows the job in ``state``."""
    deadline = time.monotonic() + timeout
    while slurm_out(cluster, "squeue", "-h", "-j", job_id, "-o", "%T") != state:
        assert time.monotonic() < deadline, f"job {cluster.name}/{job_id} never {state}"
        time.sleep(0.3)
