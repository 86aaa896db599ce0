"""The hub's start check against real clusters: no GPU hub without its guard, unless the
site file says so; a ticket key only with the guard running; and a hub whose controller
did not answer at start is checked before its first session.

A cluster of its own (``sibi``, 2 H100s) runs without the job_submit.lua guard, as an
unguarded deployment would; the hubs here start from hub_config/ as deployed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import BedError, MissingComponentError, free_port
from computehub.localbed.sitegen import write_site
from computehub.localbed.slurm import SlurmCluster
from tests.support.bedtools import component_missing
from tests.support.onehub import USERS, Hub, site_data
from tests.support.slurmjobs import slurm_out

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sibi(slurm_bed: SlurmBed) -> Iterator[SlurmCluster]:
    """A cluster without the guard (no JobSubmitPlugins), with a ticket key made for it."""
    cluster = SlurmCluster(
        "sibi", slurm_bed.base / "sibi", slurm_bed.munge, slurm_bed.dbd, {"h100": 2}, guard=False
    )
    cluster.start()
    cluster.ticket_key.write_text(secrets.token_hex(32) + "\n")
    cluster.ticket_key.chmod(0o600)
    yield cluster
    cluster.cancel_all()
    cluster.stop()


@pytest.fixture(scope="module")
def recording_bin(bed_root: Path) -> Path:
    """Slurm's commands, scontrol recording that it ran (the hub's slurm_bin_dir)."""
    path = bed_root / "start-check-bin"
    path.mkdir(exist_ok=True)
    path.chmod(0o755)
    scontrol = path / "scontrol"
    scontrol.write_text(f'#!/bin/sh\ntouch {path}/scontrol-ran\nexec /usr/bin/scontrol "$@"\n')
    scontrol.chmod(0o755)
    for name in ("sbatch", "squeue", "scancel", "sacct", "sinfo"):
        if not (path / name).exists():
            (path / name).symlink_to(f"/usr/bin/{name}")
    return path


def sibi_site(bed_root: Path, cluster: SlurmCluster, notebook_env: Path, **slurm: Any) -> Path:
    data = site_data(cluster, notebook_env, {"h100": 2})
    settings = data["hubs"]["sibi"]["slurm"]
    settings.pop("job_ticket_key_file")
    settings.update(slurm)
    return write_site(bed_root / f"sibi-site-{secrets.token_hex(4)}.yaml", data)


def extra(path: Path, token: str, slurm_bin: Path) -> Path:
    path.write_text(
        f"c.JupyterHub.services.append({{'name': 'test-driver', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-driver', 'services': ['test-driver'],\n"
        "    'scopes': ['admin:users', 'admin:servers', 'list:users']})\n"
        f"c.ComputeHubSpawner.slurm_bin_dir = {str(slurm_bin)!r}\n"
    )
    path.chmod(0o600)
    return path


def refused_start(process: HubProcess) -> str:
    """Start a hub that must refuse to start; its log."""
    try:
        with pytest.raises(BedError, match="JupyterHub exited at start"):
            process.start(timeout=60)
    except MissingComponentError as err:
        component_missing(err)
    finally:
        process.stop()  # one that did start is stopped, whatever the outcome
    return process.log.read_text()


def test_a_hub_selling_gpus_without_the_guard_refuses_to_start(
    bed_root: Path, sibi: SlurmCluster, notebook_env: Path
) -> None:
    """No job_ticket_key_file, no unguarded: true (finding 1)."""
    site = sibi_site(bed_root, sibi, notebook_env)
    log = refused_start(HubProcess(bed_root / "sibi-hub-no-key", site))
    assert (
        "computehub: hubs.sibi.slurm: a hub that sells GPUs needs its cluster's job_submit.lua "
        "guard: give job_ticket_key_file"
    ) in log
    assert "set unguarded: true to run without it (unsafe" in log


def test_a_ticket_key_without_the_guard_running_stops_the_hub(
    bed_root: Path, sibi: SlurmCluster, notebook_env: Path, recording_bin: Path
) -> None:
    """The hub has a key, the cluster runs no job_submit.lua: nothing checks the tickets.
    The check runs the spawner's Slurm commands (its slurm_bin_dir), not those on PATH."""
    (recording_bin / "scontrol-ran").unlink(missing_ok=True)
    site = sibi_site(bed_root, sibi, notebook_env, job_ticket_key_file=str(sibi.ticket_key))
    token = secrets.token_hex(24)
    process = HubProcess(
        bed_root / "sibi-hub-no-lua",
        site,
        extra_config=extra(bed_root / "sibi-no-lua-extra.py", token, recording_bin),
    )
    log = refused_start(process)
    assert (
        "computehub: hub sibi has a job ticket key, but its Slurm does not run the "
        f"job_submit.lua guard: set JobSubmitPlugins=lua in {sibi.conf}"
    ) in log
    assert (recording_bin / "scontrol-ran").exists()


@pytest.fixture
def down_at_start(
    bed_root: Path, sibi: SlurmCluster, notebook_env: Path, test_users: dict[str, str]
) -> Iterator[Hub]:
    """A hub on sibi, with a key, started while sibi's controller was down."""
    site = sibi_site(bed_root, sibi, notebook_env, job_ticket_key_file=str(sibi.ticket_key))
    token = secrets.token_hex(24)
    process = HubProcess(
        bed_root / "sibi-hub-down",
        site,
        extra_config=extra(bed_root / "sibi-down-extra.py", token, Path("/usr/bin")),
        extra_env={"COMPUTEHUB_CREDITS_PORT": str(free_port())},
    )
    sibi.stop_controller()
    try:
        process.start()
    except MissingComponentError as err:
        component_missing(err)
    finally:
        sibi.start_controller()
    try:
        yield Hub(process, token)
    finally:
        process.stop()


def test_a_hub_whose_controller_was_down_at_start_checks_it_before_a_session(
    down_at_start: Hub, sibi: SlurmCluster
) -> None:
    hub = down_at_start
    log = hub.process.log.read_text()
    assert "computehub: warning: hub sibi: scontrol show config failed" in log
    assert "its sessions are checked before they start" in log
    for user in USERS:
        assert hub.api("POST", f"/users/{user}")[0] in (201, 409)
    status, body = hub.api("POST", "/users/alice/server", {"gpu_type": "h100", "hours": "1"})
    assert status == 503, body
    assert body["message"] == (
        "The Sibi AI Hub hub is not set up to run sessions safely; nothing was charged. "
        "Please tell the test operators."
    )
    with Ledger(hub.ledger_url) as ledger:
        assert ledger.sessions("alice") == []  # nothing was held
    assert slurm_out(sibi, "squeue", "-h", "-u", "alice") == ""
    assert "does not run the job_submit.lua guard" in hub.process.log.read_text()
