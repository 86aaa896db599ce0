"""Applications for credits on the real hub: who may do what, exactly-once grants, a browser.

A startup's founder (fatima) applies, a reviewer (rhea) recommends, an operator
(opal) approves; researchers (otto) and students (sami) only see their own.
"""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.parse
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from computehub.credits import models as m
from computehub.credits.ledger import Ledger
from computehub.credits.service.scopes import ACCESS, READ
from tests.support.credits_hub import (
    APPLY_END as END,
)
from tests.support.credits_hub import (
    APPLY_START as START,
)
from tests.support.credits_hub import (
    CreditsHub,
    application_body,
    browser_login,
    http,
)
from tests.support.login import ldap_login

pytestmark = pytest.mark.integration

BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"


def _a100(ledger: Ledger) -> Decimal:
    """Today's A100 rate as the ledger prices applications: the highest of any hub."""
    return max(rate for (_hub, res), rate in ledger.rates().items() if res == "gpu:a100")


def _grants(ledger: Ledger, account: str) -> int:
    with ledger.engine.connect() as connection:
        query = (
            select(func.count())
            .select_from(m.Grant)
            .join(m.Account, m.Account.id == m.Grant.account_id)
            .where(m.Account.name == account)
        )
        return int(connection.execute(query).scalar_one())


def test_applicants_see_only_their_own(credits_hub: CreditsHub, apps: dict[str, int]) -> None:
    credits_hub.call("student", "POST", "/applications", application_body("own-sami"))
    mine = credits_hub.call("student", "GET", "/applications").body["applications"]
    assert {row["applicant"] for row in mine} == {"sami"}
    founders = credits_hub.call("founder", "GET", "/applications").body["applications"]
    assert {row["applicant"] for row in founders} == {"fatima"}
    assert set(apps.values()) <= {row["id"] for row in founders}
    queue = credits_hub.call("reviewer", "GET", "/applications/queue").body["applications"]
    assert {"sami", "fatima"} <= {row["applicant"] for row in queue}


