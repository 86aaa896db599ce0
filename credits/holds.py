"""Holds and charges: reserving credit for a session, then charging what it used.

A hold is a pending transfer: it reserves credit (``held``) until it is settled for the
real cost (at most the hold) or voided. Placing and settling run first on the
driver's cursor (:mod:`~computehub.credits.hotpath`); their rare cases, and the other
operations, run the general implementation here, with prebuilt Core statements
(:mod:`~computehub.credits.statements`) for what they share with the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import select

from computehub.credits import hotpath, queries
from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits import statements as sql
from computehub.credits.core import LedgerCore, _Op
from computehub.credits.errors import (
    ConflictError,
    HoursLimitError,
    InsufficientCreditError,
    UnknownHoldError,
)
from computehub.credits.money import (
    affordable_hours,
    parse_decimal,
    parse_hours,
    price_per_hour,
    round_credits,
)
from computehub.credits.names import (
    validate_hub,
)


class HoldsMixin(LedgerCore):
    """The operations the spawner calls around a session."""

    # -- holds and charges -----------------------------------------------------------

    def estimate(
        self, account: str, hub: str, resources: Mapping[str, int], hours: Decimal | str | int
    ) -> r.Estimate:
        """What a session would cost and how many hours the account can afford.

        Raises:
            UnknownRateError: the hub does not price a resource.
            UnknownAccountError: no such account.
        """
        wanted_hours = parse_hours(hours)
        queries.check_resources(resources)
        figures = self.balance(account)
        with self._read() as session:
            per_hour = price_per_hour(
                self._rates_for(session, hub, resources, self._now()), resources
            )
        return r.Estimate(
            account=account,
            hub=hub,
            per_hour=per_hour,
            hours=wanted_hours,
            cost=round_credits(per_hour * wanted_hours),
            available=figures.available,
            affordable_hours=affordable_hours(figures.available, per_hour),
        )

    def place_hold(
        self,
        account: str,
        hub: str,
        resources: Mapping[str, int],
        hours: Decimal | str | int,
        *,
        actor: str,
        idempotency_key: str | None = None,
        job_id: str | None = None,
    ) -> r.Hold:
        """Reserve the price of ``hours`` of ``resources`` on ``hub`` at the current rates.

        Args:
            account: the account that pays.
            hub: the hub the session runs on (its revenue account is credited on settle).
            resources: counts per resource, e.g. ``{"gpu:h100": 1, "cpu": 4}``.
            hours: the session's walltime.
            actor: the user or service placing the hold.
            idempotency_key: a retry with the same key returns this hold.
            job_id: the Slurm job, when already known (see :meth:`attach_job`).

        Raises:
            InsufficientCreditError: with ``available``, ``requested`` and ``affordable_hours``.
            UnknownRateError: the hub does not price a resource.
            UnknownAccountError: no such account.
        """
        wanted_hours = parse_hours(hours)
        queries.check_resources(resources)
        validate_hub(hub)
        revenue_id = self._system_account(m.AccountKind.REVENUE, hub)
        if self._fast_path:
            try:
                return self._write_fast(
                    actor,
                    lambda raw: hotpath.place_hold(
                        raw,
                        account,
                        hub,
                        resources,
                        wanted_hours,
                        revenue_id=revenue_id,
                        idempotency_key=idempotency_key,
                        job_id=job_id,
                    ),
                )
            except hotpath.Fallback:
                pass  # a replay or due expiry: the general implementation below

        def body(op: _Op) -> r.Hold:
            connection = op.session.connection()
            previous = self._previous(op, idempotency_key, m.TxKind.HOLD)
            if previous is not None and previous.hold_id is not None:
                hold = self._hold_record(op.session, previous.hold_id)
                if (hold.account, hold.hub, dict(hold.resources)) != (
                    account,
                    hub,
                    dict(resources),
                ):
                    raise ConflictError(
                        f"idempotency key {idempotency_key!r} was used for another hold"
                    )
                return hold
            if job_id is not None:
                queries.check_job_free(op.session, hub, job_id)
            payer = self._lock_row(op, sql.LOCK_ACCOUNT_BY_NAME, name=account)
            rates = self._rates_for(op.session, hub, resources, op.now)
            per_hour = price_per_hour(rates, resources)
            amount = round_credits(per_hour * wanted_hours)
            available = payer.balance - payer.held
            if amount > available:
                raise InsufficientCreditError(
                    account, available, amount, affordable_hours(available, per_hour)
                )
            hold_id: int = connection.execute(
                sql.INSERT_HOLD,
                {
                    "account_id": payer.id,
                    "hub": hub,
                    "job_id": job_id,
                    "status": m.HoldStatus.OPEN.value,
                    "hours": wanted_hours,
                    "amount": amount,
                    "created_at": op.now,
                    "updated_at": op.now,
                    "created_by": op.actor,
                },
            ).scalar_one()
            connection.execute(
                sql.INSERT_HOLD_RESOURCE,
                [
                    {"hold_id": hold_id, "resource": res, "count": count, "rate": rates[res]}
                    for res, count in resources.items()
                ],
            )
            self._reserve(op, hold_id, payer.id, amount)
            if payer.next_expiry_at is not None:
                self._refresh_expiry(op, payer.id)
            self._post(
                op,
                m.TxKind.HOLD,
                payer.id,
                revenue_id,
                amount,
                f"{wanted_hours} h on {hub}",
                idempotency_key,
                pending=True,
                hold_id=hold_id,
            )
            return r.Hold(
                id=hold_id,
                account=account,
                hub=hub,
                job_id=job_id,
                status=m.HoldStatus.OPEN,
                hours=wanted_hours,
                amount=amount,
                per_hour=per_hour,
                resources=dict(sorted(resources.items())),
                rates={res: rates[res] for res in sorted(resources)},
                created_at=op.now,
            )

        return self._write(actor, body)

    def attach_job(self, hold_id: int, hub: str, job_id: str, *, actor: str = "system") -> r.Hold:
        """Record the Slurm job a hold pays for; the job's identity is ``(hub, job_id)``.

        Raises:
            ConflictError: the hold is on another hub, has another job, or the job has a hold.
        """
        if not job_id or len(job_id) > 64:
            raise ValueError(f"bad job id {job_id!r}")

        def body(op: _Op) -> r.Hold:
            hold = queries.lock_hold(op.session, hold_id)
            if hold.hub != hub:
                raise ConflictError(f"hold {hold_id} is on hub {hold.hub!r}, not {hub!r}")
            if hold.job_id == job_id:
                return self._hold_record(op.session, hold_id)
            if hold.job_id is not None:
                raise ConflictError(f"hold {hold_id} already pays for job {hold.job_id}")
            if hold.status != m.HoldStatus.OPEN:
                raise ConflictError(f"hold {hold_id} is {hold.status}")
            queries.check_job_free(op.session, hub, job_id)
            hold.job_id = job_id
            hold.updated_at = op.now
            return self._hold_record(op.session, hold_id)

        return self._write(actor, body)

    def extend_hold(
        self,
        hold_id: int,
        hours: Decimal | str | int,
        *,
        actor: str,
        idempotency_key: str | None = None,
        max_hours: Decimal | None = None,
    ) -> r.Hold:
        """Reserve ``hours`` more at the rates the hold was placed at.

        Args:
            hold_id: the session's hold.
            hours: the hours to add.
            actor: who asked.
            idempotency_key: a retry with the same key returns the extended hold.
            max_hours: the most hours the hold may have in all (the hub's limit),
                checked inside the transaction so that concurrent extensions can't
                pass it together.

        Raises:
            InsufficientCreditError: the account cannot pay for the extra hours.
            HoursLimitError: the hold would have more than ``max_hours``.
            ConflictError: the hold is no longer open.
        """
        extra_hours = parse_hours(hours)

        def body(op: _Op) -> r.Hold:
            previous = queries.by_key(op.session, idempotency_key, m.TxKind.EXTEND)
            if previous is not None:
                if previous.hold_id != hold_id:
                    raise ConflictError(
                        f"idempotency key {idempotency_key!r} was used for another hold"
                    )
                return self._hold_record(op.session, hold_id)
            account_id = queries.hold_account(op.session, hold_id)
            locked = self._lock(op, account_id)[account_id]
            hold = queries.lock_hold(op.session, hold_id)
            if hold.status != m.HoldStatus.OPEN:
                raise ConflictError(f"hold {hold_id} is {hold.status}")
            if max_hours is not None and hold.hours + extra_hours > max_hours:
                raise HoursLimitError(hold_id, max_hours, hold.hours, extra_hours)
            self._expire_due(op, locked)
            held_rates = queries.hold_rates(op.session, hold_id)
            per_hour = sum((rate * count for count, rate in held_rates.values()), Decimal(0))
            amount = round_credits(per_hour * extra_hours)
            available = locked.balance - locked.held
            if amount > available:
                raise InsufficientCreditError(
                    locked.name, available, amount, affordable_hours(available, per_hour)
                )
            op.session.flush()
            self._reserve(op, hold_id, account_id, amount, new=False)
            hold.hours += extra_hours
            hold.amount += amount
            hold.updated_at = op.now
            self._refresh_expiry(op, account_id)
            revenue_id = self._system_account_in(op.session, hold.hub)
            self._post(
                op,
                m.TxKind.EXTEND,
                account_id,
                revenue_id,
                amount,
                f"+{extra_hours} h",
                idempotency_key,
                pending=True,
                hold_id=hold_id,
            )
            return self._hold_record(op.session, hold_id)

        return self._write(actor, body)

    def settle(
        self,
        hold_id: int,
        used: Mapping[str, Decimal | str | int],
        *,
        actor: str,
        idempotency_key: str | None = None,
        reason: str = "",
    ) -> r.Charge:
        """Charge a session's real usage, at most its hold, and release the rest.

        Settling a hold that is already settled returns its charge (no second effect).

        Args:
            hold_id: the session's hold.
            used: resource-hours per resource, e.g. ``{"gpu:h100": Decimal("1.5")}``.
            actor: who settled (the spawner, reconciliation, an operator).
            idempotency_key: a retry with the same key returns the first charge.
            reason: why, for the history.

        Raises:
            ConflictError: the hold was voided, or ``used`` names a resource it did not hold.
            InvalidAmountError: a usage figure is not a non-negative exact decimal.
        """
        usage = {
            res: parse_decimal(
                value, what=f"usage of {res}", allow_zero=True, maximum=Decimal(10) ** 9
            )
            for res, value in used.items()
        }
        if self._fast_path:
            try:
                return self._write_fast(
                    actor,
                    lambda raw: hotpath.settle(
                        raw,
                        hold_id,
                        usage,
                        revenue_ids=self._system_ids,
                        idempotency_key=idempotency_key,
                        reason=reason,
                    ),
                )
            except hotpath.Fallback:
                pass  # a replay, a settled hold or due expiry: the general implementation

        def body(op: _Op) -> r.Charge:
            connection = op.session.connection()
            previous = self._previous(op, idempotency_key, m.TxKind.CHARGE)
            if previous is not None and previous.hold_id != hold_id:
                raise ConflictError(
                    f"idempotency key {idempotency_key!r} was used for another hold"
                )
            account_id = connection.execute(sql.HOLD_ACCOUNT, {"id": hold_id}).scalar()
            if account_id is None:
                raise UnknownHoldError(hold_id)
            payer = self._lock_row(op, sql.LOCK_ACCOUNT_BY_ID, id=account_id)
            status, hub, hold_amount = connection.execute(sql.LOCK_HOLD, {"id": hold_id}).one()
            if status == m.HoldStatus.SETTLED:
                return self._charge_record(op.session, hold_id)
            if status != m.HoldStatus.OPEN:
                raise ConflictError(f"hold {hold_id} is {status}; it cannot be charged")
            held_rates = {
                res: rate
                for res, _count, rate in connection.execute(sql.HOLD_RATES, {"hold_id": hold_id})
            }
            unknown = sorted(set(usage) - set(held_rates))
            if unknown:
                raise ConflictError(f"hold {hold_id} did not reserve {', '.join(unknown)}")
            costs = {res: round_credits(hours * held_rates[res]) for res, hours in usage.items()}
            cost = sum(costs.values(), Decimal(0))
            charged = min(cost, hold_amount)
            unreserved_expiring = self._release(op, hold_id, charged)
            connection.execute(
                sql.CHANGE_ACCOUNT,
                {"account_id": account_id, "balance_change": -charged, "held_change": -hold_amount},
            )
            revenue_id = self._system_account_in(op.session, hub)
            op.move_system(revenue_id, charged)
            tx = self._post(
                op,
                m.TxKind.CHARGE,
                account_id,
                revenue_id,
                charged,
                reason,
                idempotency_key,
                hold_id=hold_id,
            )
            if hold_amount > charged:
                self._post(
                    op,
                    m.TxKind.RELEASE,
                    account_id,
                    revenue_id,
                    hold_amount - charged,
                    reason or "unused part of the hold",
                    None,
                    pending=True,
                    hold_id=hold_id,
                )
            charge_id = connection.execute(
                sql.INSERT_CHARGE,
                {
                    "hold_id": hold_id,
                    "transaction_id": tx,
                    "account_id": account_id,
                    "hub": hub,
                    "amount": charged,
                    "cost": cost,
                    "created_at": op.now,
                },
            ).scalar_one()
            if usage:
                connection.execute(
                    sql.INSERT_USAGE,
                    [
                        {
                            "charge_id": charge_id,
                            "resource": res,
                            "hours": hours,
                            "rate": held_rates[res],
                            "cost": costs[res],
                        }
                        for res, hours in usage.items()
                    ],
                )
            connection.execute(
                sql.CLOSE_HOLD,
                {"hold_id": hold_id, "new_status": m.HoldStatus.SETTLED.value, "now": op.now},
            )
            if unreserved_expiring or payer.next_expiry_at is not None:
                self._refresh_expiry(op, account_id)
            return r.Charge(
                id=charge_id,
                hold_id=hold_id,
                account=payer.name,
                hub=hub,
                amount=charged,
                cost=cost,
                released=hold_amount - charged,
                usage=dict(sorted(usage.items())),
                created_at=op.now,
            )

        return self._write(actor, body)

    def void_hold(
        self,
        hold_id: int,
        reason: str,
        *,
        actor: str = "system",
        idempotency_key: str | None = None,
    ) -> r.Hold:
        """Release a whole hold, for a session that never started. Repeats are harmless.

        A hold whose job may still be running must be settled instead (reconciliation).

        Raises:
            ConflictError: the hold was already settled.
        """
        if not reason:
            raise ValueError("voiding a hold needs a reason")

        def body(op: _Op) -> r.Hold:
            account_id = queries.hold_account(op.session, hold_id)
            self._lock(op, account_id)
            hold = queries.lock_hold(op.session, hold_id)
            if hold.status == m.HoldStatus.VOIDED:
                return self._hold_record(op.session, hold_id)
            if hold.status != m.HoldStatus.OPEN:
                raise ConflictError(f"hold {hold_id} is {hold.status}; it cannot be voided")
            op.session.flush()
            self._release(op, hold_id, Decimal(0))
            op.session.connection().execute(
                sql.CHANGE_ACCOUNT,
                {"account_id": account_id, "balance_change": 0, "held_change": -hold.amount},
            )
            revenue_id = self._system_account_in(op.session, hold.hub)
            self._post(
                op,
                m.TxKind.RELEASE,
                account_id,
                revenue_id,
                hold.amount,
                reason,
                idempotency_key,
                pending=True,
                hold_id=hold_id,
            )
            hold.status = m.HoldStatus.VOIDED
            hold.updated_at = op.now
            self._refresh_expiry(op, account_id)
            return self._hold_record(op.session, hold_id)

        return self._write(actor, body)

    def hold(self, hold_id: int) -> r.Hold:
        """One hold."""
        with self._read() as session:
            return self._hold_record(session, hold_id)

    def open_holds(self, hub: str | None = None) -> list[r.Hold]:
        """Holds not yet settled or voided, oldest first (for reconciliation with Slurm)."""
        with self._read() as session:
            query = select(m.Hold.id).where(m.Hold.status == m.HoldStatus.OPEN)
            if hub is not None:
                query = query.where(m.Hold.hub == hub)
            return [
                self._hold_record(session, hid)
                for hid in session.scalars(query.order_by(m.Hold.id))
            ]

    def hold_for_job(self, hub: str, job_id: str) -> r.Hold | None:
        """The hold that pays for a Slurm job: the open one, else the newest that did.

        Slurm reuses job ids, so a closed hold may name an id a newer job has now.
        """
        with self._read() as session:
            hid = session.scalar(
                select(m.Hold.id)
                .where(m.Hold.hub == hub, m.Hold.job_id == job_id)
                .order_by((m.Hold.status == m.HoldStatus.OPEN).desc(), m.Hold.id.desc())
                .limit(1)
            )
            return None if hid is None else self._hold_record(session, hid)
