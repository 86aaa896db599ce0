"""Our pages in Urdu, right to left, and unchanged in English (pure renderers)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape
from pathlib import Path

from computehub.credits import records as r
from computehub.credits.notices import Notice, expiring_text, low_text
from computehub.credits.service import page, statementviews, statuspage
from computehub.credits.service.noticeviews import notices_section
from computehub.extensions.creditsreader import SessionCredits
from computehub.extensions.render import credits_html
from computehub.extensions.sampler import CreditsState
from computehub.i18n import use
from computehub.i18n.catalog import ENV, FSI, PDI
from computehub.sitefile import load_site
from computehub.sitefile.schema import TYPICAL_SESSION
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
    # Latin names are isolated in Urdu text (Unicode FSI/PDI), so they keep their order.
    assert f"{FSI}amna{PDI} (12.50 کریڈٹ دستیاب)" in form
    assert f"{FSI}Lahore AI Hub (Punjab){PDI} · {FSI}H100:{PDI}" in form
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
    assert FSI not in form


def _widget_session() -> SessionCredits:
    return SessionCredits(
        account="amna",
        hub="lahore",
        job_id="4242",
        available=Decimal("80.5"),
        hold=Decimal("12"),
        cost_so_far=Decimal("3.25"),
        burn_rate_per_hour=Decimal("6.5"),
        started_at=NOW,
        funded_until=NOW + timedelta(hours=2),
    )


def test_the_widget_in_urdu_is_right_to_left() -> None:
    state = CreditsState(session=_widget_session())
    with use("ur"):
        html = credits_html(state, NOW + timedelta(minutes=30))
    assert html.startswith('<div dir="rtl"')
    assert ">باقی وقت<" in html
    assert "80.50 کریڈٹ (روکے گئے 12.00)" in html
    english = credits_html(state, NOW + timedelta(minutes=30))
    assert english.startswith('<div dir="ltr"')
    assert ">Time left<" in english


def test_the_widget_speaks_the_language_its_session_was_started_in() -> None:
    """The spawner passes the request's language to the job (COMPUTEHUB_LANGUAGE): a
    fresh process with it renders the widget in Urdu without any request."""
    code = "from computehub.i18n import _, language; print(language(), _('Time left'))"
    env = {**os.environ, ENV: "ur"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.split() == ["ur", "باقی", "وقت"]
    env[ENV] = "xx"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.split() == ["en", "Time", "left"]


def test_the_hub_status_page_in_urdu() -> None:
    from tests.credits_service.test_status_page import ANSWER

    views = statuspage.parse_hubs(ANSWER)
    with use("ur"):
        html = statuspage.render("amna", views)
    assert '<html lang="ur" dir="rtl">' in html
    assert ">اے آئی ہب کی صورتحال<" in html
    assert "AI hub status" not in html
    assert ">مرمت جاری ہے<" in html
    english = statuspage.render("amna", views)
    assert ">AI hub status<" in english


def test_a_page_not_translated_yet_has_no_switch() -> None:
    assert "ch-language-switch" not in page.navbar("amna", "/hub/")
    assert "ch-language-switch" in page.navbar("amna", "/hub/", back_to="/services/credits/")


def test_the_notices_in_urdu() -> None:
    day = date(2026, 12, 8)
    with use("ur"):
        expiring = expiring_text("amna", Decimal(7), day, NOW)
        low = low_text("amna", Decimal(7), Decimal(10), TYPICAL_SESSION)
        section = notices_section([Notice("low_balance", "amna", low, Decimal(7))])
    assert expiring.startswith("اکاؤنٹ amna میں 7.00 کریڈٹ کی میعاد 8 دسمبر 2026 (UTC)")
    assert "3 دن میں" in expiring
    assert "ایک عام سیشن کی لاگت (10.00 کریڈٹ) سے کم ہے" in low
    assert '<h2 class="h6">توجہ فرمائیں</h2>' in section
    english = expiring_text("amna", Decimal(7), day, NOW)
    assert english == (
        "7.00 credits in account amna expire at the end of 2026-12-08 (UTC), in 3 days: "
        "after that they can no longer be spent."
    )


def test_a_sessions_statement_in_urdu() -> None:
    from tests.credits_service.test_statement_views import _statement

    with use("ur"):
        html = statementviews.statement_html(_statement())
    assert "<summary>سیشن 9 کا گوشوارہ</summary>" in html
    assert '<dd class="col-sm-9 ch-st-rate-in-force">24.84 کریڈٹ فی گھنٹہ</dd>' in html
    assert ">واپس شدہ<" in html
    assert "Statement of session" not in html
