"""Reserved capacity for academia on the real Slurm bed (docs/capacity.md).

Two clusters of this module's own: ``multan`` (3 H100s, 2 reserved for academic
accounts, the cheaper) and ``sialkot`` (1 H100). Multan's Slurm is set up as
docs/capacity.md says: the partition QOS ``multan-unreserved`` caps the portal's
``gpu`` and the users' ``batch`` partition at 1 H100 together, the reserved
partition ``gpu-academic`` has no cap and admits only jobs with the hub's ticket,
and ``AccountingStorageEnforce=associations,limits,qos``. The accounts come from
approved applications for credits: ``acme`` (a startup's project, owned by alice) and
``floodlab`` (a research group's, owned by bob). Starts go through JupyterHub's REST
API; what reaches Slurm is read with squeue, the ledger directly.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from computehub.credits import models as m
from computehub.credits.applications import proposal
from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import MissingComponentError, free_port
from computehub.localbed.sitegen import write_site
from computehub.localbed.slurm import SlurmCluster
from computehub.sitefile.capacity import slurm_capacity
from computehub.sitefile.schema import Hub as HubSpec
from tests.support.bedtools import assert_ledger_clean, component_missing
from tests.support.login import ldap_login
from tests.support.onehub import USERS, Hub, site_data
from tests.support.slurmjobs import slurm_out, slurm_run

pytestmark = pytest.mark.integration

ACADEMIC = {
    "title": "academic accounts",
    "gpus": {"h100": 2},
    "account_kinds": ["course"],
    "organisation_kinds": ["research-group", "course"],
}


def _site(clusters: dict[str, SlurmCluster], notebook_env: Path) -> dict[str, Any]:
    multan = site_data(clusters["multan"], notebook_env, {"h100": 3})
    sialkot = site_data(clusters["sialkot"], notebook_env, {"h100": 1})
    multan["hubs"]["multan"]["reservations"] = {"academic": ACADEMIC}
    sialkot["hubs"]["sialkot"]["rates"]["gpu:h100"] = "12"  # "any hub" prefers Multan
    return {**multan, "hubs": {**multan["hubs"], **sialkot["hubs"]}}


@pytest.fixture(scope="module")
def clusters(slurm_bed: SlurmBed, notebook_env: Path) -> Iterator[dict[str, SlurmCluster]]:
    """multan, with the Slurm side of its reservation, and sialkot, one node each."""
    found = {
        name: SlurmCluster(name, slurm_bed.base / name, slurm_bed.munge, slurm_bed.dbd, gpus)
        for name, gpus in (("multan", {"h100": 3}), ("sialkot", {"h100": 1}))
    }
    spec = HubSpec.model_validate(_site(found, notebook_env)["hubs"]["multan"])
    found["multan"].capacity = slurm_capacity("multan", spec)
    found["multan"].slurm_users = USERS
    for cluster in found.values():
        cluster.start()
    yield found
    for cluster in found.values():
        cluster.cancel_all()
        cluster.stop()


def _application(ledger: Ledger, applicant: str, account: str, kind: str) -> None:
    today = date.today()
    wanted = proposal(
        organisation=f"{account} ({kind})",
        organisation_kind=kind,
        title=f"{account}'s flood model",
        summary="Flood prediction for the Indus basin.",
        category="flood-prediction",
        priority=True,
        gpu="h100",
        hours="100",
        starts_on=today,
        ends_on=today + timedelta(days=90),
        account=account,
        new_account=True,
    )
    application = ledger.submit_application(applicant, wanted)
    ledger.approve_application(application.id, actor="carol")


@pytest.fixture(scope="module")
def hub(
    bed_root: Path,
    clusters: dict[str, SlurmCluster],
    notebook_env: Path,
    test_users: dict[str, str],
) -> Iterator[Hub]:
    """JupyterHub on multan and sialkot; acme (startup) and floodlab (research group)."""
    site = write_site(bed_root / "capacity-site.yaml", _site(clusters, notebook_env))
    token = secrets.token_hex(24)
    extra = bed_root / "capacity-extra.py"
    extra.write_text(
        f"c.JupyterHub.services.append({{'name': 'test-driver', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-driver', 'services': ['test-driver'],\n"
        "    'scopes': ['admin:users', 'admin:servers', 'access:servers', 'list:users']})\n"
        "c.JupyterHub.allow_named_servers = True\n"
        "c.Spawner.poll_interval = 3\n"
        "c.ComputeHubSpawner.free_gpus_cache_s = 0.5\n"
    )
    extra.chmod(0o600)
    process = HubProcess(
        bed_root / "capacity-hub",
        site,
        extra_config=extra,
        extra_env={
            "COMPUTEHUB_RECONCILE_INTERVAL": "5",
            "COMPUTEHUB_CREDITS_PORT": str(free_port()),
        },
    )
    try:
        process.start()
    except MissingComponentError as err:
        component_missing(err)
    running = Hub(process, token)
    try:
        for user in USERS:
            status, _ = running.api("POST", f"/users/{user}")
            assert status in (201, 409)
        with Ledger(running.ledger_url) as ledger:
            for user in USERS:
                ledger.ensure_personal_account(user, actor="test")
                ledger.grant(user, "1000", actor="test", idempotency_key=f"capacity:{user}")
            _application(ledger, "alice", "acme", "startup")
            _application(ledger, "bob", "floodlab", "research-group")
        yield running
    finally:
        for user in USERS:
            _, model = running.api("GET", f"/users/{user}")
            for name in list((model or {}).get("servers", {})):
                path = f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
                running.api("DELETE", path)
        process.stop()
    assert_ledger_clean(running.ledger_url)


def _wait_ready(hub: Hub, user: str, server: str = "", timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, model = hub.api("GET", f"/users/{user}")
        found = model["servers"].get(server) if status == 200 else None
        if found and found["ready"]:
            return
        time.sleep(0.3)
    raise AssertionError(f"{user}'s server {server!r} not ready in {timeout} s")


def _start(hub: Hub, user: str, server: str, options: dict[str, Any]) -> tuple[int, Any]:
    path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
    return hub.api("POST", path, options)


def _jobs(cluster: SlurmCluster, user: str) -> list[str]:
    """``partition gres state`` of each of ``user``'s jobs on ``cluster``."""
    out = slurm_out(cluster, "squeue", "-h", "-u", user, "-o", "%P %b %T")
    return sorted(out.splitlines())


