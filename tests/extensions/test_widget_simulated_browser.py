"""The demo's simulated GPUs in a spawned Slurm session, seen in JupyterLab in Chromium.

A hub of its own on a cluster of its own (``gilgit``, two fake H100s as GRES), started
once with the demo's setting (``demo.simulated_gpus: true``, as ``./scripts/up.sh``
writes it) and once without (a real site). Neither passes ``COMPUTEHUB_FAKE_GPUS`` to its
jobs: what the widget shows comes from the site file alone. Screenshots:
``test-output/<test name>/``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import MissingComponentError, free_port
from computehub.localbed.sitegen import write_site
from computehub.localbed.slurm import SlurmCluster
from tests.support.bedtools import assert_ledger_clean, component_missing
from tests.support.login import ldap_login
from tests.support.onehub import USERS, Hub, site_data
from tests.support.sessions import stop, wait_ready

pytestmark = pytest.mark.integration

CLUSTER = "gilgit"
#: The loop a user runs in a cell: 40 s of pure CPU in the kernel.
LOOP = "import time\nt0 = time.time()\nwhile time.time() - t0 < 40:\n    pass\n"
SHOW = "import computehub.extensions as ch\nch.show()"


@dataclass
class SiteHub:
    """The module's hub and whether its site file is the demo's."""

    hub: Hub
    simulated: bool


@pytest.fixture(scope="module")
def cluster(slurm_bed: SlurmBed) -> Iterator[SlurmCluster]:
    """A cluster of this module's own: one node with two fake H100s."""
    found = SlurmCluster(
        CLUSTER, slurm_bed.base / CLUSTER, slurm_bed.munge, slurm_bed.dbd, {"h100": 2}
    )
    found.start()
    yield found
    found.cancel_all()
    found.stop()


@pytest.fixture(scope="module")
def site_hub(
    request: pytest.FixtureRequest,
    bed_root: Path,
    cluster: SlurmCluster,
    notebook_env: Path,
    test_users: dict[str, str],
) -> Iterator[SiteHub]:
    """JupyterHub on gilgit; ``request.param``: whether the site is the demo."""
    simulated = bool(request.param)
    name = "simgpu-demo" if simulated else "simgpu-real"
    data = site_data(cluster, notebook_env, {"h100": 2})
    if simulated:
        data["demo"] = {"simulated_gpus": True}
    site = write_site(bed_root / f"{name}-site.yaml", data)
    token = secrets.token_hex(24)
    extra = bed_root / f"{name}-extra.py"
    extra.write_text(
        f"c.JupyterHub.services.append({{'name': 'test-driver', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-driver', 'services': ['test-driver'],\n"
        "    'scopes': ['admin:users', 'admin:servers', 'access:servers', 'list:users']})\n"
        "c.Spawner.poll_interval = 3\n"
    )
    extra.chmod(0o600)
    process = HubProcess(
        bed_root / f"{name}-hub",
        site,
        extra_config=extra,
        extra_env={"COMPUTEHUB_CREDITS_PORT": str(free_port())},
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
            ledger.ensure_personal_account("alice", actor="test")
            ledger.grant("alice", "100", actor="test", idempotency_key=f"{name}:alice")
        yield SiteHub(running, simulated)
    finally:
        stop(running, "alice")
        process.stop()
    assert_ledger_clean(running.ledger_url)


def _open_widget(page: Any, hub: Hub) -> None:
    """Log in, open a new notebook and show the widget in its first cell."""
    ldap_login(page, hub.url, "alice", "any")
    page.goto(f"{hub.url}/user/alice/lab?reset")
    page.click(".jp-LauncherCard[data-category='Notebook']")
    page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=120_000)
    page.click(".jp-Notebook .jp-Cell .cm-content")
    page.keyboard.insert_text(SHOW)
    for _ in range(3):  # an execute request sent while the kernel connects can be dropped
        page.click(".jp-Notebook .jp-Cell >> nth=0")
        page.keyboard.press("Control+Enter")
        try:
            page.wait_for_selector(".computehub-widget", timeout=20_000)
            return
        except Exception:  # noqa: S112 (retried, then asserted below)
            continue
    raise AssertionError("the widget never rendered")


@dataclass(frozen=True)
class Shown:
    """What one GPU row shows: utilisation (%) and power (W)."""

    utilization: int
    power_w: int


