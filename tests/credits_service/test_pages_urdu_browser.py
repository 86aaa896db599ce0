"""The instructor pages, the applications pages and the operator console in Urdu, in Chromium.

The hub of :mod:`tests.credits_service.conftest` (hub_config/ as deployed, the credits
service, its people): the browser's language (``ur-PK``) chooses Urdu, each page is
right to left with the language switch, its first table column on the right, nothing
sticking out sideways, in the theme the browser prefers. The switch takes a page back
to English on the same address. Screenshots in light and dark theme:
test-output/<test>/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.credits_hub import COURSE_A, CreditsHub
from tests.support.login import ldap_login

pytestmark = pytest.mark.integration

#: The page's background in each theme (Bootstrap 5.3's --bs-body-bg).
BACKGROUND = {"light": "rgb(255, 255, 255)", "dark": "rgb(33, 37, 41)"}
#: Each page: who opens it, its address under the service, what must be there, its
#: heading in Urdu, and a table whose first column must be the rightmost.
PAGES = (
    ("ines", "courses", "#ch-courses", "آپ کے پڑھائے جانے والے کورس", "#ch-courses"),
    ("ines", f"courses/{COURSE_A}", "#ch-roster", None, "#ch-roster"),
    ("fatima", "applications", "#ch-apply-form", "کریڈٹ کے لیے درخواستیں", "#ch-applications"),
    ("opal", "applications/{open}", "#ch-approve-form", None, "#ch-history"),
    ("rhea", "applications/queue", "#ch-queue", "فیصلے کی منتظر درخواستیں", "#ch-queue"),
    ("opal", "console", "#ch-hubs", "آپریٹر کنسول", "#ch-hubs table"),
)


def _lang_dir(page: Any) -> tuple[str, str]:
    found: list[str] = page.evaluate(
        "[document.documentElement.lang, document.documentElement.dir]"
    )
    return found[0], found[1]


def _overflows(page: Any) -> bool:
    """Whether anything sticks out sideways (a layout broken by right to left)."""
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"))


def _first_column_on_the_right(page: Any, table: str) -> bool:
    head = page.locator(f"{table} th").first.bounding_box()
    whole = page.locator(table).first.bounding_box()
    assert head is not None
    assert whole is not None
    return bool(head["x"] + head["width"] > whole["x"] + whole["width"] - 2)


def _clipped(page: Any) -> list[str]:
    """Buttons and labels whose words do not fit in them (clipped text)."""
    found: list[str] = page.evaluate(
        """[...document.querySelectorAll('button, .btn, label, th, .badge')]
            .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1
                    && getComputedStyle(e).overflow !== 'visible')
            .map(e => e.textContent.trim())"""
    )
    return found


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_teaching_applications_and_console_pages_in_urdu(
    credits_hub: CreditsHub,
    ledger: Ledger,
    accounts: dict[str, str],
    apps: dict[str, int],
    browser: Any,
    output_dir: Path,
    theme: str,
) -> None:
    hub = credits_hub.process.url
    contexts: dict[str, Any] = {}
    try:
        for number, (user, path, ready, heading, table) in enumerate(PAGES, start=1):
            if user not in contexts:
                contexts[user] = browser.new_context(
                    viewport={"width": 1280, "height": 900}, locale="ur-PK", color_scheme=theme
                )
                first = contexts[user].new_page()
                first.set_default_timeout(60_000)
                ldap_login(first, hub, user, "any")
            page = contexts[user].pages[0]
            address = f"{hub}/services/credits/{path.format(open=apps['open'])}"
            page.goto(address)
            page.wait_for_selector(ready)
            where = f"{user} on {path}"
            assert _lang_dir(page) == ("ur", "rtl"), where
            assert page.locator("#ch-language-switch .ch-lang-current").inner_text() == "اردو"
            if heading is not None:
                assert page.locator("h1").first.inner_text() == heading, where
            assert (
                page.evaluate("getComputedStyle(document.body).backgroundColor")
                == (BACKGROUND[theme])
            ), where
            assert _first_column_on_the_right(page, table), where
            assert not _overflows(page), where
            assert _clipped(page) == [], where
            name = path.split("/")[0] if "{" not in path else "application"
            if path.endswith("queue"):
                name = "queue"
            if path.startswith("courses/"):
                name = "course"
            page.screenshot(path=str(output_dir / f"{number}-{name}-{theme}.png"), full_page=True)
    finally:
        for context in contexts.values():
            context.close()


def test_the_switch_takes_the_console_back_to_english(
    credits_hub: CreditsHub, accounts: dict[str, str], browser: Any, output_dir: Path
) -> None:
    hub = credits_hub.process.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ur-PK")
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        ldap_login(page, hub, "opal", "any")
        page.goto(f"{hub}/services/credits/console")
        assert _lang_dir(page) == ("ur", "rtl")
        assert page.locator("#ch-m-start").inner_text() == "مرمت پر لگائیں"
        page.click("#ch-language-switch a[lang=en]")
        page.wait_for_url(f"{hub}/services/credits/console")
        assert _lang_dir(page) == ("en", "ltr")
        assert page.locator("h1").inner_text() == "Operator console"
        assert page.locator("#ch-m-start").inner_text() == "Put in maintenance"
        # The cookie is on /: the instructor's pages and the hub follow it too.
        page.goto(f"{hub}/services/credits/applications")
        assert _lang_dir(page) == ("en", "ltr")
        page.screenshot(path=str(output_dir / "applications-switched-to-english.png"))
    finally:
        context.close()
