"""The JSON the service answers with: ledger records as plain dicts, amounts as strings.

Amounts travel as decimal strings (a JSON number would be a float to most clients),
with at least two decimals: ``"37.50"``, ``"1.2345"``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from computehub.credits import historyview
from computehub.credits import records as r
from computehub.credits.display import signed_exact
from computehub.credits.money import round_credits
from computehub.credits.service.energywords import wh_text

_CENTS = Decimal("0.01")
_SECONDS_PER_HOUR = Decimal(3600)


def amount(value: Decimal) -> str:
    """A credit amount (or hours, or a rate) as a decimal string with at least 2 decimals."""
    if value == value.quantize(_CENTS):
        return f"{value.quantize(_CENTS):f}"
    return f"{value.normalize():f}"


def optional_amount(value: Decimal | None) -> str | None:
    """:func:`~computehub.credits.service.views.amount`, passing ``None`` through."""
    return None if value is None else amount(value)


def instant(value: datetime | None) -> str | None:
    """An ISO 8601 time with its UTC offset."""
    return None if value is None else value.isoformat()


def balance(figures: r.Balance, *, soon: datetime) -> dict[str, Any]:
    """An account's figures; ``expiring_soon`` when its next expiry is before ``soon``."""
    expiring = None
    if figures.next_expiry_at is not None and figures.next_expiry_at <= soon:
        expiring = {"amount": amount(figures.expiring), "at": instant(figures.next_expiry_at)}
    return {
        "account": figures.account,
        "kind": figures.kind,
        "role": figures.role,
        "balance": amount(figures.balance),
        "held": amount(figures.held),
        "available": amount(figures.available),
        "next_expiry_at": instant(figures.next_expiry_at),
        "expiring_soon": expiring,
    }


def entry(row: r.Entry) -> dict[str, Any]:
    """One journal entry from the account's point of view (``change`` is signed).

    ``effect`` is what it did to the balance and to the available credit
    (:func:`~computehub.credits.historyview.effect`, as ``computehub credits history``).
    """
    found = historyview.effect(row)
    return {
        "id": row.id,
        "kind": row.kind,
        "pending": row.pending,
        "amount": amount(row.amount),
        "change": ("-" if row.change < 0 else "+") + amount(abs(row.change)),
        "effect": {
            "balance": signed_exact(found.balance),
            "available": signed_exact(found.available),
        },
        "meaning": found.meaning,
        "counterparty": row.counterparty,
        "actor": row.actor,
        "reason": row.reason,
        "created_at": instant(row.created_at),
        "hold_id": row.hold_id,
    }


def session(row: r.Session) -> dict[str, Any]:
    """A session: its hold, the resources and rates it was placed at, and its charge."""
    hold = row.hold
    return {
        "hold_id": hold.id,
        "account": hold.account,
        "hub": hold.hub,
        "job_id": hold.job_id,
        "status": hold.status,
        "user": row.created_by,
        "hours": amount(hold.hours),
        "hold": amount(hold.amount),
        "per_hour": amount(hold.per_hour),
        "resources": dict(hold.resources),
        "rates": {resource: amount(rate) for resource, rate in hold.rates.items()},
        "created_at": instant(hold.created_at),
        "closed_at": instant(row.closed_at),
        "charged": optional_amount(row.charged),
        "cost": optional_amount(row.cost),
        "end_note": row.end_note,
        "energy_wh": wh_text(row.energy_wh),
        "energy": energy_state(row),
        "energy_source": row.energy_source,
        "server_name": row.server_name,
    }


def energy_state(row: r.Session) -> str:
    """``measured``, ``unknown`` (the node could not measure it) or ``pending`` (not yet)."""
    if not row.energy_recorded:
        return "pending"
    return "unknown" if row.energy_wh is None else "measured"


