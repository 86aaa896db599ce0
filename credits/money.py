"""Exact credit amounts: parsing, validating and pricing with :class:`~decimal.Decimal`.

Credits are money, so they are never floats. The ledger stores amounts as whole
ten-thousandths of a credit (see :data:`~computehub.credits.money.SCALE`), which both
SQLite and PostgreSQL add up exactly.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from computehub.credits.errors import InvalidAmountError

#: Decimal places kept for every amount, hours figure and rate.
PLACES = 4
#: The smallest amount: one ten-thousandth of a credit.
QUANTUM = Decimal(1).scaleb(-PLACES)
#: Stored integers are amounts times this.
SCALE: int = 10**PLACES
#: Largest amount the ledger accepts in one operation (a trillion credits).
MAX_AMOUNT = Decimal(10) ** 12
#: Largest number of hours one hold or usage figure may cover (ten years).
MAX_HOURS = Decimal(87600)

_PLAIN_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
# A private context: huge exponents trap instead of silently producing infinity.
_CONTEXT = decimal.Context(prec=40, Emax=99, Emin=-99, traps=[decimal.InvalidOperation])


def parse_decimal(
    value: str | int | Decimal,
    *,
    what: str = "amount",
    allow_zero: bool = False,
    maximum: Decimal = MAX_AMOUNT,
) -> Decimal:
    """Parse a non-negative exact decimal the ledger can store.

    It may have at most :data:`~computehub.credits.money.PLACES` decimal places.

    Args:
        value: text such as ``"12.5"``, an ``int`` or a ``Decimal``; never a float.
        what: what the number is, for the error message ("amount", "hours", "rate").
        allow_zero: whether ``0`` is meaningful here (usage figures, rates).
        maximum: the largest value accepted.

    Returns:
        The value quantized to :data:`~computehub.credits.money.QUANTUM`.

    Raises:
        InvalidAmountError: for negatives, NaN, infinities, exponents out of range, too many
            decimals, zero where it is meaningless, or anything that is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidAmountError(f"{what} must be a decimal number, not {type(value).__name__}")
    text = value.strip() if isinstance(value, str) else value
    try:
        number = Decimal(text)
    except (decimal.InvalidOperation, ValueError):
        raise InvalidAmountError(f"{what} {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise InvalidAmountError(f"{what} {value!r} is not a finite number")
    if isinstance(text, str) and not _PLAIN_NUMBER.match(text):
        # Decimal() also takes "1_000" and non-ASCII digits; amounts typed by people do not.
        raise InvalidAmountError(f"{what} {value!r} is not a decimal number")
    if number.is_signed() and not number.is_zero():
        raise InvalidAmountError(f"{what} {value!r} is negative")
    if number.adjusted() > maximum.adjusted() or number > maximum:
        raise InvalidAmountError(f"{what} {value!r} is larger than {maximum}")
    if number.is_zero() and not allow_zero:
        raise InvalidAmountError(f"{what} must be greater than zero")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite numbers have an int exponent
    if exponent < -PLACES and number != number.quantize(QUANTUM, context=_CONTEXT):
        raise InvalidAmountError(f"{what} {value!r} has more than {PLACES} decimal places")
    return number.quantize(QUANTUM, context=_CONTEXT).copy_abs()


def parse_amount(value: str | int | Decimal) -> Decimal:
    """A positive credit amount (grants, transfers)."""
    return parse_decimal(value, what="amount")


def parse_hours(value: str | int | Decimal) -> Decimal:
    """A positive number of hours (holds, extensions)."""
    return parse_decimal(value, what="hours", maximum=MAX_HOURS)


def parse_rate(value: str | int | Decimal) -> Decimal:
    """Credits per hour for one unit of a resource; zero means free."""
    return parse_decimal(value, what="rate", allow_zero=True)


def round_credits(value: Decimal) -> Decimal:
    """Round a computed price to the ledger's quantum, half up (a cost is never fractional)."""
    return value.quantize(QUANTUM, rounding=ROUND_HALF_UP, context=_CONTEXT)


def price_per_hour(rates: Mapping[str, Decimal], resources: Mapping[str, int]) -> Decimal:
    """Credits per hour of a session using ``resources`` (counts per resource) at ``rates``.

    Raises:
        InvalidAmountError: a count is not a positive integer.
        KeyError: a resource has no rate (the caller names the hub in its error).
    """
    total = Decimal(0)
    for resource, count in resources.items():
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise InvalidAmountError(
                f"count of {resource!r} must be a positive integer, not {count!r}"
            )
        total += rates[resource] * count
    return total


def affordable_hours(available: Decimal, per_hour: Decimal) -> Decimal | None:
    """Hours ``available`` credits pay for at ``per_hour``, rounded down; ``None`` if free."""
    if per_hour <= 0:
        return None
    return (available / per_hour).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def to_units(amount: Decimal | int) -> int:
    """The stored integer for an amount (exact; the amount is already quantized)."""
    if isinstance(amount, int):
        return amount * SCALE
    return int(amount.scaleb(PLACES, context=_CONTEXT).to_integral_exact(context=_CONTEXT))


def from_units(units: int) -> Decimal:
    """The amount for a stored integer."""
    return Decimal(units).scaleb(-PLACES, context=_CONTEXT)
