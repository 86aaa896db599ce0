"""The hub's home page in Chromium on the real bed: cards that equal the ledger and Slurm.

alice runs a session on her default server (Lahore, one H100) and one on a named
server (Karachi, one A100), and asks for a third (named, one H100 on Lahore) while
carol's job holds Lahore's other H100s, so that it waits. The home page shows each
as its own card: the running one's hub, GPU, cost so far and time left equal to what
the ledger and Slurm say; the waiting one's place in the queue and the start that
``squeue --start`` estimates; the named one is extended from its card. Screenshots of
the page in light and dark theme go to the output folder.
"""

from __future__ import annotations

import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.spawners import homecards as hc
from tests.conftest import PASSWORDS
from tests.spawners.test_spawner import block_gpus
from tests.support.bedtools import hub_api, user_token

pytestmark = pytest.mark.integration

_CENTS = Decimal("0.01")


def squeue(bed: SlurmBed, hub: str, *argv: str) -> str:
    """squeue's answer, times as epoch seconds."""
    return subprocess.run(
        ["squeue", "-h", *argv],
        env={**bed.clusters[hub].env, "SLURM_TIME_FORMAT": "%s"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def server_model(hub: Any, user: str, name: str) -> dict[str, Any] | None:
    status, model = hub.api("GET", f"/users/{user}")
    assert status == 200, model
    found = model["servers"].get(name)
    return dict(found) if found else None


def wait_server(hub: Any, user: str, name: str, timeout: float = 180) -> dict[str, Any]:
    """The server's model once it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = server_model(hub, user, name)
        if server and server["ready"]:
            return server
        time.sleep(0.5)
    raise AssertionError(f"{user}'s server {name!r} not ready in {timeout} s")


def wait_job(hub: Any, user: str, name: str, timeout: float = 60) -> dict[str, Any]:
    """The server's state once its job is submitted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = server_model(hub, user, name)
        if server and server["state"].get("job_id"):
            return dict(server["state"])
        time.sleep(0.3)
    raise AssertionError(f"{user}'s server {name!r} has no job after {timeout} s")


def minutes_of(text: str) -> int:
    """``1 h 59 min`` or ``45 min`` in minutes."""
    match = re.fullmatch(r"(?:(\d+) h )?(\d+) min", text)
    assert match is not None, text
    return int(match.group(1) or 0) * 60 + int(match.group(2))


def field(card: Any, name: str) -> str:
    text: str = card.locator(f'[data-field="{name}"]').inner_text()
    return text.strip()


def test_home_page_cards_equal_the_ledger_and_slurm(
    hub: Any, slurm_bed: SlurmBed, browser: Any, output_dir: Path, clean: None
) -> None:
    hub.api("POST", "/users/alice/server", {"hub": "lahore", "gpu_type": "h100", "hours": "2"})
    hub.api(
        "POST",
        "/users/alice/servers/training",
        {"hub": "karachi", "gpu_type": "a100", "hours": "1"},
    )
    default = wait_server(hub, "alice", "")["state"]
    training = wait_server(hub, "alice", "training")["state"]
    # carol holds Lahore's other three H100s: alice's third session waits for one.
    blocker = block_gpus(slurm_bed, "lahore", "gpu:h100:3")
    status, _ = hub.api(
        "POST", "/users/alice/servers/queued", {"hub": "lahore", "gpu_type": "h100", "hours": "1"}
    )
    assert status == 202
    queued = wait_job(hub, "alice", "queued")
    # Slurm's backfill pass estimates its start (within bf_interval, 30 s by default).
    deadline = time.monotonic() + 90
    while squeue(slurm_bed, "lahore", "--start", "-j", queued["job_id"], "-o", "%S") in ("N/A", ""):
        assert time.monotonic() < deadline, "Slurm never estimated the waiting job's start"
        time.sleep(2)

    _check_api_scope(hub)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{hub.url}/hub/login")
        page.fill("#username_input", "alice")
        page.fill("#password_input", PASSWORDS["alice"])
        page.click("#login_submit")
        page.wait_for_load_state()
        before = datetime.now(UTC)
        page.goto(f"{hub.url}/hub/home")
        page.wait_for_selector('.ch-card[data-server="queued"][data-state="pending"]')
        after = datetime.now(UTC)
        page.screenshot(path=str(output_dir / "1-home-light.png"), full_page=True)
        _check_running(page, hub, slurm_bed, default, before, after)
        _check_pending(page, slurm_bed, queued)
        _extend_named(page, hub, slurm_bed, training)
        page.screenshot(path=str(output_dir / "2-named-extended-light.png"), full_page=True)
        page.emulate_media(color_scheme="dark")
        page.reload()
        page.wait_for_selector('.ch-card[data-server="queued"]')
        assert page.locator("html").get_attribute("data-bs-theme") == "dark"
        page.screenshot(path=str(output_dir / "3-home-dark.png"), full_page=True)
        # Cancel the waiting one from its card: its job leaves the queue, nothing charged.
        cancel = page.locator('.ch-card[data-server="queued"] .ch-cancel')
        cancel.click()
        assert cancel.inner_text() == "Cancel it: sure?"
        cancel.click()
        page.wait_for_selector('.ch-card[data-server="queued"]', state="detached", timeout=90_000)
        deadline = time.monotonic() + 60
        while squeue(slurm_bed, "lahore", "-t", "PD,R", "-j", queued["job_id"], "-o", "%T"):
            assert time.monotonic() < deadline, "the cancelled session's job is still queued"
            time.sleep(1)
        # Stop from the card: the default server's card goes, its session is settled.
        stop = page.locator('.ch-card[data-server=""] .ch-stop')
        stop.click()
        assert stop.inner_text() == "Stop it: sure?"
        stop.click()
        page.wait_for_selector('.ch-card[data-server=""]', state="detached", timeout=90_000)
        assert server_model(hub, "alice", "") is None
        # Once settled, both are among the last sessions, with the ledger's charges.
        row = _past_row(page, default["hold_id"])
        assert row.locator("td").nth(3).inner_text().startswith("ended")
        with Ledger(hub.ledger_url) as ledger:
            charged = ledger.session(default["hold_id"]).charged
            waited = ledger.session(queued["hold_id"])
        assert charged is not None
        assert charged > 0
        assert row.locator(".ch-charged").inner_text() == f"{charged:,.2f}"
        assert row.locator("td").nth(1).inner_text() == "Lahore AI Hub"
        row = _past_row(page, queued["hold_id"])
        assert (waited.charged or 0) == 0
        assert row.locator(".ch-charged").inner_text() == "0.00"
        assert row.locator("td").nth(3).inner_text() in ("ended before it started", "never started")
        page.screenshot(path=str(output_dir / "4-stopped-dark.png"), full_page=True)
        _start_named_from_home(page, hub, output_dir)
    except Exception:
        page.screenshot(path=str(output_dir / "failure.png"), full_page=True)
        raise
    finally:
        page.close()
        subprocess.run(
            ["scancel", blocker], env=slurm_bed.clusters["lahore"].env, check=False, timeout=30
        )


def _check_running(
    page: Any,
    hub: Any,
    bed: SlurmBed,
    state: dict[str, Any],
    before: datetime,
    after: datetime,
) -> None:
    card = page.locator('.ch-card[data-server=""]')
    assert card.get_attribute("data-state") == "running"
    assert field(card, "hub") == "Lahore AI Hub (Punjab)"
    assert field(card, "resources") == "1 \u00d7 H100"
    with Ledger(hub.ledger_url) as ledger:
        hold = ledger.hold(state["hold_id"])
    # The paid time runs from the job's start as Slurm says (the wait costs nothing),
    # for the hold's hours, which is where Slurm's time limit ends it.
    start = datetime.fromtimestamp(
        int(squeue(bed, "lahore", "-j", state["job_id"], "-o", "%S")), UTC
    )
    funded = start + timedelta(seconds=float(hold.hours * 3600))
    end = datetime.fromtimestamp(int(squeue(bed, "lahore", "-j", state["job_id"], "-o", "%e")), UTC)
    assert abs((end - funded).total_seconds()) < 60, (end, funded)
    assert field(card, "started") == hc.clock_text(start, after)
    # Cost so far: the hold's rate (the ledger's) times the time since, while the page asked.
    shown = Decimal(field(card, "cost").removesuffix(" credits"))
    low, high = (
        (hold.per_hour * Decimal((t - start).total_seconds()) / 3600).quantize(
            _CENTS, ROUND_HALF_EVEN
        )
        for t in (before, after)
    )
    assert low <= shown <= high, (low, shown, high)
    assert field(card, "rate") == f"{hold.per_hour:,.2f} credits an hour"
    assert field(card, "funded-until") == hc.clock_text(funded, after)
    # Time left: to that end, which is Slurm's (start plus time limit) too.
    left = minutes_of(field(card, "time-left"))
    assert (funded - after).total_seconds() // 60 <= left <= (funded - before).total_seconds() // 60
    slurm_left = (end - after).total_seconds() / 60
    assert abs(left - slurm_left) <= 1.5, (left, slurm_left)
    assert card.locator(".ch-open").get_attribute("href") == "/user/alice/"


def _check_pending(page: Any, bed: SlurmBed, queued: dict[str, Any]) -> None:
    card = page.locator('.ch-card[data-server="queued"]')
    job = queued["job_id"]
    partition = squeue(bed, "lahore", "-j", job, "-o", "%P")
    position = squeue(bed, "lahore", "-t", "PD", "-p", partition, "-o", "%i", "--sort=-p,i")
    assert position.split().index(job) == 0
    assert field(card, "queue") == "It is next in the queue."
    assert field(card, "reason") == (
        "It waits because the GPUs or memory it needs are in use; it starts when they are free."
    )
    estimate = field(card, "estimate")
    expected = squeue(bed, "lahore", "--start", "-j", job, "-o", "%S")
    assert expected.isdigit(), expected
    start = datetime.fromtimestamp(int(expected), UTC)
    assert estimate.startswith(
        f"Slurm expects it to start around {hc.clock_text(start, datetime.now(UTC))}"
    ), estimate
    assert card.locator(".ch-open").count() == 0
    assert card.locator(".ch-extend-btn").count() == 0
    assert card.locator(".ch-stop").count() == 0


def _extend_named(page: Any, hub: Any, bed: SlurmBed, state: dict[str, Any]) -> None:
    card = page.locator('.ch-card[data-server="training"]')
    assert field(card, "hub") == "Karachi AI Hub (Sindh)"
    assert field(card, "resources") == "1 \u00d7 A100"
    assert squeue(bed, "karachi", "-j", state["job_id"], "-o", "%l") == "1:00:00"
    card.locator(".ch-extend-btn").click()
    card.locator(".ch-hours").select_option("1")
    card.locator(".ch-quote").click()
    said = card.locator(".ch-extend-said")
    page.wait_for_function("el => el.textContent.includes('more costs')", arg=said.element_handle())
    assert said.inner_text().startswith("1 h more costs 7.00 credits;"), said.inner_text()
    card.locator(".ch-confirm").click()
    # The card is drawn again from the hub's figures, with what was done.
    note = page.locator('.ch-card[data-server="training"] .ch-note')
    note.wait_for()
    assert note.inner_text().startswith("Extended: it now runs until"), note.inner_text()
    with Ledger(hub.ledger_url) as ledger:
        hold = ledger.hold(state["hold_id"])
    assert hold.hours == 2
    started = int(squeue(bed, "karachi", "-j", state["job_id"], "-o", "%S"))
    funded = datetime.fromtimestamp(started, UTC) + timedelta(hours=2)
    card = page.locator('.ch-card[data-server="training"]')
    assert field(card, "funded-until") == hc.clock_text(funded, datetime.now(UTC))
    assert squeue(bed, "karachi", "-j", state["job_id"], "-o", "%l") == "2:00:00"


def _check_api_scope(hub: Any) -> None:
    """The endpoint answers only with the caller's own data, and only to their login."""
    bob = user_token(hub.url, hub.token, "bob")
    status, answer = hub_api(hub.url, bob, "GET", "/computehub/home")
    assert status == 200, answer
    assert answer["sessions"] == []  # alice's three are not bob's to see
    assert "bob" in [row["account"] for row in answer["balances"]]
    assert "alice" not in [row["account"] for row in answer["balances"]]
    narrow = user_token(hub.url, hub.token, "alice", ["read:users:name!user"])
    assert hub_api(hub.url, narrow, "GET", "/computehub/home")[0] == 403
    # A service (the test driver may stop any server) has no home page.
    assert hub_api(hub.url, hub.token, "GET", "/computehub/home")[0] == 403
    # A token with exactly a server's own scope (as its $JUPYTERHUB_API_TOKEN has) can't
    # read its user's other sessions (JupyterHub answers a scope held for another
    # resource with 404, as for one that does not exist).
    server_like = user_token(
        hub.url, hub.token, "alice", ["custom:computehub:sessions!server=alice/training"]
    )
    status, answer = hub_api(hub.url, server_like, "GET", "/computehub/home")
    assert status == 404, answer
    assert answer is None or "sessions" not in answer
    alice = user_token(hub.url, hub.token, "alice")
    status, answer = hub_api(hub.url, alice, "GET", "/computehub/home")
    assert status == 200, answer
    assert sorted(card["server"] for card in answer["sessions"]) == ["", "queued", "training"]


def _start_named_from_home(page: Any, hub: Any, output_dir: Path) -> None:
    """ "Start another, named": the spawn form for that server, then its own card."""
    page.fill("#ch-new-name", "notes")
    page.click("#ch-new-named button[type=submit]")
    page.wait_for_url(re.compile(r".*/hub/spawn/alice/notes"))
    heading = page.locator("#ch-server-name")
    assert heading.inner_text().startswith("Starting Server \u201cnotes\u201d")
    page.select_option("#ch-hub", "karachi")
    page.select_option("#ch-gpu-type", "none")
    page.fill("#ch-hours", "1")
    page.screenshot(path=str(output_dir / "5-named-spawn-form-dark.png"), full_page=True)
    page.click("input[type=submit], button[type=submit]")
    wait_server(hub, "alice", "notes")
    page.goto(f"{hub.url}/hub/home")
    card = page.locator('.ch-card[data-server="notes"][data-state="running"]')
    card.wait_for()
    assert field(card, "resources") == "CPU only"
    assert field(card, "hub") == "Karachi AI Hub (Sindh)"


def _past_row(page: Any, hold_id: int) -> Any:
    """The last sessions' row of a hold, once it is closed (the page read again until then)."""
    row = page.locator(f'#ch-past tr[data-hold="{hold_id}"]')
    deadline = time.monotonic() + 120
    while row.count() == 0:
        assert time.monotonic() < deadline, f"hold {hold_id} was never listed as closed"
        time.sleep(3)
        page.reload()
        page.wait_for_selector("#ch-past tbody tr")
    return row
