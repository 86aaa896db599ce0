"""An approved application for credits pays for a real session on the Slurm bed.

alice (a researcher) applies for A100 hours into a new project account; carol (an
operator) approves fewer hours; the project account holds exactly those hours at the
A100 rate, and alice starts a session on Karachi's A100s charged to it. Everything
through the REST APIs of the credits service and the hub, as the pages call them.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.credits_hub import application_body, http
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
