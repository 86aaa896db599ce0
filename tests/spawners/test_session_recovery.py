"""Sessions through hub crashes, cancelled starts, controller outages and job-id reuse.

A hub of its own on a cluster of its own (``multan``, 2 H100s whose Slurm accounts
only untyped ``gres/gpu``), so that these tests can kill the hub, stop the controller
and reset its job ids without disturbing the session's bed. The hub's Slurm commands
come from a folder of wrappers that a test can make slow (sbatch), blind (an empty
squeue), or raced (sbatch submits the portal's job script twice, as a user who read
it from their own sbatch's stdin would), by creating a flag file.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from computehub.credits import models as m
from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import BedError, MissingComponentError, free_port
from computehub.localbed.sitegen import write_site
from computehub.localbed.slurm import SlurmCluster
from tests.support.bedtools import component_missing
from tests.support.onehub import USERS, Hub, site_data
from tests.support.slurmjobs import job_state, operator_submit, slurm_out, slurm_run, wait_state

pytestmark = pytest.mark.integration

WRAPPED = {
    "sbatch": "[ -e {flags}/slow-sbatch ] && sleep 5\n"
    "if [ -e {flags}/race-sbatch ]; then\n"
    '  script=$(cat)\n  printf "%s\\n" "$script" | /usr/bin/sbatch "$@" >/dev/null 2>&1\n'
    '  printf "%s\\n" "$script" | exec /usr/bin/sbatch "$@"\nfi\n'
    'exec /usr/bin/sbatch "$@"',
    "squeue": '[ -e {flags}/empty-squeue ] && exit 0\nexec /usr/bin/squeue "$@"',
}
PASSED = ("scancel", "sacct", "scontrol", "sinfo")


@pytest.fixture(scope="module")
def multan(slurm_bed: SlurmBed) -> Iterator[SlurmCluster]:
    """A third cluster whose Slurm accounts GPUs only as untyped gres/gpu."""
    cluster = SlurmCluster(
        "multan",
        slurm_bed.base / "multan",
        slurm_bed.munge,
        slurm_bed.dbd,
        {"h100": 2},
        accounting_tres=["gres/gpu"],
    )
    cluster.start()
    yield cluster
    cluster.cancel_all()
    cluster.stop()


@pytest.fixture(scope="module")
def flags(bed_root: Path) -> Path:
    path = bed_root / "recovery-flags"
    path.mkdir(exist_ok=True)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def slurm_bin(bed_root: Path, flags: Path) -> Path:
    """Slurm's commands, sbatch and squeue wrapped (sbatch runs as the user, via sudo)."""
    path = bed_root / "recovery-bin"
    path.mkdir(exist_ok=True)
    path.chmod(0o755)
    for name, body in WRAPPED.items():
        wrapper = path / name
        wrapper.write_text("#!/bin/sh\n" + body.format(flags=flags) + "\n")
        wrapper.chmod(0o755)
    for name in PASSED:
        if not (path / name).exists():
            (path / name).symlink_to(f"/usr/bin/{name}")
    return path


def extra_config(path: Path, token: str, slurm_bin: Path) -> Path:
    path.write_text(
        f"c.JupyterHub.services.append({{'name': 'test-driver', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-driver', 'services': ['test-driver'],\n"
        "    'scopes': ['admin:users', 'admin:servers', 'access:servers', 'list:users']})\n"
        "c.JupyterHub.log_level = 'DEBUG'\n"
        "c.Spawner.poll_interval = 3\n"
        f"c.ComputeHubSpawner.slurm_bin_dir = {str(slurm_bin)!r}\n"
    )
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def hub(
    bed_root: Path,
    multan: SlurmCluster,
    notebook_env: Path,
    test_users: dict[str, str],
    slurm_bin: Path,
) -> Iterator[Hub]:
    """JupyterHub from hub_config/ on multan only, its reconciler passing every 5 s."""
    site = write_site(bed_root / "recovery-site.yaml", site_data(multan, notebook_env, {"h100": 2}))
    token = secrets.token_hex(24)
    process = HubProcess(
        bed_root / "recovery-hub",
        site,
        extra_config=extra_config(bed_root / "recovery-extra.py", token, slurm_bin),
        extra_env={
            "COMPUTEHUB_RECONCILE_INTERVAL": "5",
            "COMPUTEHUB_CREDITS_PORT": str(free_port()),
        },
    )
    try:
        process.start()
    except MissingComponentError as err:
        component_missing(err)
    try:
        running = Hub(process, token)
        for user in USERS:
            status, _ = running.api("POST", f"/users/{user}")
            assert status in (201, 409)
        with Ledger(running.ledger_url) as ledger:
            for user in USERS:
                ledger.ensure_personal_account(user, actor="test")
                ledger.grant(user, "1000", actor="test", idempotency_key=f"recovery:{user}")
        yield running
    finally:
        process.stop()


