"""What each journal entry did to an account, for ``computehub credits history``.

An entry's ``change`` is signed from the account's side (money in ``+``, out ``-``), but
holds, extensions and releases are pending: they move no balance, only what is
available. A release's ``change`` of ``-6.9475`` reads as money taken when it gives
6.9475 back to what the account can spend. So the history shows each entry's effect on
the two figures people check, each with its sign written (``+``, a minus sign U+2212, or ``±`` for
exactly nothing):

============  ===============  ==================  ===================================
kind          balance          available           why
============  ===============  ==================  ===================================
grant         + amount         + amount            credit issued into the account
transfer      ± amount         ± amount            in (+) or out (-)
hold          ±0               - amount            credit reserved for a session
extend        ±0               - amount            more credit reserved for it
charge        - amount         ±0                  the session's cost, paid from what
                                                   was reserved (already unavailable)
release       ±0               + amount            the unused part of a hold, back
expiry        - amount         - amount            unspent credit expired
============  ===============  ==================  ===================================

On a system account's side (issuing, revenue), a pending entry moves nothing and a
posted one moves both figures. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from computehub.credits import records as r
from computehub.credits.display import credits_text, signed_exact, signed_text

_MEANING = {
    "grant": "credit granted",
    "transfer": "credit transferred",
    "hold": "credit reserved for a session",
    "extend": "more credit reserved for a session",
    "charge": "a session's cost, paid from its hold",
    "release": "returned to available",
    "expiry": "credit expired",
}


@dataclass(frozen=True)
class Effect:
    """An entry's effect on the account's balance and on its available credit."""

    balance: Decimal
    available: Decimal
    meaning: str


def effect(entry: r.Entry) -> Effect:
    """What ``entry`` did to the account whose history it is in."""
    outgoing = entry.change < 0
    nothing = entry.amount - entry.amount  # zero with the amount's places: 0.0000
    meaning = _MEANING.get(entry.kind, entry.kind)
    if entry.kind == "transfer":
        meaning = "credit transferred out" if outgoing else "credit transferred in"
    if entry.pending:
        if not outgoing:  # the system account's side of a reservation: nothing moves
            return Effect(nothing, nothing, meaning)
        available = entry.amount if entry.kind == "release" else -entry.amount
        return Effect(nothing, available, meaning)
    if entry.kind == "charge" and outgoing:
        return Effect(-entry.amount, nothing, meaning)
    return Effect(entry.change, entry.change, meaning)


def as_json(entry: r.Entry) -> dict[str, Any]:
    """An entry with its effect, every amount exact (``--json``)."""
    found = effect(entry)
    return {
        "id": entry.id,
        "kind": entry.kind,
        "pending": entry.pending,
        "amount": str(entry.amount),
        "change": str(entry.change),
        "effect": {
            "balance": signed_exact(found.balance),
            "available": signed_exact(found.available),
        },
        "meaning": found.meaning,
        "counterparty": entry.counterparty,
        "actor": entry.actor,
        "reason": entry.reason,
        "created_at": entry.created_at.isoformat(),
        "hold_id": entry.hold_id,
    }


def as_text(account: str, entries: Sequence[r.Entry]) -> str:
    """The history as a table people read: amounts with 2 decimals, every effect signed."""
    if not entries:
        return f"{account}: no entries\n"
    header = ("id", "when (UTC)", "kind", "amount", "balance", "available", "session", "what")
    rows = [header]
    for entry in entries:
        found = effect(entry)
        what = found.meaning
        if entry.reason:
            what = f"{what} ({entry.reason})"
        rows.append(
            (
                str(entry.id),
                f"{entry.created_at:%Y-%m-%d %H:%M}",
                entry.kind,
                credits_text(entry.amount),
                signed_text(found.balance),
                signed_text(found.available),
                "" if entry.hold_id is None else str(entry.hold_id),
                what,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    right = {3, 4, 5}
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row[:-1])
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.append(
        "balance: credit in the account; available: what can be spent or reserved now. "
        "+ adds, \N{MINUS SIGN} takes away, \N{PLUS-MINUS SIGN} leaves it as it was."
    )
    return f"{account}\n" + "\n".join(lines) + "\n"
