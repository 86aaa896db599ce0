"""The notebook widget in real JupyterLab, in a spawned Slurm session, in Chromium."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.sessions import stop, wait_ready

pytestmark = pytest.mark.integration


def amount(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def test_widget_shows_the_session_and_extends_it(hub: Any, browser: Any, output_dir: Path) -> None:
    stop(hub, "alice")
    hub.api(
        "POST",
        "/users/alice/server",
        {"hub": "lahore", "gpu_type": "h100", "gpus": 2, "hours": "1"},
    )
    state = wait_ready(hub, "alice")["state"]
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{hub.url}/hub/login")
        page.fill("#username_input", "alice")
        page.fill("#password_input", "alice-pw")
        page.click("#login_submit")
        page.goto(f"{hub.url}/user/alice/lab?reset")
        page.click(".jp-LauncherCard[data-category='Notebook']")
        page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=120_000)
        page.click(".jp-Notebook .jp-Cell .cm-content")
        page.keyboard.insert_text("%load_ext computehub")
        widget = None
        for _ in range(3):  # an execute request sent while the kernel connects can be dropped
            page.click(".jp-Notebook .jp-Cell >> nth=0")
            page.keyboard.press("Control+Enter")
            try:
                widget = page.wait_for_selector(".jp-Notebook .computehub-widget", timeout=20_000)
                break
            except Exception:  # noqa: S112 (retried, then asserted below)
                continue
        assert widget is not None, "the widget never rendered"
        # The widget in the cell (the session panel, opened at kernel start, has another).
        in_cell = page.locator(".jp-Notebook .computehub-widget")
        account = in_cell.locator("tr", has_text="Account")
        account.wait_for(timeout=60_000)
        assert account.inner_text().split("\t")[-1].strip() == (
            f"alice · lahore · job {state['job_id']}"
        )
        available_text = in_cell.locator("tr", has_text="Available").inner_text()
        shown = amount(re.search(r"([\d,]+\.\d\d) credits", available_text).group(1))  # type: ignore[union-attr]
        with Ledger(hub.ledger_url) as ledger:
            assert shown == ledger.balance("alice").available.quantize(Decimal("0.01"))
        # Only the session's two GPUs of the node's four fake ones.
        assert page.locator(".jp-Notebook .computehub-gpu").count() == 2
        page.screenshot(path=str(output_dir / "01-widget.png"))
        until = in_cell.locator("tr", has_text="Time left").inner_text()

        # The session panel (opened at kernel start) has its own Extend button: use the cell's.
        page.locator(".jp-Notebook").get_by_role("button", name="Extend…").click()
        notebook = page.locator(".jp-Notebook")
        notebook.get_by_text(re.compile(r"costs 20\.00 credits")).wait_for(timeout=30_000)
        page.locator(".jp-Notebook").get_by_role("button", name="Confirm").click()
        notebook.get_by_text(re.compile(r"Extended by 1 h")).wait_for(timeout=30_000)
        page.screenshot(path=str(output_dir / "02-extended.png"))
        with Ledger(hub.ledger_url) as ledger:
            assert ledger.hold(state["hold_id"]).hours == 2
        deadline = time.monotonic() + 60  # the credits part refreshes on its own schedule
        while in_cell.locator("tr", has_text="Time left").inner_text() == until:
            assert time.monotonic() < deadline, "the funded end did not move"
            time.sleep(1)
    except Exception:
        page.screenshot(path=str(output_dir / "failure.png"))
        raise
    finally:
        page.close()
        stop(hub, "alice")
