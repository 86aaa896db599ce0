"""Small queries and checks the ledger's operations share."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, orm, select
from sqlalchemy.exc import IntegrityError, OperationalError

from computehub.credits import models as m
from computehub.credits.errors import (
    ConflictError,
    InvalidAmountError,
    UnknownAccountError,
    UnknownHoldError,
)
from computehub.credits.names import validate_resource

#: The rates of some resources on a hub, oldest first (the last one in force wins).
RATES = (
    select(m.Rate.resource, m.Rate.rate)
    .where(
        m.Rate.hub == bindparam("hub"),
        m.Rate.resource.in_(bindparam("resources", expanding=True)),
        m.Rate.effective_at <= bindparam("now"),
    )
    .order_by(m.Rate.effective_at, m.Rate.id)
)


def retryable(error: OperationalError) -> bool:
    code = getattr(error.orig, "sqlstate", None)
    # 40001 serialization_failure, 40P01 deadlock_detected; SQLite: database is locked.
    return code in ("40001", "40P01") or "database is locked" in str(error.orig)


def lost_race(error: IntegrityError) -> bool:
    """Whether a write failed on a unique index another transaction filled first."""
    code = getattr(error.orig, "sqlstate", None)
    # 23505 unique_violation; SQLite names the constraint kind in its message.
    return code == "23505" or "UNIQUE constraint failed" in str(error.orig)


def user_kind(kind: str) -> m.AccountKind:
    try:
        value = m.AccountKind(kind)
    except ValueError:
        value = None
    if value not in m.USER_KINDS or value is None:
        raise ValueError(f"account kind must be personal, project or course, not {kind!r}")
    return value


def check_resources(resources: Mapping[str, int]) -> None:
    if not resources:
        raise InvalidAmountError("a session needs at least one resource")
    for resource, count in resources.items():
        validate_resource(resource)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= 10_000:
            raise InvalidAmountError(
                f"count of {resource!r} must be a positive integer, not {count!r}"
            )


def account(db: orm.Session, name: str) -> m.Account:
    row = db.scalars(select(m.Account).where(m.Account.name == name)).first()
    if row is None:
        raise UnknownAccountError(name)
    return row


def lock_hold(db: orm.Session, hold_id: int) -> m.Hold:
    hold = db.scalars(
        select(m.Hold)
        .where(m.Hold.id == hold_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if hold is None:
        raise UnknownHoldError(hold_id)
    return hold


def hold_rates(db: orm.Session, hold_id: int) -> dict[str, tuple[int, Decimal]]:
    rows = db.execute(
        select(m.HoldResource.resource, m.HoldResource.count, m.HoldResource.rate)
        .where(m.HoldResource.hold_id == hold_id)
        .order_by(m.HoldResource.resource)
    ).all()
    return {res: (count, rate) for res, count, rate in rows}


def check_job_free(db: orm.Session, hub: str, job_id: str) -> None:
    # Only open holds: Slurm reuses the ids of jobs long settled.
    taken = db.scalar(
        select(m.Hold.id).where(
            m.Hold.hub == hub, m.Hold.job_id == job_id, m.Hold.status == m.HoldStatus.OPEN
        )
    )
    if taken is not None:
        raise ConflictError(f"job {job_id} on {hub} already has hold {taken}")


def current_rates(db: orm.Session, now: datetime) -> dict[tuple[str, str], Decimal]:
    latest: dict[tuple[str, str], Decimal | None] = {}
    for row in db.scalars(
        select(m.Rate).where(m.Rate.effective_at <= now).order_by(m.Rate.effective_at, m.Rate.id)
    ):
        latest[(row.hub, row.resource)] = row.rate
    return {key: value for key, value in latest.items() if value is not None}


def expiring(db: orm.Session, account_id: int) -> Decimal:
    """Unreserved credit that expires at the account's next expiry."""
    rows = db.execute(
        select(m.Lot.expires_at, m.Lot.remaining, m.Lot.reserved)
        .where(
            m.Lot.account_id == account_id,
            m.Lot.expires_at.is_not(None),
            m.Lot.remaining > m.Lot.reserved,
        )
        .order_by(m.Lot.expires_at)
    ).all()
    if not rows:
        return Decimal(0)
    first = rows[0][0]
    return sum((row[1] - row[2] for row in rows if row[0] == first), Decimal(0))
