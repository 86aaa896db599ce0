"""The operator console on the real hub: who may open it, its figures, maintenance, a browser.

Operators (opal) open the page, its CSV exports and its REST API; reviewers (rhea),
students (sami), researchers (owen) and instructors (ines) are refused each of them,
and the maintenance form too. The API's figures for a seeded period equal the
ledger's own. An operator puts a hub in maintenance from the console in Chromium: the
hub's status says so with the message (no new starts), a running session there gets
the banner, and the console takes it out again. Screenshots: ``test-output/<test>/``.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.credits_hub import PEOPLE, CreditsHub, browser_login, http
from tests.support.login import ldap_login

pytestmark = pytest.mark.integration

#: Every REST route of the console (all GET).
API = ["/console/hubs", "/console/period", "/console/funding", "/console/accounts",
       "/console/applications"]  # fmt: skip
#: Every page route of the console (under the service), and the table a CSV export names.
PAGES = ["/console", "/console/export/period-hub.csv", "/console/export/funding.csv"]
REFUSED = ["reviewer", "student", "owner", "instructor"]
DASHBOARD = Path(__file__).parents[2] / "hub_config" / "grafana" / "computehub-console.json"
MESSAGE = "Cooling work in the machine room until 23:00 UTC"


@pytest.fixture(scope="module")
def seeded(ledger: Ledger, accounts: dict[str, str]) -> str:
    """Sessions settled today on both hubs, from accounts of the console's own."""
    for name, amount in (("console-a", "300"), ("console-b", "12")):
        ledger.create_account(name, "project", actor="test", owner="opal")
        ledger.grant(name, amount, actor="test", source="console-fund")
    for account, hub, resources, used, busy in (
        ("console-a", "lahore", {"gpu:h100": 1}, "1.5", "1.25"),
        ("console-a", "karachi", {"gpu:a100": 2}, "0.75", "0.5"),
        ("console-b", "lahore", {"cpu": 1}, "1", None),  # no GPU: not recorded
    ):
        hold = ledger.place_hold(account, hub, resources, "2", actor="opal")
        ledger.settle(hold.id, {r: Decimal(used) * n for r, n in resources.items()}, actor="hub")
        if busy is not None:  # as the spawner records it from the server's last report
            ledger.record_gpu_busy(hold.id, Decimal(busy), actor="spawner")
    return datetime.now(UTC).date().isoformat()


@pytest.mark.parametrize("persona", ["operator", *REFUSED, "anonymous"])
def test_only_operators_open_the_consoles_api(credits_hub: CreditsHub, persona: str) -> None:
    expected = {"operator": 200, "anonymous": 401}.get(persona, 403)
    for path in API:
        answer = credits_hub.call(persona, "GET", path)
        assert answer.status == expected, (persona, path, answer.raw)
        if expected == 403:
            assert "only operators" in answer.body["message"]


@pytest.mark.parametrize("persona", ["operator", *REFUSED])
def test_only_operators_open_the_console_page_and_exports(
    credits_hub: CreditsHub, persona: str
) -> None:
    user = PEOPLE[persona][0]
    browser = browser_login(credits_hub.process.url, user)
    for path in PAGES:
        try:
            with browser.open(f"{credits_hub.service}{path}", timeout=30) as resp:
                status, body = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read().decode()
        assert status == (200 if persona == "operator" else 403), (persona, path)
        if persona != "operator":
            assert "only operators may open the operator console" in body
            assert "GPU-hours" not in body


@pytest.mark.parametrize("persona", REFUSED)
def test_only_operators_put_a_hub_in_maintenance(
    credits_hub: CreditsHub, persona: str, operator_token: str
) -> None:
    """With the caller's own XSRF token (from a page they may open): refused, nothing set."""
    browser = browser_login(credits_hub.process.url, PEOPLE[persona][0])
    with browser.open(f"{credits_hub.service}/applications", timeout=30) as resp:
        found = re.search(r'name="_xsrf" value="([^"]+)"', resp.read().decode())
    assert found is not None
    form = {"_xsrf": found.group(1), "hub": "lahore", "action": "start", "message": "Closed"}
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.open(
            f"{credits_hub.service}/console/maintenance",
            urllib.parse.urlencode(form).encode(),
            timeout=30,
        )
    assert refused.value.code == 403
    assert hub_state(credits_hub, operator_token, "lahore")["state"] != "maintenance"
    # Nor through the hub's API with their own token (the scope is operators').
    answer = http(
        "PUT",
        f"{credits_hub.process.url}/hub/api/computehub/hubs/lahore/maintenance",
        credits_hub.tokens[persona],
        {"message": "Closed"},
    )
    assert answer.status == 403


