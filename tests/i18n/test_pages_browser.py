"""The login page, the spawn form and the credits page in Urdu, in Chromium on the real bed.

The browser's language (Playwright's ``locale`` sets ``Accept-Language``) chooses Urdu;
the switch on the pages (a cookie on ``/``) overrides it for the hub and the credits
service alike; English stays the default. Screenshots in light and dark theme:
test-output/<test>/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.spawners.test_home_page import wait_server
from tests.support.login import ldap_login

pytestmark = pytest.mark.integration

#: What each page says in Urdu (from computehub/locale/ur/LC_MESSAGES/computehub.po).
SERVER_OPTIONS = "سرور کے اختیارات"
AI_HUB = "اے آئی ہب"
YOUR_CREDITS = "آپ کے کریڈٹ اور سیشن"
USERNAME = "صارف نام:"


def _html(page: Any) -> tuple[str, str]:
    """The page's ``lang`` and ``dir`` as the browser has them."""
    lang, dir_ = page.evaluate("[document.documentElement.lang, document.documentElement.dir]")
    return lang, dir_


#: The page's background in each theme (Bootstrap 5.3's --bs-body-bg).
BACKGROUND = {"light": "rgb(255, 255, 255)", "dark": "rgb(33, 37, 41)"}


def _background(page: Any) -> str:
    """The body's background colour as the browser draws it."""
    color: str = page.evaluate("getComputedStyle(document.body).backgroundColor")
    return color


def _overflows(page: Any) -> bool:
    """Whether anything sticks out sideways (a layout broken by right to left)."""
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"))


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_pages_in_urdu_from_the_browsers_language(
    hub: Any, browser: Any, output_dir: Path, theme: str
) -> None:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="ur-PK", color_scheme=theme
    )
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{hub.url}/hub/login")
        assert _html(page) == ("ur", "rtl")
        assert page.locator("label[for=username_input]").inner_text() == USERNAME
        assert page.evaluate("document.documentElement.dataset.bsTheme") == theme
        page.screenshot(path=str(output_dir / f"1-login-{theme}.png"), full_page=True)

        ldap_login(page, hub.url, "alice", "alice-pw")
        page.goto(f"{hub.url}/hub/spawn")
        assert _html(page) == ("ur", "rtl")
        assert page.locator("h1").first.inner_text() == SERVER_OPTIONS
        assert page.locator("label[for=ch-hub]").inner_text() == AI_HUB
        page.wait_for_function("document.getElementById('ch-cost').dataset.source === 'ledger'")
        cost = page.locator("#ch-cost").inner_text()
        assert cost.startswith("لاگت:"), cost
        assert page.locator("#ch-language-switch .ch-lang-current").inner_text() == "اردو"
        # The form's column sits on the right in rtl: its right edge near the page's.
        box = page.locator("#computehub-spawn").bounding_box()
        assert box is not None
        assert not _overflows(page)
        page.screenshot(path=str(output_dir / f"2-spawn-form-{theme}.png"), full_page=True)

        page.goto(f"{hub.url}/services/credits/")
        page.wait_for_selector("#ch-accounts")
        assert _html(page) == ("ur", "rtl")
        assert page.locator("h1").inner_text() == YOUR_CREDITS
        # No script on the service's pages: the theme follows prefers-color-scheme.
        assert _background(page) == BACKGROUND[theme]
        first_header = page.locator("#ch-accounts th").first.bounding_box()
        table = page.locator("#ch-accounts").bounding_box()
        assert first_header is not None
        assert table is not None
        # Right to left: the first column (Account) is the rightmost.
        assert first_header["x"] + first_header["width"] > table["x"] + table["width"] - 2
        assert not _overflows(page)
        page.screenshot(path=str(output_dir / f"3-credits-page-{theme}.png"), full_page=True)

        page.goto(f"{hub.url}/services/credits/hubs")
        page.wait_for_selector("#ch-hubs")
        assert _html(page) == ("ur", "rtl")
        assert page.locator("h1").inner_text() == "اے آئی ہب کی صورتحال"
        assert _background(page) == BACKGROUND[theme]
        assert not _overflows(page)
        page.screenshot(path=str(output_dir / f"4-hub-status-{theme}.png"), full_page=True)

        # The applications pages follow the same choice (tests/credits_service/
        # test_pages_urdu_browser.py has them, the instructor pages and the console).
        page.goto(f"{hub.url}/services/credits/applications")
        assert _html(page) == ("ur", "rtl")
        assert page.locator("#ch-language-switch .ch-lang-current").inner_text() == "اردو"
    finally:
        context.close()


