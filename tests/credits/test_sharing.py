"""A course's pool shared fairly: equal shares, allowances, weekly caps, checked at the hold.

Each rule is checked where a session starts, inside the hold's transaction: a hold
that would pass a student's limit is refused with the limit and its reset, and the
ledger is left as it was. Use is counted from the journal (open holds, charges).
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from computehub.credits.errors import (
    ConflictError,
    CourseShareError,
    InsufficientCreditError,
    UnknownCourseError,
)
from computehub.credits.ledger import Ledger
from computehub.credits.roster import parse_roster
from computehub.credits.sharing import week_of
from tests.support.golden_scenario import table_rows
from tests.support.ledgers import START, FakeClock

TERM = (date(2025, 12, 1), date(2026, 6, 30))
#: 4 CPUs for 2 hours at 0.5 credits/hour on ``north``: 4 credits.
FOUR = ({"cpu": 4}, "2")
#: START is Thursday 2026-01-01 12:00 UTC; its week ends on Monday 2026-01-05 00:00 UTC.
NEXT_MONDAY = datetime(2026, 1, 5, tzinfo=UTC)


def _course(ledger: Ledger, students: str = "sami,student\nsara,student\n") -> None:
    ledger.create_course("ml-101", "Machine learning", *TERM, actor="op", owner="prof")
    ledger.apply_course_roster(
        "ml-101", parse_roster(f"ines,instructor\ntia,ta\n{students}"), actor="op"
    )
    ledger.grant("ml-101", "100", actor="op")


def _hold(ledger: Ledger, who: str, resources: dict[str, int] = FOUR[0], hours: str = "2") -> int:
    return ledger.place_hold("ml-101", "north", resources, hours, actor=who).id


def test_the_week_runs_monday_to_monday_utc() -> None:
    assert week_of(START) == (datetime(2025, 12, 29, tzinfo=UTC), NEXT_MONDAY)
    assert week_of(NEXT_MONDAY) == (NEXT_MONDAY, datetime(2026, 1, 12, tzinfo=UTC))


def test_a_weekly_cap_counts_open_holds_and_the_weeks_charges(
    ledger: Ledger, clock: FakeClock
) -> None:
    _course(ledger)
    ledger.set_course_sharing("ml-101", weekly_cap="10", actor="ines")
    first = _hold(ledger, "sami")  # 4 held
    ledger.settle(first, {"cpu": "6"}, actor="spawner")  # 3 charged
    _hold(ledger, "sami")  # 4 held: 7 used
    before = table_rows(ledger)
    with pytest.raises(CourseShareError) as refused:
        _hold(ledger, "sami")  # 4 more would make 11
    err = refused.value
    assert (err.kind, err.limit, err.used, err.requested, err.left) == (
        "weekly cap",
        Decimal(10),
        Decimal(7),
        Decimal(4),
        Decimal(3),
    )
    assert err.resets_at == NEXT_MONDAY
    assert "resets at 2026-01-05T00:00:00+00:00" in str(err)
    assert table_rows(ledger) == before  # nothing written
    # What the student may still use is what the hold checks.
    share = ledger.course_share("ml-101", "sami")
    assert share is not None
    assert share.left == Decimal(3)
    assert share.binding is not None
    assert share.binding.resets_at == NEXT_MONDAY
    # 3 credits still fit; another student, and the course's staff, have their own room.
    _hold(ledger, "sami", {"cpu": 3}, "2")
    _hold(ledger, "sara")
    _hold(ledger, "ines", {"cpu": 10}, "4")
    # A new week: last week's charges no longer count, open holds still do.
    clock.now = NEXT_MONDAY
    share = ledger.course_share("ml-101", "sami")
    assert share is not None
    assert share.left == Decimal(3)
    _hold(ledger, "sami", {"cpu": 3}, "2")
    assert ledger.check().differences == []


def test_an_equal_share_is_the_pool_divided_among_the_students_now(ledger: Ledger) -> None:
    _course(ledger)
    ledger.set_course_sharing("ml-101", share="equal", actor="ines")
    held = _hold(ledger, "sami", {"cpu": 10}, "8")  # 40 of a 50 share
    ledger.settle(held, {"cpu": "60"}, actor="spawner")  # 30 charged: the pool has 70
    share = ledger.course_share("ml-101", "sami")
    assert share is not None
    assert [(x.kind, x.limit, x.used, x.left) for x in share.limits] == [
        ("equal share", Decimal(50), Decimal(30), Decimal(20))
    ]
    # A late joiner: the pool as funded (70 + 30 charged) over 4 students is 25 each.
    ledger.add_member("ml-101", "lea", "student", actor="ines")
    ledger.add_member("ml-101", "leo", "student", actor="ines")
    late = ledger.course_share("ml-101", "lea")
    assert late is not None
    assert late.left == Decimal(25)
    with pytest.raises(CourseShareError, match="equal share of 25 credits") as refused:
        _hold(ledger, "sami", {"cpu": 10}, "2")  # 10 more: 40 > 25
    assert refused.value.resets_at is None
    assert "lasts the term, to 2026-06-30" in str(refused.value)
    _hold(ledger, "lea", {"cpu": 10}, "5")  # 25: exactly her share
    with pytest.raises(CourseShareError):
        _hold(ledger, "lea", {"cpu": 1}, "2")
    assert ledger.check().differences == []


def test_an_allowance_can_be_raised_for_one_student(ledger: Ledger) -> None:
    _course(ledger)
    sharing = ledger.set_course_sharing(
        "ml-101", share="fixed", allowance="6", weekly_cap="20", actor="ines"
    )
    assert (sharing.share, sharing.allowance, sharing.weekly_cap) == (
        "fixed",
        Decimal(6),
        Decimal(20),
    )
    _hold(ledger, "sami")
    with pytest.raises(CourseShareError, match="allowance of 6 credits"):
        _hold(ledger, "sami")
    sharing = ledger.set_student_allowance("ml-101", "sami", "12", actor="ines")
    assert sharing.students == {"sami": Decimal(12)}
    assert ledger.course("ml-101").sharing == sharing
    _hold(ledger, "sami")  # 8 of 12
    with pytest.raises(CourseShareError, match="allowance of 12"):
        _hold(ledger, "sami", {"cpu": 5}, "2")
    with pytest.raises(CourseShareError, match="allowance of 6"):  # sara keeps the course's
        _hold(ledger, "sara", {"cpu": 7}, "2")
    # Taken back: the course's allowance again.
    ledger.set_student_allowance("ml-101", "sami", None, actor="ines")
    share = ledger.course_share("ml-101", "sami")
    assert share is not None
    assert [x.left for x in share.limits] == [Decimal(0), Decimal(12)]


def test_the_pool_itself_still_limits_everyone(ledger: Ledger) -> None:
    _course(ledger)
    ledger.set_course_sharing("ml-101", share="fixed", allowance="500", actor="op")
    with pytest.raises(InsufficientCreditError):
        _hold(ledger, "sami", {"gpu:h100": 1}, "11")  # 110 > the pool's 100


def test_who_is_limited(ledger: Ledger) -> None:
    _course(ledger)
    assert ledger.course_share("ml-101", "sami") is not None
    assert ledger.course_share("ml-101", "sami").limits == ()  # type: ignore[union-attr]
    ledger.set_course_sharing("ml-101", weekly_cap="1", actor="op")
    for staff in ("prof", "ines", "tia"):
        found = ledger.course_share("ml-101", staff)
        assert found is not None
        assert found.limits == ()
    ledger.create_account("lab", "project", actor="op", owner="ana")
    assert ledger.course_share("lab", "ana") is None
    assert ledger.course_share("nowhere", "ana") is None


def test_a_sharing_that_makes_no_sense_is_refused(ledger: Ledger) -> None:
    _course(ledger)
    with pytest.raises(ValueError, match="needs an allowance"):
        ledger.set_course_sharing("ml-101", share="fixed", actor="op")
    with pytest.raises(ValueError, match="needs an allowance"):
        ledger.set_course_sharing("ml-101", share="equal", allowance="5", actor="op")
    with pytest.raises(ValueError, match="one of equal, fixed"):
        ledger.set_course_sharing("ml-101", share="lottery", actor="op")
    with pytest.raises(ValueError, match="amount"):
        ledger.set_course_sharing("ml-101", weekly_cap="-1", actor="op")
    with pytest.raises(ConflictError, match="not a student"):
        ledger.set_student_allowance("ml-101", "tia", "5", actor="op")
    with pytest.raises(UnknownCourseError):
        ledger.set_course_sharing("nowhere", weekly_cap="1", actor="op")
    ledger.archive_course("ml-101", actor="op")
    with pytest.raises(ConflictError, match="archived"):
        ledger.set_course_sharing("ml-101", weekly_cap="1", actor="op")
    assert not ledger.course("ml-101").sharing.limited


def test_two_starts_at_the_cap_cannot_both_pass(ledger: Ledger) -> None:
    """Many starts at once by one student: exactly what the cap funds is held."""
    _course(ledger)
    ledger.set_course_sharing("ml-101", weekly_cap="10", actor="ines")  # 10 holds of 1
    attempts = 40
    barrier = threading.Barrier(8)

    def attempt(n: int) -> str:
        if n < 8:
            barrier.wait()
        try:
            ledger.place_hold("ml-101", "north", {"cpu": 1}, "2", actor="sami")
        except CourseShareError as refused:
            return "refused" if refused.used <= refused.limit else "over"
        return "ok"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = Counter(pool.map(attempt, range(attempts)))
    assert outcomes == Counter({"ok": 10, "refused": attempts - 10})
    assert ledger.balance("ml-101").held == 10
    assert ledger.check().differences == []


def test_an_extension_is_checked_against_the_share_of_who_placed_the_hold(
    ledger: Ledger,
) -> None:
    """Extending a running session counts like a start: within the placer's limits."""
    _course(ledger)
    ledger.set_course_sharing("ml-101", weekly_cap="10", actor="ines")
    held = _hold(ledger, "sami")  # 4 held (2 credits an hour)
    ledger.extend_hold(held, "2", actor="sami")  # 4 more: 8 used
    before = table_rows(ledger)
    with pytest.raises(CourseShareError) as refused:
        ledger.extend_hold(held, "2", actor="sami")  # 4 more would make 12
    err = refused.value
    assert (err.username, err.kind, err.limit, err.used, err.requested, err.left) == (
        "sami",
        "weekly cap",
        Decimal(10),
        Decimal(8),
        Decimal(4),
        Decimal(2),
    )
    assert err.resets_at == NEXT_MONDAY
    assert table_rows(ledger) == before  # nothing written
    # Whoever asks (an operator's tool), the share is the placer's.
    with pytest.raises(CourseShareError):
        ledger.extend_hold(held, "2", actor="op")
    # What is left of the cap still extends; the staff's sessions are not limited.
    ledger.extend_hold(held, "1", actor="sami")  # 2 more: exactly 10
    staff = _hold(ledger, "ines", {"cpu": 10}, "4")
    ledger.extend_hold(staff, "4", actor="ines")
    assert ledger.course_share("ml-101", "sami").left == Decimal(0)  # type: ignore[union-attr]
    assert ledger.check().differences == []
