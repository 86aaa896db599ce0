"""Holds name the JupyterHub server of their session (migration 0012); energy keeps its source."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from computehub.credits.ledger import Ledger
from computehub.credits.names import check_server_name
from tests.support.ledgers import START, FakeClock


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    """The ledger with alice and bob funded."""
    for name in ("alice", "bob"):
        ledger.ensure_personal_account(name, actor="test")
        ledger.grant(name, "1000", actor="test", idempotency_key=f"grant:{name}")
    return ledger


def _session(ledger: Ledger, user: str, job: str, server: str | None, clock: FakeClock) -> int:
    clock.advance(minutes=1)
    if server is None:  # the spawner of before 0012: no server named
        hold = ledger.place_hold(user, "north", {"gpu:h100": 1}, "1", actor=user)
    else:
        hold = ledger.place_hold(
            user, "north", {"gpu:h100": 1}, "1", actor=user, server_name=server
        )
    ledger.attach_job(hold.id, "north", job)
    return hold.id


def test_each_server_reads_its_own_session_and_a_person_the_latest(
    funded: Ledger, clock: FakeClock
) -> None:
    default = _session(funded, "alice", "11", "", clock)
    named = _session(funded, "alice", "12", "gpu-run", clock)
    _session(funded, "bob", "13", "gpu-run", clock)  # bob's server of the same name
    latest = funded.current_session("alice")
    assert latest is not None
    assert latest.hold.id == named
    mine = funded.current_session("alice", "gpu-run")
    assert mine is not None
    assert (mine.hold.id, mine.server_name) == (named, "gpu-run")
    first = funded.current_session("alice", "")
    assert first is not None
    assert (first.hold.id, first.server_name) == (default, "")
    assert funded.current_session("alice", "other") is None
    # The named server's session ends: it has none; the default server still has its own.
    funded.settle(named, {"gpu:h100": Decimal("0.5")}, actor="hub")
    assert funded.current_session("alice", "gpu-run") is None
    still = funded.current_session("alice", "")
    assert still is not None
    assert still.hold.id == default


def test_a_hold_placed_without_a_server_is_the_default_servers(
    funded: Ledger, clock: FakeClock
) -> None:
    hold_id = _session(funded, "alice", "21", None, clock)
    found = funded.current_session("alice", "")
    assert found is not None
    assert (found.hold.id, found.server_name) == (hold_id, "")
    assert funded.statement(hold_id).server_name == ""


def test_the_statement_and_sessions_name_the_server(funded: Ledger, clock: FakeClock) -> None:
    hold_id = _session(funded, "alice", "31", "gpu-run", clock)
    funded.settle(hold_id, {"gpu:h100": Decimal("0.5")}, actor="hub")
    statement = funded.statement(hold_id)
    assert (statement.server_name, statement.adds_up) == ("gpu-run", True)
    [row] = [s for s in funded.sessions("alice") if s.hold.id == hold_id]
    assert row.server_name == "gpu-run"


def test_simulated_energy_keeps_its_source(funded: Ledger, clock: FakeClock) -> None:
    real = _session(funded, "alice", "41", "", clock)
    fake = _session(funded, "bob", "42", "", clock)
    for hold_id in (real, fake):
        funded.settle(hold_id, {"gpu:h100": Decimal("0.5")}, actor="hub")
    funded.record_energy(real, Decimal("120"), seconds=1800, gpus=1, actor="reconciler")
    funded.record_energy(
        fake, Decimal("95"), seconds=1800, gpus=1, actor="reconciler", source="simulated"
    )
    assert (funded.statement(real).energy_source, funded.statement(real).energy_simulated) == (
        "nvml",
        False,
    )
    assert funded.statement(fake).energy_simulated
    [row] = [s for s in funded.sessions("bob") if s.hold.id == fake]
    assert row.energy_source == "simulated"
    [report] = funded.energy_report(START, START + timedelta(days=1), "hub")
    assert (report.measured, report.simulated) == (2, 1)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("", True),
        ("gpu-run", True),
        ("ڈیٹا", True),
        ("a" * 255, True),
        ("a" * 256, False),
        ("a/b", False),
        ("line\nbreak", False),
        ("tab\there", False),
    ],
)
def test_server_names_the_ledger_keeps(name: str, ok: bool) -> None:
    if ok:
        check_server_name(name)
    else:
        with pytest.raises(ValueError, match="bad server name"):
            check_server_name(name)