def current_session(
    row: r.Session,
    available: Decimal,
    now: datetime,
    share: r.CourseShare | None = None,
    hub_notice: str | None = None,
) -> dict[str, Any]:
    """The notebook widget's view of a running session.

    ``started_at`` is when the hold was placed (the spawner places it just before it
    submits the job); the cost so far is the burn rate times the time since, never more
    than the hold. ``course_limit``: for a course's student paying from its pool, the
    limit that leaves them least (:func:`~computehub.credits.service.views.course_limit`).
    ``hub_notice``: what the session's user should know about its hub (it is in
    maintenance), for the widget's banner; None when nothing.
    """
    hold = row.hold
    started = hold.created_at
    elapsed_hours = max(Decimal(0), Decimal((now - started).total_seconds()) / _SECONDS_PER_HOUR)
    cost = min(round_credits(hold.per_hour * elapsed_hours), hold.amount)
    funded_until = started + timedelta(seconds=float(hold.hours * _SECONDS_PER_HOUR))
    return {
        "account": hold.account,
        "hub": hold.hub,
        "job_id": hold.job_id or "",
        "available": amount(available),
        "hold": amount(hold.amount),
        "cost_so_far": amount(cost),
        "burn_rate_per_hour": amount(hold.per_hour),
        "started_at": instant(started),
        "funded_until": instant(funded_until),
        "course_limit": course_limit(share),
        "hub_notice": hub_notice,
        "server_name": row.server_name,
    }


def maintenance_notice(message: str) -> str:
    """The widget's banner for a session whose hub an operator put in maintenance."""
    said = message if message.endswith((".", "!", "?")) else f"{message}."
    return (
        f"This hub is in maintenance: {said} Your session keeps running; new sessions "
        "can't start here until it ends."
    )


def estimate(row: r.Estimate, resource: str, count: int) -> dict[str, Any]:
    """What a session would cost and how many hours the account can afford."""
    return {
        "account": row.account,
        "hub": row.hub,
        "resource": resource,
        "count": count,
        "hours": amount(row.hours),
        "per_hour": amount(row.per_hour),
        "cost": amount(row.cost),
        "available": amount(row.available),
        "affordable_hours": optional_amount(row.affordable_hours),
        "sufficient": row.sufficient,
    }


def grant(row: r.Grant) -> dict[str, Any]:
    """A grant as recorded."""
    return {
        "id": row.id,
        "account": row.account,
        "source": row.source,
        "amount": amount(row.amount),
        "expires_at": instant(row.expires_at),
        "note": row.note,
        "created_at": instant(row.created_at),
    }


def transfer(row: r.Transfer) -> dict[str, Any]:
    """A transfer as recorded."""
    return {
        "id": row.id,
        "from": row.from_account,
        "to": row.to_account,
        "amount": amount(row.amount),
        "created_at": instant(row.created_at),
    }


def report_row(row: r.ReportRow) -> dict[str, Any]:
    """Charges summed over one account, hub or resource."""
    return {
        "key": row.key,
        "credits": amount(row.credits),
        "resource_hours": amount(row.resource_hours),
        "sessions": row.sessions,
    }


def course(
    row: r.Course,
    *,
    role: str | None,
    roster: bool,
    resources: list[dict[str, str]],
    soon: datetime,
) -> dict[str, Any]:
    """A course as the API shows it; ``roster``: with its members (staff, TAs, operators)."""
    body: dict[str, Any] = {
        "id": row.id,
        "title": row.title,
        "term": {"starts_on": row.starts_on.isoformat(), "ends_on": row.ends_on.isoformat()},
        "archived_at": instant(row.archived_at),
        "archived_by": row.archived_by,
        "role": role,
        "instructors": row.with_role("owner") + row.with_role("instructor"),
        "tas": row.with_role("ta"),
        "pool": balance(row.pool, soon=soon),
        "resources": resources,
    }
    body["sharing"] = {
        "unit": "credits",
        "share": row.sharing.share,
        "allowance": optional_amount(row.sharing.allowance),
        "weekly_cap": optional_amount(row.sharing.weekly_cap),
    }
    body["materials"] = (
        None if row.repository is None else {"repository": row.repository, "branch": row.branch}
    )
    if roster:
        body["roster"] = [
            {"username": user, "role": held} for user, held in sorted(row.members.items())
        ]
        body["sharing"]["students"] = [
            {"username": user, "allowance": amount(own)}
            for user, own in sorted(row.sharing.students.items())
        ]
    return body


def course_limit(share: r.CourseShare | None) -> dict[str, Any] | None:
    """The course limit that leaves a student least, for the widget; ``None`` without one."""
    limit = None if share is None else share.binding
    if share is None or limit is None:
        return None
    return {
        "course": share.course,
        "kind": limit.kind,
        "unit": "credits",
        "limit": amount(limit.limit),
        "used": amount(limit.used),
        "left": amount(limit.left),
        "window": "week" if limit.resets_at is not None else "term",
        "resets_at": instant(limit.resets_at),
    }
