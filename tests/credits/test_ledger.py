"""The ledger's operations on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from computehub.credits.errors import (
    ConflictError,
    InsufficientCreditError,
    InvalidAmountError,
    UnknownAccountError,
    UnknownHoldError,
    UnknownRateError,
)
from computehub.credits.ledger import Ledger
from tests.support.ledgers import START, FakeClock

H100 = {"gpu:h100": 1}
D = Decimal


def funded(ledger: Ledger, name: str, amount: str, **grant: object) -> None:
    ledger.create_account(name, "project", actor="op", owner="alice")
    ledger.grant(name, amount, actor="op", **grant)  # type: ignore[arg-type]


def figures(ledger: Ledger, name: str) -> tuple[Decimal, Decimal, Decimal]:
    b = ledger.balance(name)
    return b.balance, b.held, b.available


def assert_clean(ledger: Ledger) -> None:
    report = ledger.check()
    assert report.differences == []


def test_grant_moves_credit_out_of_the_issuing_account(ledger: Ledger) -> None:
    funded(ledger, "p1", "100", source="startup-fund", note="seed")
    assert figures(ledger, "p1") == (D(100), D(0), D(100))
    assert ledger.balance("issuing:startup-fund").balance == D(-100)
    [entry] = ledger.history("p1")
    assert (entry.kind, entry.change, entry.counterparty, entry.actor, entry.reason) == (
        "grant",
        D(100),
        "issuing:startup-fund",
        "op",
        "seed",
    )
    assert_clean(ledger)


def test_unknown_account_and_system_accounts_are_refused(ledger: Ledger) -> None:
    with pytest.raises(UnknownAccountError, match="'nobody'"):
        ledger.grant("nobody", "5", actor="op")
    funded(ledger, "p1", "5")
    with pytest.raises(ConflictError, match="system account"):
        ledger.transfer("p1", "issuing:programme", "1", actor="op")
    with pytest.raises(ConflictError, match="already exists"):
        ledger.create_account("p1", "course", actor="op")


def test_hold_settle_charges_usage_and_releases_the_rest(ledger: Ledger) -> None:
    funded(ledger, "p1", "100")
    hold = ledger.place_hold("p1", "north", {"gpu:h100": 2, "cpu": 4}, "3", actor="spawner")
    assert (hold.per_hour, hold.amount, hold.status) == (D(22), D(66), "open")
    assert figures(ledger, "p1") == (D(100), D(66), D(34))
    charge = ledger.settle(
        hold.id, {"gpu:h100": D("2.5"), "cpu": D(5)}, actor="spawner", reason="done"
    )
    # 2.5 GPU-hours x 10 + 5 CPU-hours x 0.5
    assert (charge.amount, charge.cost, charge.released) == (D("27.5"), D("27.5"), D("38.5"))
    assert figures(ledger, "p1") == (D("72.5"), D(0), D("72.5"))
    assert ledger.balance("revenue:north").balance == D("27.5")
    assert ledger.open_holds() == []
    assert_clean(ledger)


def test_settle_charges_at_most_the_hold(ledger: Ledger) -> None:
    funded(ledger, "p1", "100")
    hold = ledger.place_hold("p1", "north", H100, "2", actor="spawner")
    charge = ledger.settle(hold.id, {"gpu:h100": D(5)}, actor="spawner")
    assert (charge.amount, charge.cost, charge.released) == (D(20), D(50), D(0))
    assert figures(ledger, "p1") == (D(80), D(0), D(80))
    assert_clean(ledger)


def test_insufficient_credit_says_what_is_available_and_changes_nothing(ledger: Ledger) -> None:
    funded(ledger, "p1", "25")
    with pytest.raises(InsufficientCreditError) as refused:
        ledger.place_hold("p1", "north", H100, "3", actor="spawner")
    assert (refused.value.available, refused.value.requested) == (D(25), D(30))
    assert refused.value.affordable_hours == D("2.50")
    assert "25.0000 credits available, 30.0000 requested" in str(refused.value)
    assert figures(ledger, "p1") == (D(25), D(0), D(25))
    assert ledger.open_holds() == []


def test_a_repeated_hold_has_no_second_effect(ledger: Ledger) -> None:
    funded(ledger, "p1", "100")
    first = ledger.place_hold("p1", "north", H100, "2", actor="spawner", idempotency_key="k1")
    again = ledger.place_hold("p1", "north", H100, "2", actor="spawner", idempotency_key="k1")
    assert again == first
    assert figures(ledger, "p1") == (D(100), D(20), D(80))
    with pytest.raises(ConflictError, match="another hold"):
        ledger.place_hold("p1", "south", {"cpu": 1}, "2", actor="spawner", idempotency_key="k1")
    with pytest.raises(ConflictError, match="used for a hold"):
        ledger.grant("p1", "5", actor="op", idempotency_key="k1")


def test_a_repeated_settlement_has_no_second_effect(ledger: Ledger) -> None:
    funded(ledger, "p1", "100")
    hold = ledger.place_hold("p1", "north", H100, "2", actor="spawner")
    first = ledger.settle(hold.id, {"gpu:h100": D(1)}, actor="spawner", idempotency_key="s1")
    again = ledger.settle(hold.id, {"gpu:h100": D(1)}, actor="spawner", idempotency_key="s1")
    no_key = ledger.settle(hold.id, {"gpu:h100": D(2)}, actor="reconcile")
    assert first == again == no_key
    assert figures(ledger, "p1") == (D(90), D(0), D(90))
    assert_clean(ledger)


def test_repeated_grants_and_transfers_have_no_second_effect(ledger: Ledger) -> None:
    funded(ledger, "p1", "10")
    ledger.create_account("p2", "project", actor="op")
    g1 = ledger.grant("p1", "5", actor="op", idempotency_key="g")
    assert ledger.grant("p1", "5", actor="op", idempotency_key="g") == g1
    t1 = ledger.transfer("p1", "p2", "3", actor="op", idempotency_key="t")
    assert ledger.transfer("p1", "p2", "3", actor="op", idempotency_key="t") == t1
    with pytest.raises(ConflictError, match="another transfer"):
        ledger.transfer("p1", "p2", "4", actor="op", idempotency_key="t")
    assert figures(ledger, "p1")[0] == D(12)
    assert figures(ledger, "p2")[0] == D(3)
    assert_clean(ledger)


def test_void_releases_everything_and_settle_after_void_is_refused(ledger: Ledger) -> None:
    funded(ledger, "p1", "100")
    hold = ledger.place_hold("p1", "north", H100, "2", actor="spawner")
    voided = ledger.void_hold(hold.id, "sbatch failed", actor="spawner")
    assert voided.status == "voided"
    assert ledger.void_hold(hold.id, "retry", actor="spawner") == voided
    assert figures(ledger, "p1") == (D(100), D(0), D(100))
    with pytest.raises(ConflictError, match="voided"):
        ledger.settle(hold.id, {"gpu:h100": D(1)}, actor="spawner")
    with pytest.raises(UnknownHoldError):
        ledger.void_hold(9999, "no such", actor="spawner")
    assert_clean(ledger)


def test_extend_reserves_more_at_the_holds_rates(ledger: Ledger, clock: FakeClock) -> None:
    funded(ledger, "p1", "100")
    hold = ledger.place_hold("p1", "north", H100, "2", actor="spawner")
    ledger.sync_rates({**_rates(ledger), ("north", "gpu:h100"): D(20)}, actor="site")
    extended = ledger.extend_hold(hold.id, "1", actor="spawner", idempotency_key="e1")
    assert (extended.hours, extended.amount) == (D(3), D(30))
    assert ledger.extend_hold(hold.id, "1", actor="spawner", idempotency_key="e1") == extended
    with pytest.raises(InsufficientCreditError) as refused:
        ledger.extend_hold(hold.id, "8", actor="spawner")
    assert refused.value.affordable_hours == D("7.00")
    assert figures(ledger, "p1") == (D(100), D(30), D(70))
    ledger.settle(hold.id, {"gpu:h100": D("2.5")}, actor="spawner")
    assert figures(ledger, "p1") == (D(75), D(0), D(75))
    assert_clean(ledger)


def test_a_rate_change_applies_to_new_holds_only(ledger: Ledger, clock: FakeClock) -> None:
    funded(ledger, "p1", "100")
    old = ledger.place_hold("p1", "north", H100, "1", actor="spawner")
    clock.advance(minutes=1)
    changed = ledger.sync_rates({**_rates(ledger), ("north", "gpu:h100"): D(12)}, actor="site")
    assert [(c.hub, c.resource, c.rate) for c in changed] == [("north", "gpu:h100", D(12))]
    assert ledger.sync_rates({**_rates(ledger)}, actor="site") == []
    new = ledger.place_hold("p1", "north", H100, "1", actor="spawner")
    assert (old.amount, new.amount) == (D(10), D(12))
    assert ledger.settle(old.id, {"gpu:h100": D(1)}, actor="spawner").amount == D(10)
    history = [(e.resource, e.rate) for e in ledger.rate_history() if e.hub == "north"]
    assert history.count(("gpu:h100", D(10))) == 1
    assert history[-1] == ("gpu:h100", D(12))


def test_withdrawn_and_unknown_resources_cannot_be_held(ledger: Ledger) -> None:
    funded(ledger, "p1", "100")
    rates = _rates(ledger)
    del rates[("north", "cpu")]
    [withdrawn] = ledger.sync_rates(rates, actor="site")
    assert (withdrawn.resource, withdrawn.rate) == ("cpu", None)
    with pytest.raises(UnknownRateError, match="'cpu'"):
        ledger.place_hold("p1", "north", {"cpu": 1}, "1", actor="spawner")
    with pytest.raises(UnknownRateError, match="gpu:a100"):
        ledger.estimate("p1", "north", {"gpu:a100": 1}, "1")
    with pytest.raises(ValueError, match="bad resource"):
        ledger.place_hold("p1", "north", {"tpu": 1}, "1", actor="spawner")
    with pytest.raises(InvalidAmountError, match="positive integer"):
        ledger.place_hold("p1", "north", {"gpu:h100": 0}, "1", actor="spawner")


def test_estimate_gives_cost_and_affordable_hours(ledger: Ledger) -> None:
    funded(ledger, "p1", "45")
    estimate = ledger.estimate("p1", "north", {"gpu:h100": 2, "cpu": 2}, "3")
    assert (estimate.per_hour, estimate.cost, estimate.affordable_hours) == (
        D(21),
        D(63),
        D("2.14"),
    )
    assert not estimate.sufficient


def test_jobs_attach_once_per_hub(ledger: Ledger) -> None:
    funded(ledger, "p1", "100")
    first = ledger.place_hold("p1", "north", H100, "1", actor="spawner")
    second = ledger.place_hold("p1", "north", H100, "1", actor="spawner")
    assert ledger.attach_job(first.id, "north", "4242").job_id == "4242"
    assert ledger.attach_job(first.id, "north", "4242").job_id == "4242"
    with pytest.raises(ConflictError, match="already has hold"):
        ledger.attach_job(second.id, "north", "4242")
    with pytest.raises(ConflictError, match="already pays for job"):
        ledger.attach_job(first.id, "north", "4243")
    with pytest.raises(ConflictError, match="on hub 'north'"):
        ledger.attach_job(second.id, "south", "4242")
    found = ledger.hold_for_job("north", "4242")
    assert found is not None
    assert found.id == first.id
    third = ledger.place_hold("p1", "south", {"cpu": 1}, "1", actor="spawner", job_id="4242")
    assert [h.id for h in ledger.open_holds(hub="south")] == [third.id]


def test_credit_expiring_soonest_is_spent_first(ledger: Ledger, clock: FakeClock) -> None:
    funded(ledger, "p1", "30")  # never expires
    ledger.grant("p1", "20", actor="op", expires_at=START + timedelta(days=10), source="late")
    ledger.grant("p1", "15", actor="op", expires_at=START + timedelta(days=5), source="early")
    assert ledger.balance("p1").next_expiry_at == START + timedelta(days=5)
    assert ledger.balance("p1").expiring == D(15)
    hold = ledger.place_hold("p1", "north", H100, "2", actor="spawner")
    ledger.settle(hold.id, {"gpu:h100": D(2)}, actor="spawner")
    # 20 spent: all 15 of "early", then 5 of "late".
    clock.advance(days=6)
    assert figures(ledger, "p1") == (D(65) - D(20), D(0), D(45))
    clock.advance(days=5)
    assert figures(ledger, "p1") == (D(30), D(0), D(30))
    assert ledger.balance("issuing:late").balance == D(-20) + D(15)
    assert ledger.balance("issuing:early").balance == D(-15)
    kinds = [e.kind for e in ledger.history("p1")]
    assert kinds.count("expiry") == 1
    assert_clean(ledger)


def test_expired_credit_is_not_spendable_and_goes_back(ledger: Ledger, clock: FakeClock) -> None:
    funded(ledger, "p1", "50", expires_at=START + timedelta(hours=1))
    clock.advance(hours=1)
    with pytest.raises(InsufficientCreditError) as refused:
        ledger.place_hold("p1", "north", H100, "1", actor="spawner")
    assert refused.value.available == D(0)
    assert ledger.expire() == 1
    assert figures(ledger, "p1") == (D(0), D(0), D(0))
    assert ledger.balance("issuing:programme").balance == D(0)
    [expiry, _grant] = ledger.history("p1")
    assert (expiry.kind, expiry.change, expiry.counterparty) == (
        "expiry",
        D(-50),
        "issuing:programme",
    )
    assert_clean(ledger)


def test_a_hold_keeps_credit_that_expires_while_its_job_runs(
    ledger: Ledger, clock: FakeClock
) -> None:
    funded(ledger, "p1", "50", expires_at=START + timedelta(hours=1))
    hold = ledger.place_hold("p1", "north", H100, "4", actor="spawner")
    clock.advance(hours=2)
    assert figures(ledger, "p1") == (D(50), D(40), D(10)) or ledger.balance("p1").balance == D(40)
    charge = ledger.settle(hold.id, {"gpu:h100": D("1.5")}, actor="spawner")
    assert charge.amount == D(15)
    # The unused 25 of the hold was expired credit: it went back to the issuing account.
    assert figures(ledger, "p1") == (D(0), D(0), D(0))
    assert ledger.balance("issuing:programme").balance == D(-15)
    assert ledger.balance("revenue:north").balance == D(15)
    assert_clean(ledger)


def test_transfers_keep_expiry(ledger: Ledger, clock: FakeClock) -> None:
    ledger.create_account("course1", "course", actor="op", owner="prof")
    ledger.create_account("student1", "personal", actor="op", owner="sam")
    ledger.grant("course1", "100", actor="op", expires_at=START + timedelta(days=90))
    ledger.transfer("course1", "student1", "10", actor="prof", reason="week 1")
    assert ledger.balance("student1").next_expiry_at == START + timedelta(days=90)
    clock.advance(days=91)
    assert figures(ledger, "student1") == (D(0), D(0), D(0))
    assert ledger.balance("issuing:programme").balance == D(-90)
    assert ledger.expire() == 1
    assert figures(ledger, "course1") == (D(0), D(0), D(0))
    assert ledger.balance("issuing:programme").balance == D(0)
    assert_clean(ledger)


def test_transfer_refuses_more_than_available(ledger: Ledger) -> None:
    funded(ledger, "p1", "10")
    ledger.create_account("p2", "project", actor="op")
    ledger.place_hold("p1", "north", {"cpu": 2}, "8", actor="spawner")
    with pytest.raises(InsufficientCreditError, match=r"2\.0000 credits available"):
        ledger.transfer("p1", "p2", "3", actor="op")
    with pytest.raises(ConflictError, match="two different"):
        ledger.transfer("p1", "p1", "1", actor="op")
    assert figures(ledger, "p2") == (D(0), D(0), D(0))


def test_members_and_personal_accounts(ledger: Ledger) -> None:
    ledger.create_account("course1", "course", actor="op", owner="prof")
    ledger.add_member("course1", "sam", "student", actor="prof")
    ledger.add_member("course1", "ta", "instructor", actor="prof")
    with pytest.raises(ValueError, match="no member role"):
        ledger.add_member("course1", "x", "member", actor="prof")
    with pytest.raises(ValueError, match="unknown role"):
        ledger.add_member("course1", "x", "boss", actor="prof")
    personal = ledger.ensure_personal_account("sam")
    assert ledger.ensure_personal_account("sam") == personal
    accounts = {(b.account, b.kind, b.role) for b in ledger.accounts_for_user("sam")}
    assert accounts == {("course1", "course", "student"), ("sam", "personal", "owner")}
    assert ledger.members("course1") == {"prof": "owner", "sam": "student", "ta": "instructor"}


def test_report_sums_charges(ledger: Ledger, clock: FakeClock) -> None:
    funded(ledger, "p1", "100")
    funded(ledger, "p2", "100")
    for account, hub, resources, used in [
        ("p1", "north", {"gpu:h100": 1, "cpu": 2}, {"gpu:h100": D(1), "cpu": D(2)}),
        ("p2", "north", {"gpu:h100": 1}, {"gpu:h100": D("0.5")}),
        ("p2", "south", {"cpu": 1}, {"cpu": D(3)}),
    ]:
        hold = ledger.place_hold(account, hub, resources, "4", actor="spawner")
        ledger.settle(hold.id, used, actor="spawner")
    clock.advance(hours=1)
    by_hub = {(r.key, r.credits, r.sessions) for r in ledger.report(by="hub")}
    assert by_hub == {("north", D(16), 2), ("south", D("1.2"), 1)}
    by_resource = {(r.key, r.credits, r.resource_hours) for r in ledger.report(by="resource")}
    assert by_resource == {("gpu:h100", D(15), D("1.5")), ("cpu", D("2.2"), D(5))}
    assert ledger.report(by="account", since=clock.now) == []


def test_check_finds_a_tampered_balance(ledger: Ledger) -> None:
    funded(ledger, "p1", "100")
    with ledger.engine.begin() as connection:
        connection.execute(text("UPDATE accounts SET balance = balance + 1 WHERE name = 'p1'"))
    report = ledger.check()
    assert not report.ok
    assert any("p1: balance 100.0001, transactions say 100" in d for d in report.differences)
    assert any("balances sum to" in d for d in report.differences)


def test_the_clock_must_be_timezone_aware(db_url: str) -> None:
    from datetime import datetime

    with (
        Ledger(db_url, clock=lambda: datetime(2026, 1, 1)) as naive,
        pytest.raises(ValueError, match="timezone-aware"),
    ):
        naive.create_account("p1", "project", actor="op")


def _rates(ledger: Ledger) -> dict[tuple[str, str], Decimal]:
    return dict(ledger.rates())


def test_a_session_end_note_is_kept_beside_its_charge(ledger: Ledger) -> None:
    ledger.create_account("noted", "project", actor="op")
    ledger.grant("noted", "100", actor="op")
    hold = ledger.place_hold("noted", "north", {"gpu:h100": 1}, "2", actor="ayesha")
    ledger.settle(hold.id, {"gpu:h100": "0.5"}, actor="spawner")
    ledger.note_session_end(hold.id, "Stopped: its GPUs were idle for 30 min.", actor="gpu-idle")
    (row,) = ledger.sessions("noted")
    assert row.end_note == "Stopped: its GPUs were idle for 30 min."
    assert row.charged == Decimal(5)
    with pytest.raises(UnknownHoldError):
        ledger.note_session_end(hold.id + 1000, "x", actor="gpu-idle")
    with pytest.raises(ValueError, match="1 to 500"):
        ledger.note_session_end(hold.id, " ", actor="gpu-idle")
