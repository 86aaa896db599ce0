"""A hub whose controller stops, and a hub an operator puts in maintenance (real Slurm).

A hub of its own on two clusters of its own (``quetta``, the cheaper, and ``sukkur``),
so that stopping a controller and closing a hub leave the session's bed alone. The
status page (credits service) and the spawn form are looked at in Chromium, as
people see them; starts go through JupyterHub's REST API; the ledger is read
directly. Screenshots: ``test-output/<test name>/``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from computehub.credits import models as m
from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import MissingComponentError, free_port
from computehub.localbed.sitegen import write_site
from computehub.localbed.slurm import SlurmCluster
from computehub.spawners.spawner import ComputeHubSpawner
from tests.support.bedtools import assert_ledger_clean, component_missing
from tests.support.login import ldap_login
from tests.support.onehub import USERS, Hub, site_data
from tests.support.slurmjobs import job_state, slurm_out

pytestmark = pytest.mark.integration

#: How long the hub reuses what a controller said (free GPUs, queue, no answer).
CACHE_S = 2
#: How old a queue read a start's controller check may take (the spawner's default).
CONTROLLER_CHECK_S = ComputeHubSpawner.controller_check_s.default_value
MESSAGE = "Cooling work in the machine room until 23:00 UTC"


@pytest.fixture(scope="module")
def clusters(slurm_bed: SlurmBed) -> Iterator[dict[str, SlurmCluster]]:
    """Two clusters of this module's own, one node each."""
    found = {
        name: SlurmCluster(name, slurm_bed.base / name, slurm_bed.munge, slurm_bed.dbd, gpus)
        for name, gpus in (("quetta", {"h100": 2}), ("sukkur", {"a100": 2}))
    }
    for cluster in found.values():
        cluster.start()
    yield found
    for cluster in found.values():
        cluster.cancel_all()
        cluster.stop()


