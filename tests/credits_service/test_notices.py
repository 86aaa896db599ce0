"""Notices over HTTP: ``GET /notices``, the credits page and the hub's home page say the same.

otto owns a project account, ``notices-lab``, whose last credit expires in a few days
and whose balance is below its typical session (the median of its three charges);
owen's account has plenty that never expires. Who may read whose notices is in
``test_authorization.py``'s matrix.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from tests.support.credits_hub import CreditsHub, application_body, browser_login, http

pytestmark = pytest.mark.integration

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
LAB = "notices-lab"


@pytest.fixture(scope="module")
def lab(ledger: Any, accounts: dict[str, str]) -> str:
    """notices-lab: 40 credits through the day after tomorrow, three sessions charged."""
    otto = accounts["other"]
    last_day = datetime.now(UTC).date() + timedelta(days=2)
    ledger.create_account(LAB, "project", actor="test", owner=otto)
    ledger.grant(
        LAB,
        "40",
        actor="test",
        expires_at=datetime.combine(last_day + timedelta(days=1), time(), UTC),
    )
    for used in ("1", "1.5", "0.8"):  # h100 at 10 an hour: 10, 15 and 8 credits
        hold = ledger.place_hold(LAB, "lahore", {"gpu:h100": 1}, used, actor=otto)
        ledger.settle(hold.id, {"gpu:h100": used}, actor="test")
    return last_day.isoformat()


def test_the_api_says_what_expires_and_what_is_low(credits_hub: CreditsHub, lab: str) -> None:
    answer = credits_hub.call("other", "GET", "/notices")
    assert answer.status == 200, answer.raw
    assert answer.body["user"] == "otto"
    assert answer.body["rules"] == {"expiring_within_days": 30, "low_balance": "typical-session"}
    mine = [row for row in answer.body["notices"] if row["account"] == LAB]
    assert [row["kind"] for row in mine] == ["expiring", "low_balance"]
    expiring, low = mine
    assert (expiring["amount"], expiring["last_day"]) == ("7.00", lab)
    assert expiring["text"] == (
        f"7.00 credits in account {LAB} expire at the end of {lab} (UTC), in 2 days: "
        "after that they can no longer be spent."
    )
    assert (low["amount"], low["threshold"]) == ("7.00", "10.00")
    assert low["text"] == (
        f"Account {LAB} has 7.00 credits available, less than one typical session costs "
        "(10.00 credits): ask for more credits before your next session."
    )
    # An operator reads the same for otto; owen, with plenty, is told nothing.
    assert credits_hub.call("operator", "GET", "/notices?user=otto").body == answer.body
    owen = credits_hub.call("owner", "GET", "/notices")
    assert (owen.status, owen.body["notices"]) == (200, [])


def test_the_credits_page_and_the_hubs_home_page_show_them(
    credits_hub: CreditsHub, lab: str
) -> None:
    page = http("GET", f"{credits_hub.service}/", credits_hub.tokens["other"], accept=BROWSER)
    html = page.raw.decode()
    assert 'id="ch-notices"' in html
    assert f'data-kind="expiring" data-account="{LAB}">7.00 credits in account {LAB}' in html
    assert f'data-kind="low_balance" data-account="{LAB}">Account {LAB} has 7.00' in html
    owen = http("GET", f"{credits_hub.service}/", credits_hub.tokens["owner"], accept=BROWSER)
    assert 'id="ch-notices"' not in owen.raw.decode()

    home = browser_login(credits_hub.process.url, "otto")
    with home.open(f"{credits_hub.process.url}/hub/home", timeout=30) as resp:
        html = resp.read().decode()
    assert 'id="ch-notices"' in html
    assert f"7.00 credits in account {LAB} expire at the end of {lab} (UTC)" in html
    assert f"Account {LAB} has 7.00 credits available" in html
    assert 'href="/services/credits/"' in html
    assert 'id="ch-sessions"' in html  # the home page's sessions are still there
    plenty = browser_login(credits_hub.process.url, "owen")
    with plenty.open(f"{credits_hub.process.url}/hub/home", timeout=30) as resp:
        html = resp.read().decode()
    assert 'id="ch-notices"' not in html
    assert 'id="ch-sessions"' in html


def test_the_home_page_says_a_decision_waits_until_the_credits_page_shows_it(
    credits_hub: CreditsHub, accounts: dict[str, str]
) -> None:
    made = credits_hub.call(
        "founder", "POST", "/applications", application_body("notices-river", title="Gauges")
    )
    assert made.status == 201, made.raw
    number = made.body["id"]
    rejected = credits_hub.call(
        "operator",
        "POST",
        f"/applications/{number}/rejection",
        {"reason": "The programme funds this next year."},
    )
    assert rejected.status == 200, rejected.raw
    founder = browser_login(credits_hub.process.url, "fatima")

    def home() -> str:
        with founder.open(f"{credits_hub.process.url}/hub/home", timeout=30) as resp:
            return str(resp.read().decode())

    said = "Your application \u201cGauges\u201d: Rejected: The programme funds this next year."
    html = home()
    assert said in html
    assert f'href="/services/credits/applications/{number}"' in html
    assert said in home()  # the hub's home page does not mark it seen
    # The credits page shows it once and marks it seen; the home page then stops saying it.
    with founder.open(f"{credits_hub.service}/", timeout=30) as resp:
        assert "The programme funds this next year." in resp.read().decode()
    assert said not in home()
