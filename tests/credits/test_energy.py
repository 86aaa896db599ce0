"""Energy per session in the ledger: recorded once apart from the charge, reported by group."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from computehub.credits.energy import EnergyRow, EnergySession, aggregate_energy
from computehub.credits.errors import ConflictError, UnknownHoldError
from computehub.credits.ledger import Ledger
from tests.support.ledgers import START, FakeClock


def _s(
    hold_id: int,
    hub: str,
    account: str,
    gpu: str,
    charged: str,
    wh: str | None,
    *,
    recorded: bool = True,
    kind: str = "personal",
) -> EnergySession:
    return EnergySession(
        hold_id=hold_id,
        hub=hub,
        account=account,
        kind=kind,
        gpu=gpu,
        charged=Decimal(charged),
        wh=None if wh is None else Decimal(wh),
        recorded=recorded,
    )


SESSIONS = [
    _s(1, "north", "ayesha", "gpu:h100", "10", "500"),
    _s(2, "north", "bilal", "gpu:h100", "20", "1500"),
    _s(3, "south", "ayesha", "gpu:a100", "6", "300"),
    _s(4, "south", "ayesha", "gpu:a100", "6", None),  # the node could not measure it
    _s(5, "south", "lab", "gpu:a100", "3", None, recorded=False, kind="project"),  # not yet
]


def _row(
    key: str, n: int, measured: int, unknown: int, wh: str, credits: str, cm: str, per: str | None
) -> EnergyRow:
    return EnergyRow(
        key, n, measured, unknown, Decimal(wh), Decimal(credits), Decimal(cm),
        None if per is None else Decimal(per),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("by", "rows"),
    [
        pytest.param(
            "hub",
            [
                _row("north", 2, 2, 0, "2000", "30", "30", "15"),
                _row("south", 3, 1, 1, "300", "15", "6", "20"),
            ],
            id="by-hub",
        ),
        pytest.param(
            "account",
            [
                _row("ayesha", 3, 2, 1, "800", "22", "16", "20"),
                _row("bilal", 1, 1, 0, "1500", "20", "20", "13.3333"),
                _row("lab", 1, 0, 0, "0", "3", "0", None),
            ],
            id="by-account-no-energy-no-ratio",
        ),
        pytest.param(
            "gpu",
            [
                _row("gpu:a100", 3, 1, 1, "300", "15", "6", "20"),
                _row("gpu:h100", 2, 2, 0, "2000", "30", "30", "15"),
            ],
            id="by-gpu-type",
        ),
        pytest.param(
            "kind",
            [
                _row("personal", 4, 3, 1, "2300", "42", "36", "15.6522"),
                _row("project", 1, 0, 0, "0", "3", "0", None),
            ],
            id="by-account-kind",
        ),
    ],
)
def test_energy_is_summed_by_group(by: str, rows: list[EnergyRow]) -> None:
    assert aggregate_energy(SESSIONS, by) == rows  # type: ignore[arg-type]


def test_a_row_counts_the_sessions_still_waiting_for_energy() -> None:
    (south,) = [row for row in aggregate_energy(SESSIONS, "hub") if row.key == "south"]
    assert (south.measured, south.unknown, south.pending) == (1, 1, 1)


def test_an_unknown_grouping_is_refused() -> None:
    with pytest.raises(ValueError, match="grouped by"):
        aggregate_energy(SESSIONS, "region")  # type: ignore[arg-type]


def _settled(ledger: Ledger, account: str, hub: str, resources: dict[str, int], job: str) -> int:
    hold = ledger.place_hold(account, hub, resources, "1", actor=account, job_id=job)
    ledger.settle(hold.id, {k: Decimal(v) / 2 for k, v in resources.items()}, actor="hub")
    return hold.id


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    for name in ("ayesha", "bilal"):
        ledger.ensure_personal_account(name, actor="test")
        ledger.grant(name, "1000", actor="test", idempotency_key=f"grant:{name}")
    return ledger


def test_energy_is_recorded_once_after_the_charge(funded: Ledger) -> None:
    hold_id = _settled(funded, "ayesha", "north", {"gpu:h100": 2}, "7")
    first = funded.record_energy(hold_id, Decimal("12.34567"), seconds=60, gpus=2, actor="r")
    assert first.wh == Decimal("12.3457")
    again = funded.record_energy(hold_id, Decimal("12.3457"), seconds=60, gpus=2, actor="r")
    assert again == first
    with pytest.raises(ConflictError):
        funded.record_energy(hold_id, Decimal("99"), seconds=60, gpus=2, actor="r")
    session = funded.session(hold_id)
    assert (session.energy_wh, session.energy_recorded, session.charged) == (
        Decimal("12.3457"),
        True,
        Decimal(10),
    )
    assert funded.check().ok


def test_unknown_energy_is_recorded_as_unknown_not_zero(funded: Ledger) -> None:
    hold_id = _settled(funded, "ayesha", "north", {"gpu:h100": 1}, "8")
    funded.record_energy(hold_id, None, seconds=60, gpus=1, actor="r")
    session = funded.session(hold_id)
    assert (session.energy_wh, session.energy_recorded) == (None, True)
    (row,) = funded.energy_report(START, START + timedelta(days=1), "hub")
    assert (row.wh, row.unknown, row.credits_per_kwh) == (Decimal(0), 1, None)


def test_energy_of_no_hold_and_negative_energy_are_refused(funded: Ledger) -> None:
    with pytest.raises(UnknownHoldError):
        funded.record_energy(999, Decimal(1), seconds=1, gpus=1, actor="r")
    hold_id = _settled(funded, "ayesha", "north", {"gpu:h100": 1}, "9")
    with pytest.raises(ValueError, match="never negative"):
        funded.record_energy(hold_id, Decimal(-1), seconds=1, gpus=1, actor="r")


def test_the_report_per_hub_is_the_sum_over_sessions(funded: Ledger, clock: FakeClock) -> None:
    figures = {
        ("ayesha", "north", "gpu:h100", "1"): Decimal("100.5"),
        ("bilal", "north", "mig:h100:1g.10gb", "2"): Decimal("7.25"),
        ("ayesha", "south", "gpu:a100", "3"): Decimal("40"),
        ("bilal", "south", "gpu:a100", "4"): Decimal("60.125"),
    }
    holds = {}
    for (user, hub, gpu, job), wh in figures.items():
        hold_id = _settled(funded, user, hub, {gpu: 1, "cpu": 2}, job)
        funded.record_energy(hold_id, wh, seconds=3600, gpus=1, actor="r")
        holds[hold_id] = (hub, wh)
    clock.advance(days=2)
    late = _settled(funded, "ayesha", "north", {"gpu:h100": 1}, "5")  # outside the period
    funded.record_energy(late, Decimal(1000), seconds=1, gpus=1, actor="r")
    rows = {row.key: row for row in funded.energy_report(START, START + timedelta(days=1), "hub")}
    for hub in ("north", "south"):
        assert rows[hub].wh == sum(wh for h, wh in holds.values() if h == hub)
        assert rows[hub].sessions == sum(1 for h, _ in holds.values() if h == hub)
        credits = sum(funded.session(i).charged or 0 for i, (h, _) in holds.items() if h == hub)
        assert rows[hub].credits == credits
    by_gpu = {row.key for row in funded.energy_report(START, START + timedelta(days=1), "gpu")}
    assert by_gpu == {"gpu:h100", "mig:h100:1g.10gb", "gpu:a100"}


def test_settled_sessions_without_energy_await_it(funded: Ledger, clock: FakeClock) -> None:
    old = _settled(funded, "ayesha", "north", {"gpu:h100": 1}, "1")
    clock.advance(days=2)
    waiting = _settled(funded, "ayesha", "north", {"gpu:h100": 1}, "2")
    done = _settled(funded, "bilal", "north", {"gpu:h100": 1}, "3")
    funded.record_energy(done, Decimal(1), seconds=1, gpus=1, actor="r")
    funded.place_hold("bilal", "north", {"gpu:h100": 1}, "1", actor="bilal", job_id="4")  # open
    awaiting = funded.holds_awaiting_energy(clock.now - timedelta(days=1))
    assert [(a.hold_id, a.job_id, a.user) for a in awaiting] == [(waiting, "2", "ayesha")]
    assert [a.hold_id for a in funded.holds_awaiting_energy(START)] == [old, waiting]
