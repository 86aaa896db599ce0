"""Prebuilt Core statements for the hot paths (placing and settling holds).

Building a statement and going through the ORM's unit of work costs far more than
running it; holds and settlements happen on every session start and end, so they
run these compiled-once statements on the transaction's connection instead. Their
common case goes further, with hand-written SQL on the driver's cursor
(:mod:`~computehub.credits.hotpath`); these serve their rare cases (and extend/void).
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from computehub.credits import models as m

_tables = m.Base.metadata.tables
accounts = _tables["accounts"]
holds = _tables["holds"]
lots = _tables["lots"]
allocations = _tables["hold_allocations"]
transactions = _tables["transactions"]
charges = _tables["charges"]

KEY = select(m.Transaction.id, m.Transaction.kind, m.Transaction.hold_id).where(
    m.Transaction.idempotency_key == bindparam("key")
)
_ACCOUNT_COLUMNS = (
    accounts.c.id,
    accounts.c.name,
    accounts.c.kind,
    accounts.c.balance,
    accounts.c.held,
    accounts.c.next_expiry_at,
)
LOCK_ACCOUNT_BY_NAME = (
    select(*_ACCOUNT_COLUMNS).where(accounts.c.name == bindparam("name")).with_for_update()
)
LOCK_ACCOUNT_BY_ID = (
    select(*_ACCOUNT_COLUMNS).where(accounts.c.id == bindparam("id")).with_for_update()
)
RATES = (
    select(m.Rate.resource, m.Rate.rate)
    .where(
        m.Rate.hub == bindparam("hub"),
        m.Rate.resource.in_(bindparam("resources", expanding=True)),
        m.Rate.effective_at <= bindparam("now"),
    )
    .order_by(m.Rate.effective_at, m.Rate.id)
)
INSERT_HOLD = holds.insert().returning(holds.c.id)
INSERT_HOLD_RESOURCE = _tables["hold_resources"].insert()
SPENDABLE_LOTS = (
    select(lots.c.id, lots.c.remaining, lots.c.reserved)
    .where(
        lots.c.account_id == bindparam("account_id"),
        lots.c.remaining > lots.c.reserved,
        (lots.c.expires_at.is_(None)) | (lots.c.expires_at > bindparam("now")),
    )
    .order_by(lots.c.expires_at.asc().nulls_last(), lots.c.id)
)
RESERVE_LOT = (
    update(lots)
    .where(lots.c.id == bindparam("lot_id"))
    .values(reserved=lots.c.reserved + bindparam("amount", type_=m.Credits()))
)
INSERT_ALLOCATION = allocations.insert()
GROW_ALLOCATION = (
    update(allocations)
    .where(
        allocations.c.hold_id == bindparam("b_hold_id"),
        allocations.c.lot_id == bindparam("b_lot_id"),
    )
    .values(amount=allocations.c.amount + bindparam("b_amount", type_=m.Credits()))
)
CHANGE_ACCOUNT = (
    update(accounts)
    .where(accounts.c.id == bindparam("account_id"))
    .values(
        balance=accounts.c.balance + bindparam("balance_change", type_=m.Credits()),
        held=accounts.c.held + bindparam("held_change", type_=m.Credits()),
    )
)
INSERT_TRANSACTION = transactions.insert().returning(transactions.c.id)
HOLD_ACCOUNT = select(holds.c.account_id).where(holds.c.id == bindparam("id"))
LOCK_HOLD = (
    select(holds.c.status, holds.c.hub, holds.c.amount)
    .where(holds.c.id == bindparam("id"))
    .with_for_update()
)
HOLD_RATES = select(m.HoldResource.resource, m.HoldResource.count, m.HoldResource.rate).where(
    m.HoldResource.hold_id == bindparam("hold_id")
)
ALLOCATED_LOTS = (
    select(allocations.c.lot_id, allocations.c.amount, lots.c.expires_at)
    .join(lots, lots.c.id == allocations.c.lot_id)
    .where(allocations.c.hold_id == bindparam("hold_id"))
    .order_by(lots.c.expires_at.asc().nulls_last(), lots.c.id)
)
RELEASE_LOT = (
    update(lots)
    .where(lots.c.id == bindparam("lot_id"))
    .values(
        reserved=lots.c.reserved - bindparam("released", type_=m.Credits()),
        remaining=lots.c.remaining - bindparam("spent", type_=m.Credits()),
    )
)
INSERT_CHARGE = charges.insert().returning(charges.c.id)
INSERT_USAGE = _tables["usage"].insert()
CLOSE_HOLD = (
    update(holds)
    .where(holds.c.id == bindparam("hold_id"))
    .values(status=bindparam("new_status"), updated_at=bindparam("now", type_=m.UTCDateTime()))
)
MOVE_SYSTEM = (
    update(accounts)
    .where(accounts.c.id == bindparam("account_id"))
    .values(balance=accounts.c.balance + bindparam("change", type_=m.Credits()))
)
