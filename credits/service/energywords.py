"""A session's GPU energy in words, for the credits page."""

from __future__ import annotations

from decimal import Decimal

from computehub.credits import records as r
from computehub.i18n import _
from computehub.i18n.catalog import N_

#: What the page shows when the node could not measure a session's energy.
NOT_MEASURED = N_("not measured")
#: Energy read from the demo's simulated GPUs: a figure, never a measurement.
SIMULATED_ENERGY = N_("{energy} (simulated GPU, not measured)")
#: The energy source of the demo's simulated GPUs (``session_energy.source``).
SIMULATED = "simulated"


def wh_text(value: Decimal | None) -> str | None:
    """Watt-hours for JSON: a string with the ledger's 4 decimals (None stays None)."""
    return None if value is None else str(value.quantize(Decimal("0.0001")))


def watt_hours(wh: Decimal) -> str:
    """Watt-hours as a person reads them: ``12.3 Wh``, ``4.56 kWh`` from 1000 Wh.

    >>> watt_hours(Decimal("12.3456")), watt_hours(Decimal("4560"))
    ('12.3 Wh', '4.56 kWh')
    """
    if wh >= 1000:
        return f"{wh / 1000:.2f} kWh"
    return f"{wh:.1f} Wh"


def energy_words(wh: Decimal | None, source: str | None) -> str:
    """A recorded energy figure in words, labelled when it came from simulated GPUs."""
    if wh is None:
        return _(NOT_MEASURED)
    if source == SIMULATED:
        return _(SIMULATED_ENERGY).format(energy=watt_hours(wh))
    return watt_hours(wh)


def energy_in_words(row: r.Session) -> str | None:
    """The session's GPU energy; None while it has not reached the ledger."""
    if not row.energy_recorded:
        return None
    return energy_words(row.energy_wh, row.energy_source)
