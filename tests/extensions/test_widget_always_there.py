"""The widget is always there: a spawned session's new notebook shows it with nothing typed.

Real bed (Slurm job, JupyterHub, the notebook environment built by scripts/install.sh),
Chromium, JupyterLab and Notebook 7, light and dark theme. Screenshots go to test-output/.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.sessions import stop, wait_ready

pytestmark = pytest.mark.integration

STATUS = re.compile(r"^([\d,]+\.\d\d) credits · (?:(\d+) h (\d\d) min|(\d+) min) left$")
DARK, LIGHT = "JupyterLab Dark", "JupyterLab Light"


def notebook_doc() -> dict[str, Any]:
    cell = {"cell_type": "code", "id": "c1", "metadata": {}, "source": "", "outputs": []}
    return {
        "cells": [{**cell, "execution_count": None}],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class Server:
    """alice's spawned server, driven as her browser (cookies, XSRF)."""

    def __init__(self, hub: Any, page: Any, user: str) -> None:
        self.base = f"{hub.url}/user/{user}"
        self.page = page

    def _xsrf(self) -> str:
        cookies = self.page.context.cookies()
        return str(next(c["value"] for c in cookies if c["name"] == "_xsrf"))

    def put(self, path: str, body: object) -> None:
        response = self.page.request.put(
            f"{self.base}/{path}",
            data=json.dumps(body),
            headers={"X-XSRFToken": self._xsrf(), "Content-Type": "application/json"},
        )
        assert response.ok, (response.status, response.text())

    def new_notebook(self, name: str) -> None:
        self.put(f"api/contents/{name}", {"type": "notebook", "content": notebook_doc()})

    def theme(self, theme: str) -> None:
        raw = json.dumps({"theme": theme})
        self.put("lab/api/settings/@jupyterlab/apputils-extension:themes", {"raw": raw})


