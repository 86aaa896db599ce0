"""The shipped sudoers rule (hub_config/sudoers.d/computehub), installed for real.

The hub's user may run sbatch, and only sbatch, as members of computehub-users, and
never as root or a system account, whatever group they are put in.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from computehub.localbed.bed import SlurmBed
from computehub.localbed.proc import MissingComponentError, run
from computehub.localbed.users import ensure_user
from tests.support.bedtools import component_missing

pytestmark = pytest.mark.integration

RULE = Path(__file__).resolve().parents[2] / "hub_config" / "sudoers.d" / "computehub"
INSTALLED = Path("/etc/sudoers.d/computehub")
#: A course's grader account (nbgrader.courses.*.grader) and what the hub runs as it.
GRADER = "grader-nbg-a"
FORMGRADER = (
    "/opt/computehub/envs/notebook/bin/python",
    "-m",
    "computehub.extensions.formgrader",
)


def _group_add(group: str, *members: str) -> None:
    done = subprocess.run(["getent", "group", group], capture_output=True, check=False)
    if done.returncode != 0:
        run(["groupadd", group])
    for member in members:
        run(["usermod", "-a", "-G", group, member])


@pytest.fixture(scope="module")
def sudoers(test_users: dict[str, str]) -> Iterator[None]:
    if shutil.which("visudo") is None or shutil.which("sudo") is None:
        component_missing(MissingComponentError("sudo not installed (Debian package sudo)"))
    check = subprocess.run(["visudo", "-cf", str(RULE)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    if INSTALLED.exists() and INSTALLED.read_bytes() != RULE.read_bytes():
        pytest.fail(f"{INSTALLED} exists and is not the shipped rule: not touching it")
    exists = subprocess.run(["id", "computehub"], capture_output=True, check=False)
    if exists.returncode != 0:  # the hub's service user: a system account, no home
        run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "computehub",
            ]
        )
    ensure_user("alice")
    ensure_user(GRADER)
    _group_add("computehub-users", "alice", "bob")
    _group_add("computehub-graders", GRADER)
    # A mistake the negations must survive: root and daemon put in the platform's group.
    _group_add("computehub-users", "root", "daemon")
    shutil.copyfile(RULE, INSTALLED)
    INSTALLED.chmod(0o440)
    try:
        yield
    finally:
        INSTALLED.unlink(missing_ok=True)
        run(["gpasswd", "-d", "root", "computehub-users"])
        run(["gpasswd", "-d", "daemon", "computehub-users"])


def as_hub(bed: SlurmBed, *argv: str) -> subprocess.CompletedProcess[str]:
    """``sudo -n -u TARGET --preserve-env=SLURM_CONF ...`` run by the hub's user."""
    return subprocess.run(
        ["sudo", "-n", "-u", "computehub", "--preserve-env=SLURM_CONF", "sudo", "-n", *argv],
        env=bed.clusters["lahore"].env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_the_hub_may_run_sbatch_as_platform_users_only(sudoers: None, slurm_bed: SlurmBed) -> None:
    keep = "--preserve-env=SLURM_CONF"
    allowed = as_hub(slurm_bed, "-u", "alice", keep, "/usr/bin/sbatch", "--version")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.startswith("slurm")
    for target in ("root", "daemon", "munge", "slurm", "carol"):
        refused = as_hub(slurm_bed, "-u", target, keep, "/usr/bin/sbatch", "--version")
        assert refused.returncode != 0, target
        assert refused.stderr.startswith("sudo:"), (target, refused.stderr)
    for command in (["/bin/sh", "-c", "id"], ["/usr/bin/scancel", "1"], ["/usr/bin/id"]):
        refused = as_hub(slurm_bed, "-u", "alice", *command)
        assert refused.returncode != 0, command
        assert refused.stderr.startswith("sudo:"), (command, refused.stderr)


def test_the_hub_may_start_formgraders_as_graders_only(sudoers: None, slurm_bed: SlurmBed) -> None:
    """computehub.nbgraderhub's command for a hub that does not run as root."""
    started = as_hub(slurm_bed, "-E", "-H", "-u", GRADER, *FORMGRADER)
    # sudo let it run: the starter itself answers (no course in its environment here).
    assert not started.stderr.startswith("sudo:"), started.stderr
    assert "COMPUTEHUB_NBGRADER_COURSE" in started.stderr, started.stderr
    for target in ("alice", "root", "daemon"):
        refused = as_hub(slurm_bed, "-E", "-H", "-u", target, *FORMGRADER)
        assert refused.stderr.startswith("sudo:"), (target, refused.stderr)
    python = FORMGRADER[0]
    for command in ([python, "-c", "print(1)"], ["/bin/sh", "-c", "id"], [python]):
        refused = as_hub(slurm_bed, "-E", "-H", "-u", GRADER, *command)
        assert refused.stderr.startswith("sudo:"), (command, refused.stderr)