def test_the_switch_overrides_the_browser_and_english_is_the_default(
    hub: Any, browser: Any, output_dir: Path
) -> None:
    english = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    urdu = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ur-PK")
    try:
        page = english.new_page()
        page.set_default_timeout(60_000)
        ldap_login(page, hub.url, "bob", "bob-pw")
        page.goto(f"{hub.url}/hub/spawn")
        assert _html(page) == ("en", "ltr")
        assert page.locator("h1").first.inner_text() == "Server options"

        page = urdu.new_page()
        page.set_default_timeout(60_000)
        ldap_login(page, hub.url, "bob", "bob-pw")
        page.goto(f"{hub.url}/hub/spawn")
        assert _html(page) == ("ur", "rtl")
        # The switch: English, on the spawn form; back on the same page, in English...
        page.click("#ch-language-switch a[lang=en]")
        page.wait_for_url(f"{hub.url}/hub/spawn")
        assert _html(page) == ("en", "ltr")
        assert page.locator("label[for=ch-hub]").inner_text() == "AI hub"
        # ...and on the credits service too (the cookie is on /).
        page.goto(f"{hub.url}/services/credits/")
        assert _html(page) == ("en", "ltr")
        assert page.locator("h1").inner_text() == "Your credits and sessions"
        # Back to Urdu from the credits page's switch.
        page.click("#ch-language-switch a[lang=ur]")
        page.wait_for_url(f"{hub.url}/services/credits/")
        assert _html(page) == ("ur", "rtl")
        assert page.locator("h1").inner_text() == YOUR_CREDITS
        page.screenshot(path=str(output_dir / "credits-page-switched-back.png"), full_page=True)
    finally:
        english.close()
        urdu.close()


#: The home page's words in Urdu.
YOUR_SESSIONS = "آپ کے سیشن"
DEFAULT_SERVER = "ڈیفالٹ سرور"
RUNNING = "چل رہا ہے"


def test_the_home_page_in_urdu_with_a_running_session(
    hub: Any, browser: Any, output_dir: Path, clean: None
) -> None:
    status, answer = hub.api(
        "POST", "/users/alice/server", {"hub": "lahore", "gpu_type": "h100", "hours": "1"}
    )
    assert status in (201, 202), answer
    wait_server(hub, "alice", "")
    for theme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 1280, "height": 1000}, locale="ur-PK", color_scheme=theme
        )
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            ldap_login(page, hub.url, "alice", "alice-pw")
            page.goto(f"{hub.url}/hub/home")
            card = page.locator('.ch-card[data-server=""][data-state="running"]')
            card.wait_for()
            assert _html(page) == ("ur", "rtl")
            assert page.evaluate("document.documentElement.dataset.bsTheme") == theme
            assert page.locator("h1").first.inner_text() == YOUR_SESSIONS
            assert card.locator("h2").inner_text() == DEFAULT_SERVER
            assert card.locator(".badge").inner_text() == RUNNING
            assert card.locator("dt").first.inner_text() == "ہب"
            rate = card.locator('[data-field="rate"]').inner_text()
            assert rate.endswith("کریڈٹ فی گھنٹہ"), rate
            left = card.locator('[data-field="time-left"]').inner_text()
            assert "منٹ" in left, left
            assert card.locator(".ch-open").inner_text() == "کھولیں"
            assert "1 \u00d7 H100" in card.locator('[data-field="resources"]').inner_text()
            # Right to left: the card's label sits at its right, its badge at its left.
            label = card.locator("h2").bounding_box()
            badge = card.locator(".badge").bounding_box()
            assert label is not None
            assert badge is not None
            assert badge["x"] < label["x"]
            # Each label with its figure on one line, the label on the right.
            term = card.locator("dt").first.bounding_box()
            figure = card.locator("dd").first.bounding_box()
            assert term is not None
            assert figure is not None
            assert abs(term["y"] - figure["y"]) < 4, (term, figure)
            assert figure["x"] + figure["width"] <= term["x"] + 1
            assert page.locator("#ch-balances tbody tr").count() >= 1
            assert not _overflows(page)
            page.screenshot(path=str(output_dir / f"home-{theme}.png"), full_page=True)
        finally:
            context.close()