def login(page: Any, hub: Any, user: str, password: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")


def spawn(hub: Any, user: str) -> dict[str, Any]:
    stop(hub, user)
    status, _ = hub.api(
        "POST",
        f"/users/{user}/server",
        {"hub": "lahore", "gpu_type": "h100", "gpus": 1, "hours": "1"},
    )
    assert status in (201, 202)
    return dict(wait_ready(hub, user)["state"])


@contextmanager
def lab_session(
    hub: Any, browser: Any, output_dir: Path
) -> Iterator[tuple[dict[str, Any], Any, Server]]:
    """alice's new session and her browser on it, in a reset JupyterLab. On the way out a
    failure is screenshot, the page closed and the session stopped."""
    state = spawn(hub, "alice")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(60_000)
    try:
        login(page, hub, "alice", "alice-pw")
        server = Server(hub, page, "alice")
        page.goto(f"{server.base}/lab?reset")
        page.locator(".jp-LabShell").wait_for()
        yield state, page, server
    except Exception:
        page.screenshot(path=str(output_dir / "failure.png"))
        raise
    finally:
        page.close()
        stop(hub, "alice")


def read_status(page: Any) -> tuple[Decimal, int]:
    """The status item's credits and minutes left, once it shows them."""
    item = page.locator(".computehub-status")
    deadline = time.monotonic() + 60
    while not STATUS.match(text := item.inner_text().strip()):
        assert time.monotonic() < deadline, f"the status item says {text!r}"
        time.sleep(0.5)
    match = STATUS.match(text)
    assert match is not None
    hours, minutes, only = match.group(2), match.group(3), match.group(4)
    left = int(only) if only is not None else int(hours) * 60 + int(minutes)
    return Decimal(match.group(1).replace(",", "")), left


def assert_equals_ledger(page: Any, hub: Any, user: str, hold_id: int) -> None:
    shown, left = read_status(page)
    with Ledger(hub.ledger_url) as ledger:
        available = ledger.balance(user).available
        hold = ledger.hold(hold_id)
    assert shown == available.quantize(Decimal("0.01"))
    funded_until = hold.created_at + timedelta(hours=float(hold.hours))
    if funded_until.tzinfo is None:
        funded_until = funded_until.replace(tzinfo=UTC)
    expected = (funded_until - datetime.now(UTC)).total_seconds() / 60
    # The item shows whole minutes, rounded down, refreshed every few seconds.
    assert expected - 1.5 <= left <= expected + 0.5, (left, expected)


def wait_for_panel_widget(page: Any, user: str, job_id: str) -> None:
    """The side panel shows the session widget (rendered by ipywidgets) for this job."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    panel = page.locator("#computehub-session-panel")
    account = panel.locator(".computehub-widget tr", has_text="Account")

    def shown_instead(what: str, seconds: int) -> AssertionError:
        # What the page showed instead, so that a failure in CI explains itself.
        shown = panel.inner_text(timeout=5_000) if panel.count() else "(no side panel)"
        status = page.locator("#jp-main-statusbar")
        bar = status.inner_text(timeout=5_000) if status.count() else "(no status bar)"
        return AssertionError(
            f"no {what} in {seconds} s at {page.url}: side panel {shown!r}, status bar {bar!r}"
        )

    try:
        account.wait_for(timeout=120_000)
    except PlaywrightTimeoutError:
        raise shown_instead("session widget", 120) from None
    assert account.inner_text().split("\t")[-1].strip() == f"{user} · lahore · job {job_id}"
    # The GPU row comes with the sampler's first reading, which may follow the account.
    try:
        panel.locator(".computehub-gpu").first.wait_for(timeout=60_000)
    except PlaywrightTimeoutError:
        raise shown_instead("GPU row in the session widget", 60) from None
    assert panel.locator(".computehub-gpu").count() == 1


def test_a_new_notebook_shows_the_status_item_and_the_widget_without_typing(
    hub: Any, browser: Any, output_dir: Path
) -> None:
    with lab_session(hub, browser, output_dir) as (state, page, server):
        for name in ("in-lab.ipynb", "in-notebook7.ipynb"):
            server.new_notebook(name)
        shots = []
        for theme in (LIGHT, DARK):
            server.theme(theme)
            page.goto(f"{server.base}/lab/tree/in-lab.ipynb?reset")
            wait_for_panel_widget(page, "alice", state["job_id"])
            page.locator(f"body[data-jp-theme-name='{theme}']").wait_for(state="attached")
            assert_equals_ledger(page, hub, "alice", int(state["hold_id"]))
            # The status item lives in JupyterLab's status bar.
            assert page.locator("#jp-main-statusbar .computehub-status").is_visible()
            shot = output_dir / f"lab-{theme.split()[-1].lower()}.png"
            page.screenshot(path=str(shot))
            shots.append(shot)
        for theme in (DARK, LIGHT):
            server.theme(theme)
            page.goto(f"{server.base}/notebooks/in-notebook7.ipynb")
            wait_for_panel_widget(page, "alice", state["job_id"])
            page.locator(f"body[data-jp-theme-name='{theme}']").wait_for(state="attached")
            # Notebook 7 has no status bar: the item is in its top bar.
            assert page.locator(".computehub-status.computehub-status-top").is_visible()
            assert_equals_ledger(page, hub, "alice", int(state["hold_id"]))
            shot = output_dir / f"notebook7-{theme.split()[-1].lower()}.png"
            page.screenshot(path=str(shot))
            shots.append(shot)
        assert all(shot.stat().st_size > 10_000 for shot in shots)
        server.theme(LIGHT)


def run_cell(page: Any, code: str) -> None:
    """Type and run one cell in the open JupyterLab notebook (the person's own doing)."""
    page.click(".jp-Notebook .jp-Cell .cm-content")
    page.keyboard.insert_text(code)
    page.keyboard.press("Control+Enter")


def test_the_person_turns_it_off_and_the_status_item_still_opens_it(
    hub: Any, browser: Any, output_dir: Path
) -> None:
    config = "~/.ipython/profile_default/ipython_kernel_config.py"
    with lab_session(hub, browser, output_dir) as (state, page, server):
        for name in ("setup.ipynb", "after.ipynb"):
            server.new_notebook(name)
        page.goto(f"{server.base}/lab/tree/setup.ipynb?reset")
        wait_for_panel_widget(page, "alice", state["job_id"])
        # The person's own IPython configuration, as docs/widget.md says.
        run_cell(
            page,
            "import os, pathlib; p = pathlib.Path(os.path.expanduser("
            f"{config!r})); p.parent.mkdir(parents=True, exist_ok=True); "
            "p.write_text('c.ComputeHubWidgetSettings.autoload = False\\n'); print('saved')",
        )
        page.get_by_text("saved", exact=True).wait_for()

        page.goto(f"{server.base}/lab/tree/after.ipynb?reset")
        page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=120_000)
        read_status(page)  # the status item stays
        time.sleep(10)  # the panel would have opened by now
        assert page.locator("#computehub-session-panel .computehub-widget").count() == 0
        page.screenshot(path=str(output_dir / "off.png"))

        page.click(".computehub-status")
        wait_for_panel_widget(page, "alice", state["job_id"])
        page.screenshot(path=str(output_dir / "off-then-clicked.png"))
        run_cell(page, f"import os; os.remove(os.path.expanduser({config!r})); print('removed')")
        page.get_by_text("removed", exact=True).wait_for()


def test_a_restored_notebook_waiting_for_a_kernel_choice_does_not_keep_the_widget_away(
    hub: Any, browser: Any, output_dir: Path
) -> None:
    """A workspace restores an old notebook that has no kernel yet (JupyterLab asks which
    kernel to start), and the person opens another notebook: the panel opens with that one."""
    workspace = "restored"
    with lab_session(hub, browser, output_dir) as (state, page, server):
        # Saved before any kernel ran in it (a new notebook closed at once): no kernelspec.
        empty = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        server.put("api/contents/no-kernel-yet.ipynb", {"type": "notebook", "content": empty})
        server.new_notebook("opened-now.ipynb")
        restored = "notebook:no-kernel-yet.ipynb"
        dock = {"type": "tab-area", "currentIndex": 0, "widgets": [restored]}
        server.put(
            f"lab/api/workspaces/{workspace}",
            {
                "data": {
                    "layout-restorer:data": {"main": {"dock": dock, "current": restored}},
                    restored: {"data": {"path": "no-kernel-yet.ipynb", "factory": "Notebook"}},
                },
                "metadata": {"id": workspace},
            },
        )
        page.goto(f"{server.base}/lab/workspaces/{workspace}/tree/opened-now.ipynb")
        # JupyterLab asks which kernel the restored notebook should start; nobody answers yet.
        page.locator(".jp-Dialog", has_text="Select Kernel").wait_for(timeout=120_000)
        wait_for_panel_widget(page, "alice", state["job_id"])
        page.screenshot(path=str(output_dir / "restored-and-opened.png"))
