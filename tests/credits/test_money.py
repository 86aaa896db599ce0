"""Parsing amounts and pricing sessions: plain tables."""

from __future__ import annotations

from decimal import Decimal

import pytest

from computehub.credits.errors import InvalidAmountError
from computehub.credits.money import (
    affordable_hours,
    from_units,
    parse_amount,
    parse_hours,
    parse_rate,
    price_per_hour,
    round_credits,
    to_units,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("5", Decimal("5.0000"), id="integer"),
        pytest.param(" 12.5 ", Decimal("12.5000"), id="spaces"),
        pytest.param("0.0001", Decimal("0.0001"), id="smallest"),
        pytest.param("1.10000", Decimal("1.1000"), id="trailing-zeros-beyond-4-places"),
        pytest.param("1e3", Decimal("1000.0000"), id="exponent"),
        pytest.param("1000000000000", Decimal("1000000000000.0000"), id="largest"),
        pytest.param(7, Decimal("7.0000"), id="int"),
        pytest.param(Decimal("2.25"), Decimal("2.2500"), id="decimal"),
    ],
)
def test_parse_amount_accepts(text: str | int | Decimal, expected: Decimal) -> None:
    parsed = parse_amount(text)
    assert parsed == expected
    assert str(parsed) == str(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("-5", "negative", id="negative"),
        pytest.param("1e9999", "larger than", id="huge-exponent"),
        pytest.param("1000000000000.0001", "larger than", id="over-maximum"),
        pytest.param("abc", "not a decimal", id="letters"),
        pytest.param("", "not a decimal", id="empty"),
        pytest.param("NaN", "not a finite", id="nan"),
        pytest.param("sNaN", "not a finite", id="signalling-nan"),
        pytest.param("Infinity", "not a finite", id="infinity"),
        pytest.param("-inf", "not a finite", id="minus-infinity"),
        pytest.param("1.00001", "more than 4 decimal", id="five-places"),
        pytest.param("1e-5", "more than 4 decimal", id="tiny-exponent"),
        pytest.param("0", "greater than zero", id="zero"),
        pytest.param("-0", "greater than zero", id="minus-zero"),
        pytest.param("0x10", "not a decimal", id="hex"),
        pytest.param("1_000", "not a decimal", id="underscore"),
        pytest.param(1.5, "not float", id="float"),
        pytest.param(True, "not bool", id="bool"),
    ],
)
def test_parse_amount_refuses(text: object, message: str) -> None:
    with pytest.raises(InvalidAmountError, match=message):
        parse_amount(text)  # type: ignore[arg-type]


def test_hours_have_their_own_maximum() -> None:
    assert parse_hours("87600") == Decimal(87600)
    with pytest.raises(InvalidAmountError, match="hours"):
        parse_hours("87600.0001")


def test_a_rate_may_be_zero_but_not_negative() -> None:
    assert parse_rate("0") == Decimal(0)
    with pytest.raises(InvalidAmountError, match="negative"):
        parse_rate("-1")


@pytest.mark.parametrize(
    ("rates", "resources", "per_hour"),
    [
        pytest.param({"cpu": Decimal("0.5")}, {"cpu": 4}, Decimal("2.0"), id="cpu-only"),
        pytest.param(
            {"cpu": Decimal("0.5"), "gpu:h100": Decimal(10)},
            {"cpu": 8, "gpu:h100": 2},
            Decimal(24),
            id="gpus-and-cpus",
        ),
        pytest.param(
            {"mig:h100:1g.10gb": Decimal("1.25")},
            {"mig:h100:1g.10gb": 3},
            Decimal("3.75"),
            id="mig",
        ),
        pytest.param({"cpu": Decimal(0)}, {"cpu": 2}, Decimal(0), id="free"),
    ],
)
def test_price_per_hour(
    rates: dict[str, Decimal], resources: dict[str, int], per_hour: Decimal
) -> None:
    assert price_per_hour(rates, resources) == per_hour


@pytest.mark.parametrize("count", [0, -1, True, 1.5])
def test_price_refuses_bad_counts(count: object) -> None:
    with pytest.raises(InvalidAmountError, match="positive integer"):
        price_per_hour({"cpu": Decimal(1)}, {"cpu": count})  # type: ignore[dict-item]


def test_price_needs_a_rate_for_every_resource() -> None:
    with pytest.raises(KeyError):
        price_per_hour({"cpu": Decimal(1)}, {"gpu:h100": 1})


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (Decimal("1.00005"), Decimal("1.0001")),
        (Decimal("1.00004999"), Decimal("1.0000")),
        (Decimal("2") / Decimal("3"), Decimal("0.6667")),
    ],
)
def test_round_credits_half_up(value: Decimal, rounded: Decimal) -> None:
    assert round_credits(value) == rounded


@pytest.mark.parametrize(
    ("available", "per_hour", "hours"),
    [
        (Decimal(50), Decimal(10), Decimal("5.00")),
        (Decimal(10), Decimal(3), Decimal("3.33")),
        (Decimal(0), Decimal(3), Decimal("0.00")),
        (Decimal(10), Decimal(0), None),
    ],
)
def test_affordable_hours_round_down(
    available: Decimal, per_hour: Decimal, hours: Decimal | None
) -> None:
    assert affordable_hours(available, per_hour) == hours


@pytest.mark.parametrize("amount", ["0", "0.0001", "123.4567", "1000000000000"])
def test_units_round_trip_exactly(amount: str) -> None:
    value = Decimal(amount)
    assert to_units(value) == int(value * 10_000)
    assert from_units(to_units(value)) == value
