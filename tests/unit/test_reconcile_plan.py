"""Reconciliation decides from plain data: holds, queues, accounting. Tables, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from computehub.credits.records import Hold
from computehub.spawners.accounting import JobUsage
from computehub.spawners.reconcile import Cancel, Settle, Void, plan

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=10)
DONE = JobUsage("COMPLETED", 600, {"h100": 1}, complete=True)
NOT_FINAL = JobUsage("COMPLETED", 0, {}, complete=False)


def hold(hold_id: int, hub: str, job_id: str | None, age_min: int = 30) -> Hold:
    return Hold(
        id=hold_id,
        account="alice",
        hub=hub,
        job_id=job_id,
        status="open",
        hours=Decimal(1),
        amount=Decimal(10),
        per_hour=Decimal(10),
        resources={"gpu:h100": 1},
        rates={"gpu:h100": Decimal(10)},
        created_at=NOW - timedelta(minutes=age_min),
    )


OLD = NOW - timedelta(hours=1)


def queue(*job_ids: str, at: datetime = OLD) -> dict[str, datetime]:
    return dict.fromkeys(job_ids, at)


def test_running_jobs_are_left_alone() -> None:
    assert plan([hold(1, "lahore", "7")], {"lahore": queue("7")}, {}, NOW, GRACE) == []


def test_an_ended_job_is_settled_from_its_final_record() -> None:
    h = hold(1, "lahore", "7")
    assert plan([h], {"lahore": queue()}, {("lahore", "7"): DONE}, NOW, GRACE) == [Settle(h, DONE)]


def test_an_ended_job_without_final_record_waits() -> None:
    h = hold(1, "lahore", "7")
    assert plan([h], {"lahore": queue()}, {("lahore", "7"): NOT_FINAL}, NOW, GRACE) == []
    assert plan([h], {"lahore": queue()}, {}, NOW, GRACE) == []


def test_job_ids_are_per_hub() -> None:
    """Job 7 runs on karachi; lahore's job 7 has ended: only lahore's is settled."""
    lahore, karachi = hold(1, "lahore", "7"), hold(2, "karachi", "7")
    actions = plan(
        [lahore, karachi],
        {"lahore": queue(), "karachi": queue("7")},
        {("lahore", "7"): DONE},
        NOW,
        GRACE,
    )
    assert actions == [Settle(lahore, DONE)]


def test_unreachable_hub_decides_nothing() -> None:
    assert (
        plan([hold(1, "lahore", "7"), hold(2, "lahore", None, age_min=60)], {}, {}, NOW, GRACE)
        == []
    )


def test_a_hold_without_job_is_voided_after_the_grace_period() -> None:
    young, old = hold(1, "lahore", None, age_min=2), hold(2, "lahore", None, age_min=20)
    actions = plan([young, old], {"lahore": queue()}, {}, NOW, GRACE)
    assert actions == [Void(old, "the start never reached Slurm")]


def test_jobs_nobody_pays_for_are_cancelled() -> None:
    actions = plan(
        [hold(1, "lahore", "7")],
        {"lahore": queue("7", "8", "10"), "karachi": queue("7")},
        {},
        NOW,
        GRACE,
    )
    assert actions == [Cancel("lahore", "8"), Cancel("lahore", "10"), Cancel("karachi", "7")]


def test_a_job_just_submitted_is_not_an_orphan_yet() -> None:
    """The spawner submits, then records the job id: a fresh job may have no hold yet."""
    fresh = {"lahore": {"8": NOW - timedelta(seconds=5)}}
    assert plan([hold(1, "lahore", None, age_min=0)], fresh, {}, NOW, GRACE) == []
