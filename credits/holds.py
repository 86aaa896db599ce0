"""Holds and charges: reserving credit for a session, then charging what it used.

A hold reserves credit (``held``, recorded as pending entries of the journal) until it
is settled for the real cost (at most the hold) or voided. Each verb (place, extend,
settle, void) has one implementation, a database transaction on the driver's cursor
(:mod:`~computehub.credits.holdwrites`), which runs every case, the rare ones included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from computehub.credits import holdwrites, queries
from computehub.credits import models as m
from computehub.credits import records as r
from computehub.credits.core import LedgerCore, _Op
from computehub.credits.errors import ConflictError
from computehub.credits.keys import Key, stored_key
from computehub.credits.money import (
    affordable_hours,
    parse_decimal,
    parse_hours,
    price_per_hour,
    round_credits,
)
from computehub.credits.names import (
    check_server_name,
    validate_hub,
)

#: The most resource-hours one usage figure may have.
_MAX_USAGE_HOURS = Decimal(10) ** 9


@dataclass(frozen=True)
class Settlement:
    """A hold to settle with :meth:`~computehub.credits.holds.HoldsMixin.settle_many`."""

    hold_id: int
    used: Mapping[str, Decimal | str | int]
    idempotency_key: Key = None
    reason: str = ""


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
        with self._read() as db:
            per_hour = price_per_hour(self._rates_for(db, hub, resources, self._now()), resources)
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
        idempotency_key: Key = None,
        job_id: str | None = None,
        server_name: str = "",
    ) -> r.Hold:
        """Reserve the price of ``hours`` of ``resources`` on ``hub`` at the current rates.

        Args:
            account: the account that pays.
            hub: the hub the session runs on (its revenue account is credited on settle).
            resources: counts per resource, e.g. ``{"gpu:h100": 1, "cpu": 4}``.
            hours: the session's walltime.
            actor: the user or service placing the hold.
            idempotency_key: a retry with the same key returns this hold.
            job_id: the Slurm job, when already known (see
                :meth:`~computehub.credits.holds.HoldsMixin.attach_job`).
            server_name: the JupyterHub server the session runs in (``""``: the user's
                default server); a label the ledger keeps for the session's views.

        Raises:
            InsufficientCreditError: with ``available``, ``requested`` and ``affordable_hours``.
            UnknownRateError: the hub does not price a resource.
            UnknownAccountError: no such account.
        """
        wanted_hours = parse_hours(hours)
        key = stored_key(idempotency_key)
        queries.check_resources(resources)
        validate_hub(hub)
        check_server_name(server_name)
        revenue_id = self._system_account(m.AccountKind.REVENUE, hub)
        done = self._move(
            actor,
            lambda op: holdwrites.place_hold(
                op,
                account,
                hub,
                resources,
                wanted_hours,
                revenue_id=revenue_id,
                idempotency_key=key,
                job_id=job_id,
                server_name=server_name,
            ),
        )
        return self._hold_result(done)

    def attach_job(self, hold_id: int, hub: str, job_id: str, *, actor: str = "system") -> r.Hold:
        """Record the Slurm job a hold pays for; the job's identity is ``(hub, job_id)``.

        Raises:
            ConflictError: the hold is on another hub, has another job, or the job has a hold.
        """
        if not job_id or len(job_id) > 64:
            raise ValueError(f"bad job id {job_id!r}")

        def body(op: _Op) -> r.Hold:
            hold = queries.lock_hold(op.db, hold_id)
            if hold.hub != hub:
                raise ConflictError(f"hold {hold_id} is on hub {hold.hub!r}, not {hub!r}")
            if hold.job_id == job_id:
                return self._hold_record(op.db, hold_id)
            if hold.job_id is not None:
                raise ConflictError(f"hold {hold_id} already pays for job {hold.job_id}")
            if hold.status != m.HoldStatus.OPEN:
                raise ConflictError(f"hold {hold_id} is {hold.status}")
            queries.check_job_free(op.db, hub, job_id)
            hold.job_id = job_id
            hold.updated_at = op.now
            return self._hold_record(op.db, hold_id)

        return self._write(actor, body)

    def extend_hold(
        self,
        hold_id: int,
        hours: Decimal | str | int,
        *,
        actor: str,
        idempotency_key: Key = None,
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
        key = stored_key(idempotency_key)
        done = self._move(
            actor,
            lambda op: holdwrites.extend_hold(
                op,
                hold_id,
                extra_hours,
                revenue_ids=self._system_ids,
                idempotency_key=key,
                max_hours=max_hours,
            ),
        )
        return self._hold_result(done)

    def settle(
        self,
        hold_id: int,
        used: Mapping[str, Decimal | str | int],
        *,
        actor: str,
        idempotency_key: Key = None,
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
                value, what=f"usage of {res}", allow_zero=True, maximum=_MAX_USAGE_HOURS
            )
            for res, value in used.items()
        }
        key = stored_key(idempotency_key)
        done = self._move(
            actor,
            lambda op: holdwrites.settle(
                op,
                hold_id,
                usage,
                revenue_ids=self._system_ids,
                idempotency_key=key,
                reason=reason,
            ),
        )
        if isinstance(done, holdwrites.Existing):
            with self._read() as db:
                return self._charge_record(db, done.hold_id)
        return done

    def settle_many(
        self,
        settlements: Sequence[Settlement],
        *,
        actor: str,
    ) -> list[r.Charge]:
        """Settle many holds in one transaction, each as ``settle`` would.

        For reconciliation after an outage (thousands of ended sessions): one commit for
        all instead of one each. All or nothing: any refusal rolls the whole batch back
        and is raised (the caller then settles them one by one to find it).

        Raises:
            ConflictError: a hold was voided, or a usage names a resource it did not hold.
            InvalidAmountError: a usage figure is not a non-negative exact decimal.
        """
        parsed = [
            (
                item,
                {
                    res: parse_decimal(
                        value, what=f"usage of {res}", allow_zero=True, maximum=_MAX_USAGE_HOURS
                    )
                    for res, value in item.used.items()
                },
                stored_key(item.idempotency_key),
            )
            for item in settlements
        ]
        done = self._move(
            actor,
            lambda op: [
                holdwrites.settle(
                    op,
                    item.hold_id,
                    usage,
                    revenue_ids=self._system_ids,
                    idempotency_key=key,
                    reason=item.reason,
                )
                for item, usage, key in parsed
            ],
        )
        charges: list[r.Charge] = []
        for one in done:
            if isinstance(one, holdwrites.Existing):
                with self._read() as db:
                    charges.append(self._charge_record(db, one.hold_id))
            else:
                charges.append(one)
        return charges

    def void_hold(
        self,
        hold_id: int,
        reason: str,
        *,
        actor: str = "system",
        idempotency_key: Key = None,
    ) -> r.Hold:
        """Release a whole hold, for a session that never started. Repeats are harmless.

        A hold whose job may still be running must be settled instead (reconciliation).

        Raises:
            ConflictError: the hold was already settled.
        """
        if not reason:
            raise ValueError("voiding a hold needs a reason")
        key = stored_key(idempotency_key)
        done = self._move(
            actor,
            lambda op: holdwrites.void_hold(
                op,
                hold_id,
                reason,
                revenue_ids=self._system_ids,
                idempotency_key=key,
            ),
        )
        return self._hold_result(done)

    def _hold_result(self, done: r.Hold | holdwrites.Existing) -> r.Hold:
        """A verb's hold; for a replay, the hold as it is now."""
        if isinstance(done, holdwrites.Existing):
            return self.hold(done.hold_id)
        return done

    def hold(self, hold_id: int) -> r.Hold:
        """One hold."""
        with self._read() as db:
            return self._hold_record(db, hold_id)

    def open_holds(self, hub: str | None = None) -> list[r.Hold]:
        """Holds not yet settled or voided, oldest first (for reconciliation with Slurm)."""
        with self._read() as db:
            query = select(m.Hold.id).where(m.Hold.status == m.HoldStatus.OPEN)
            if hub is not None:
                query = query.where(m.Hold.hub == hub)
            return [self._hold_record(db, hid) for hid in db.scalars(query.order_by(m.Hold.id))]

    def hold_for_job(self, hub: str, job_id: str) -> r.Hold | None:
        """The hold that pays for a Slurm job: the open one, else the newest that did.

        Slurm reuses job ids, so a closed hold may name an id a newer job has now.
        """
        with self._read() as db:
            hid = db.scalar(
                select(m.Hold.id)
                .where(m.Hold.hub == hub, m.Hold.job_id == job_id)
                .order_by((m.Hold.status == m.HoldStatus.OPEN).desc(), m.Hold.id.desc())
                .limit(1)
            )
            return None if hid is None else self._hold_record(db, hid)
