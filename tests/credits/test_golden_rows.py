"""The hold verbs write exactly these rows: golden rows, frozen from the code as it was.

``golden_scenario.run_scenario`` places, extends, settles and voids holds (with replays,
refusals and credit that expires during a hold) with a fixed clock, on SQLite and on
PostgreSQL. Every row of every table, and what each operation returned, must be the
literal data below: written here, never computed by the ledger (as kubespawner's
``tests/test_objects.py`` checks pod specs against literal dicts). The rows were frozen
from the two implementations the ledger had then (hand-written SQL on the driver's
cursor, and the ORM), which agreed; the one kept writes them still.
"""

from __future__ import annotations

from datetime import date

from computehub.credits.ledger import Ledger
from tests.support.golden_scenario import D, at, run_scenario, table_rows
from tests.support.ledgers import FakeClock

EXPIRED_AT_3H = "credit expired at 2026-01-01T15:00:00+00:00"
EXPIRED_AT_5H = "credit expired at 2026-01-01T17:00:00+00:00"
UNUSED = "unused part of the hold"

# Outcomes in the scenario's order: (what, id, ...) or (error class,).
OUTCOMES = [
    ("grant", 1, "lab", D("100")),
    ("grant", 2, "lab", D("30")),
    ("grant", 3, "lab", D("20")),
    ("grant", 4, "c1", D("40")),
    ("grant", 1, "lab", D("100")),
    ("ConflictError",),  # finding 13: the same key with another note (was: the grant)
    ("transfer", 1, D("15")),
    ("transfer", 1, D("15")),
    ("hold", 1, "open", D("2"), D("24")),
    ("hold", 1, "open", D("2"), D("24")),
    ("ConflictError",),  # finding 13: the same key for 3 hours (was: the 2-hour hold)
    ("ConflictError",),
    ("UnknownAccountError",),
    ("ConflictError",),
    ("UnknownRateError",),
    ("UnknownHoldError",),
    ("ConflictError",),
    ("UnknownHoldError",),
    ("hold", 1, "open", D("3"), D("36")),
    ("hold", 1, "open", D("3"), D("36")),
    ("ConflictError",),  # finding 13: the same key for 2 more hours (was: the hold)
    ("charge", 1, 1, D("18"), D("18"), D("18")),
    ("charge", 1, 1, D("18"), D("18"), D("18")),
    ("ConflictError",),  # finding 13: the same key with other usage (was: the charge)
    ("charge", 1, 1, D("18"), D("18"), D("18")),
    ("hold", 2, "open", D("4"), D("4")),
    ("ConflictError",),
    ("ConflictError",),
    ("charge", 2, 2, D("4"), D("10"), D("0")),
    ("ConflictError",),
    ("ConflictError",),
    ("hold", 3, "open", D("1"), D("10")),
    ("hold", 3, "voided", D("1"), D("10")),
    ("hold", 3, "voided", D("1"), D("10")),
    ("ConflictError",),
    ("InsufficientCreditError",),
    ("hold", 4, "open", D("2"), D("0.8")),
    ("hold", 5, "open", D("3"), D("6")),
    ("hold", 6, "open", D("1"), D("0.5")),
    ("charge", 3, 5, D("1"), D("1"), D("5")),
    ("charge", 4, 4, D("0.2"), D("0.2"), D("0.6")),
    ("balance", "c1", D("0"), D("0")),
    ("balance", "lab", D("120"), D("0.5")),
    ("balance", "sam", D("0"), D("0")),
    ("count", 0),
    # c1 archived: a grant into it, transfers out of and into it, a hold on it.
    ("ArchivedCourseError",),
    ("ArchivedCourseError",),
    ("ArchivedCourseError",),
    ("ArchivedCourseError",),
]
ROWS = {
    # account_id, title, starts_on, ends_on, created_at, created_by, archived_at, archived_by,
    # share, allowance, weekly_cap, repository, branch
    "courses": [
        (
            2,
            "Course one",
            date(2026, 1, 1),
            date(2026, 1, 31),
            at(6),
            "op",
            at(6),
            "op",
            None,
            None,
            None,
            None,
            None,
        ),
    ],
    # account_id, username, allowance, set_at, set_by
    "course_allowances": [],
    # The hold verbs write no application (tests/credits/test_applications.py has them).
    "applications": [],
    "application_events": [],
    # The hold verbs write no energy: it is recorded apart (tests/credits/test_energy.py).
    "session_energy": [],
    # Nor GPU-busy hours (tests/credits/test_gpu_busy.py).
    "session_gpu_busy": [],
    # id, name, kind, scope, balance, held, next_expiry_at, created_at, created_by
    "accounts": [
        (1, "lab", "project", None, D("120"), D("0.5"), at(240), at(0), "op"),
        (2, "c1", "course", None, D("0"), D("0"), None, at(0), "op"),
        (3, "sam", "personal", None, D("0"), D("0"), None, at(0), "op"),
        (4, "issuing:programme", "issuing", "programme", D("-100"), D("0"), None, at(0), "system"),
        (5, "issuing:early", "issuing", "early", D("-23"), D("0"), None, at(0), "system"),
        (6, "issuing:late", "issuing", "late", D("-20"), D("0"), None, at(0), "system"),
        (7, "issuing:term", "issuing", "term", D("-0.2"), D("0"), None, at(0), "system"),
        (8, "revenue:north", "revenue", "north", D("23"), D("0"), None, at(0), "system"),
        (9, "revenue:south", "revenue", "south", D("0.2"), D("0"), None, at(0), "system"),
    ],
    # id, username, issuer, subject, created_at, last_seen_at
    "identities": [],
    # id, hub, resource, rate, effective_at, recorded_by
    "rates": [
        (1, "north", "cpu", D("0.5"), at(0), "site"),
        (2, "north", "gpu:h100", D("10"), at(0), "site"),
        (3, "north", "mig:h100:1g.10gb", D("1.25"), at(0), "site"),
        (4, "south", "cpu", D("0.4"), at(0), "site"),
        (5, "south", "gpu:a100", D("6"), at(0), "site"),
    ],
    # id, account_id, issuing_account_id, amount, expires_at, note, created_at
    "grants": [
        (1, 1, 4, D("100"), None, "base", at(0)),
        (2, 1, 5, D("30"), at(5), "", at(0)),
        (3, 1, 6, D("20"), at(240), "", at(0)),
        (4, 2, 7, D("40"), at(3), "", at(0)),
    ],
    # id, account_id, hub, job_id, status, hours, amount, created_at, updated_at, created_by,
    # end_note, cancel_requested_at, server_name
    "holds": [
        (1, 1, "north", None, "settled", D("3"), D("36"), at(0), at(0), "ana", None, None, ""),
        (2, 1, "north", "j1", "settled", D("4"), D("4"), at(0), at(0), "ana", None, None, ""),
        (3, 1, "north", None, "voided", D("1"), D("10"), at(0), at(0), "ana", None, None, ""),
        (4, 3, "south", None, "settled", D("2"), D("0.8"), at(0), at(6), "sam", None, None, ""),
        (5, 1, "north", None, "settled", D("3"), D("6"), at(0), at(6), "ana", None, None, ""),
        (6, 1, "north", None, "open", D("1"), D("0.5"), at(6), at(6), "ana", None, None, ""),
    ],
    # id, account_id, username, role, added_at
    "members": [
        (1, 1, "ana", "owner", at(0)),
        (2, 2, "prof", "owner", at(0)),
        (3, 3, "sam", "owner", at(0)),
    ],
    # hold_id, resource, count, rate
    "hold_resources": [
        (1, "cpu", 4, D("0.5")),
        (1, "gpu:h100", 1, D("10")),
        (2, "cpu", 2, D("0.5")),
        (3, "gpu:h100", 1, D("10")),
        (4, "cpu", 1, D("0.4")),
        (5, "cpu", 4, D("0.5")),
        (6, "cpu", 1, D("0.5")),
    ],
    # id, account_id, grant_id, issuing_account_id, expires_at, remaining, reserved
    "lots": [
        (1, 1, 1, 4, None, D("100"), D("0")),
        (2, 1, 2, 5, at(5), D("0"), D("0")),
        (3, 1, 3, 6, at(240), D("20"), D("0.5")),
        (4, 2, 4, 7, at(3), D("0"), D("0")),
        (5, 3, 4, 7, at(3), D("0"), D("0")),
    ],
    # id, kind, pending, debit_account_id, credit_account_id, amount, hold_id, grant_id, actor,
    # reason, created_at, idempotency_key, hours (finding 13: what a hold or extension reserved)
    "transactions": [
        (1, "grant", False, 4, 1, D("100"), None, 1, "op", "base", at(0), "g1", None),
        (2, "grant", False, 5, 1, D("30"), None, 2, "op", "", at(0), None, None),
        (3, "grant", False, 6, 1, D("20"), None, 3, "op", "", at(0), None, None),
        (4, "grant", False, 7, 2, D("40"), None, 4, "op", "", at(0), None, None),
        (5, "transfer", False, 2, 3, D("15"), None, None, "prof", "wk1", at(0), "t1", None),
        (6, "hold", True, 1, 8, D("24"), 1, None, "ana", "2.0000 h on north", at(0), "h1", D("2")),
        (7, "extend", True, 1, 8, D("12"), 1, None, "ana", "+1.0000 h", at(0), "e1", D("1")),
        (8, "charge", False, 1, 8, D("18"), 1, None, "spawner", "", at(0), "s1", None),
        (9, "release", True, 1, 8, D("18"), 1, None, "spawner", UNUSED, at(0), None, None),
        (10, "hold", True, 1, 8, D("4"), 2, None, "ana", "4.0000 h on north", at(0), "h2", D("4")),
        (11, "charge", False, 1, 8, D("4"), 2, None, "spawner", "overran", at(0), None, None),
        (12, "hold", True, 1, 8, D("10"), 3, None, "ana", "1.0000 h on north", at(0), None, D("1")),
        (
            13,
            "release",
            True,
            1,
            8,
            D("10"),
            3,
            None,
            "spawner",
            "sbatch failed",
            at(0),
            "v3",
            None,
        ),
        (
            14,
            "hold",
            True,
            3,
            9,
            D("0.8"),
            4,
            None,
            "sam",
            "2.0000 h on south",
            at(0),
            None,
            D("2"),
        ),
        (15, "hold", True, 1, 8, D("6"), 5, None, "ana", "3.0000 h on north", at(0), None, D("3")),
        (16, "expiry", False, 1, 5, D("2"), None, 2, "ana", EXPIRED_AT_5H, at(6), None, None),
        (
            17,
            "hold",
            True,
            1,
            8,
            D("0.5"),
            6,
            None,
            "ana",
            "1.0000 h on north",
            at(6),
            None,
            D("1"),
        ),
        (18, "charge", False, 1, 8, D("1"), 5, None, "spawner", "", at(6), None, None),
        (19, "release", True, 1, 8, D("5"), 5, None, "spawner", UNUSED, at(6), None, None),
        (20, "expiry", False, 1, 5, D("5"), None, 2, "spawner", EXPIRED_AT_5H, at(6), None, None),
        (
            21,
            "expiry",
            False,
            3,
            7,
            D("14.2"),
            None,
            4,
            "spawner",
            EXPIRED_AT_3H,
            at(6),
            None,
            None,
        ),
        (22, "charge", False, 3, 9, D("0.2"), 4, None, "spawner", "", at(6), None, None),
        (23, "release", True, 3, 9, D("0.6"), 4, None, "spawner", UNUSED, at(6), None, None),
        (24, "expiry", False, 3, 7, D("0.6"), None, 4, "spawner", EXPIRED_AT_3H, at(6), None, None),
        (25, "expiry", False, 2, 7, D("25"), None, 4, "system", EXPIRED_AT_3H, at(6), None, None),
    ],
    # id, hold_id, transaction_id, account_id, hub, amount, cost, created_at
    "charges": [
        (1, 1, 8, 1, "north", D("18"), D("18"), at(0)),
        (2, 2, 11, 1, "north", D("4"), D("10"), at(0)),
        (3, 5, 18, 1, "north", D("1"), D("1"), at(6)),
        (4, 4, 22, 3, "south", D("0.2"), D("0.2"), at(6)),
    ],
    # hold_id, lot_id, amount
    "hold_allocations": [
        (1, 2, D("30")),
        (1, 3, D("6")),
        (2, 2, D("4")),
        (3, 2, D("8")),
        (3, 3, D("2")),
        (4, 5, D("0.8")),
        (5, 2, D("6")),
        (6, 3, D("0.5")),
    ],
    # id, transaction_id, from_account_id, to_account_id, amount, created_at
    "transfers": [
        (1, 5, 2, 3, D("15"), at(0)),
    ],
    # charge_id, resource, hours, rate, cost
    "usage": [
        (1, "cpu", D("6"), D("0.5"), D("3")),
        (1, "gpu:h100", D("1.5"), D("10"), D("15")),
        (2, "cpu", D("20"), D("0.5"), D("10")),
        (3, "cpu", D("2"), D("0.5"), D("1")),
        (4, "cpu", D("0.5"), D("0.4"), D("0.2")),
    ],
}


def test_the_hold_verbs_write_the_golden_rows(db_url: str) -> None:
    clock = FakeClock()
    with Ledger(db_url, clock=clock) as ledger:
        assert run_scenario(ledger, clock) == OUTCOMES
        rows = table_rows(ledger)
        assert ledger.check().differences == []
    for table, expected in ROWS.items():
        assert rows.pop(table) == expected, table
    assert rows == {}, "a table without golden rows"