def _holds(hub: Hub) -> int:
    with Ledger(hub.ledger_url) as ledger, ledger.engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(m.Hold)).scalar_one())


def _h100(account: str, count: int, where: str = "multan") -> dict[str, Any]:
    return {"hub": where, "gpu_type": "h100", "gpus": count, "hours": "1", "account": account}


def test_a_startup_is_refused_the_reserved_h100s_and_a_research_group_gets_them(
    hub: Hub, clusters: dict[str, SlurmCluster]
) -> None:
    multan, sialkot = clusters["multan"], clusters["sialkot"]

    # acme (a startup) may use Multan's one unreserved H100, in the hub's partition.
    status, body = _start(hub, "alice", "", _h100("acme", 1))
    assert status in (201, 202), body
    _wait_ready(hub, "alice")
    assert _jobs(multan, "alice") == ["gpu gres:gpu:h100:1 RUNNING"]

    # One more: only the two reserved H100s are free, so it is refused before a hold.
    holds = _holds(hub)
    status, body = _start(hub, "alice", "second", _h100("acme", 1))
    assert status == 400, body
    assert body["message"] == (
        "Invalid spawn option gpus: 2 of Multan AI Hub's 3 H100 GPUs are reserved for "
        "academic accounts; the account 'acme' (a startup's project) may use the other 1, "
        "all busy now. Try again later."
    )
    # Two at once would need a reserved one even on an idle hub.
    status, body = _start(hub, "alice", "second", _h100("acme", 2))
    assert status == 400, body
    assert "may use the other 1, so at most 1 at once" in body["message"]
    assert _holds(hub) == holds
    assert _jobs(multan, "alice") == ["gpu gres:gpu:h100:1 RUNNING"]

    # "Any hub": Multan is cheaper, but its free H100s are reserved for others: Sialkot.
    status, body = _start(hub, "alice", "anywhere", {**_h100("acme", 1), "hub": "any"})
    assert status in (201, 202), body
    _wait_ready(hub, "alice", "anywhere")
    assert _jobs(sialkot, "alice") == ["gpu gres:gpu:h100:1 RUNNING"]

    # floodlab (a research group) gets both reserved H100s, in the reserved partition.
    status, body = _start(hub, "bob", "", _h100("floodlab", 2))
    assert status in (201, 202), body
    _wait_ready(hub, "bob")
    assert _jobs(multan, "bob") == ["gpu-academic gres:gpu:h100:2 RUNNING"]


