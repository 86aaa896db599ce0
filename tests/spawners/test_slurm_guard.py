"""Around the portal with Slurm's own commands: refused on the real bed.

The bed's clusters run computehub's job_submit.lua (hub_config/slurm/) as a
deployment should: only the portal's ticketed jobs in its partition, no owner changes
to portal jobs. The spawner adds what Slurm can't: no system accounts, and a job that
is not what was paid for when it starts is cancelled.
"""

from __future__ import annotations

import json
import time
import urllib.request
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from computehub.credits.errors import UnknownAccountError
from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.spawners.spawner import REQUEUED_NOTE
from tests.support.sessions import wait_ready
from tests.support.slurmjobs import operator_submit, slurm_out, slurm_run, wait_state

pytestmark = pytest.mark.integration

REFUSED = "are started from the portal only"


def test_a_system_account_created_over_rest_cannot_start_a_server(
    hub: Any, slurm_bed: SlurmBed
) -> None:
    """daemon (uid 1) never logs in, but an admin can create it: still no hold, no job."""
    status, _ = hub.api("POST", "/users/daemon")
    assert status in (201, 409)
    try:
        status, body = hub.api("POST", "/users/daemon/server", {"gpu_type": "none"})
        assert status == 403, body
        assert body["message"] == "daemon is a system account: it can't start notebook servers."
        with Ledger(hub.ledger_url) as ledger, pytest.raises(UnknownAccountError):
            ledger.balance("daemon")  # not even an account: nothing was held
        for cluster in slurm_bed.clusters.values():
            jobs = slurm_out(cluster, "sacct", "-n", "-X", "-u", "daemon", "-S", "now-1hours")
            assert jobs == ""
    finally:
        hub.api("DELETE", "/users/daemon")


def test_users_cannot_submit_to_the_portal_partition_or_take_session_names(
    slurm_bed: SlurmBed, test_users: dict[str, str], clean: None
) -> None:
    lahore = slurm_bed.clusters["lahore"]
    common = ["sbatch", "--parsable", "--output=/dev/null", "--chdir=/tmp", "--time=2"]
    attempts = {
        "H100 in the portal's partition": ["-p", "gpu", "--gres=gpu:h100:1"],
        "CPU in the portal's partition": ["-p", "gpu"],
        "a session's name elsewhere": ["--job-name=jupyterhub-lahore-1"],
        "a forged ticket": ["-p", "gpu", "--comment=computehub-ticket:v1:9999999999:00:00"],
    }
    for case, argv in attempts.items():
        done = slurm_run(lahore, *common, *argv, "--wrap", "sleep 1", user="bob")
        assert done.returncode != 0, case
        assert REFUSED in done.stderr, (case, done.stderr)
    # bob's own partition is his.
    own = slurm_run(lahore, *common, "--gres=gpu:h100:1", "--wrap", "sleep 1", user="bob")
    assert own.returncode == 0, own.stderr


