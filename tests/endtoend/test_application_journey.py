"""An approved application for credits pays for a real session on the Slurm bed.

alice (a researcher) applies for A100 hours into a new project account; carol (an
operator) approves fewer hours; the project account holds exactly those hours at the
A100 rate, and alice starts a session on Karachi's A100s charged to it. Everything
through the REST APIs of the credits service and the hub, as the pages call them.
"""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.credits_hub import application_body, http
from tests.support.login import ldap_login
from tests.support.sessions import stop, wait_ready

pytestmark = pytest.mark.integration


def _token(hub: Any, user: str) -> str:
    status, answer = hub.api("POST", f"/users/{user}/tokens", {"note": "application journey"})
    assert status == 201, answer
    return str(answer["token"])


def test_an_approved_application_pays_for_a_session(hub: Any, clean: None) -> None:
    api = f"{hub.url}/services/credits/api/v1"
    alice, carol = _token(hub, "alice"), _token(hub, "carol")
    made = http("POST", f"{api}/applications", alice, application_body("alice-flood"))
    assert made.status == 201, made.raw
    expires = (date.today() + timedelta(days=90)).isoformat()
    approval = {"hours": "150", "expires_on": expires}
    done = http("POST", f"{api}/applications/{made.body['id']}/approval", carol, approval)
    assert done.status == 200, done.raw
    with Ledger(hub.ledger_url) as ledger:
        a100 = max(rate for (_h, res), rate in ledger.rates().items() if res == "gpu:a100")
        assert ledger.balance("alice-flood").balance == 150 * a100
        assert ledger.members("alice-flood") == {"alice": "owner"}

    options = {"hub": "karachi", "gpu_type": "a100", "gpus": "1", "hours": "1"}
    status, body = hub.api("POST", "/users/alice/server", {**options, "account": "alice-flood"})
    assert status in (201, 202), body
    try:
        wait_ready(hub, "alice", timeout=180)
        with Ledger(hub.ledger_url) as ledger:
            [session] = ledger.sessions("alice-flood")
            assert (session.hold.status, session.hold.hub) == ("open", "karachi")
            assert ledger.balance("alice-flood").held == session.hold.amount > 0
    finally:
        stop(hub, "alice")
    with Ledger(hub.ledger_url) as ledger:
        deadline = time.monotonic() + 90  # settling waits for Slurm's final accounting
        while ledger.hold(session.hold.id).status == "open":
            assert time.monotonic() < deadline, "the stopped session was never settled"
            time.sleep(0.5)
        charged = Decimal(150) * a100 - ledger.balance("alice-flood").balance
        assert Decimal(0) <= charged <= session.hold.amount
        assert ledger.check().differences == []


def test_a_funded_project_starts_a_session_in_the_browser(
    hub: Any, clean: None, browser: Any, output_dir: Path
) -> None:
    """alice applies on the page, carol approves on hers, alice starts a session from it."""
    service = f"{hub.url}/services/credits"
    shots = iter(range(1, 100))
    alice = browser.new_context(viewport={"width": 1280, "height": 900})
    carol = browser.new_context(viewport={"width": 1280, "height": 900})

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(output_dir / f"{next(shots)}-{name}.png"), full_page=True)

    try:
        page = alice.new_page()
        page.set_default_timeout(60_000)
        ldap_login(page, hub.url, "alice", "alice-pw")
        page.goto(f"{service}/applications")
        page.fill("#ch-organisation", "Indus Flood Lab")
        page.fill("#ch-title", "Flash-flood nowcasting")
        page.fill("#ch-summary", "Nowcasting flash floods from radar images.")
        page.select_option("#ch-category", "flood-prediction")
        page.select_option("#ch-gpu", "a100")
        page.fill("#ch-hours", "200")
        page.fill("#ch-new-account", "alice-river")
        page.click("#ch-submit")
        page.wait_for_selector("#ch-notice")
        with Ledger(hub.ledger_url) as ledger:
            [made] = [
                a
                for a in ledger.applications(applicant="alice")
                if a.proposal.account == "alice-river"
            ]
            a100 = made.rate

        operator = carol.new_page()
        operator.set_default_timeout(60_000)
        ldap_login(operator, hub.url, "carol", "carol-pw")
        operator.goto(f"{service}/applications/{made.id}")
        operator.fill("#ch-approve-hours", "150")
        operator.fill("#ch-approve-expires", (date.today() + timedelta(days=90)).isoformat())
        operator.click("#ch-approve")
        operator.wait_for_selector("#ch-notice")

        page.goto(f"{service}/")
        page.wait_for_selector("#ch-decisions")
        balance = page.inner_text("#ch-accounts tr[data-account=alice-river] .ch-balance")
        assert Decimal(balance.replace(",", "")) == 150 * a100  # shown as 1,234.50
        shot(page, "credited")

        page.goto(f"{hub.url}/hub/spawn")
        page.select_option("#ch-hub", "karachi")
        page.select_option("#ch-gpu-type", "a100")
        page.fill("#ch-gpus", "1")
        page.fill("#ch-hours", "1")
        page.select_option("#ch-account", "alice-river")
        page.locator("#ch-cost[data-source=ledger]").wait_for(timeout=30_000)
        shot(page, "spawn-form")
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url(re.compile(r".*/user/alice/lab.*"), timeout=180_000)
        # A workspace left by an earlier session in alice's home would hide the launcher.
        page.goto(f"{hub.url}/user/alice/lab?reset")
        page.wait_for_selector(".jp-LauncherCard", timeout=120_000)
        shot(page, "jupyterlab")
        with Ledger(hub.ledger_url) as ledger:
            [session] = ledger.sessions("alice-river")
            assert (session.hold.status, session.hold.hub) == ("open", "karachi")
    finally:
        alice.close()
        carol.close()
        stop(hub, "alice")
    with Ledger(hub.ledger_url) as ledger:
        deadline = time.monotonic() + 90
        while ledger.hold(session.hold.id).status == "open":
            assert time.monotonic() < deadline, "the stopped session was never settled"
            time.sleep(0.5)
        assert ledger.balance("alice-river").balance <= 150 * a100
        assert ledger.check().differences == []
