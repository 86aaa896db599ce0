"""Statements served: the API's exact figures add up to the ledger, the CSV for a period,
and a browser opening a session's statement on the credits page (screenshot)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.credits_hub import COURSE, CreditsHub, http
from tests.support.login import ldap_login

pytestmark = pytest.mark.integration

IDLE_NOTE = (
    "Stopped by computehub: its GPUs were below 5 % use for 35 min (the limit is 30 min). "
    "That saved you 10.50 credits, returned to stmt-lab."
)


def _seed(ledger: Any) -> dict[str, int]:
    """otto's project: an extended session with energy, a culled one, a running one."""
    if "stmt-lab" not in {row.account for row in ledger.accounts_for_user("otto")}:
        ledger.create_account("stmt-lab", "project", actor="test", owner="otto")
        ledger.grant("stmt-lab", "5000", actor="test")
    extended = ledger.place_hold("stmt-lab", "lahore", {"gpu:h100": 1, "cpu": 2}, "1", actor="otto")
    ledger.attach_job(extended.id, "lahore", f"9{extended.id}01", actor="otto")
    ledger.extend_hold(extended.id, "0.75", actor="otto")
    ledger.settle(extended.id, {"gpu:h100": "1.6180", "cpu": "3.2360"}, actor="spawner")
    ledger.record_energy(extended.id, Decimal("1234.5"), seconds=5825, gpus=1, actor="node")
    culled = ledger.place_hold("stmt-lab", "lahore", {"gpu:h100": 1}, "2", actor="otto")
    ledger.attach_job(culled.id, "lahore", f"9{culled.id}02", actor="otto")
    ledger.settle(culled.id, {"gpu:h100": "0.9333"}, actor="spawner")
    ledger.note_session_end(culled.id, IDLE_NOTE, actor="gpu-idle")
    running = ledger.place_hold("stmt-lab", "lahore", {"gpu:h100": 2}, "0.5", actor="otto")
    return {"extended": extended.id, "culled": culled.id, "running": running.id}


def _journal(ledger: Any, hold_id: int) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = {}
    for entry in ledger.history("stmt-lab", limit=1000):
        if entry.hold_id == hold_id:
            sums[entry.kind] = sums.get(entry.kind, Decimal(0)) + entry.amount
    return sums


def test_the_apis_statements_add_up_to_the_journal(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    ids = _seed(ledger)
    for name, hold_id in ids.items():
        answer = credits_hub.call("other", "GET", f"/sessions/{hold_id}/statement")
        assert answer.status == 200, answer.raw
        body = answer.body
        journal = _journal(ledger, hold_id)
        held = journal.get("hold", Decimal(0)) + journal.get("extend", Decimal(0))
        assert Decimal(body["held"]) == held, name
        lines = body["lines"]
        charge_lines = sum(
            (Decimal(line["amount"]) for line in lines if line["kind"] in ("usage", "cap")),
            Decimal(0),
        )
        releases = sum(
            (Decimal(line["amount"]) for line in lines if line["kind"] == "release"), Decimal(0)
        )
        assert charge_lines == journal.get("charge", Decimal(0)), name
        assert releases == journal.get("release", Decimal(0)), name
        if name != "running":
            assert Decimal(body["charged"]) + Decimal(body["returned"]) == held
        assert body["adds_up"] is True
    extended = credits_hub.call("other", "GET", f"/sessions/{ids['extended']}/statement").body
    assert [line["kind"] for line in extended["lines"]][:2] == ["hold", "extend"]
    assert extended["energy_wh"] == "1234.5000"
    culled = credits_hub.call("other", "GET", f"/sessions/{ids['culled']}/statement").body
    assert culled["gpu_idle_minutes"] == 35
    assert culled["end_note"] == IDLE_NOTE


def test_an_accounts_statement_csv_for_a_period(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    ids = _seed(ledger)
    today = datetime.now(UTC).date()
    period = f"?since={today}&until={today + timedelta(days=1)}"
    url = f"{credits_hub.service}/accounts/stmt-lab/statement.csv{period}"
    answer = http("GET", url, credits_hub.tokens["other"], accept="text/csv")
    assert answer.status == 200, answer.raw
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.raw.decode())))
    assert {int(row["hold_id"]) for row in rows} >= set(ids.values())
    for hold_id in ids.values():
        mine = [row for row in rows if int(row["hold_id"]) == hold_id]
        journal = _journal(ledger, hold_id)
        charged = sum(
            (Decimal(row["amount"]) for row in mine if row["line"] in ("usage", "cap")), Decimal(0)
        )
        assert charged == journal.get("charge", Decimal(0))
    # Nothing before the period; someone else's account is refused; a bad day is 400.
    before = f"?until={today - timedelta(days=400)}"
    empty = http("GET", url.split("?")[0] + before, credits_hub.tokens["other"], accept="text/csv")
    assert len(empty.raw.decode().splitlines()) == 1
    refused = http("GET", url, credits_hub.tokens["owner"], accept="text/csv")
    assert refused.status == 403
    bad = http("GET", url.split("?")[0] + "?since=yesterday", credits_hub.tokens["other"])
    assert bad.status == 400


def test_a_courses_student_downloads_only_their_own_sessions(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    ledger.place_hold(COURSE, "lahore", {"cpu": 1}, "1", actor="ines")
    url = f"{credits_hub.service}/accounts/{COURSE}/statement.csv"
    student = http("GET", url, credits_hub.tokens["student"], accept="text/csv")
    staff = http("GET", url, credits_hub.tokens["instructor"], accept="text/csv")
    assert (student.status, staff.status) == (200, 200)
    assert {row["user"] for row in csv.DictReader(io.StringIO(student.raw.decode()))} == {"sami"}
    assert {row["user"] for row in csv.DictReader(io.StringIO(staff.raw.decode()))} >= {
        "sami",
        "ines",
    }


def test_a_browser_opens_a_sessions_statement(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any, browser: Any, output_dir: Path
) -> None:
    ids = _seed(ledger)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        ldap_login(page, credits_hub.process.url, "otto", "any")
        page.goto(f"{credits_hub.process.url}/services/credits/")
        page.wait_for_selector("#ch-sessions")
        details = page.locator(f'details.ch-statement[data-hold-id="{ids["extended"]}"]')
        assert not details.evaluate("node => node.open")
        details.locator("summary").click()
        assert details.evaluate("node => node.open")
        page.locator(f'details.ch-statement[data-hold-id="{ids["culled"]}"] summary').click()
        details.scroll_into_view_if_needed()
        page.screenshot(path=str(output_dir / "credits-page-statement.png"), full_page=True)
        text = details.inner_text()
        culled = page.locator(f'details.ch-statement[data-hold-id="{ids["culled"]}"]').inner_text()
        held = details.locator(".ch-st-held").inner_text()
        csv_links = page.locator("a.ch-statement-csv").count()
    finally:
        context.close()
    body = credits_hub.call("other", "GET", f"/sessions/{ids['extended']}/statement").body
    assert held == f"{Decimal(body['held']):,.2f}"
    assert "Extended" in text
    assert "1.23 kWh" in text
    assert "35 min" in culled
    assert "Stopped by computehub" in culled
    assert csv_links >= 3