def wait_gone(hub: Any, user: str, timeout: float = 60) -> None:
    """Wait until the hub no longer lists the user's server (it ended by itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, model = hub.api("GET", f"/users/{user}")
        if not model["servers"] and not model.get("pending"):
            return
        time.sleep(0.5)
    raise AssertionError(f"{user}'s server is still listed")


def server_state(hub: Any, user: str, key: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, model = hub.api("GET", f"/users/{user}")
        server = model["servers"].get("")
        if server and server.get("state", {}).get(key):
            return server["state"][key]
        time.sleep(0.3)
    raise AssertionError(f"{user}'s server never had {key} in its state")


def test_an_owner_cannot_change_a_pending_session(
    hub: Any, slurm_bed: SlurmBed, clean: None
) -> None:
    karachi = slurm_bed.clusters["karachi"]
    blocker = operator_submit(
        karachi, "carol", "--gres=gpu:a100:4", "--time=10", "--wrap", "sleep 600"
    )
    wait_state(karachi, blocker, "RUNNING")
    body = {"hub": "karachi", "gpu_type": "a100", "gpus": 1, "hours": "0.5"}
    status, _ = hub.api("POST", "/users/bob/server", body)
    assert status in (201, 202)
    job = server_state(hub, "bob", "job_id")
    wait_state(karachi, job, "PENDING")
    before = slurm_out(karachi, "squeue", "-h", "-j", job, "-o", "%l|%b|%P|%j|%r")
    for change in ("TimeLimit=20", "Gres=gpu:a100:4", "Partition=batch", "Requeue=1", "Name=x"):
        done = slurm_run(karachi, "scontrol", "update", f"JobId={job}", change, user="bob")
        assert done.returncode != 0, change
    assert slurm_run(karachi, "scontrol", "hold", job, user="bob").returncode != 0
    assert slurm_out(karachi, "squeue", "-h", "-j", job, "-o", "%l|%b|%P|%j|%r") == before
    assert before.startswith("30:00|gres:gpu:a100:1|gpu|jupyterhub-karachi-")
    # The portal's session itself starts once the GPUs are free.
    slurm_run(karachi, "scancel", blocker)
    assert wait_ready(hub, "bob")["state"]["job_id"] == job


def progress_until_done(hub: Any, user: str, timeout: float = 120) -> list[dict[str, Any]]:
    req = urllib.request.Request(  # noqa: S310 (loopback)
        f"{hub.url}/hub/api/users/{user}/server/progress",
        headers={"Authorization": f"token {hub.token}", "Accept": "text/event-stream"},
    )
    events: list[dict[str, Any]] = []
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("failed") or events[-1].get("ready"):
                    return events
    return events


def test_a_session_changed_while_pending_is_cancelled_when_it_starts(
    hub: Any, slurm_bed: SlurmBed, clean: None
) -> None:
    """An operator (or an unguarded cluster's owner) gave the pending job more GPUs."""
    karachi = slurm_bed.clusters["karachi"]
    blocker = operator_submit(
        karachi, "carol", "--gres=gpu:a100:4", "--time=10", "--wrap", "sleep 600"
    )
    wait_state(karachi, blocker, "RUNNING")
    body = {"hub": "karachi", "gpu_type": "a100", "gpus": 1, "hours": "0.5"}
    assert hub.api("POST", "/users/alice/server", body)[0] in (201, 202)
    job = server_state(hub, "alice", "job_id")
    hold_id = server_state(hub, "alice", "hold_id")
    wait_state(karachi, job, "PENDING")
    changed = slurm_run(karachi, "scontrol", "update", f"JobId={job}", "Gres=gpu:a100:2")
    assert changed.returncode == 0, changed.stderr
    slurm_run(karachi, "scancel", blocker)
    events = progress_until_done(hub, "alice")
    assert events[-1].get("failed"), events
    assert "Slurm gave this session other resources than it was paid for" in events[-1]["message"]
    # While it waited, the reason was a fixed sentence, not Slurm's (finding 7).
    waiting = [e["message"] for e in events if "waiting on karachi" in e.get("message", "")]
    assert waiting, events
    assert all("Slurm says" not in message for message in waiting)
    deadline = time.monotonic() + 60
    while slurm_out(karachi, "squeue", "-h", "-j", job, "-o", "%T") in ("RUNNING", "PENDING"):
        assert time.monotonic() < deadline, "the changed job kept running"
        time.sleep(0.5)
    with Ledger(hub.ledger_url) as ledger:
        while ledger.hold(hold_id).status == "open":
            assert time.monotonic() < deadline, "the cancelled session was never settled"
            time.sleep(0.5)
        assert ledger.hold(hold_id).status == "settled"


def test_a_requeued_session_is_ended_and_every_run_is_charged(
    hub: Any, slurm_bed: SlurmBed, clean: None
) -> None:
    """Its owner can't requeue it; an operator can (draining a node, say): a requeued
    job would run again on a fresh time limit, so the session is ended (ALERT) and pays
    for every run (finding 1: on an unguarded cluster the owner could requeue it again
    and again, each run capped at the hold)."""
    lahore = slurm_bed.clusters["lahore"]
    body = {"hub": "lahore", "gpu_type": "h100", "gpus": 1, "hours": "1"}
    assert hub.api("POST", "/users/alice/server", body)[0] in (201, 202)
    state = wait_ready(hub, "alice")["state"]
    job, hold_id = state["job_id"], state["hold_id"]
    for argv in (["requeue", job], ["update", f"JobId={job}", "Requeue=1"]):
        done = slurm_run(lahore, "scontrol", *argv, user="alice")
        assert done.returncode != 0, argv
    assert slurm_out(lahore, "squeue", "-h", "-j", job, "-o", "%T") == "RUNNING"
    time.sleep(2)
    assert slurm_run(lahore, "scontrol", "update", f"JobId={job}", "Requeue=1").returncode == 0
    assert slurm_run(lahore, "scontrol", "requeue", job).returncode == 0
    deadline = time.monotonic() + 60
    while slurm_out(lahore, "squeue", "-h", "-j", job, "-o", "%T") in ("PENDING", "RUNNING"):
        assert time.monotonic() < deadline, "the requeued session's job was not cancelled"
        time.sleep(0.5)
    with Ledger(hub.ledger_url) as ledger:
        while ledger.hold(hold_id).status == "open":
            assert time.monotonic() < deadline, "the requeued session was never settled"
            time.sleep(0.5)
        assert ledger.hold(hold_id).status == "settled"
        assert ledger.session(hold_id).end_note == REQUEUED_NOTE
        charge = next(
            e for e in ledger.history("alice") if e.kind == "charge" and e.hold_id == hold_id
        )
    records = slurm_out(
        lahore, "sacct", "-n", "-X", "-P", "-D", "-j", job, "-o", "State,ElapsedRaw"
    ).splitlines()
    states = [record.split("|")[0] for record in records]
    assert states[0] == "REQUEUED", records
    assert states[-1].startswith("CANCELLED"), records
    elapsed = [int(record.split("|")[1]) for record in records]
    used = (Decimal(sum(elapsed)) / 3600).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    assert -charge.change == (10 * used).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) > 0
    log = hub.process.log.read_text()
    assert f"ALERT: job lahore/{job} of alice (hold {hold_id}) was requeued" in log
    wait_gone(hub, "alice")