def _rows(page: Any) -> list[Shown]:
    # The widget this test showed (one loaded at kernel start may be there too).
    rows = page.locator(".computehub-widget").last.locator(".computehub-gpu")
    found = []
    for i in range(rows.count()):
        text = rows.nth(i).inner_text()
        util = re.search(r"(\d+) % · ", text)
        power = re.search(r"· (\d+) / \d+ W", text)
        assert util is not None, text
        assert power is not None, text
        found.append(Shown(int(util.group(1)), int(power.group(1))))
    return found


def _wait_rows(page: Any, ok: Any, timeout: float, what: str) -> list[Shown]:
    deadline = time.monotonic() + timeout
    while True:
        rows = _rows(page)
        if rows and ok(rows):
            return rows
        assert time.monotonic() < deadline, f"{what}: the widget shows {rows}"
        time.sleep(0.5)


@pytest.mark.parametrize("site_hub", [True], indirect=True, ids=["demo"])
def test_the_demos_widget_shows_simulated_gpus_moving_with_a_loop(
    site_hub: SiteHub, browser: Any, output_dir: Path
) -> None:
    hub = site_hub.hub
    status, _ = hub.api(
        "POST",
        "/users/alice/server",
        {"hub": CLUSTER, "gpu_type": "h100", "gpus": 2, "hours": "1"},
    )
    assert status in (201, 202), status
    wait_ready(hub, "alice")
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.set_default_timeout(60_000)
    try:
        _open_widget(page, hub)
        widget = page.locator(".computehub-widget").last
        rows = widget.locator(".computehub-gpu")
        rows.nth(1).wait_for(timeout=60_000)
        # The job's two GPUs, each labelled as simulated.
        assert rows.count() == 2
        for i in range(2):
            title = rows.nth(i).inner_text()
            assert "NVIDIA H100 80GB HBM3" in title
            assert "simulated GPU" in title
        assert widget.locator(".computehub-simulated").count() == 2
        # Every GPU row on the page says it is simulated.
        assert (
            page.locator(".computehub-gpu").count() == page.locator(".computehub-simulated").count()
        )
        assert "NVIDIA driver not found" not in widget.inner_text()
        # Reading 1: the kernel waits for the user.
        idle = _wait_rows(page, lambda r: all(s.utilization <= 20 for s in r), 30, "idle")
        page.screenshot(path=str(output_dir / "01-idle.png"))

        # Reading 2: a cell running a CPU loop, read while it runs.
        page.keyboard.press("Escape")
        page.keyboard.press("b")  # a new cell below, as a user adds one
        page.wait_for_selector(".jp-Notebook .jp-Cell >> nth=1")
        page.click(".jp-Notebook .jp-Cell >> nth=1 >> .cm-content")
        page.keyboard.insert_text(LOOP)
        page.keyboard.press("Control+Enter")

        # A loop keeps the kernel on a CPU: ~100 % alone, less on a busy shared machine.
        def raised(rows: list[Shown]) -> bool:
            return all(b.utilization >= i.utilization + 10 for i, b in zip(idle, rows, strict=True))

        busy = _wait_rows(page, raised, 35, "busy")
        page.screenshot(path=str(output_dir / "02-running-a-loop.png"))
        for before, during in zip(idle, busy, strict=True):
            assert during.utilization > before.utilization
            assert during.power_w > before.power_w
    except Exception:
        page.screenshot(path=str(output_dir / "failure.png"))
        raise
    finally:
        page.close()
        stop(hub, "alice")


@pytest.mark.parametrize("site_hub", [False], indirect=True, ids=["real-site"])
def test_a_real_sites_widget_shows_no_simulated_gpus(
    site_hub: SiteHub, browser: Any, output_dir: Path
) -> None:
    hub = site_hub.hub
    status, _ = hub.api(
        "POST",
        "/users/alice/server",
        {"hub": CLUSTER, "gpu_type": "h100", "gpus": 2, "hours": "1"},
    )
    assert status in (201, 202), status
    wait_ready(hub, "alice")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(60_000)
    try:
        _open_widget(page, hub)
        widget = page.locator(".computehub-widget").last
        # The credits part answers first; by then the GPU part has read once.
        widget.locator("tr", has_text="Account").wait_for(timeout=60_000)
        widget.get_by_text("NVIDIA driver not found").wait_for(timeout=30_000)
        page.screenshot(path=str(output_dir / "01-no-simulated-gpus.png"))
        assert page.locator(".computehub-gpu").count() == 0
        assert page.locator(".computehub-simulated").count() == 0
        assert "simulated" not in widget.inner_text()
    except Exception:
        page.screenshot(path=str(output_dir / "failure.png"))
        raise
    finally:
        page.close()
        stop(hub, "alice")