@pytest.fixture(scope="module")
def hub(
    bed_root: Path,
    clusters: dict[str, SlurmCluster],
    notebook_env: Path,
    test_users: dict[str, str],
) -> Iterator[Hub]:
    """JupyterHub on quetta and sukkur; CPU sessions are cheaper on quetta."""
    quetta = site_data(clusters["quetta"], notebook_env, {"h100": 2})
    sukkur = site_data(clusters["sukkur"], notebook_env, {"a100": 2})
    quetta["hubs"]["quetta"]["rates"]["cpu"] = "0.25"  # "any hub" prefers it when it is up
    data = {**quetta, "hubs": {**quetta["hubs"], **sukkur["hubs"]}}
    site = write_site(bed_root / "hubdown-site.yaml", data)
    token = secrets.token_hex(24)
    extra = bed_root / "hubdown-extra.py"
    extra.write_text(
        f"c.JupyterHub.services.append({{'name': 'test-driver', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-driver', 'services': ['test-driver'],\n"
        "    'scopes': ['admin:users', 'admin:servers', 'access:servers', 'list:users']})\n"
        "c.Spawner.poll_interval = 3\n"
        f"c.ComputeHubSpawner.free_gpus_cache_s = {CACHE_S}\n"
    )
    extra.chmod(0o600)
    process = HubProcess(
        bed_root / "hubdown-hub",
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
                ledger.grant(user, "1000", actor="test", idempotency_key=f"hubdown:{user}")
        yield running
    finally:
        for user in USERS:
            running.api("DELETE", f"/users/{user}/server")
        process.stop()
    assert_ledger_clean(running.ledger_url)


@pytest.fixture
def people(hub: Hub, clusters: dict[str, SlurmCluster]) -> Iterator[None]:
    """Every test starts and ends with no servers, no jobs and no hub in maintenance."""

    def reset() -> None:
        maintenance(hub, "quetta", "--off")
        maintenance(hub, "sukkur", "--off")
        for user in USERS:
            hub.api("DELETE", f"/users/{user}/server")
        for user in USERS:
            wait_gone(hub, user)

    reset()
    yield
    reset()


def maintenance(hub: Hub, *args: str) -> str:
    """``computehub hubs maintenance ARGS`` as an operator runs it on the hub's host."""
    env = {
        **os.environ,
        "COMPUTEHUB_STATE_DIR": str(hub.process.base),
        "COMPUTEHUB_SITE": str(hub.process.site_file),
    }
    done = subprocess.run(
        [sys.executable, "-m", "computehub.cli", "hubs", "maintenance", *args, "--actor", "zara"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


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


def start(hub: Hub, user: str, hub_name: str) -> tuple[int, Any]:
    return hub.api("POST", f"/users/{user}/server", {"hub": hub_name, "gpu_type": "none"})


def holds(hub: Hub) -> int:
    with Ledger(hub.ledger_url) as ledger, ledger.engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(m.Hold)).scalar_one())


def wait_settled(hub: Hub, hold_id: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    with Ledger(hub.ledger_url) as ledger:
        while ledger.hold(hold_id).status != "settled":
            assert time.monotonic() < deadline, f"hold {hold_id} is {ledger.hold(hold_id).status}"
            time.sleep(0.5)


def status_rows(page: Any, hub: Hub) -> dict[str, str]:
    """The status page's state of each hub, after one load (a refresh)."""
    page.goto(f"{hub.url}/services/credits/hubs")
    page.wait_for_selector("#ch-hubs")
    rows = page.locator("#ch-hubs tr[data-hub]")
    return {
        rows.nth(i).get_attribute("data-hub"): rows.nth(i).get_attribute("data-state")
        for i in range(rows.count())
    }


def show_hub_list(page: Any) -> None:
    """Draw the hub choice as an open list (a screenshot shows no drop-down)."""
    page.eval_on_selector("#ch-hub", "el => { el.size = el.options.length; }")


def test_a_hub_whose_controller_stops_is_down_and_nothing_is_lost(
    hub: Hub,
    clusters: dict[str, SlurmCluster],
    people: None,
    browser: Any,
    output_dir: Path,
) -> None:
    quetta, sukkur = clusters["quetta"], clusters["sukkur"]
    start(hub, "alice", "sukkur")  # the other hub's session, which must not notice
    start(hub, "bob", "quetta")  # a session on the hub that goes down
    alice = wait_ready(hub, "alice")["state"]
    bob = wait_ready(hub, "bob")["state"]
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    try:
        ldap_login(page, hub.url, "carol", "any password")
        assert status_rows(page, hub) == {"quetta": "up", "sukkur": "up"}
        page.screenshot(path=str(output_dir / "1-status-both-up.png"), full_page=True)

        quetta.stop_controller()
        stopped = time.monotonic()
        try:
            time.sleep(CACHE_S + 0.5)  # what the hub saw before is past its reuse
            assert status_rows(page, hub) == {"quetta": "down", "sukkur": "up"}
            row = page.locator('#ch-hubs tr[data-hub="quetta"]')
            assert "scheduler is not answering" in row.locator(".ch-message").inner_text()
            assert "availability unknown" in row.locator(".ch-gpus").inner_text()
            page.screenshot(path=str(output_dir / "2-status-quetta-down.png"), full_page=True)

            page.goto(f"{hub.url}/hub/spawn")
            option = page.locator('#ch-hub option[value="quetta"]')
            assert option.get_attribute("data-state") == "down"
            assert option.is_disabled()
            assert "down: its scheduler is not answering" in option.inner_text()
            assert page.locator('#ch-hub option[value="sukkur"]').is_enabled()
            notice = page.locator('#ch-hub-status li[data-hub="quetta"]').inner_text()
            assert "The Quetta AI Hub scheduler is not answering" in notice
            assert page.input_value("#ch-hub") == "any"  # quetta, the default, is closed
            # The price of "any hub" is the ledger's estimate for sukkur, not quetta's.
            page.wait_for_selector('#ch-cost[data-source="ledger"]')
            assert "on Sukkur AI Hub" in page.inner_text("#ch-cost")
            show_hub_list(page)
            page.screenshot(path=str(output_dir / "3-form-quetta-down.png"), full_page=True)

            # A start there is refused with a sentence, before anything is held (once the
            # queue read it may take, ComputeHubSpawner.controller_check_s, is older than
            # the stop: a start within that is found by its sbatch instead).
            time.sleep(max(0.0, stopped + CONTROLLER_CHECK_S + 0.5 - time.monotonic()))
            before = holds(hub)
            status, body = start(hub, "carol", "quetta")
            assert status == 503, body
            assert body["message"] == (
                "The Quetta AI Hub scheduler is not answering, so no session can start there "
                "now; nothing was charged. Choose another hub or try again in a few minutes."
            )
            assert holds(hub) == before
            wait_gone(hub, "carol")

            # "Any hub" skips it, though its CPU sessions are the cheaper ones.
            status, body = start(hub, "carol", "any")
            assert status in (201, 202), body
            assert wait_ready(hub, "carol")["state"]["hub"] == "sukkur"
            hub.api("DELETE", "/users/carol/server")
            wait_gone(hub, "carol")

            # The other hub's session is untouched; bob's is kept while nobody can tell.
            _, model = hub.api("GET", "/users/alice")
            assert model["servers"][""]["ready"]
            assert slurm_out(sukkur, "squeue", "-h", "-j", alice["job_id"], "-o", "%T") == "RUNNING"
            _, model = hub.api("GET", "/users/bob")
            assert model["servers"][""]["ready"]
            with Ledger(hub.ledger_url) as ledger:
                assert ledger.hold(alice["hold_id"]).status == "open"
                assert ledger.hold(alice["hold_id"]).cancel_requested_at is None
                assert ledger.hold(bob["hold_id"]).status == "open"
            # bob stops while the controller is down: the ledger keeps his request.
            hub.api("DELETE", "/users/bob/server")
            wait_gone(hub, "bob")
        finally:
            quetta.start_controller()

        # It answers again: bob's job is ended and settled, the page shows it up.
        deadline = time.monotonic() + 90
        while not job_state(quetta, bob["job_id"]).startswith("CANCELLED"):
            assert time.monotonic() < deadline, "bob's job was never cancelled"
            time.sleep(0.5)
        wait_settled(hub, bob["hold_id"])
        deadline = time.monotonic() + 30  # its node registers again with the controller
        while (rows := status_rows(page, hub)) != {"quetta": "up", "sukkur": "up"}:
            assert time.monotonic() < deadline, rows
            time.sleep(1)
        page.screenshot(path=str(output_dir / "4-status-quetta-back.png"), full_page=True)
    finally:
        page.close()
    _, model = hub.api("GET", "/users/alice")
    assert model["servers"][""]["ready"]
    hub.api("DELETE", "/users/alice/server")
    wait_gone(hub, "alice")
    wait_settled(hub, alice["hold_id"])
    with Ledger(hub.ledger_url) as ledger:
        assert ledger.check().ok
        with ledger.engine.connect() as db:
            still_open = db.execute(
                select(func.count()).select_from(m.Hold).where(m.Hold.status == "open")
            ).scalar_one()
        assert still_open == 0


def test_a_hub_in_maintenance_refuses_starts_with_the_operators_message(
    hub: Hub, people: None, browser: Any, output_dir: Path
) -> None:
    start(hub, "alice", "sukkur")
    wait_ready(hub, "alice")
    assert "sukkur: in maintenance" in maintenance(hub, "sukkur", "--message", MESSAGE)
    before = holds(hub)
    status, body = start(hub, "bob", "sukkur")
    assert status == 503, body
    assert body["message"] == (
        f"Sukkur AI Hub is in maintenance: {MESSAGE}. No new sessions start there until it "
        "ends. Nothing was charged; choose another hub."
    )
    assert holds(hub) == before
    wait_gone(hub, "bob")
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    try:
        ldap_login(page, hub.url, "alice", "any password")
        assert status_rows(page, hub) == {"quetta": "up", "sukkur": "maintenance"}
        row = page.locator('#ch-hubs tr[data-hub="sukkur"]')
        assert row.locator(".ch-state .badge").inner_text() == "in maintenance"
        assert row.locator(".ch-message").inner_text() == MESSAGE
        page.screenshot(path=str(output_dir / "1-status-maintenance.png"), full_page=True)

        # Her running session there is told (the widget reads this answer).
        page.goto(f"{hub.url}/services/credits/api/v1/sessions/current")
        answer = json.loads(page.locator("body").inner_text())
        assert answer["hub"] == "sukkur"
        assert answer["hub_notice"] == (
            f"This hub is in maintenance: {MESSAGE}. Your session keeps running; new sessions "
            "can't start here until it ends."
        )
        _, model = hub.api("GET", "/users/alice")
        assert model["servers"][""]["ready"]

        hub.api("DELETE", "/users/alice/server")
        wait_gone(hub, "alice")
        page.goto(f"{hub.url}/hub/spawn")
        option = page.locator('#ch-hub option[value="sukkur"]')
        assert option.get_attribute("data-state") == "maintenance"
        assert option.is_disabled()
        notice = page.locator('#ch-hub-status li[data-hub="sukkur"]').inner_text()
        assert MESSAGE in notice
        show_hub_list(page)
        page.screenshot(path=str(output_dir / "2-form-maintenance.png"), full_page=True)
    finally:
        page.close()
    maintenance(hub, "sukkur", "--off")
    status, body = start(hub, "bob", "sukkur")
    assert status in (201, 202), body
    wait_ready(hub, "bob")
