"""Reconciliation decides from plain data: holds, queues, accounting. Tables, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from computehub.credits.records import Hold
from computehub.spawners.accounting import JobRun, JobUsage
from computehub.spawners.reconcile import (
    Attach,
    Cancel,
    HoldView,
    Settle,
    SettleOverdue,
    Void,
    plan,
    platform_jobs,
)
from computehub.spawners.slurmclient import QueuedJob

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=10)


def run(
    job_id: str = "7",
    hold_id: int = 1,
    complete: bool = True,
    hub: str = "lahore",
    state: str = "COMPLETED",
    started_min: float | None = None,
) -> JobRun:
    """A run submitted 29 minutes ago (started ``started_min`` minutes ago, if at all)."""
    return JobRun(
        job_id=job_id,
        name=f"jupyterhub-{hub}-{hold_id}",
        state=state,
        elapsed_s=600,
        gpus={"h100": 1},
        uid=1001 if complete else 0,
        submitted=int((NOW - timedelta(minutes=29)).timestamp()),
        ended=int((NOW - timedelta(minutes=5)).timestamp()) if complete else None,
        user="alice",
        started=(
            int((NOW - timedelta(minutes=started_min)).timestamp())
            if started_min is not None
            else None
        ),
    )


DONE = JobUsage((run(),))
NOT_FINAL = JobUsage((run(complete=False),))


def hold(
    hold_id: int,
    hub: str,
    job_id: str | None,
    age_min: int = 30,
    status: str = "open",
    cancel: bool = False,
    hours: str = "1",
) -> HoldView:
    created = NOW - timedelta(minutes=age_min)
    return HoldView(
        Hold(
            id=hold_id,
            account="alice",
            hub=hub,
            job_id=job_id,
            status=status,
            hours=Decimal(hours),
            amount=Decimal(10),
            per_hour=Decimal(10),
            resources={"gpu:h100": 1},
            rates={"gpu:h100": Decimal(10)},
            created_at=created,
            cancel_requested_at=created if cancel else None,
        ),
        user="alice",
    )


def job(
    job_id: str,
    hold_id: int | str,
    hub: str = "lahore",
    user: str = "alice",
    age_min: float = 29,
    state: str = "RUNNING",
    name: str | None = None,
    restarts: int = 0,
) -> QueuedJob:
    submitted = int((NOW - timedelta(minutes=age_min)).timestamp())
    return QueuedJob(
        job_id, name or f"jupyterhub-{hub}-{hold_id}", user, state, submitted, restarts
    )


def test_running_jobs_are_left_alone() -> None:
    h = hold(1, "lahore", "7")
    assert plan([h], {"lahore": [job("7", 1)]}, {}, NOW, GRACE) == []


def test_an_ended_job_is_settled_from_its_final_record() -> None:
    h = hold(1, "lahore", "7")
    assert plan([h], {"lahore": []}, {1: DONE}, NOW, GRACE) == [Settle(h.hold, DONE)]


def test_an_ended_job_without_final_record_waits() -> None:
    h = hold(1, "lahore", "7")
    assert plan([h], {"lahore": []}, {1: NOT_FINAL}, NOW, GRACE) == []
    assert plan([h], {"lahore": []}, {}, NOW, GRACE) == []
    assert plan([h], {"lahore": []}, {1: None}, NOW, GRACE) == []


def test_job_ids_are_per_hub() -> None:
    """Job 7 runs on karachi; lahore's job 7 has ended: only lahore's is settled."""
    lahore, karachi = hold(1, "lahore", "7"), hold(2, "karachi", "7")
    actions = plan(
        [lahore, karachi],
        {"lahore": [], "karachi": [job("7", 2, hub="karachi")]},
        {1: DONE},
        NOW,
        GRACE,
    )
    assert actions == [Settle(lahore.hold, DONE)]


def test_unreachable_hub_decides_nothing() -> None:
    holds = [hold(1, "lahore", "7"), hold(2, "lahore", None, age_min=60)]
    assert plan(holds, {}, {1: DONE, 2: None}, NOW, GRACE) == []


def test_a_hold_without_job_is_voided_once_nothing_ran_for_it() -> None:
    young, old = hold(1, "lahore", None, age_min=2), hold(2, "lahore", None, age_min=20)
    actions = plan([young, old], {"lahore": []}, {1: None, 2: None}, NOW, GRACE)
    assert actions == [Void(old.hold, "the start never reached Slurm")]


def test_a_start_that_gave_up_on_sbatch_is_voided_soon_if_no_job_appeared() -> None:
    """sbatch did not answer: the spawner asked for a cancel; no job came of it."""
    gave_up = hold(1, "lahore", None, age_min=3, cancel=True)
    assert plan([gave_up], {"lahore": []}, {1: None}, NOW, GRACE) == [
        Void(gave_up.hold, "the start never reached Slurm")
    ]
    fresh = HoldView(
        Hold(**{**gave_up.hold.__dict__, "cancel_requested_at": NOW - timedelta(seconds=20)}),
        "alice",
    )
    assert plan([fresh], {"lahore": []}, {1: None}, NOW, GRACE) == []


def test_a_hold_without_job_is_kept_while_accounting_is_unknown() -> None:
    """sacct failed (no entry): nothing is voided on a guess."""
    assert plan([hold(2, "lahore", None, age_min=20)], {"lahore": []}, {}, NOW, GRACE) == []


def test_a_job_found_by_name_for_a_hold_the_hub_never_completed() -> None:
    """The hub died between sbatch and recording the id: the named job is adopted, ended."""
    stalled = hold(3, "lahore", None, age_min=20)
    actions = plan([stalled], {"lahore": [job("9", 3, age_min=19)]}, {}, NOW, GRACE)
    assert actions == [
        Attach(stalled.hold, "9"),
        Cancel("lahore", "9", "its start never completed", 3),
    ]
    starting = hold(4, "lahore", None, age_min=1)
    assert plan([starting], {"lahore": [job("10", 4, age_min=0.5)]}, {}, NOW, GRACE) == []


def test_a_job_that_ran_and_ended_for_a_hold_without_id_is_recorded_and_settled() -> None:
    stalled = hold(1, "lahore", None, age_min=40)
    usage = JobUsage((run("11"),))
    actions = plan([stalled], {"lahore": []}, {1: usage}, NOW, GRACE)
    assert actions == [Attach(stalled.hold, "11"), Settle(stalled.hold, usage)]


def test_a_requested_cancel_is_carried_out_once_the_controller_answers() -> None:
    h = hold(1, "lahore", "7", cancel=True)
    assert plan([h], {}, {}, NOW, GRACE) == []  # controller down: nothing yet
    assert plan([h], {"lahore": [job("7", 1)]}, {}, NOW, GRACE) == [
        Cancel("lahore", "7", "the platform asked to end it", 1)
    ]
    assert plan([h], {"lahore": []}, {1: DONE}, NOW, GRACE) == [Settle(h.hold, DONE)]


def test_overdue_holds_are_charged_in_full_after_the_funded_time() -> None:
    h = hold(1, "lahore", "7", age_min=120, hours="1")
    long_gone = {1: NOW - timedelta(hours=2)}
    assert plan([h], {"lahore": []}, {1: NOT_FINAL}, NOW, GRACE, gone_since=long_gone) == [
        SettleOverdue(h.hold)
    ]
    assert plan([h], {"lahore": []}, {1: None}, NOW, GRACE, gone_since=long_gone) == [
        SettleOverdue(h.hold)
    ]
    just_gone = {1: NOW - timedelta(minutes=5)}
    assert plan([h], {"lahore": []}, {1: NOT_FINAL}, NOW, GRACE, gone_since=just_gone) == []
    funded = hold(2, "lahore", "8", age_min=120, hours="4")  # funded until NOW + 2 h
    assert (
        plan([funded], {"lahore": []}, {}, NOW, GRACE, gone_since={2: NOW - timedelta(hours=2)})
        == []
    )


def test_overdue_counts_from_the_runs_start_and_never_while_it_waits() -> None:
    """A 1 h session waited 3 h in the queue and started 30 minutes ago; squeue stopped
    listing it (finding 2): it is not overdue, whatever accounting says of it."""
    waited = hold(1, "lahore", "7", age_min=210, hours="1")
    gone = {1: NOW - timedelta(hours=2)}
    for record in (
        JobUsage((run(state="RUNNING", complete=False, started_min=30),)),
        JobUsage((run(complete=False, started_min=30),)),  # a record not filled in yet
        JobUsage((run(state="PENDING", complete=False),)),  # waits: never overdue
    ):
        assert plan([waited], {"lahore": []}, {1: record}, NOW, GRACE, gone_since=gone) == []
    stale = JobUsage((run(state="RUNNING", complete=False, started_min=80),))
    assert plan([waited], {"lahore": []}, {1: stale}, NOW, GRACE, gone_since=gone) == [
        SettleOverdue(waited.hold)
    ]


def test_jobs_no_open_hold_pays_for_are_cancelled() -> None:
    settled = hold(5, "lahore", "8", status="settled")
    voided = hold(6, "lahore", None, status="voided")
    paid = hold(1, "lahore", "7")
    actions = plan(
        [paid],
        {"lahore": [job("7", 1), job("8", 5), job("10", 6), job("12", 1)]},
        {},
        NOW,
        GRACE,
        closed=[settled, voided],
    )
    assert actions == [
        Cancel(
            "lahore",
            "12",
            "no open hold pays for it (a second job for hold 1, which pays for job 7)",
        ),
        Cancel("lahore", "8", "no open hold pays for it (its hold 5 is settled)"),
        Cancel("lahore", "10", "no open hold pays for it (its hold 6 is voided)"),
    ]


def test_a_job_for_a_closed_hold_or_a_second_job_is_cancelled_at_once() -> None:
    """No grace period: a job named for a voided hold (its user raced the portal for its
    ticket, and the portal's sbatch was refused) or a second job for a hold that recorded
    one is never the session's, however young (finding 3)."""
    voided = hold(5, "lahore", None, status="voided", age_min=3)
    paid = hold(1, "lahore", "7", age_min=3)
    queued = {
        "lahore": [job("7", 1, age_min=2), job("13", 5, age_min=1), job("14", 1, age_min=0.5)]
    }
    assert plan([paid], queued, {}, NOW, GRACE, closed=[voided]) == [
        Cancel(
            "lahore",
            "14",
            "no open hold pays for it (a second job for hold 1, which pays for job 7)",
        ),
        Cancel("lahore", "13", "no open hold pays for it (its hold 5 is voided)"),
    ]


def test_a_job_whose_start_may_still_record_it_is_left_alone() -> None:
    starting = hold(4, "lahore", None, age_min=1)
    assert plan([starting], {"lahore": [job("10", 4, age_min=0.5)]}, {}, NOW, GRACE) == []


def test_a_requeued_job_still_completing_its_run_is_cancelled_a_pass_later() -> None:
    """Cancelled while completing, a requeued job would get no accounting record of it."""
    h = hold(1, "lahore", "7")
    completing = job("7", 1, state="COMPLETING", restarts=1)
    assert plan([h], {"lahore": [completing]}, {}, NOW, GRACE) == []


def test_a_requeued_session_job_is_cancelled_with_an_alert() -> None:
    """An owner requeued it on an unguarded cluster (or an operator on a guarded one):
    it would run again on a fresh time limit (finding 1)."""
    h = hold(1, "lahore", "7")
    for requeued in (job("7", 1, state="PENDING", restarts=1), job("7", 1, state="REQUEUED")):
        assert plan([h], {"lahore": [requeued]}, {}, NOW, GRACE) == [
            Cancel(
                "lahore",
                "7",
                f"it was requeued ({requeued.restarts} restarts, {requeued.state}): it would "
                "run again on a fresh time limit",
                1,
                alert=True,
            )
        ]


OTHERS = [
    ("array job", job("123_[0-1]", 1), "not a plain id"),
    ("array element", job("123_4", 1), "not a plain id"),
    ("het job", job("125+0", 1), "not a plain id"),
    ("another user's", job("20", 1, user="bob"), "user"),
    ("another hub's name", job("21", 1, name="jupyterhub-karachi-1"), "hub"),
    ("no hold id", job("22", 1, name="jupyterhub-x"), "name"),
    ("an unknown hold", job("23", 99), "hold"),
    ("another job older than the hold", job("24", 1, age_min=45), "time"),
    ("id with spaces", job(" 25", 1), "not a plain id"),
]


@pytest.mark.parametrize(("case", "queued", "why"), OTHERS, ids=[c for c, _, _ in OTHERS])
def test_jobs_the_platform_did_not_submit_are_never_touched(
    case: str, queued: QueuedJob, why: str
) -> None:
    """bob's held array job named jupyterhub-x, a het job... change nothing, fail nothing."""
    open_hold = hold(1, "lahore", "7", age_min=30)
    closed = hold(2, "lahore", "9", status="settled")
    mine, foreign = platform_jobs("lahore", [queued], {1: open_hold, 2: closed})
    assert (mine, foreign) == ({}, [queued]), why
    actions = plan([open_hold], {"lahore": [queued]}, {1: DONE}, NOW, GRACE, closed=[closed])
    assert actions == [Settle(open_hold.hold, DONE)], case


def test_the_holds_own_job_is_its_own_whatever_the_clocks_say() -> None:
    """The controller's clock is 10 minutes behind (finding 5): job 7 seems submitted
    before its hold, but its id, name and user are the hold's."""
    h = hold(1, "lahore", "7", age_min=30)
    own = job("7", 1, age_min=40)
    mine, foreign = platform_jobs("lahore", [own], {1: h})
    assert (mine, foreign) == ({1: [own]}, [])
    assert plan([h], {"lahore": [own]}, {1: DONE}, NOW, GRACE) == []  # running: no settle


def test_a_pass_with_odd_jobs_still_settles_others() -> None:
    h = hold(1, "lahore", "7")
    odd = [job(j, 0, name="jupyterhub-x") for j in ("123_[0-1]", "125+0", "126+1", "abc")]
    assert plan([h], {"lahore": odd}, {1: DONE}, NOW, GRACE) == [Settle(h.hold, DONE)]


def test_a_reused_job_id_is_not_the_holds_job() -> None:
    """Hold 1 paid for an old job 7; today's job 7 is hold 3's: hold 1's job is gone.

    (Hold 3 could not record job 7 while hold 1 is open with it: a job id is unique
    among open holds.)
    """
    old = hold(1, "lahore", "7", age_min=600)
    new = hold(3, "lahore", None, age_min=5)
    queued = {"lahore": [job("7", 3, age_min=4)]}
    usage = JobUsage((run("7", hold_id=1),))
    assert plan([old, new], queued, {1: usage}, NOW, GRACE) == [Settle(old.hold, usage)]
