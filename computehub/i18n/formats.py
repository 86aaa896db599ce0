"""Numbers and times in the request's language, as CLDR (Babel) writes them.

English keeps the platform's one format (``1,234.50``, ``2026-12-05 03:10``). Urdu
follows Babel's ``ur`` locale: CLDR gives ``ur`` Latin digits by default (Extended
Arabic-Indic digits are ``ur-IN``'s), with ``,`` for thousands and ``.`` for decimals,
and month names in Urdu (``5 دسمبر 2026``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from computehub.i18n.catalog import language
from computehub.i18n.choice import DEFAULT

#: CLDR patterns: 2 decimals with grouping; a day, a short month, a year, and the time.
_AMOUNT = "#,##0.00"
_DATETIME = "d MMM y، HH:mm"
_DATE = "d MMM y"
#: The home page's times (computehub.spawners.homecards): a time, a day and a time.
_CLOCK = "HH:mm"
_DAY_CLOCK = "d MMM HH:mm"


def amount_text(value: Decimal) -> str:
    """An amount with 2 decimals and thousands separators in the current language."""
    lang = language()
    if lang == DEFAULT:
        return f"{value:,.2f}"
    return format_decimal(value, format=_AMOUNT, locale=lang, decimal_quantization=True)


def number_text(value: Decimal | int | float, decimals: int = 2) -> str:
    """A plain number (hours, percentages) with ``decimals`` digits after the point."""
    lang = language()
    if lang == DEFAULT:
        return f"{value:,.{decimals}f}"
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=lang)


def datetime_text(value: datetime) -> str:
    """A time in UTC to the minute: ``2026-12-05 03:10`` (English), ``5 دسمبر 2026، 03:10``."""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    lang = language()
    if lang == DEFAULT:
        return f"{utc:%Y-%m-%d %H:%M}"
    return format_datetime(utc, _DATETIME, tzinfo=UTC, locale=lang)


def date_text(value: date) -> str:
    """A day: ``2026-12-05`` (English), ``5 دسمبر 2026`` (Urdu)."""
    lang = language()
    if lang == DEFAULT:
        return f"{value:%Y-%m-%d}"
    return format_date(value, _DATE, locale=lang)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def short_time_text(value: datetime, with_day: bool) -> str:
    """A time of day in UTC, with its day when asked: ``14:05``, ``3 Dec 14:05`` (English),
    ``3 دسمبر 14:05`` (Urdu). The caller says it is UTC."""
    utc = _as_utc(value)
    lang = language()
    if lang == DEFAULT:
        return f"{utc.day} {utc:%b %H:%M}" if with_day else f"{utc:%H:%M}"
    return format_datetime(utc, _DAY_CLOCK if with_day else _CLOCK, tzinfo=UTC, locale=lang)


def long_date_text(value: datetime) -> str:
    """A day in UTC with its month's name: ``8 Dec 2026`` (English), ``8 دسمبر 2026`` (Urdu)."""
    utc = _as_utc(value)
    lang = language()
    if lang == DEFAULT:
        return f"{utc.day} {utc:%b %Y}"
    return format_date(utc.date(), _DATE, locale=lang)
