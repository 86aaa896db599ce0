"""A named server's own session: its status item, its statement, and simulated energy.

Real bed, Chromium. alice starts a named server ``gpu-run`` (Lahore, one H100, 2 h) and
then her default server (Lahore, one H100, 1 h), so the default server's hold is her
latest; bob then starts a server of the same name. Each of alice's servers asks the
credits service with its own token (``$JUPYTERHUB_API_TOKEN``) and shows its own session:
the status item's time left is that session's, and the server's session endpoint names
that server's job, never the other's nor bob's. Then ``gpu-run`` stops: the credits page
names it in the sessions table and in its statement, and its energy, which the bed's
energy hook read from fake GPUs, is labelled simulated there and in the API.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.conftest import PASSWORDS
from tests.extensions.test_widget_always_there import (
    Server,
    login,
    read_status,
    wait_for_panel_widget,
)
from tests.spawners.test_home_page import wait_server
from tests.support.bedtools import user_token
from tests.support.credits_hub import http

pytestmark = pytest.mark.integration

NAMED = "gpu-run"


def _session_doc(page: Any, base: str) -> dict[str, Any]:
    """What the server's status item reads (its own server extension), once it has a session."""
    deadline = time.monotonic() + 60
    while True:
        response = page.request.get(f"{base}/computehub/api/session")
        assert response.ok, (response.status, response.text())
        doc: dict[str, Any] = response.json()
        if "session" in doc:
            return doc
        assert time.monotonic() < deadline, doc
        time.sleep(1)


def _minutes_left(ledger: Ledger, hold_id: int) -> float:
    hold = ledger.hold(hold_id)
    until = hold.created_at + timedelta(hours=float(hold.hours))
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return (until - datetime.now(UTC)).total_seconds() / 60


def _check_server(
    page: Any, hub: Any, ledger: Ledger, name: str, own: dict[str, Any], *others: dict[str, Any]
) -> None:
    base = f"{hub.url}/user/alice/{name}".rstrip("/")
    page.goto(f"{base}/lab?reset")
    page.locator(".jp-LabShell").wait_for()
    doc = _session_doc(page, base)
    # Job ids are per cluster (bob's runs on karachi): a session is its hub and job.
    shown = (doc["session"]["hub"], doc["session"]["job_id"])
    assert shown == (ledger.hold(int(own["hold_id"])).hub, own["job_id"]), (name, doc)
    assert shown not in {(ledger.hold(int(o["hold_id"])).hub, o["job_id"]) for o in others}
    _, left = read_status(page)
    expected = _minutes_left(ledger, int(own["hold_id"]))
    # Whole minutes, rounded down, refreshed every few seconds; the other session ends an
    # hour apart, so the item can't be showing it.
    assert expected - 1.5 <= left <= expected + 0.5, (name, left, expected)


def _wait_energy(ledger: Ledger, hold_id: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while ledger.energy_of(hold_id) is None:
        assert time.monotonic() < deadline, f"no energy recorded for hold {hold_id}"
        time.sleep(1)


def test_a_named_server_shows_its_own_session_and_its_statement_names_it(
    hub: Any, browser: Any, output_dir: Path, clean: None
) -> None:
    status, body = hub.api(
        "POST", f"/users/alice/servers/{NAMED}", {"hub": "lahore", "gpu_type": "h100", "hours": "2"}
    )
    assert status in (201, 202), body
    named = wait_server(hub, "alice", NAMED)["state"]
    status, body = hub.api(
        "POST", "/users/alice/server", {"hub": "lahore", "gpu_type": "h100", "hours": "1"}
    )
    assert status in (201, 202), body
    default = wait_server(hub, "alice", "")["state"]
    status, body = hub.api(
        "POST", f"/users/bob/servers/{NAMED}", {"hub": "karachi", "gpu_type": "none", "hours": "1"}
    )
    assert status in (201, 202), body
    bobs = wait_server(hub, "bob", NAMED)["state"]
    with Ledger(hub.ledger_url) as ledger:
        # The spawner named each hold's server.
        assert ledger.session(int(named["hold_id"])).server_name == NAMED
        assert ledger.session(int(default["hold_id"])).server_name == ""
        assert ledger.session(int(bobs["hold_id"])).server_name == NAMED
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        try:
            login(page, hub, "alice", PASSWORDS["alice"])
            page.wait_for_load_state()
            _check_server(page, hub, ledger, NAMED, named, default, bobs)
            page.screenshot(path=str(output_dir / "1-named-server-status-item.png"))
            # The widget, loaded by the named server's kernel, shows that server's job.
            server = Server(hub, page, f"alice/{NAMED}")
            server.new_notebook("named.ipynb")
            page.goto(f"{server.base}/lab/tree/named.ipynb")
            wait_for_panel_widget(page, "alice", named["job_id"])
            page.screenshot(path=str(output_dir / "1b-named-server-widget.png"))
            _check_server(page, hub, ledger, "", default, named, bobs)
            page.screenshot(path=str(output_dir / "2-default-server-status-item.png"))

            status, _ = hub.api("DELETE", f"/users/alice/servers/{NAMED}")
            assert status in (202, 204)
            hold_id = int(named["hold_id"])
            _wait_energy(ledger, hold_id)
            energy = ledger.energy_of(hold_id)
            assert energy is not None
            assert energy.source == "simulated"
            assert energy.wh is not None
            assert ledger.hold(hold_id).status == "settled"
            # The default server still shows its own session, the named one gone.
            _check_server(page, hub, ledger, "", default, named, bobs)

            page.goto(f"{hub.url}/services/credits/")
            page.wait_for_selector("#ch-sessions")
            row = page.locator(f'#ch-sessions tr[data-hold-id="{hold_id}"]')
            assert row.locator(".ch-server").inner_text().strip() == f"named server “{NAMED}”"
            default_row = page.locator(f'#ch-sessions tr[data-hold-id="{default["hold_id"]}"]')
            assert default_row.locator(".ch-server").count() == 0
            shown = row.locator(".ch-energy").inner_text().strip()
            assert re.fullmatch(r"[\d.,]+ k?Wh \(simulated GPU, not measured\)", shown), shown
            details = page.locator(f'details.ch-statement[data-hold-id="{hold_id}"]')
            details.locator("summary").click()
            assert f"named server “{NAMED}”" in details.locator("summary").inner_text()
            server_fact = details.locator(".ch-st-server").inner_text().strip()
            assert server_fact == f"named server “{NAMED}”"
            energy_fact = details.locator(".ch-st-gpu-energy").inner_text().strip()
            assert energy_fact.endswith("(simulated GPU, not measured)"), energy_fact
            assert details.locator(".ch-st-check").inner_text().startswith("Held = charged")
            details.scroll_into_view_if_needed()
            page.screenshot(path=str(output_dir / "3-credits-page-named-statement.png"))

            token = user_token(hub.url, hub.token, "alice")
            answer = http(
                "GET", f"{hub.url}/services/credits/api/v1/sessions/{hold_id}/statement", token
            )
            assert answer.status == 200, answer.raw
            statement = answer.body
            assert (statement["server_name"], statement["energy_source"]) == (NAMED, "simulated")
            assert Decimal(statement["energy_wh"]) == energy.wh
            assert statement["adds_up"] is True
        except Exception:
            page.screenshot(path=str(output_dir / "failure.png"))
            raise
        finally:
            page.close()