@pytest.fixture(scope="module")
def operator_token(credits_hub: CreditsHub) -> str:
    return credits_hub.tokens["operator"]


def hub_state(hub: CreditsHub, token: str, name: str) -> dict[str, Any]:
    answer = http("GET", f"{hub.process.url}/hub/api/computehub/hubs", token)
    assert answer.status == 200, answer.raw
    return next(row for row in answer.body["hubs"] if row["hub"] == name)


def test_the_consoles_figures_equal_the_ledgers(
    credits_hub: CreditsHub, ledger: Ledger, seeded: str
) -> None:
    since = seeded
    until = (datetime.fromisoformat(since) + timedelta(days=1)).date().isoformat()
    query = f"?since={since}&until={until}"
    period = credits_hub.call("operator", "GET", f"/console/period{query}").body
    report = credits_hub.call("operator", "GET", f"/reports{query}&by=hub").body
    start = datetime.fromisoformat(since).replace(tzinfo=UTC)
    own = ledger.report(since=start, until=start + timedelta(days=1), by="hub")
    assert {row["key"]: row["credits_charged"] for row in period["by"]["hub"]} == {
        row["key"]: row["credits"] for row in report["rows"]
    }
    assert {row["key"]: Decimal(row["credits_charged"]) for row in period["by"]["hub"]} == {
        row.key: row.credits for row in own
    }
    assert {row["key"]: row["sessions"] for row in period["by"]["hub"]} == {
        row.key: row.sessions for row in own
    }
    hours = {r.key: r.resource_hours for r in ledger.report(since=start, by="resource")}
    gpu = {row["key"]: Decimal(row["gpu_hours"]) for row in period["by"]["gpu_type"]}
    assert gpu["h100"] == hours["gpu:h100"]
    assert gpu["a100"] == hours["gpu:a100"]
    # GPU-hours busy: what the hub recorded for each session (the seed's), by GPU type.
    busy = {row["key"]: row["gpu_busy_hours"] for row in period["by"]["gpu_type"]}
    assert (Decimal(busy["h100"]), Decimal(busy["a100"])) == (Decimal("1.25"), Decimal("0.5"))
    assert busy["cpu only"] is None

    funding = credits_hub.call("operator", "GET", "/console/funding").body["sources"]
    fund = next(row for row in funding if row["source"] == "console-fund")
    spent = sum(
        (s.charged or Decimal(0) for a in ("console-a", "console-b") for s in ledger.sessions(a)),
        Decimal(0),
    )
    assert (Decimal(fund["granted"]), Decimal(fund["spent"])) == (Decimal(312), spent)
    assert {k: Decimal(v) for k, v in ledger.totals().granted.items()} == {
        row["source"]: Decimal(row["granted"]) for row in funding
    }
    near = credits_hub.call("operator", "GET", "/console/accounts?below=12").body["accounts"]
    b = ledger.balance("console-b")
    assert b.available < 12
    assert {"account": "console-b", "available": f"{b.available:.2f}"}.items() <= next(
        row for row in near if row["account"] == "console-b"
    ).items()


def test_the_dashboards_metrics_are_exported(credits_hub: CreditsHub, operator_token: str) -> None:
    ours = http("GET", f"{credits_hub.service}/metrics", operator_token, accept="text/plain")
    theirs = http("GET", f"{credits_hub.process.url}/hub/metrics", operator_token)
    assert (ours.status, theirs.status) == (200, 200)
    text = ours.raw.decode() + theirs.raw.decode()
    exported = set(re.findall(r"^# TYPE (\w+) (\w+)", text, re.M))
    names = {n for n, _ in exported} | {f"{n}_total" for n, t in exported if t == "counter"}
    names |= {f"{n}_bucket" for n, t in exported if t == "histogram"}
    dashboard = DASHBOARD.read_text()
    queried = set(re.findall(r"\b((?:computehub|jupyterhub)_[a-z_]+)\b", dashboard))
    assert queried
    assert queried <= names, queried - names
    assert re.search(r'^computehub_hub_sessions\{hub="lahore"\} [1-9]', ours.raw.decode(), re.M)


