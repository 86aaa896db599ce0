"""Statements over a real ledger add up exactly to its journal (SQLite and PostgreSQL).

Several sessions: plain, extended, culled by the GPU-idle rule, capped at its hold, with
energy recorded, with energy unknown, voided and still running. Each statement's lines
are compared with the journal's entries for that hold, read independently through the
account's history.
"""

from __future__ import annotations

from decimal import Decimal

from computehub.credits.ledger import Ledger
from computehub.credits.statement import Statement
from tests.support.ledgers import FakeClock

GPU = {"gpu:h100": 1, "cpu": 4}
IDLE_NOTE = (
    "Stopped by computehub: its GPUs were below 5 % use for 42 min (the limit is 30 min). "
    "That saved you 12.50 credits, returned to lab."
)


def _sessions(ledger: Ledger, clock: FakeClock) -> dict[str, int]:
    ledger.create_account("lab", "project", actor="op")
    ledger.grant("lab", "1000", actor="op")
    ids: dict[str, int] = {}
    plain = ledger.place_hold("lab", "north", GPU, "2", actor="ana").id
    ledger.attach_job(plain, "north", "101", actor="ana")
    clock.advance(hours=1)
    ledger.settle(plain, {"gpu:h100": "1.2345", "cpu": "4.938"}, actor="spawner")
    ids["plain"] = plain
    extended = ledger.place_hold("lab", "north", GPU, "1", actor="ana").id
    ledger.attach_job(extended, "north", "102", actor="ana")
    ledger.extend_hold(extended, "0.5", actor="ana")
    ledger.extend_hold(extended, "1.25", actor="ana")
    clock.advance(hours=2)
    ledger.settle(extended, {"gpu:h100": "2.5", "cpu": "10"}, actor="spawner")
    ledger.record_energy(extended, Decimal("812.5"), seconds=9000, gpus=1, actor="node")
    ids["extended"] = extended
    culled = ledger.place_hold("lab", "north", GPU, "4", actor="ana").id
    ledger.attach_job(culled, "north", "103", actor="ana")
    clock.advance(hours=1)
    ledger.settle(culled, {"gpu:h100": "0.75", "cpu": "3"}, actor="spawner")
    ledger.note_session_end(culled, IDLE_NOTE, actor="gpu-idle")
    ledger.record_energy(culled, None, seconds=2700, gpus=1, actor="node")
    ledger.record_gpu_busy(culled, Decimal("0.05"), actor="hub")
    ids["culled"] = culled
    capped = ledger.place_hold("lab", "north", {"mig:h100:1g.10gb": 2}, "1", actor="ana").id
    ledger.settle(capped, {"mig:h100:1g.10gb": "3.3333"}, actor="spawner")
    ids["capped"] = capped
    voided = ledger.place_hold("lab", "south", {"gpu:a100": 1}, "3", actor="ana").id
    ledger.void_hold(voided, "the start failed", actor="spawner")
    ids["voided"] = voided
    running = ledger.place_hold("lab", "south", {"gpu:a100": 2}, "1.5", actor="ana").id
    ids["running"] = running
    return ids


def _journal(ledger: Ledger, hold_id: int) -> dict[str, Decimal]:
    """Per kind, what the account's history says of the hold (read apart from statements)."""
    sums: dict[str, Decimal] = {}
    for entry in ledger.history("lab", limit=1000):
        if entry.hold_id == hold_id:
            sums[entry.kind] = sums.get(entry.kind, Decimal(0)) + entry.amount
    return sums


def _check(statement: Statement, journal: dict[str, Decimal]) -> None:
    held = journal.get("hold", Decimal(0)) + journal.get("extend", Decimal(0))
    charged = journal.get("charge", Decimal(0))
    released = journal.get("release", Decimal(0))
    assert statement.adds_up, statement.differences
    assert statement.held == held
    reserved = [line for line in statement.lines if line.kind in ("hold", "extend")]
    assert sum(line.amount for line in reserved) == held
    charge_lines = [line for line in statement.lines if line.kind in ("usage", "cap")]
    assert sum((line.amount for line in charge_lines), Decimal(0)) == charged
    back = [line for line in statement.lines if line.kind == "release"]
    assert sum((line.amount for line in back), Decimal(0)) == released
    if statement.status != "open":
        assert statement.charged == charged
        assert statement.returned == released
        assert held == charged + released


def test_statements_add_up_to_the_journal(ledger: Ledger, clock: FakeClock) -> None:
    ids = _sessions(ledger, clock)
    statements = ledger.statements(list(ids.values()))
    assert set(statements) == set(ids.values())
    for hold_id, statement in statements.items():
        _check(statement, _journal(ledger, hold_id))
    plain = statements[ids["plain"]]
    assert [line.kind for line in plain.lines] == ["hold", "usage", "usage", "release"]
    assert plain.job_id == "101"
    assert plain.charged == Decimal("14.8140")  # 1.2345 x 10 + 4.938 x 0.5 = 12.345 + 2.469
    assert plain.returned == Decimal("9.1860")  # a hold of 2 h x 12.00
    extended = statements[ids["extended"]]
    assert [line.kind for line in extended.lines][:3] == ["hold", "extend", "extend"]
    assert extended.held == Decimal("12.0") * Decimal("2.75")
    assert extended.hours_funded == Decimal("2.75")
    assert extended.energy_wh == Decimal("812.5")
    culled = statements[ids["culled"]]
    assert culled.gpu_idle_minutes == 42
    assert culled.end_note == IDLE_NOTE
    assert culled.energy_recorded
    assert culled.energy_wh is None
    assert culled.gpu_busy_hours == Decimal("0.05")
    assert plain.gpu_busy_hours is None  # its server never reported
    capped = statements[ids["capped"]]
    assert capped.usage_cost == Decimal("4.1666")  # 3.3333 x 1.25, rounded
    assert capped.charged == Decimal("2.5")
    assert capped.lines[-1].kind == "cap"
    assert capped.lines[-1].amount == Decimal("-1.6666")
    assert capped.returned == Decimal(0)
    voided = statements[ids["voided"]]
    assert voided.charged == Decimal(0)
    assert voided.returned == voided.held == Decimal(18)
    running = statements[ids["running"]]
    assert running.charged is None
    assert running.returned is None
    assert running.held == Decimal(18)


def test_account_statement_for_a_period(ledger: Ledger, clock: FakeClock) -> None:
    ids = _sessions(ledger, clock)
    everything = ledger.account_statement("lab")
    assert [row.hold_id for row in everything] == sorted(ids.values())
    first = ledger.statement(ids["plain"]).started_at
    later = ledger.statement(ids["culled"]).started_at
    period = ledger.account_statement("lab", since=first, until=later)
    assert [row.hold_id for row in period] == [ids["plain"], ids["extended"]]
    charged = sum((row.charged or Decimal(0) for row in everything), Decimal(0))
    assert charged == sum(
        (e.amount for e in ledger.history("lab", limit=1000) if e.kind == "charge"), Decimal(0)
    )
