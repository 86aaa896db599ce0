"""Numbers and times in the page's language (Babel's CLDR data for Urdu)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from babel.numbers import get_decimal_symbol, get_group_symbol

from computehub.credits.display import credits_text
from computehub.i18n import use
from computehub.i18n.formats import amount_text, date_text, datetime_text, number_text

WHEN = datetime(2026, 12, 5, 3, 10, tzinfo=UTC)


def test_english_keeps_the_platforms_one_format() -> None:
    assert amount_text(Decimal("-1234.5")) == "-1,234.50"
    assert credits_text(Decimal("1234.567")) == "1,234.57"
    assert datetime_text(WHEN) == "2026-12-05 03:10"
    assert date_text(date(2026, 12, 5)) == "2026-12-05"
    assert number_text(Decimal("1.5")) == "1.50"


def test_urdu_follows_babels_ur_locale() -> None:
    # CLDR's ur: Latin digits by default, its own grouping and decimal symbols.
    group, point = get_group_symbol("ur"), get_decimal_symbol("ur")
    with use("ur"):
        assert amount_text(Decimal("1234.5")) == f"1{group}234{point}50"
        assert credits_text(Decimal("1234.5")) == f"1{group}234{point}50"
        assert datetime_text(WHEN) == "5 دسمبر 2026، 03:10"
        assert date_text(date(2026, 12, 5)) == "5 دسمبر 2026"
        assert number_text(Decimal("0.75")) == f"0{point}75"


def test_a_naive_time_is_utc() -> None:
    with use("ur"):
        assert datetime_text(WHEN.replace(tzinfo=None)) == datetime_text(WHEN)
