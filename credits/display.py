"""How people read credit amounts: one format for every page, the CLI's text and notices.

Credits are shown with 2 decimals and thousands separators (``1,234.50``); the exact
value (up to 4 decimals, :mod:`~computehub.credits.money`) travels in the API, the CSV
downloads and ``--json``. The notebook widget (``extensions/render.py``) formats the
same way; it ships in the notebook environment without this package, so it keeps its
own one-line copy (``f"{value:,.2f}"``), which ``tests/credits/test_display.py`` compares.
"""

from __future__ import annotations

from decimal import Decimal

from computehub.i18n.catalog import _, language
from computehub.i18n.choice import DEFAULT

#: The minus sign people read (U+2212): a hyphen is easy to miss next to a number.
MINUS = "\N{MINUS SIGN}"
#: The sign of an effect that is exactly zero: neither taken nor given.
NEITHER = "\N{PLUS-MINUS SIGN}"


def credits_text(value: Decimal) -> str:
    """An amount as people read it: 2 decimals, thousands separators (``-1,234.50``).

    On a page in another language than English, as that language writes numbers
    (:func:`~computehub.i18n.formats.amount_text`, Babel's CLDR data).
    """
    if language() != DEFAULT:
        from computehub.i18n.formats import amount_text  # Babel: the hub side only

        return amount_text(value)
    return f"{value:,.2f}"


def credits_words(value: Decimal) -> str:
    """An amount with its unit: ``1,234.50 credits`` (``1,234.50 کریڈٹ`` on an Urdu page)."""
    return _("{amount} credits").format(amount=credits_text(value))


def signed_text(value: Decimal) -> str:
    """A change as people read it, its sign always written: ``+10.00``, ``-6.95``, ``±0.00``.

    The minus is :data:`~computehub.credits.display.MINUS` (U+2212), not a hyphen.

    A change that rounds to zero for display but is not zero keeps its sign
    (``+0.00``): only an exact zero is ``±``.
    """
    if value.is_zero():
        return f"{NEITHER}{credits_text(abs(value))}"
    sign = "+" if value > 0 else MINUS
    return f"{sign}{credits_text(abs(value))}"


def signed_exact(value: Decimal) -> str:
    """A change's exact value with its sign, for programs: ``+10.0000``, ``-6.9475``, ``0.0000``."""
    if value.is_zero():
        return f"{abs(value):f}"
    return f"{value:+f}"
