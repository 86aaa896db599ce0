"""Our pages in Urdu, right to left, and unchanged in English (pure renderers)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape
from pathlib import Path

from computehub.credits import records as r
from computehub.credits.service import page
from computehub.i18n import use
from computehub.sitefile import load_site
from computehub.spawners.form import render_form, script_words
from computehub.spawners.registry import HubRegistry

EXAMPLE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"
NOW = datetime(2026, 12, 5, 3, 10, tzinfo=UTC)
ACCOUNT = r.Balance(
    account="amna",
    kind="personal",
    role="owner",
    balance=Decimal("1234.5"),
    held=Decimal("10"),
    available=Decimal("1224.5"),
    next_expiry_at=None,
    expiring=Decimal(0),
)


def _credits_page() -> str:
    return page.render("amna", [ACCOUNT], [], soon=NOW)


def test_the_credits_page_in_urdu_is_right_to_left() -> None:
    with use("ur"):
        html = _credits_page()
    assert '<html lang="ur" dir="rtl">' in html
    assert "bootstrap.rtl.min.css" in html
    assert "آپ کے کریڈٹ اور سیشن" in html
    assert "<th>اکاؤنٹ</th>" in html
    assert "Your credits and sessions" not in html
    assert "(ذاتی)" in html
    assert ">مالک<" in html
    assert 'class="ch-lang-current fw-semibold px-1" lang="ur">اردو<' in html


def test_the_credits_page_in_english_stays_as_it_was() -> None:
    html = _credits_page()
    assert '<html lang="en" dir="ltr">' in html
    assert "bootstrap.min.css" in html
    assert "rtl" not in html
    assert "Your credits and sessions" in html
    assert 'href="/hub/computehub/language?lang=ur&amp;next=%2Fservices%2Fcredits%2F"' in html
    assert "1,234.50" in html


def test_the_spawn_form_in_urdu() -> None:
    registry = HubRegistry(load_site(EXAMPLE))
    with use("ur"):
        form = render_form(registry, None, {"amna": Decimal("12.5")})
        words = script_words()
    assert ">اے آئی ہب<" in form
    assert ">صرف CPU<" in form
    assert "amna (12.50 کریڈٹ دستیاب)" in form
    assert ">AI hub<" not in form
    # The script's sentences travel in the page's language.
    data = re.search(r'data-words="([^"]*)"', form)
    assert data is not None
    assert json.loads(unescape(data.group(1))) == words
    assert words["fund"] == "آپ کا اکاؤنٹ زیادہ سے زیادہ {hours} گھنٹے کی ادائیگی کر سکتا ہے۔"  # noqa: RUF001


def test_the_spawn_form_in_english() -> None:
    form = render_form(HubRegistry(load_site(EXAMPLE)), None, {"amna": Decimal("12.5")})
    assert ">AI hub<" in form
    assert "amna (12.50 credits available)" in form
