"""The golden path, end to end in a real browser: log in, choose, start, compute, stop.

It grows with every capability: the person logs in through the university's
directory (slapd), picks hub, GPU and hours and sees the cost first; the server is
a Slurm job on the chosen cluster, running as the user, with the requested fake
GPU in CUDA_VISIBLE_DEVICES; stopping it charges the account for the time used,
and the credits page (reached from the hub's "Services" menu) shows that charge and
what went back to the account.
A screenshot of each step goes to the output folder.
"""

from __future__ import annotations

import re
import subprocess
import time
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.display import credits_text
from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed

pytestmark = pytest.mark.integration

PROBE = (
    "import getpass, os\n"
    "print('|'.join(['PROBE', getpass.getuser(), os.environ.get('SLURM_CLUSTER_NAME', '-'),"
    " os.environ.get('SLURM_JOB_ID', '-'), os.environ.get('CUDA_VISIBLE_DEVICES', '-')]))"
)


def squeue(bed: SlurmBed, hub: str, job_id: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%u|%T|%b|%l"],
        env=bed.clusters[hub].env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout.strip()


def test_golden_path(hub: Any, slurm_bed: SlurmBed, browser: Any, output_dir: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    step = iter(range(1, 100))

    def shot(name: str) -> None:
        page.screenshot(path=str(output_dir / f"{next(step):02d}-{name}.png"))

    try:
        _walk(hub, slurm_bed, page, shot)
    except Exception:
        page.screenshot(path=str(output_dir / "failure.png"))
        raise
    finally:
        page.close()


def _walk(hub: Any, slurm_bed: SlurmBed, page: Any, shot: Any) -> None:

    # 1. Log in.
    page.goto(f"{hub.url}/hub/login")
    shot("login")
    # alice, researcher and instructor in the test university's directory (slapd)
    page.fill("#username_input", "alice")
    page.fill("#password_input", "alice-pw")
    page.click("#login_submit")

    # 2. The spawn form: Karachi, one A100, two hours.
    page.wait_for_url(re.compile(r".*/hub/spawn.*"))
    page.select_option("#ch-hub", "karachi")
    page.select_option("#ch-gpu-type", "a100")
    page.fill("#ch-gpus", "1")
    page.fill("#ch-hours", "2")
    # The cost shows before anything starts: an A100 in Karachi is 7 credits an hour,
    # as the ledger's estimate says (it replaces the page's own figures when it comes).
    cost = page.locator("#ch-cost[data-source=ledger]")
    cost.wait_for(timeout=30_000)
    assert "7.00 credits per hour, 14.00 credits for 2 h" in cost.inner_text()
    with Ledger(hub.ledger_url) as ledger:
        fundable = (ledger.balance("alice").available / 7).quantize(Decimal("0.01"), ROUND_DOWN)
    assert f"Your account can fund up to {fundable} h." in cost.inner_text()
    shot("spawn-form")
    page.click("input[type=submit], button[type=submit]")

    # 3. JupyterLab, served by the job.
    page.wait_for_url(re.compile(r".*/user/alice/lab.*"), timeout=180_000)
    # A workspace left by an earlier run in alice's home would hide the launcher.
    page.goto(f"{hub.url}/user/alice/lab?reset")
    page.wait_for_selector(".jp-LauncherCard", timeout=120_000)
    shot("jupyterlab")

    # 4. Run a cell in a new notebook.
    page.click(".jp-LauncherCard[data-category='Notebook']")
    page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content")
    # The kernel is usable once the status bar says so (the toolbar may say idle earlier).
    page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=120_000)
    page.click(".jp-Notebook .jp-Cell .cm-content")
    page.keyboard.insert_text(PROBE)
    output = None
    for _ in range(3):  # an execute request sent while the kernel connects can be dropped
        page.click(".jp-Notebook .jp-Cell >> nth=0")
        page.keyboard.press("Control+Enter")
        try:
            output = page.wait_for_selector(
                ".jp-OutputArea-output:has-text('PROBE|')", timeout=20_000
            )
            break
        except Exception:  # noqa: S112 (retried, then asserted below)
            continue
    assert output is not None, "the cell never produced its output"
    text = output.inner_text().strip()
    shot("cell-output")
    _, user, cluster, job_id, cuda = text.split("|")
    assert (user, cluster, cuda) == ("alice", "karachi", "0")

    # The server really is that Slurm job: alice's, with one A100 and the chosen time limit.
    assert squeue(slurm_bed, "karachi", job_id) == "alice|RUNNING|gres:gpu:a100:1|2:00:00"
    status, model = hub.api("GET", "/users/alice")
    assert status == 200
    state = model["servers"][""]["state"]
    assert {k: state[k] for k in ("job_id", "job_status", "hub")} == {
        "job_id": job_id,
        "job_status": "RUNNING karachi-n1",
        "hub": "karachi",
    }
    # Paid for: 7 credits/h x 2 h held on alice's account while it runs.
    with Ledger(hub.ledger_url) as ledger:
        hold = ledger.hold(state["hold_id"])
        assert (hold.account, hold.hub, hold.job_id, hold.amount) == (
            "alice",
            "karachi",
            job_id,
            Decimal(14),
        )
        balance_running = ledger.balance("alice").balance

    # 5. Stop the server from the hub's home page.
    page.goto(f"{hub.url}/hub/home")
    stop = page.locator('.ch-card[data-server=""] .ch-stop')
    stop.click()
    stop.click()  # "Stop it: sure?"
    page.wait_for_selector('.ch-card[data-server=""]', state="detached", timeout=60_000)
    shot("stopped")
    deadline = time.monotonic() + 30
    while squeue(slurm_bed, "karachi", job_id).split("|")[1:2] == ["RUNNING"]:
        assert time.monotonic() < deadline, "the job outlived its server"
        time.sleep(0.5)
    # The stop settled the session: the balance moved by exactly what it cost.
    with Ledger(hub.ledger_url) as ledger:
        deadline = time.monotonic() + 60  # settling waits for Slurm's final accounting
        while ledger.hold(state["hold_id"]).status == "open":
            assert time.monotonic() < deadline, "the stopped session was never settled"
            time.sleep(0.5)
        assert ledger.hold(state["hold_id"]).status == "settled"
        charge = next(
            e for e in ledger.history("alice") if e.kind == "charge" and e.hold_id == hold.id
        )
        assert Decimal(0) < -charge.change < Decimal(14)
        assert ledger.balance("alice").balance == balance_running + charge.change

    # 6. The credits page, from the hub's menu (the service's OAuth asks nothing): the
    # session with what it was charged and what went back to the account.
    page.goto(f"{hub.url}/hub/home")
    page.click("nav >> text=Services")
    page.click("a.dropdown-item:has-text('Credits and sessions')")
    page.wait_for_url(f"{hub.url}/services/credits/")
    page.wait_for_selector("#ch-sessions")
    row = page.locator(f'#ch-sessions tr[data-hold-id="{hold.id}"]')
    assert row.locator(".ch-status").inner_text() == "ended"
    assert row.locator(".ch-hub").inner_text() == "karachi"
    assert row.locator(".ch-resources").inner_text() == "1 \N{MULTIPLICATION SIGN} A100"
    assert row.locator(".ch-held").inner_text() == "14.00"
    # The page shows credits with 2 decimals (the API has them exact).
    assert row.locator(".ch-charged").inner_text() == credits_text(-charge.change)
    assert row.locator(".ch-returned").inner_text() == credits_text(hold.amount + charge.change)
    available = page.locator('#ch-accounts tr[data-account="alice"] .ch-available').inner_text()
    with Ledger(hub.ledger_url) as ledger:
        assert available == credits_text(ledger.balance("alice").available)
    shot("credits-page")
