"""Random sequences of grants, holds, settlements, transfers and expiries keep the invariants."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from computehub.credits.errors import ConflictError, InsufficientCreditError
from computehub.credits.ledger import Ledger
from computehub.credits.money import QUANTUM
from tests.support.ledgers import FakeClock

Op = tuple[Any, ...]
Refusal = InsufficientCreditError | ConflictError
ACCOUNTS = 3
SESSIONS = [("north", {"gpu:h100": 1}), ("north", {"cpu": 3}), ("south", {"gpu:a100": 2, "cpu": 1})]
_examples = itertools.count()

amounts = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(200), places=4)
account = st.integers(0, ACCOUNTS - 1)
hold = st.tuples(st.just("hold"), account, st.integers(0, len(SESSIONS) - 1), st.integers(1, 3))
settle = st.tuples(st.just("settle"), st.integers(0, 9), st.fractions(0, 2))
# Holds and settlements are listed twice so that most sequences settle something.
operation = st.one_of(
    hold,
    settle,
    hold,
    settle,
    st.tuples(st.just("grant"), account, amounts, st.one_of(st.none(), st.integers(1, 72))),
    st.tuples(st.just("void"), st.integers(0, 9)),
    st.tuples(st.just("extend"), st.integers(0, 9), st.integers(1, 3)),
    st.tuples(st.just("transfer"), account, account, amounts),
    st.tuples(st.just("advance"), st.integers(1, 48)),
    st.tuples(st.just("expire")),
)


@dataclass
class Run:
    """What one example did, to compare with the ledger's own figures."""

    prefix: str
    holds: list[int] = field(default_factory=list)
    charged: Decimal = Decimal(0)

    def name(self, index: int) -> str:
        return f"{self.prefix}a{index}"


def _apply(ledger: Ledger, clock: FakeClock, run: Run, op: Op) -> Refusal | None:
    """Run one operation; return the refusal if the ledger refused it."""
    try:
        match op:
            case ("grant", who, amount, hours):
                expires = None if hours is None else clock.now + timedelta(hours=hours)
                ledger.grant(
                    run.name(who), amount, actor="op", expires_at=expires, source=run.prefix
                )
            case ("hold", who, session, hours):
                hub, resources = SESSIONS[session]
                hold = ledger.place_hold(run.name(who), hub, resources, hours, actor="sp")
                run.holds.append(hold.id)
            case ("settle" | "void" | "extend", _, *_) if not run.holds:
                return None
            case ("void", index):
                ledger.void_hold(run.holds[index % len(run.holds)], "failed start", actor="sp")
            case ("extend", index, hours):
                ledger.extend_hold(run.holds[index % len(run.holds)], hours, actor="sp")
            case ("settle", index, fraction):
                _settle(ledger, run, run.holds[index % len(run.holds)], fraction)
            case ("transfer", source, target, amount) if source != target:
                ledger.transfer(run.name(source), run.name(target), amount, actor="op")
            case ("advance", hours):
                clock.advance(hours=hours)
            case ("expire",):
                ledger.expire()
        event(f"{op[0]} done")
    except (InsufficientCreditError, ConflictError) as refused:
        event(f"{op[0]} refused")
        return refused
    return None


def _settle(ledger: Ledger, run: Run, hold_id: int, fraction: Fraction) -> None:
    """Settle for ``fraction`` of every resource's held hours (over 1: an overrun)."""
    hold = ledger.hold(hold_id)
    used = {
        res: (hold.hours * count * fraction.numerator / fraction.denominator).quantize(QUANTUM)
        for res, count in hold.resources.items()
    }
    charge = ledger.settle(hold_id, used, actor="sp")
    assert charge.amount <= hold.amount
    assert charge.amount + charge.released == hold.amount
    if hold.status == "open":
        run.charged += charge.amount


def _check_refusal(kind: str, refused: Refusal | None) -> None:
    if isinstance(refused, InsufficientCreditError):
        assert refused.available >= 0
        assert refused.requested > refused.available
    elif isinstance(refused, ConflictError):
        # Only settling or extending a voided/settled hold, or voiding a settled one.
        assert kind in ("settle", "void", "extend"), refused


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    funding=st.lists(
        st.tuples(amounts, st.one_of(st.none(), st.integers(1, 72))),
        min_size=ACCOUNTS,
        max_size=ACCOUNTS,
    ),
    ops=st.lists(operation, min_size=6, max_size=20),
)
def test_random_sequences_keep_the_invariants(
    ledger: Ledger,
    clock: FakeClock,
    funding: list[tuple[Decimal, int | None]],
    ops: list[Op],
) -> None:
    run = Run(prefix=f"e{next(_examples)}")
    revenue_before = sum(
        (
            ledger.balance(f"revenue:{hub}").balance
            for hub in ("north", "south")
            if _exists(ledger, f"revenue:{hub}")
        ),
        Decimal(0),
    )
    for index in range(ACCOUNTS):
        ledger.create_account(run.name(index), "project", actor="op")
    for index, (amount, hours) in enumerate(funding):
        assert _apply(ledger, clock, run, ("grant", index, amount + 100, hours)) is None
    for op in ops:
        _check_refusal(op[0], _apply(ledger, clock, run, op))
        for index in range(ACCOUNTS):
            figures = ledger.balance(run.name(index))
            assert figures.available >= 0
            assert figures.held >= 0
    # Sessions end: settle what is still open, as reconciliation with Slurm would.
    for hold_id in run.holds:
        if ledger.hold(hold_id).status == "open":
            _settle(ledger, run, hold_id, Fraction(1, 2))
    report = ledger.check()
    assert report.differences == []
    revenue_after = sum(
        (
            ledger.balance(f"revenue:{hub}").balance
            for hub in ("north", "south")
            if _exists(ledger, f"revenue:{hub}")
        ),
        Decimal(0),
    )
    assert revenue_after - revenue_before == run.charged
    people = sum((ledger.balance(run.name(i)).balance for i in range(ACCOUNTS)), Decimal(0))
    issued = (
        -ledger.balance(f"issuing:{run.prefix}").balance
        if _exists(ledger, f"issuing:{run.prefix}")
        else Decimal(0)
    )
    # What this example's funding source issued (net of expiry) is in its accounts or was charged.
    assert issued == people + run.charged


def _exists(ledger: Ledger, name: str) -> bool:
    try:
        ledger.balance(name)
    except LookupError:
        return False
    return True