@pytest.fixture
def lahore_open(credits_hub: CreditsHub, operator_token: str) -> Iterator[None]:
    """Lahore is not in maintenance before and after the test."""
    url = f"{credits_hub.process.url}/hub/api/computehub/hubs/lahore/maintenance"
    # An operator's own token reaches the hub's API too, recorded as them.
    put = http("PUT", url, operator_token, {"message": "Short test"})
    assert (put.status, put.body["by"]) == (200, "opal"), put.raw
    unknown = http("PUT", url.replace("lahore", "nowhere"), operator_token, {"message": "x"})
    assert unknown.status == 404
    ended = http("DELETE", url, operator_token)
    assert (ended.status, ended.body["ended"]) == (200, True)
    yield
    http("DELETE", url, operator_token)


def test_an_operator_puts_a_hub_in_maintenance_from_the_console(
    credits_hub: CreditsHub,
    operator_token: str,
    lahore_open: None,
    seeded: str,
    browser: Any,
    output_dir: Path,
) -> None:
    shots = iter(range(1, 100))

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(output_dir / f"{next(shots)}-{name}.png"), full_page=True)

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        ldap_login(page, credits_hub.process.url, "opal", "any")
        page.goto(f"{credits_hub.service}/console?since={seeded}")
        page.wait_for_selector("#ch-hubs")
        assert page.locator("#ch-period-hub svg .ch-bar").count() >= 2
        busy = page.locator('#ch-total [data-figure="GPU-hours busy"]').inner_text()
        assert Decimal(busy) >= Decimal("1.75")  # the seed's, and any other session's
        assert page.locator('#ch-hubs tr[data-key="lahore"] td[data-col="state"]').inner_text() in (
            "down",
            "up",
            "degraded",
        )
        shot(page, "console")
        # The CSV export of a table, as a download.
        with page.expect_download() as download:
            page.click("#ch-funding a.ch-csv")
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0] == "source,granted,spent,expired,remaining,expiring"
        assert any(line.startswith("console-fund,312.00,") for line in lines)

        page.select_option("#ch-m-hub", "lahore")
        page.fill("#ch-m-message", MESSAGE)
        page.click("#ch-m-start")
        page.wait_for_selector("#ch-notice")
        assert f"since={seeded}" in page.url  # back to the period it showed
        row = page.locator('#ch-hubs tr[data-key="lahore"]')
        assert row.locator('td[data-col="state"]').inner_text() == "maintenance"
        assert row.locator('td[data-col="message"]').inner_text() == MESSAGE
        shot(page, "maintenance-set")

        status = hub_state(credits_hub, operator_token, "lahore")
        assert (status["state"], status["message"]) == ("maintenance", MESSAGE)
        assert status["accepts_sessions"] is False  # no new starts
        assert status["maintenance_by"] == "opal (operator console)"
        # The running session there (owen's, job 4242) gets the banner in its widget.
        current = credits_hub.call("owner", "GET", "/sessions/current").body
        assert current["hub"] == "lahore"
        assert current["hub_notice"] == (
            f"This hub is in maintenance: {MESSAGE}. Your session keeps running; new sessions "
            "can't start here until it ends."
        )
        page.goto(f"{credits_hub.service}/hubs")
        assert page.locator('#ch-hubs tr[data-hub="lahore"]').get_attribute("data-state") == (
            "maintenance"
        )
        shot(page, "status-page")

        # A message people can't be shown is refused with a sentence; nothing changes.
        page.goto(f"{credits_hub.service}/console")
        page.select_option("#ch-m-hub", "karachi")
        page.click("#ch-m-start")
        page.wait_for_selector("#ch-error")
        assert "message is empty" in page.locator("#ch-error").inner_text()
        assert hub_state(credits_hub, operator_token, "karachi")["state"] != "maintenance"

        page.select_option("#ch-m-hub", "lahore")
        page.click("#ch-m-end")
        page.wait_for_selector("#ch-notice")
        assert "takes new sessions again" in page.locator("#ch-notice").inner_text()
        shot(page, "maintenance-ended")
        assert hub_state(credits_hub, operator_token, "lahore")["state"] != "maintenance"
        current = credits_hub.call("owner", "GET", "/sessions/current").body
        assert current["hub_notice"] is None
    finally:
        context.close()
    assert json.loads(DASHBOARD.read_text())["uid"] == "computehub-console"