def wait_ready(hub: Hub, user: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, model = hub.api("GET", f"/users/{user}")
        server = model["servers"].get("") if status == 200 else None
        if server and server["ready"]:
            return dict(server)
        time.sleep(0.3)
    raise AssertionError(f"{user}'s server not ready in {timeout} s")


def wait_gone(hub: Hub, user: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, model = hub.api("GET", f"/users/{user}")
        if status == 200 and not model["servers"] and not model.get("pending"):
            return
        time.sleep(0.5)
    raise AssertionError(f"{user}'s server is still listed")


def stop(hub: Hub, user: str) -> None:
    hub.api("DELETE", f"/users/{user}/server")
    wait_gone(hub, user)


def wait_hold(hub: Hub, hold_id: int, status: str = "settled", timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    with Ledger(hub.ledger_url) as ledger:
        while ledger.hold(hold_id).status != status:
            assert time.monotonic() < deadline, (
                f"hold {hold_id} is {ledger.hold(hold_id).status}, not {status}"
            )
            time.sleep(0.5)


def charge_of(hub: Hub, user: str, hold_id: int) -> Decimal:
    with Ledger(hub.ledger_url) as ledger:
        entry = next(
            e
            for e in ledger.history(user, limit=1000)
            if e.kind == "charge" and e.hold_id == hold_id
        )
    return -entry.change


def session_jobs(cluster: SlurmCluster, user: str, since: int) -> list[tuple[str, str]]:
    """(job id, state) of the user's session jobs submitted since ``since`` (epoch)."""
    out = slurm_out(
        cluster, "sacct", "-n", "-X", "-P", "-D", "-u", user, "-S", "now-1hours",
        "-o", "JobID,JobName,State,Submit",
    )  # fmt: skip
    found = []
    for line in out.splitlines():
        job_id, name, state, submitted = line.split("|")
        if name.startswith(f"jupyterhub-{cluster.name}") and int(submitted) >= since:
            found.append((job_id, state))
    return found


def latest_hold(hub: Hub, user: str) -> int:
    """The newest hold on the user's personal account."""
    with Ledger(hub.ledger_url) as ledger:
        return ledger.sessions(user, limit=1)[0].hold.id


@pytest.fixture
def clean(hub: Hub, multan: SlurmCluster, flags: Path) -> Iterator[None]:
    def reset() -> None:
        for flag in flags.iterdir():
            flag.unlink()
        for user in USERS:
            hub.api("DELETE", f"/users/{user}/server")
        for user in USERS:
            wait_gone(hub, user)
        multan.cancel_all()

    reset()
    yield
    reset()


def test_a_session_is_charged_for_its_gpus_when_slurm_accounts_only_gres_gpu(
    hub: Hub, multan: SlurmCluster, clean: None
) -> None:
    hub.api("POST", "/users/alice/server", {"gpu_type": "h100", "gpus": 2, "hours": "1"})
    state = wait_ready(hub, "alice")["state"]
    time.sleep(2)
    stop(hub, "alice")
    wait_hold(hub, state["hold_id"])
    elapsed, tres = slurm_out(
        multan, "sacct", "-n", "-X", "-P", "-j", state["job_id"], "-o", "ElapsedRaw,AllocTRES"
    ).split("|")
    assert "gres/gpu=2" in tres.split(",")
    assert "gres/gpu:h100" not in tres  # untyped only: what used to be charged 0
    used = (2 * Decimal(elapsed) / 3600).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    assert (
        charge_of(hub, "alice", state["hold_id"])
        == (10 * used).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        > 0
    )


def test_a_cluster_that_does_not_account_a_rated_gpu_stops_the_hub(
    slurm_bed: SlurmBed, bed_root: Path, notebook_env: Path
) -> None:
    quetta = SlurmCluster(
        "quetta",
        slurm_bed.base / "quetta",
        slurm_bed.munge,
        slurm_bed.dbd,
        {"h100": 1, "a100": 1},
        accounting_tres=["gres/gpu:h100"],
    )
    quetta.start()
    try:
        site = write_site(
            bed_root / "quetta-site.yaml", site_data(quetta, notebook_env, {"h100": 1, "a100": 1})
        )
        process = HubProcess(bed_root / "quetta-hub", site)
        with pytest.raises(BedError, match="JupyterHub exited at start"):
            process.start(timeout=60)
        process.stop()
        assert (
            f"computehub: hub quetta: Slurm does not account gres/gpu:a100, which the rate "
            f"gpu:a100 charges for: add gres/gpu:a100 (or gres/gpu) to AccountingStorageTRES "
            f"in {quetta.conf}\n"
        ) in process.log.read_text()
    finally:
        quetta.stop()


def block_gpus(cluster: SlurmCluster, count: int) -> str:
    job = operator_submit(
        cluster, "carol", f"--gres=gpu:h100:{count}", "--time=10", "--wrap", "sleep 600"
    )
    wait_state(cluster, job, "RUNNING")
    return job


def test_a_hub_killed_during_a_pending_start_ends_the_job_when_it_restarts(
    hub: Hub, multan: SlurmCluster, clean: None
) -> None:
    blocker = block_gpus(multan, 2)
    since = int(time.time()) - 5
    hub.api("POST", "/users/alice/server", {"gpu_type": "h100", "gpus": 1, "hours": "1"})
    deadline = time.monotonic() + 60
    while not (jobs := session_jobs(multan, "alice", since)):
        assert time.monotonic() < deadline, "the start never reached Slurm"
        time.sleep(0.3)
    (job_id, _), *_ = jobs
    hold_id = latest_hold(hub, "alice")
    wait_state(multan, job_id, "PENDING")
    hub.process.kill()  # SIGKILL while the job waits in the queue
    hub.process.start()
    deadline = time.monotonic() + 60
    while slurm_out(multan, "squeue", "-h", "-j", job_id, "-o", "%T") in ("PENDING", "RUNNING"):
        assert time.monotonic() < deadline, "the restarted hub left the job in the queue"
        time.sleep(0.5)
    assert job_state(multan, job_id).startswith("CANCELLED")
    wait_hold(hub, hold_id)
    wait_gone(hub, "alice")
    slurm_run(multan, "scancel", blocker)


def test_cancelling_a_start_while_sbatch_runs_ends_the_job_it_submits(
    hub: Hub, multan: SlurmCluster, flags: Path, clean: None
) -> None:
    (flags / "slow-sbatch").touch()
    since = int(time.time()) - 5

    def newest() -> list[int]:
        with Ledger(hub.ledger_url) as ledger:
            return [s.hold.id for s in ledger.sessions("bob", limit=1)]

    before = newest()
    starting = threading.Thread(
        target=hub.api, args=("POST", "/users/bob/server", {"gpu_type": "none", "hours": "1"})
    )
    starting.start()
    # The hold is placed just before sbatch, which then sleeps 5 s in its wrapper: the
    # stop must come in that window, however long the start took to get there.
    deadline = time.monotonic() + 60
    while newest() == before:
        assert time.monotonic() < deadline, "the start never placed its hold"
        time.sleep(0.1)
    hub.api("DELETE", "/users/bob/server")
    starting.join()
    deadline = time.monotonic() + 60
    while not (jobs := session_jobs(multan, "bob", since)):
        assert time.monotonic() < deadline, "sbatch never submitted the job"
        time.sleep(0.5)
    (job_id, _), *_ = jobs
    while not job_state(multan, job_id).startswith("CANCELLED"):
        assert time.monotonic() < deadline, f"job {job_id} outlived its cancelled start"
        time.sleep(0.5)
    hold_id = latest_hold(hub, "bob")
    wait_hold(hub, hold_id)  # settled for what it used, not voided while it ran
    with Ledger(hub.ledger_url) as ledger:
        assert ledger.hold(hold_id).job_id == job_id
    wait_gone(hub, "bob")


def test_a_stop_while_the_controller_is_down_is_carried_out_when_it_answers(
    hub: Hub, multan: SlurmCluster, clean: None
) -> None:
    hub.api("POST", "/users/carol/server", {"gpu_type": "none", "hours": "1"})
    state = wait_ready(hub, "carol")["state"]
    multan.stop_controller()
    try:
        hub.api("DELETE", "/users/carol/server")
        wait_gone(hub, "carol")  # the hub lets go of it, the ledger keeps the request
    finally:
        multan.start_controller()
    deadline = time.monotonic() + 60
    while not job_state(multan, state["job_id"]).startswith("CANCELLED"):
        assert time.monotonic() < deadline, "the job was never cancelled"
        time.sleep(0.5)
    wait_hold(hub, state["hold_id"])


def test_a_transient_empty_squeue_does_not_end_a_session(
    hub: Hub, multan: SlurmCluster, flags: Path, clean: None
) -> None:
    hub.api("POST", "/users/alice/server", {"gpu_type": "none", "hours": "1"})
    state = wait_ready(hub, "alice")["state"]
    (flags / "empty-squeue").touch()
    time.sleep(8)  # two polls of the session see an empty queue
    (flags / "empty-squeue").unlink()
    deadline = time.monotonic() + 30  # what a poll decides may take settle_wait_s to show
    while time.monotonic() < deadline:
        _, model = hub.api("GET", "/users/alice")
        assert model["servers"].get("", {}).get("ready"), "the session was ended"
        time.sleep(1)
    assert slurm_out(multan, "squeue", "-h", "-j", state["job_id"], "-o", "%T") == "RUNNING"
    with Ledger(hub.ledger_url) as ledger:
        assert ledger.hold(state["hold_id"]).status == "open"


def test_a_reused_job_id_starts_and_settles_its_own_session(
    hub: Hub, multan: SlurmCluster, clean: None
) -> None:
    """The controller loses its state twice: both sessions get job id 1."""
    runs: list[dict[str, Any]] = []
    for seconds in (6, 1):
        multan.restart_fresh()
        hub.api("POST", "/users/bob/server", {"gpu_type": "none", "hours": "1"})
        runs.append(wait_ready(hub, "bob")["state"])
        time.sleep(seconds)
        stop(hub, "bob")
        wait_hold(hub, runs[-1]["hold_id"])
    assert runs[0]["job_id"] == runs[1]["job_id"]
    assert runs[0]["hold_id"] != runs[1]["hold_id"]
    records = slurm_out(
        multan, "sacct", "-n", "-X", "-P", "-D", "-j", runs[1]["job_id"], "-o", "JobName,ElapsedRaw"
    ).splitlines()
    names = [record.split("|")[0] for record in records]
    # Slurm's accounting has both sessions' jobs (and earlier ones) under one id.
    assert {f"jupyterhub-multan-{run['hold_id']}" for run in runs} <= set(names)
    for run in runs:
        name = f"jupyterhub-multan-{run['hold_id']}"
        elapsed = next(int(r.split("|")[1]) for r in records if r.split("|")[0] == name)
        used = (Decimal(elapsed) / 3600).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        expected = (Decimal("0.5") * used).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        assert charge_of(hub, "bob", run["hold_id"]) == expected


def test_a_job_raced_with_the_sessions_ticket_is_paid_by_its_hold_and_cancelled(
    hub: Hub, multan: SlurmCluster, flags: Path, clean: None
) -> None:
    """alice submits her session's job herself, with the ticket she read from her own
    sbatch's stdin, before the portal does (finding 3). The guard then refuses the
    portal's sbatch (the ticket was used): the hub records her job on the hold and
    cancels it at once, instead of voiding the hold while the job runs free."""
    (flags / "race-sbatch").touch()
    since = int(time.time()) - 5
    status, body = hub.api(
        "POST", "/users/alice/server", {"gpu_type": "h100", "gpus": 1, "hours": "1"}
    )
    assert status == 409, body
    assert body["message"].startswith("Another job took this session's place")
    jobs = session_jobs(multan, "alice", since)
    assert len(jobs) == 1, jobs  # hers; the portal's own was refused
    (job_id, _), *_ = jobs
    deadline = time.monotonic() + 30
    while not job_state(multan, job_id).startswith("CANCELLED"):
        assert time.monotonic() < deadline, f"the raced job {job_id} was left running"
        time.sleep(0.5)
    hold_id = latest_hold(hub, "alice")
    wait_hold(hub, hold_id)  # settled for what it used, not voided
    with Ledger(hub.ledger_url) as ledger:
        assert ledger.hold(hold_id).job_id == job_id
    assert "used already" in hub.process.log.read_text()
    wait_gone(hub, "alice")


def test_an_empty_squeue_does_not_end_a_session_that_waited_long_to_start(
    hub: Hub, multan: SlurmCluster, flags: Path, clean: None
) -> None:
    """A 1 h session waited 3.5 h in the queue, then started; one squeue lists nothing
    (finding 2). Its hold is old but its run is young: the session stays."""
    hub.api("POST", "/users/alice/server", {"gpu_type": "none", "hours": "1"})
    state = wait_ready(hub, "alice")["state"]
    with Ledger(hub.ledger_url) as ledger, ledger.engine.begin() as db:
        placed = datetime.now(UTC) - timedelta(hours=3.5)
        db.execute(update(m.Hold).where(m.Hold.id == state["hold_id"]).values(created_at=placed))
    # The hub reads the hold again when it restarts (it keeps the one it placed).
    hub.process.kill()
    (flags / "empty-squeue").touch()
    hub.process.start()
    time.sleep(8)  # the hub's first poll at start, then two more, see an empty queue
    (flags / "empty-squeue").unlink()
    deadline = time.monotonic() + 25  # what a poll decides may take settle_wait_s to show
    while time.monotonic() < deadline:
        _, model = hub.api("GET", "/users/alice")
        assert model["servers"].get("", {}).get("ready"), "the session was ended"
        time.sleep(1)
    assert slurm_out(multan, "squeue", "-h", "-j", state["job_id"], "-o", "%T") == "RUNNING"
    with Ledger(hub.ledger_url) as ledger:
        assert ledger.hold(state["hold_id"]).status == "open"
        assert ledger.hold(state["hold_id"]).cancel_requested_at is None
