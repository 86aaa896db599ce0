"""Notices on the real bed, in Chromium: the spawn form, the hub's home page, the credits page.

bob (a student, logging in through the directory) owns a project account whose
credit runs out in three days and whose balance is below one of its typical sessions;
the spawn form tells him when he chooses to pay from it (and not for his own account),
the hub's home page and the credits page tell him at once. carol, whose account has
plenty that never expires, is told nothing. Screenshots go to the output folder.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.login import ldap_login

pytestmark = pytest.mark.integration

LAB = "bob-flood"


def _seed(ledger_url: str) -> str:
    """bob-flood: 40 credits through three days from now, then 10, 15 and 8 charged."""
    last_day = datetime.now(UTC).date() + timedelta(days=3)
    with Ledger(ledger_url) as ledger:
        names = {row.account for row in ledger.accounts_for_user("bob")}
        if LAB not in names:
            ledger.create_account(LAB, "project", actor="test", owner="bob")
            expires = datetime.combine(last_day + timedelta(days=1), time(), UTC)
            ledger.grant(LAB, "40", actor="test", expires_at=expires)
            for used in ("1", "1.5", "0.8"):  # Lahore's H100s at 10 credits an hour
                hold = ledger.place_hold(LAB, "lahore", {"gpu:h100": 1}, used, actor="bob")
                ledger.settle(hold.id, {"gpu:h100": used}, actor="test")
        assert ledger.balance(LAB).available == 7
    return last_day.isoformat()


def test_notices_on_the_spawn_form_and_the_home_page(
    hub: Any, clean: None, browser: Any, output_dir: Path
) -> None:
    last_day = _seed(hub.ledger_url)
    shots = iter(range(1, 100))
    bob = browser.new_context(viewport={"width": 1280, "height": 900})
    carol = browser.new_context(viewport={"width": 1280, "height": 900})

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(output_dir / f"{next(shots)}-{name}.png"), full_page=True)

    expiring = f"7.00 credits in account {LAB} expire at the end of {last_day} (UTC), in 3 days"
    low = (
        f"Account {LAB} has 7.00 credits available, less than one typical session costs "
        "(10.00 credits)"
    )
    try:
        page = bob.new_page()
        page.set_default_timeout(60_000)
        ldap_login(page, hub.url, "bob", "bob-pw")

        # The spawn form: his own account first, nothing to say about it.
        page.goto(f"{hub.url}/hub/spawn")
        box = page.locator("#ch-notices")
        assert page.input_value("#ch-account") == "bob"
        assert box.count() == 1
        assert not box.is_visible()
        page.select_option("#ch-account", LAB)
        assert box.is_visible()
        said = box.inner_text()
        assert expiring in said
        assert low in said
        shot(page, "spawn-form-project-account")
        page.select_option("#ch-account", "bob")
        assert not box.is_visible()

        # The hub's home page says it at once, above the sessions.
        page.goto(f"{hub.url}/hub/home")
        notices = page.locator("#ch-notices")
        assert notices.is_visible()
        said = notices.inner_text()
        assert expiring in said
        assert low in said
        assert page.locator("#ch-home").is_visible()  # the home page itself
        shot(page, "home-page")

        # The credits page, from the home page's link.
        page.locator("#ch-notices a").first.click()
        page.wait_for_selector("#ch-accounts")
        said = page.inner_text("#ch-notices")
        assert expiring in said
        assert low in said
        shot(page, "credits-page")

        other = carol.new_page()
        other.set_default_timeout(60_000)
        ldap_login(other, hub.url, "carol", "carol-pw")
        other.goto(f"{hub.url}/hub/spawn")
        assert other.locator("#ch-cost").is_visible()
        assert other.locator("#ch-notices").count() == 0
        shot(other, "spawn-form-nothing-to-say")
        other.goto(f"{hub.url}/hub/home")
        assert other.locator("#ch-home").is_visible()
        assert other.locator(".ch-notice[data-kind=expiring]").count() == 0
        assert other.locator(".ch-notice[data-kind=low_balance]").count() == 0
        shot(other, "home-page-nothing-to-say")
    finally:
        bob.close()
        carol.close()
