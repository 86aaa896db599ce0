"""What the service reads from callers, checked without a hub: the patterns its description
declares are the ones its parsers accept, and no input makes a parser fail with a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from computehub.credits.errors import InvalidAmountError
from computehub.credits.money import MAX_AMOUNT, MAX_HOURS, parse_amount, parse_hours
from computehub.credits.service import params
from computehub.credits.service.errors import ApiError

LAST = datetime.max.replace(tzinfo=UTC)


@settings(max_examples=300, derandomize=True, database=None)
@given(st.from_regex(params.AMOUNT_PATTERN, fullmatch=True))
def test_every_amount_the_description_allows_is_accepted(text: str) -> None:
    assert Decimal(0) < parse_amount(text) <= MAX_AMOUNT


@settings(max_examples=300, derandomize=True, database=None)
@given(st.from_regex(params.HOURS_PATTERN, fullmatch=True))
def test_every_hours_figure_the_description_allows_is_accepted(text: str) -> None:
    assert Decimal(0) < parse_hours(text) <= MAX_HOURS


@pytest.mark.parametrize(
    ("pattern", "parse", "text", "allowed"),
    [
        (params.AMOUNT_PATTERN, parse_amount, "0.0001", True),
        (params.AMOUNT_PATTERN, parse_amount, "0.1000", True),
        (params.AMOUNT_PATTERN, parse_amount, "1000000000000", True),
        (params.AMOUNT_PATTERN, parse_amount, "1000000000000.0000", True),
        (params.AMOUNT_PATTERN, parse_amount, "999999999999.9999", True),
        (params.AMOUNT_PATTERN, parse_amount, "1000000000000.0001", False),
        (params.AMOUNT_PATTERN, parse_amount, "0", False),
        (params.AMOUNT_PATTERN, parse_amount, "0.0000", False),
        (params.AMOUNT_PATTERN, parse_amount, "0.00001", False),
        (params.AMOUNT_PATTERN, parse_amount, "-1", False),
        (params.HOURS_PATTERN, parse_hours, "87600", True),
        (params.HOURS_PATTERN, parse_hours, "87599.9999", True),
        (params.HOURS_PATTERN, parse_hours, "87600.0001", False),
        (params.HOURS_PATTERN, parse_hours, "87601", False),
        (params.HOURS_PATTERN, parse_hours, "0.5", True),
    ],
)
def test_the_patterns_edges_are_the_parsers_edges(
    pattern: str, parse: object, text: str, allowed: bool
) -> None:
    assert bool(re.fullmatch(pattern, text)) is allowed
    assert callable(parse)
    if allowed:
        parse(text)
    else:
        with pytest.raises(InvalidAmountError):
            parse(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2026-12-31", datetime(2027, 1, 1, tzinfo=UTC), id="day"),
        # The day after the last one Python holds: it was an OverflowError (a 500).
        pytest.param("9999-12-31", LAST, id="last-day"),
        pytest.param(
            "2026-12-31T10:00:00+05:00", datetime(2026, 12, 31, 5, tzinfo=UTC), id="offset"
        ),
        pytest.param("2026-12-31t10:00:00z", datetime(2026, 12, 31, 10, tzinfo=UTC), id="rfc3339"),
        pytest.param(
            "2026-12-31T10:00:00.1234567Z",
            datetime(2026, 12, 31, 10, 0, 0, 123456, tzinfo=UTC),
            id="long-fraction",
        ),
        # Valid RFC 3339 times Python cannot hold in UTC: the ends of what it can.
        pytest.param("9999-12-31T23:00:00-05:00", LAST, id="after-the-last"),
        pytest.param(
            "0001-01-01T00:00:00+01:00", datetime.min.replace(tzinfo=UTC), id="before-the-first"
        ),
    ],
)
def test_expiries_are_read_as_rfc3339_says(value: str, expected: datetime) -> None:
    assert params.expiry(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("2026-W01-1", id="week-date"),
        pytest.param("20261231", id="basic-format"),
        pytest.param("2026-02-30", id="no-such-day"),
        pytest.param("2026-12-31T10:00:00", id="no-offset"),
        pytest.param("2026-12-31 10:00:00Z", id="space"),
        pytest.param("2026-12-31T10Z", id="no-minutes"),
        pytest.param("2026-12-31T24:00:00Z", id="hour-24"),
        pytest.param("\uff12\uff10\uff12\uff16-12-31", id="wide-digits"),
    ],
)
def test_other_expiries_are_refused(value: str) -> None:
    with pytest.raises(ApiError) as refused:
        params.expiry(value)
    assert refused.value.status == 400


@pytest.mark.parametrize("value", ["20261231", "2026-W01-1", "2026-1-01", "2026-12-31x"])
def test_report_days_are_yyyy_mm_dd(value: str) -> None:
    with pytest.raises(ApiError) as refused:
        params.day(value, "since")
    assert refused.value.status == 400


def test_text_with_a_nul_is_refused() -> None:
    # PostgreSQL stores no NUL in text: a NUL in a note would have been a 500.
    with pytest.raises(ApiError) as refused:
        params.text({"note": "a\x00b"}, "note")
    assert (refused.value.status, refused.value.message) == (
        400,
        "'note' must not contain a NUL character",
    )
