"""One amount format for people: 2 decimals with separators; signs that can't be misread."""

from __future__ import annotations

import inspect
from decimal import Decimal

import pytest

from computehub.credits import display, notices
from computehub.extensions import render


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("49.6871", "49.69"),
        ("0", "0.00"),
        ("1234567.5", "1,234,567.50"),
        ("-6.9475", "-6.95"),
        ("0.0049", "0.00"),
    ],
)
def test_credits_text(value: str, text: str) -> None:
    assert display.credits_text(Decimal(value)) == text


@pytest.mark.parametrize(
    ("value", "shown", "exact"),
    [
        ("10", "+10.00", "+10"),
        ("-6.9475", "\N{MINUS SIGN}6.95", "-6.9475"),
        ("0.0000", "\N{PLUS-MINUS SIGN}0.00", "0.0000"),
        ("-0.0001", "\N{MINUS SIGN}0.00", "-0.0001"),
        ("1234.5", "+1,234.50", "+1234.5"),
    ],
)
def test_signed(value: str, shown: str, exact: str) -> None:
    assert display.signed_text(Decimal(value)) == shown
    assert display.signed_exact(Decimal(value)) == exact


def test_notices_and_the_widget_format_credits_the_same_way() -> None:
    for value in ("49.6871", "1234567.5", "0"):
        number = Decimal(value)
        assert notices.credits(number) == f"{display.credits_text(number)} credits"
        assert render._amount(number) == display.credits_text(number)
    # The widget keeps its own copy (it ships without the ledger): the same expression.
    assert 'f"{value:,.2f}"' in inspect.getsource(render._amount)
