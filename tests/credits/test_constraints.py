"""The ledger's invariants are the database's: a raw write that breaks one fails.

Each CHECK constraint (and the triggers keeping a charge at most its hold) is shown
refusing an UPDATE or INSERT made with plain SQL, around the ledger, on SQLite and
PostgreSQL; and :meth:`Ledger.check` names each broken invariant on a ledger whose
constraint was taken away (as on a ledger that predates them).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import CheckConstraint, text
from sqlalchemy.exc import IntegrityError

from computehub.credits import models as m
from computehub.credits.ledger import Ledger
from tests.support.ledgers import DATABASES, RATES, FakeClock, proposal_for

#: (table, constraint, statement): the statement breaks the constraint on :func:`rows`.
CASES = [
    ("accounts", "ck_accounts_person_figures", "UPDATE accounts SET held = -1 WHERE name = 'p2'"),
    (
        "accounts",
        "ck_accounts_person_figures",
        "UPDATE accounts SET balance = held - 1 WHERE name = 'lab'",
    ),
    ("accounts", "ck_accounts_kind", "UPDATE accounts SET kind = 'bank' WHERE name = 'p2'"),
    (
        "accounts",
        "ck_accounts_system_holds_nothing",
        "UPDATE accounts SET held = 1 WHERE name = 'issuing:programme'",
    ),
    ("members", "ck_members_role", "UPDATE members SET role = 'boss'"),
    ("grants", "ck_grants_amount_positive", "UPDATE grants SET amount = 0"),
    (
        "lots",
        "ck_lots_reserved_within_remaining",
        "UPDATE lots SET reserved = remaining + 1 WHERE account_id = :lab",
    ),
    ("lots", "ck_lots_reserved_within_remaining", "UPDATE lots SET reserved = -1"),
    ("rates", "ck_rates_rate_not_negative", "UPDATE rates SET rate = -1"),
    ("holds", "ck_holds_status", "UPDATE holds SET status = 'paid' WHERE id = :open"),
    ("holds", "ck_holds_figures_not_negative", "UPDATE holds SET hours = -1 WHERE id = :open"),
    ("holds", "ck_holds_figures_not_negative", "UPDATE holds SET amount = -1 WHERE id = :open"),
    ("hold_resources", "ck_hold_resources_count_and_rate", "UPDATE hold_resources SET count = 0"),
    ("hold_resources", "ck_hold_resources_count_and_rate", "UPDATE hold_resources SET rate = -1"),
    (
        "hold_allocations",
        "ck_hold_allocations_amount_not_negative",
        "UPDATE hold_allocations SET amount = -1",
    ),
    (
        "transactions",
        "ck_transactions_kind",
        "UPDATE transactions SET kind = 'gift' WHERE kind = 'grant'",
    ),
    ("transactions", "ck_transactions_amount_not_negative", "UPDATE transactions SET amount = -1"),
    (
        "transactions",
        "ck_transactions_two_accounts",
        "UPDATE transactions SET credit_account_id = debit_account_id WHERE kind = 'transfer'",
    ),
    (
        "transactions",
        "ck_transactions_pending_kinds",
        "UPDATE transactions SET pending = :yes WHERE kind = 'grant'",
    ),
    (
        "transactions",
        "ck_transactions_pending_kinds",
        "UPDATE transactions SET pending = :no WHERE kind = 'hold'",
    ),
    (
        "transactions",
        "ck_transactions_hours",
        "UPDATE transactions SET hours = 10000 WHERE kind = 'grant'",
    ),
    (
        "transactions",
        "ck_transactions_hours",
        "UPDATE transactions SET hours = 0 WHERE kind = 'hold'",
    ),
    ("transfers", "ck_transfers_amount_positive", "UPDATE transfers SET amount = 0"),
    (
        "transfers",
        "ck_transfers_two_accounts",
        "UPDATE transfers SET to_account_id = from_account_id",
    ),
    # A charge under its hold, raised above its cost (still under the hold).
    ("charges", "ck_charges_capped_cost", "UPDATE charges SET amount = cost + 1 WHERE id = :under"),
    ("charges", "ck_charges_capped_cost", "UPDATE charges SET amount = -1 WHERE id = :under"),
    # The overran charge equals its hold (cost 10, hold 4): one credit more is over the hold.
    ("charges", m.CHARGE_WITHIN_HOLD, "UPDATE charges SET amount = amount + 1 WHERE id = :over"),
    ("holds", m.CHARGE_WITHIN_HOLD, "UPDATE holds SET amount = amount - 1 WHERE id = :over_hold"),
    (
        "charges",
        m.CHARGE_WITHIN_HOLD,
        "INSERT INTO charges (hold_id, transaction_id, account_id, hub, amount, cost, created_at)"
        " SELECT h.id, t.id, h.account_id, h.hub, h.amount + 1, h.amount + 1, h.created_at"
        " FROM holds h JOIN transactions t ON t.hold_id = h.id AND t.kind = 'hold'"
        " WHERE h.id = :open",
    ),
    ("usage", "ck_usage_figures_not_negative", "UPDATE usage SET hours = -1"),
    ("usage", "ck_usage_figures_not_negative", "UPDATE usage SET cost = -1"),
    ("courses", "ck_courses_title", "UPDATE courses SET title = ''"),
    ("courses", "ck_courses_term", "UPDATE courses SET ends_on = :early"),
    ("courses", "ck_courses_archived_by_whom", "UPDATE courses SET archived_by = 'op'"),
    ("courses", "ck_courses_archived_by_whom", "UPDATE courses SET archived_at = created_at"),
    ("members", "ck_members_role", "UPDATE members SET role = 'grader' WHERE role = 'ta'"),
    ("courses", "ck_courses_share", "UPDATE courses SET share = 'lottery'"),
    ("courses", "ck_courses_share", "UPDATE courses SET share = 'fixed', allowance = NULL"),
    ("courses", "ck_courses_share", "UPDATE courses SET share = 'equal', allowance = 10000"),
    (
        "courses",
        "ck_courses_allowance_positive",
        "UPDATE courses SET share = 'fixed', allowance = 0",
    ),
    ("courses", "ck_courses_weekly_cap_positive", "UPDATE courses SET weekly_cap = 0"),
    (
        "courses",
        "ck_courses_branch_of_repository",
        "UPDATE courses SET repository = NULL, branch = 'main'",
    ),
    (
        "course_allowances",
        "ck_course_allowances_allowance_positive",
        "UPDATE course_allowances SET allowance = -1",
    ),
    (
        "applications",
        "ck_applications_status",
        "UPDATE applications SET status = 'lost' WHERE status = 'submitted'",
    ),
    (
        "applications",
        "ck_applications_organisation_kind",
        "UPDATE applications SET organisation_kind = 'bank'",
    ),
    ("applications", "ck_applications_texts", "UPDATE applications SET title = ''"),
    ("applications", "ck_applications_figures", "UPDATE applications SET hours = 0"),
    ("applications", "ck_applications_period", "UPDATE applications SET ends_on = :early"),
    (
        "applications",
        "ck_applications_approved_figures",
        "UPDATE applications SET approved_amount = NULL WHERE status = 'approved'",
    ),
    (
        "applications",
        "ck_applications_approved_figures",
        "UPDATE applications SET approved_amount = 10000 WHERE status = 'rejected'",
    ),
    (
        "applications",
        "ck_applications_approved_grant",
        "UPDATE applications SET grant_id = NULL WHERE status = 'approved'",
    ),
    (
        "applications",
        "ck_applications_rejected_with_reason",
        "UPDATE applications SET reason = '' WHERE status = 'rejected'",
    ),
    (
        "applications",
        "ck_applications_decided_by_whom",
        "UPDATE applications SET decided_by = NULL WHERE status = 'rejected'",
    ),
    (
        "application_events",
        "ck_application_events_action",
        "UPDATE application_events SET action = 'bribe'",
    ),
    ("session_energy", "ck_session_energy_wh_not_negative", "UPDATE session_energy SET wh = -1"),
    (
        "session_energy",
        "ck_session_energy_figures_not_negative",
        "UPDATE session_energy SET seconds = -1",
    ),
    (
        "session_gpu_busy",
        "ck_session_gpu_busy_busy_hours_not_negative",
        "UPDATE session_gpu_busy SET busy_hours = -1",
    ),
]
_IDS = [f"{constraint}:{n}" for n, (_table, constraint, _sql) in enumerate(CASES)]


def rows(ledger: Ledger) -> dict[str, Any]:
    """A ledger with a row of every table, and the ids the statements name."""
    ledger.create_account("lab", "project", actor="op", owner="ana")
    ledger.create_account("p2", "project", actor="op")
    ledger.grant("lab", "100", actor="op")
    ledger.transfer("lab", "p2", "10", actor="ana")
    opened = ledger.place_hold("lab", "north", {"cpu": 2}, "4", actor="ana")
    under = ledger.place_hold("lab", "north", {"gpu:h100": 1, "cpu": 4}, "2", actor="ana")
    under_charge = ledger.settle(under.id, {"gpu:h100": "1", "cpu": "2"}, actor="spawner")
    over = ledger.place_hold("lab", "north", {"cpu": 2}, "4", actor="ana")
    over_charge = ledger.settle(over.id, {"cpu": "20"}, actor="spawner")
    ledger.record_energy(under.id, Decimal("12.5"), seconds=3600, gpus=1, actor="reconciler")
    ledger.record_gpu_busy(under.id, Decimal("0.75"), actor="hub")
    assert (under_charge.amount, under.amount) == (Decimal(11), Decimal(24))
    assert (over_charge.amount, over_charge.cost, over.amount) == (
        Decimal(4),
        Decimal(10),
        Decimal(4),
    )
    ledger.create_course("c1", "Course one", date(2026, 1, 5), date(2026, 6, 30), actor="op")
    ledger.add_member("c1", "tia", "ta", actor="op")
    ledger.add_member("c1", "sami", "student", actor="op")
    ledger.set_course_sharing("c1", share="fixed", allowance="10", weekly_cap="5", actor="op")
    ledger.set_student_allowance("c1", "sami", "20", actor="op")
    approved = ledger.submit_application("ana", proposal_for("flood", new_account=True))
    ledger.approve_application(approved.id, actor="op", hours="10")
    rejected = ledger.submit_application("ana", proposal_for("lab"))
    ledger.reject_application(rejected.id, "Out of the programme's scope.", actor="op")
    ledger.submit_application("ana", proposal_for("lab", hours="1"))
    assert ledger.check().differences == []
    with ledger.engine.connect() as connection:
        lab_id = connection.execute(text("SELECT id FROM accounts WHERE name = 'lab'")).scalar_one()
    return {
        "lab": lab_id,
        "open": opened.id,
        "under": under_charge.id,
        "over": over_charge.id,
        "over_hold": over.id,
        "yes": True,
        "no": False,
        "early": date(2025, 1, 1),
    }


@pytest.fixture(scope="module", params=DATABASES)
def populated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Ledger, dict[str, Any]]]:
    """One ledger of :func:`rows` per database, for statements that all fail."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('constraints') / 'ledger.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    with Ledger(url, clock=FakeClock()) as ledger:
        ledger.sync_rates(RATES, actor="site")
        yield ledger, rows(ledger)


