"""The spawn form's script in Chromium: the account follows the resource until one is picked.

The form as :func:`~computehub.spawners.form.render_form` makes it, in a page of its
own with the hub's Bootstrap (no hub needed: the ledger's estimate is not asked for).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import jupyterhub
import pytest

from computehub.sitefile import load_site
from computehub.spawners.access import Entitlements
from computehub.spawners.form import render_form
from computehub.spawners.registry import HubRegistry

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"
#: bilal, a student of intro-ml, the course lahore's H100s are kept for.
BILAL = Entitlements(roles=frozenset({"student"}), courses=frozenset({"intro-ml"}))
ACCOUNTS = {"bilal": Decimal(12), "intro-ml": Decimal(80)}


def _bootstrap() -> Path:
    """The hub's own Bootstrap stylesheet, as the spawn page loads it."""
    share = Path(jupyterhub.__file__).resolve().parents[4] / "share" / "jupyterhub"
    return share / "static" / "components" / "bootstrap" / "dist" / "css" / "bootstrap.min.css"


def test_the_account_follows_a_course_resource_until_one_is_picked(
    browser: Any, output_dir: Path
) -> None:
    form = render_form(HubRegistry(load_site(EXAMPLE)), None, ACCOUNTS, BILAL)
    page = browser.new_page(viewport={"width": 900, "height": 900})
    try:
        page.set_content(f'<main class="container my-4"><form>{form}</form></main>')
        css = _bootstrap()
        if css.exists():
            page.add_style_tag(path=str(css))
        account = page.locator("#ch-account")
        assert page.input_value("#ch-hub") == "lahore"
        assert account.input_value() == "bilal"  # CPU only: their own account

        page.select_option("#ch-gpu-type", "h100")  # kept for intro-ml: its pool pays
        assert account.input_value() == "intro-ml"
        page.screenshot(path=str(output_dir / "1-course-resource.png"), full_page=True)
        page.select_option("#ch-gpu-type", "l40s")  # open to all: back to their own
        assert account.input_value() == "bilal"
        page.select_option("#ch-gpu-type", "h100")
        page.select_option("#ch-hub", "karachi")  # no H100 there: CPU only, their own
        assert page.input_value("#ch-gpu-type") == "none"
        assert account.input_value() == "bilal"
        page.select_option("#ch-hub", "any")
        page.select_option("#ch-gpu-type", "h100")  # only lahore has them: the course
        assert account.input_value() == "intro-ml"

        page.select_option("#ch-account", "bilal")  # picked: it stays, whatever the choice
        page.select_option("#ch-hub", "lahore")
        page.select_option("#ch-gpu-type", "l40s")
        page.select_option("#ch-gpu-type", "h100")
        assert account.input_value() == "bilal"
        assert "Your account can fund up to 1.20 h." in page.inner_text("#ch-cost")
        page.screenshot(path=str(output_dir / "2-account-picked.png"), full_page=True)
    finally:
        page.close()


def test_the_notices_follow_the_chosen_account(browser: Any, output_dir: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from computehub.credits.notices import Figures, Rules, notices

    now = datetime.now(UTC)
    found = notices(
        [
            Figures("bilal", "personal", "owner", Decimal(12)),
            Figures(
                "intro-ml",
                "course",
                "student",
                Decimal("3.5"),
                [(now + timedelta(days=3), Decimal("3.5"))],
                [Decimal(8)],
            ),
        ],
        Rules(timedelta(days=14), "typical-session", Decimal("0.5")),
        now,
    )
    assert [n.account for n in found] == ["intro-ml", "intro-ml"]
    low = {"bilal": Decimal(12), "intro-ml": Decimal("3.5")}  # as the notices were read
    form = render_form(HubRegistry(load_site(EXAMPLE)), None, low, BILAL, notices=found)
    page = browser.new_page(viewport={"width": 900, "height": 900})
    try:
        page.set_content(f'<main class="container my-4"><form>{form}</form></main>')
        css = _bootstrap()
        if css.exists():
            page.add_style_tag(path=str(css))
        box = page.locator("#ch-notices")
        assert page.locator("#ch-account").input_value() == "bilal"
        assert not box.is_visible()  # bilal's own account: nothing to say
        page.select_option("#ch-gpu-type", "h100")  # the course's pool pays: its notices
        assert page.locator("#ch-account").input_value() == "intro-ml"
        assert box.is_visible()
        text = box.inner_text()
        assert "3.50 credits in account intro-ml expire at the end of" in text
        assert "less than one typical session costs (8.00 credits)" in text
        page.screenshot(path=str(output_dir / "1-course-account-notices.png"), full_page=True)
        page.select_option("#ch-account", "bilal")
        assert not box.is_visible()
    finally:
        page.close()