def test_a_reviewer_cannot_approve_from_the_page_either(
    credits_hub: CreditsHub, apps: dict[str, int], ledger: Ledger
) -> None:
    browser = browser_login(credits_hub.process.url, "rhea")
    page_url = f"{credits_hub.service}/applications/{apps['open']}"
    with browser.open(page_url, timeout=30) as resp:
        html = resp.read().decode()
    assert 'id="ch-recommend-form"' in html
    assert 'id="ch-approve-form"' not in html
    found = re.search(r'name="_xsrf" value="([^"]+)"', html)
    assert found is not None
    xsrf = found.group(1)
    form = urllib.parse.urlencode({"_xsrf": xsrf, "hours": "200"}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.open(f"{page_url}/approve", form, timeout=30)
    assert refused.value.code == 403
    assert ledger.application(apps["open"]).status == "submitted"
    assert _grants(ledger, "auth-open") == 0


def test_a_form_post_without_the_xsrf_token_applies_nothing(
    credits_hub: CreditsHub, ledger: Ledger
) -> None:
    """A cross-site form: the browser's cookie without JupyterHub's ``_xsrf`` token."""
    browser = browser_login(credits_hub.process.url, "otto")
    before = len(ledger.applications(applicant="otto"))
    fields = {**application_body("cross-site"), "account_choice": "new", "new_account": "x"}
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.open(
            f"{credits_hub.service}/applications",
            urllib.parse.urlencode(fields).encode(),
            timeout=30,
        )
    # HubOAuth takes no cookie on a POST without the token: not logged in (401).
    assert refused.value.code == 401
    assert len(ledger.applications(applicant="otto")) == before


def test_a_sessions_token_cannot_apply(credits_hub: CreditsHub) -> None:
    """What a server's token holds (read): code in a session never applies for its user."""
    token = credits_hub.token_for("otto", [ACCESS, READ])
    answer = http("POST", f"{credits_hub.api}/applications", token, application_body("s"))
    assert answer.status == 403, answer.raw


def test_approving_twice_at_once_grants_once(credits_hub: CreditsHub, ledger: Ledger) -> None:
    made = credits_hub.call("founder", "POST", "/applications", application_body("twice"))
    path = f"/applications/{made.body['id']}/approval"
    body = {"hours": "150", "expires_on": END.isoformat()}
    answers: list[Any] = []

    def approve() -> None:
        answers.append(credits_hub.call("operator", "POST", path, body))

    threads = [threading.Thread(target=approve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    retried = credits_hub.call("operator", "POST", path, body)
    assert [a.status for a in answers] == [200] * 8
    assert retried.status == 200
    assert {a.body["decision"]["grant_id"] for a in [*answers, retried]} == {
        retried.body["decision"]["grant_id"]
    }
    assert _grants(ledger, "twice") == 1
    assert ledger.balance("twice").balance == 150 * _a100(ledger)
    other = credits_hub.call("operator", "POST", path, {"hours": "100"})
    assert other.status == 409
    assert "approved already for 150 GPU-hours" in other.body["message"]
    assert _grants(ledger, "twice") == 1


def test_a_rejected_application_credits_nothing(credits_hub: CreditsHub, ledger: Ledger) -> None:
    made = credits_hub.call("founder", "POST", "/applications", application_body("nope")).body
    path = f"/applications/{made['id']}"
    done = credits_hub.call("operator", "POST", f"{path}/rejection", {"reason": "Out of scope."})
    assert (done.status, done.body["status"], done.body["decision"]["reason"]) == (
        200,
        "rejected",
        "Out of scope.",
    )
    late = credits_hub.call("operator", "POST", f"{path}/approval", {})
    assert late.status == 409
    assert "nope" not in {b.account for b in ledger.accounts_for_user("fatima")}
    assert ledger.check().differences == []


def test_a_startup_is_funded_in_the_browser(
    credits_hub: CreditsHub,
    ledger: Ledger,
    accounts: dict[str, str],
    browser: Any,
    output_dir: Path,
) -> None:
    """Founder applies for 200 A100-hours; reviewer recommends 150; operator approves 150."""
    hub = credits_hub.process.url
    service = f"{hub}/services/credits"
    rate = _a100(ledger)
    expires = (START + timedelta(days=365)).isoformat()
    shots = iter(range(1, 100))

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(output_dir / f"{next(shots)}-{name}.png"), full_page=True)

    founder = browser.new_context(viewport={"width": 1280, "height": 900})
    reviewer = browser.new_context(viewport={"width": 1280, "height": 900})
    operator = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = founder.new_page()
        ldap_login(page, hub, "fatima", "any")
        page.goto(f"{service}/")
        page.click("#ch-apply-link a")
        page.wait_for_selector("#ch-apply-form")
        page.fill("#ch-organisation", "Riverwatch Analytics")
        page.select_option("#ch-kind", "startup")
        page.fill("#ch-title", "Flood prediction for the Indus basin")
        page.fill("#ch-summary", "Forecasting floods from satellite images and river gauges.")
        page.select_option("#ch-category", "flood-prediction")
        page.select_option("#ch-gpu", "a100")
        page.fill("#ch-hours", "200")
        page.fill("#ch-starts-on", START.isoformat())
        page.fill("#ch-ends-on", END.isoformat())
        page.select_option("#ch-account-choice", "new")
        page.fill("#ch-new-account", "riverwatch")
        page.click("#ch-price")
        page.wait_for_selector("#ch-estimate")
        assert page.inner_text("#ch-estimate .ch-cost") == f"{200 * rate:,.2f}"
        assert page.input_value("#ch-new-account") == "riverwatch"
        shot(page, "founder-priced")
        page.click("#ch-submit")
        page.wait_for_selector("#ch-notice")
        [made] = [
            a for a in ledger.applications(applicant="fatima") if a.proposal.account == "riverwatch"
        ]
        assert (made.proposal.account, made.proposal.hours, made.estimate) == (
            "riverwatch",
            Decimal(200),
            200 * rate,
        )
        assert page.get_attribute(".ch-status", "data-status") == "submitted"
        shot(page, "founder-submitted")

        page = reviewer.new_page()
        ldap_login(page, hub, "rhea", "any")
        page.goto(f"{service}/applications/queue")
        page.wait_for_selector(f"#ch-queue tr[data-application='{made.id}']")
        shot(page, "reviewer-queue")
        page.click(f"#ch-queue tr[data-application='{made.id}'] .ch-title a")
        page.wait_for_selector("#ch-recommend-form")
        assert page.locator("#ch-approve-form").count() == 0
        page.select_option("#ch-recommendation", "approve")
        page.fill("#ch-recommend-hours", "150")
        page.fill("#ch-recommend-message", "Strong team; 150 hours cover the first season.")
        page.click("#ch-recommend-send")
        page.wait_for_selector("#ch-notice")
        assert "recommends: approve 150 GPU-hours" in page.inner_text("#ch-history")
        shot(page, "reviewer-recommended")

        page = operator.new_page()
        ldap_login(page, hub, "opal", "any")
        page.goto(f"{service}/applications/{made.id}")
        page.wait_for_selector("#ch-approve-form")
        # The same form in a second tab, sent again once the first is approved: a double
        # submit (or a request retried by hand) of the same approval.
        again = operator.new_page()
        again.goto(f"{service}/applications/{made.id}")
        again.fill("#ch-approve-hours", "150")
        again.fill("#ch-approve-expires", expires)
        page.fill("#ch-approve-hours", "150")
        page.fill("#ch-approve-expires", expires)
        page.fill("#ch-approve-message", "Approved for 150 hours, as recommended.")
        shot(page, "operator-approving")
        page.click("#ch-approve")
        page.wait_for_selector("#ch-notice")
        assert page.get_attribute(".ch-status", "data-status") == "approved"
        shot(page, "operator-approved")
        again.click("#ch-approve")
        again.wait_for_selector("#ch-notice")
        assert again.get_attribute(".ch-status", "data-status") == "approved"
        assert _grants(ledger, "riverwatch") == 1
        done = ledger.application(made.id)
        assert (done.status, done.approved_hours, done.approved_amount) == (
            "approved",
            Decimal(150),
            150 * rate,
        )
        assert ledger.members("riverwatch") == {"fatima": "owner"}

        page = founder.new_page()
        page.goto(f"{service}/")
        page.wait_for_selector("#ch-decisions")
        news = page.inner_text(f"#ch-decisions li[data-application='{made.id}']")
        assert f"{150 * rate:,.2f} credits" in news
        balance = page.inner_text("#ch-accounts tr[data-account=riverwatch] .ch-balance")
        shown = Decimal(balance.replace(",", ""))  # the page writes 1,200.00
        assert shown == 150 * rate == ledger.balance("riverwatch").balance
        shot(page, "founder-credited")
        page.reload()
        assert page.locator("#ch-decisions").count() == 0
        page.goto(f"{service}/applications/{made.id}")
        actions = page.locator("#ch-history .ch-action").all_inner_texts()
        assert actions == ["applied", "recommended", "approved"]
        shot(page, "founder-history")
    finally:
        for context in (founder, reviewer, operator):
            context.close()
    assert ledger.check().differences == []
