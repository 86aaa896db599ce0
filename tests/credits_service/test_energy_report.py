"""The energy report over REST (operators) and a session's energy in the sessions API."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.credits_hub import CreditsHub, http
from tests.support.login import ldap_login

pytestmark = pytest.mark.integration


def test_the_energy_report_sums_the_sessions_of_an_account(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    ledger.create_account("watt-lab", "project", actor="test", owner="otto")
    ledger.grant("watt-lab", "500", actor="test")
    figures = [Decimal("250.5"), Decimal("749.5"), None]
    holds = []
    for job, wh in zip(("9001", "9002", "9003"), figures, strict=True):
        hold = ledger.place_hold("watt-lab", "lahore", {"gpu:h100": 1}, "1", actor="otto")
        ledger.attach_job(hold.id, "lahore", job, actor="otto")
        ledger.settle(hold.id, {"gpu:h100": "0.5"}, actor="spawner")
        ledger.record_energy(hold.id, wh, seconds=1800, gpus=1, actor="reconciler")
        holds.append(hold.id)
    answer = credits_hub.call("operator", "GET", "/reports/energy?by=account")
    assert answer.status == 200, answer.raw
    (row,) = [row for row in answer.body["rows"] if row["key"] == "watt-lab"]
    charged = sum(ledger.session(hold_id).charged for hold_id in holds)
    measured = sum(ledger.session(hold_id).charged for hold_id in holds[:2])
    assert (row["sessions"], row["measured"], row["unknown"], row["pending"]) == (3, 2, 1, 0)
    assert Decimal(row["wh"]) == Decimal(1000)
    assert Decimal(row["credits"]) == charged
    assert Decimal(row["credits_per_kwh"]) == measured  # 1 kWh exactly
    page = credits_hub.call("other", "GET", "/accounts/watt-lab/sessions")
    shown = {s["hold_id"]: (s["energy_wh"], s["energy"]) for s in page.body["sessions"]}
    assert shown[holds[0]] == ("250.5000", "measured")
    assert shown[holds[2]] == (None, "unknown")


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?by=region", 400),
        ("?since=yesterday", 400),
        # Days the description allows, in the wrong order (the fuzzer sent one).
        ("?since=2030-01-02&until=2030-01-01", 422),
        ("?since=9426-07-12", 422),
    ],
)
def test_a_bad_energy_report_query_is_refused(
    credits_hub: CreditsHub, accounts: dict[str, str], query: str, status: int
) -> None:
    answer = credits_hub.call("operator", "GET", "/reports/energy" + query)
    assert answer.status == status, answer.raw
    assert answer.body["message"]


def test_a_browser_sees_each_sessions_gpu_energy(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any, browser: Any, output_dir: Path
) -> None:
    ledger.create_account("watt-view", "project", actor="test", owner="otto")
    ledger.grant("watt-view", "500", actor="test")
    shown = {}
    for wh in (Decimal("61.25"), Decimal(4560), None):
        hold = ledger.place_hold("watt-view", "lahore", {"gpu:h100": 1}, "1", actor="otto")
        ledger.settle(hold.id, {"gpu:h100": "0.25"}, actor="spawner")
        ledger.record_energy(hold.id, wh, seconds=900, gpus=1, actor="reconciler")
        shown[hold.id] = wh
    running = ledger.place_hold("watt-view", "lahore", {"gpu:h100": 1}, "1", actor="otto")
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        ldap_login(page, credits_hub.process.url, "otto", "any")
        page.goto(f"{credits_hub.process.url}/services/credits/")
        page.wait_for_selector("#ch-sessions")
        page.screenshot(path=str(output_dir / "credits-page-energy.png"), full_page=True)
        cells = {
            hold_id: page.locator(f'tr[data-hold-id="{hold_id}"] .ch-energy').inner_text()
            for hold_id in [*shown, running.id]
        }
    finally:
        context.close()
    assert list(cells.values()) == ["61.2 Wh", "4.56 kWh", "not measured", "—"]
    header = "GPU energy"
    assert header in page_text(credits_hub)


def page_text(credits_hub: CreditsHub) -> str:
    """The page's HTML as otto's token fetches it."""
    answer = http("GET", f"{credits_hub.service}/", credits_hub.tokens["other"], accept="text/html")
    return answer.raw.decode()