@pytest.mark.parametrize(("table", "constraint", "statement"), CASES, ids=_IDS)
def test_a_raw_write_that_breaks_an_invariant_fails(
    populated: tuple[Ledger, dict[str, Any]], table: str, constraint: str, statement: str
) -> None:
    ledger, params = populated
    with pytest.raises(IntegrityError, match=constraint), ledger.engine.begin() as connection:
        connection.execute(text(statement), _used(statement, params))
    assert ledger.check().differences == []


@pytest.mark.parametrize(("table", "constraint", "statement"), CASES, ids=_IDS)
def test_check_names_each_broken_invariant(
    ledger: Ledger, table: str, constraint: str, statement: str
) -> None:
    """As on a ledger that predates the constraints (or had one dropped)."""
    params = rows(ledger)
    with ledger.engine.begin() as connection:
        _drop(connection, table, constraint)
        connection.execute(text(statement), _used(statement, params))
    differences = ledger.check().differences
    assert any(constraint in difference for difference in differences), differences


def test_system_accounts_may_go_negative(ledger: Ledger) -> None:
    rows(ledger)
    with ledger.engine.begin() as connection:
        connection.execute(
            text("UPDATE accounts SET balance = balance - 5 WHERE name = 'issuing:programme'")
        )
        connection.execute(text("UPDATE accounts SET balance = -7 WHERE name = 'revenue:north'"))


def test_every_declared_constraint_has_a_case() -> None:
    declared = {
        constraint.name
        for table in m.Base.metadata.sorted_tables
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    }
    assert declared | {m.CHARGE_WITHIN_HOLD} == {constraint for _t, constraint, _s in CASES}


def _used(statement: str, params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if f":{key}" in statement}


def _drop(connection: Any, table: str, constraint: str) -> None:
    """Take one invariant away on this database."""
    sqlite = connection.dialect.name == "sqlite"
    if constraint == m.CHARGE_WITHIN_HOLD:
        names = (
            ["ck_charges_within_hold_insert", "ck_charges_within_hold_update"]
            if table == "charges"
            else ["ck_holds_cover_their_charge"]
        )
        if not sqlite:
            names = ["ck_charges_within_hold" if table == "charges" else names[0]]
        for name in names:
            connection.execute(text(f"DROP TRIGGER {name}" + ("" if sqlite else f" ON {table}")))
    elif sqlite:
        # SQLite cannot drop one constraint without rebuilding the table.
        connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
    else:
        connection.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}"))