def test_slurm_refuses_the_reserved_partition_and_caps_other_jobs_without_the_hub(
    hub: Hub, clusters: dict[str, SlurmCluster]
) -> None:
    """What a user's own sbatch meets: the reserved path needs the hub's ticket, and
    their jobs elsewhere on the node share the unreserved H100s' cap."""
    multan = clusters["multan"]
    sbatch = ["sbatch", "--chdir=/tmp", "-o", "/dev/null", "--wrap", "sleep 300"]
    direct = slurm_run(multan, *sbatch, "-p", "gpu-academic", "--gres=gpu:h100:1", user="alice")
    assert direct.returncode != 0
    assert "started from the portal only (it carries no portal ticket)" in direct.stderr

    held = slurm_run(multan, *sbatch, "-p", "batch", "--gres=gpu:h100:1", user="alice")
    untyped = slurm_run(multan, *sbatch, "-p", "batch", "--gres=gpu:1", user="alice")
    assert held.returncode == 0, held.stderr
    assert untyped.returncode == 0, untyped.stderr
    try:
        # The unreserved H100 may be idle (the other test's sessions may be gone): use it.
        blocker = slurm_run(multan, *sbatch, "-p", "batch", "--gres=gpu:h100:1", user="bob")
        assert blocker.returncode == 0, blocker.stderr
        time.sleep(3)
        states = slurm_out(multan, "squeue", "-h", "-p", "batch", "-o", "%T %r")
        assert states.count("QOSGrpGRES") >= 2, states
    finally:
        slurm_run(multan, "scancel", "-p", "batch")


def _stop_all(hub: Hub, timeout: float = 90) -> None:
    for user in USERS:
        _, model = hub.api("GET", f"/users/{user}")
        for name in list(model["servers"]):
            hub.api("DELETE", f"/users/{user}/servers/{name}" if name else f"/users/{user}/server")
    deadline = time.monotonic() + timeout
    for user in USERS:
        while True:
            _, model = hub.api("GET", f"/users/{user}")
            if not model["servers"]:
                break
            assert time.monotonic() < deadline, f"{user}'s servers are still listed"
            time.sleep(0.5)


def _choose(page: Any, account: str) -> str:
    """Multan, one H100, paid by ``account``: the ledger's estimate as the form shows it."""
    page.select_option("#ch-hub", "multan")
    page.select_option("#ch-gpu-type", "h100")
    page.fill("#ch-gpus", "1")
    page.select_option("#ch-account", account)
    page.wait_for_selector('#ch-cost[data-source="ledger"]')
    return str(page.inner_text("#ch-cost"))


def test_the_form_shows_the_reservation_and_what_it_means_for_the_account(
    hub: Hub, clusters: dict[str, SlurmCluster], browser: Any, output_dir: Path
) -> None:
    _stop_all(hub)
    status, body = _start(hub, "alice", "", _h100("acme", 1))  # the unreserved H100
    assert status in (201, 202), body
    _wait_ready(hub, "alice")
    for user, account, words in (
        (
            "alice",
            "acme",
            "You can't start this: gpus: 2 of Multan AI Hub's 3 H100 GPUs are reserved for "
            "academic accounts; the account 'acme' (a startup's project) may use the other 1, "
            "all busy now.",
        ),
        (
            "bob",
            "floodlab",
            "The account 'floodlab' (a research-group's project) may use any of Multan AI "
            "Hub's 3 H100 GPUs, the 2 reserved for academic accounts included.",
        ),
    ):
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        try:
            ldap_login(page, hub.url, user, "any password")
            page.goto(f"{hub.url}/hub/spawn/{user}/form")
            line = page.locator('#ch-hub option[value="multan"]').inner_text()
            assert "H100: 2 of 3 free, 2 reserved for academic accounts" in line
            assert words in _choose(page, account)
            page.eval_on_selector("#ch-hub", "el => { el.size = el.options.length; }")
            page.screenshot(path=str(output_dir / f"form-{account}.png"), full_page=True)
        finally:
            page.close()
