"""The page of credits and sessions as the real hub serves it: each person sees their own."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.credits_hub import COURSE, CreditsHub, browser_login, http, page_rows

pytestmark = pytest.mark.integration

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_sees_its_own_sessions_and_no_one_elses(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    owen, otto = accounts["owner"], accounts["other"]
    ended = ledger.place_hold(owen, "karachi", {"gpu:a100": 2}, "1", actor=owen)
    ledger.settle(ended.id, {"gpu:a100": "0.5"}, actor="test")
    ledger.note_session_end(ended.id, "stopped after its GPUs were idle <30 min>", actor="test")
    never = ledger.place_hold(owen, "lahore", {"cpu": 1}, "2", actor=owen)
    ledger.void_hold(never.id, "the job never started", actor="test")
    others = ledger.place_hold(otto, "karachi", {"gpu:a100": 1}, "1", actor=otto)

    answer = http("GET", f"{credits_hub.service}/", credits_hub.tokens["owner"], accept=BROWSER)
    assert answer.status == 200, answer.raw
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src" not in answer.headers["content-security-policy"]
    html = answer.raw.decode()
    assert "Your credits and sessions" in html
    assert 'href="/hub/static/components/bootstrap/dist/css/bootstrap.min.css"' in html
    assert f'<tr data-account="{owen}">' in html
    assert f'<tr data-account="{otto}">' not in html
    rows = page_rows(html).rows
    assert str(others.id) not in rows
    assert {row["ch-account"] for row in rows.values()} == {owen}
    # 0.5 A100-hours at 7 credits, of a hold of 2 A100s for 1 h
    assert rows[str(ended.id)]["ch-charged"] == "3.50"
    assert rows[str(ended.id)]["ch-returned"] == "10.50"
    assert rows[str(ended.id)]["ch-status"] == "ended"
    assert rows[str(ended.id)]["ch-note"] == "stopped after its GPUs were idle <30 min>"
    assert rows[str(never.id)]["ch-status"] == "never started"
    assert rows[str(never.id)]["ch-returned"] == rows[str(never.id)]["ch-held"] == "1.00"
    ids = [int(hold_id) for hold_id in rows]
    assert ids == sorted(ids, reverse=True)

    # The course's instructor sees the course's figures but not her student's sessions,
    # which the student sees on their own page.
    students = {str(row.hold.id) for row in ledger.sessions(COURSE, user=accounts["student"])}
    assert students
    html = http(
        "GET", f"{credits_hub.service}/", credits_hub.tokens["instructor"], accept=BROWSER
    ).raw.decode()
    assert f'<tr data-account="{COURSE}">' in html
    assert not students & set(page_rows(html).rows)
    html = http(
        "GET", f"{credits_hub.service}/", credits_hub.tokens["student"], accept=BROWSER
    ).raw.decode()
    assert students <= set(page_rows(html).rows)


def test_programs_still_get_json(credits_hub: CreditsHub, accounts: dict[str, str]) -> None:
    answer = http("GET", f"{credits_hub.service}/", credits_hub.tokens["other"])
    assert answer.status == 200
    assert answer.body == {
        "user": accounts["other"],
        "api": "/services/credits/api/v1",
        "openapi": "/services/credits/api/v1/openapi.json",
    }


def test_a_token_without_the_read_scope_gets_a_page_that_says_so(
    credits_hub: CreditsHub, accounts: dict[str, str]
) -> None:
    token = credits_hub.token_for(accounts["owner"], ["access:services!service=credits"])
    answer = http("GET", f"{credits_hub.service}/", token, accept=BROWSER)
    assert answer.status == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "custom:credits:read" in answer.raw.decode()


def test_the_hubs_menu_leads_a_logged_in_browser_to_the_page(
    credits_hub: CreditsHub, accounts: dict[str, str]
) -> None:
    browser = browser_login(credits_hub.process.url, accounts["other"])
    with browser.open(f"{credits_hub.process.url}/hub/home", timeout=30) as resp:
        home = resp.read().decode()
    # JupyterHub's "Services" menu, under the name computehub's page.html shows.
    link = re.search(r'<a class="dropdown-item" href="([^"]+)">\s*([^<]+?)\s*</a>', home)
    assert link is not None, home
    assert link.groups() == ("/services/credits/", "Credits and sessions")
    # The hub's OAuth (no confirmation page for this service) and back to the page.
    with browser.open(f"{credits_hub.process.url}{link.group(1)}", timeout=30) as resp:
        landed, html = resp.url, resp.read().decode()
    assert landed == f"{credits_hub.service}/"
    assert '<span class="navbar-text" id="ch-user">otto</span>' in html
    assert '<tr data-account="otto">' in html
