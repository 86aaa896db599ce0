"""One squeue per hub per interval for every session: the board's timing and the parsing."""

from __future__ import annotations

import asyncio

import pytest

from computehub.spawners.accounting import parse_sacct, session_usage
from computehub.spawners.queueboard import Coalescer, QueueBoard, pending_positions
from computehub.spawners.slurmclient import (
    SlurmUnavailableError,
    parse_job,
    parse_snapshot,
    usages_of,
)


class VirtualTime:
    """A clock that moves only when the board sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class Queue:
    """What squeue would list: a number that changes with every read, counted."""

    def __init__(self, time: VirtualTime, takes_s: float = 0.05) -> None:
        self.time = time
        self.takes_s = takes_s
        self.reads: list[float] = []
        self.fail_with: Exception | None = None

    async def fetch(self) -> int:
        self.reads.append(self.time.now)
        await asyncio.sleep(0)
        self.time.now += self.takes_s
        if self.fail_with is not None:
            raise self.fail_with
        return len(self.reads)


def board(interval_s: float = 0.5) -> tuple[QueueBoard[int], Queue, VirtualTime]:
    time = VirtualTime()
    queue = Queue(time)
    return QueueBoard(queue.fetch, interval_s, time.clock, time.sleep), queue, time


POSITIONS = [
    ("none pending", [("1", "RUNNING", "gpu")], {}),
    ("in squeue's order", [("7", "PENDING", "gpu"), ("3", "PENDING", "gpu")], {"7": 1, "3": 2}),
    (
        "per partition",
        [("7", "PENDING", "gpu"), ("8", "PENDING", "cpu"), ("9", "PENDING", "gpu")],
        {"7": 1, "8": 1, "9": 2},
    ),
    (
        "running jobs take no place",
        [("7", "RUNNING", "gpu"), ("8", "PENDING", "gpu")],
        {"8": 1},
    ),
    (
        "a job in two partitions: its best place",
        [("7", "PENDING", "gpu"), ("8", "PENDING", "cpu,gpu")],
        {"7": 1, "8": 1},
    ),
]


@pytest.mark.parametrize(("why", "rows", "places"), POSITIONS, ids=[p[0] for p in POSITIONS])
def test_pending_positions(
    why: str, rows: list[tuple[str, str, str]], places: dict[str, int]
) -> None:
    assert pending_positions(rows) == places


def _line(job_id: str, state: str, partition: str = "gpu", name: str = "jupyterhub-l-1") -> str:
    fields = [job_id, state, "n1", "None", partition, "1:00:00", "alice", "1796393480"]
    fields += ["cpu=1,gres/gpu:h100=1", "gres/gpu:h100:1", "1", "1G", "OK", "0", "N/A", name]
    return "|".join(fields) + "|"


def test_a_snapshot_reads_each_job_as_the_single_job_query_does() -> None:
    lines = [
        _line("12", "RUNNING"),
        _line("13", "PENDING"),
        _line("14", "PENDING", name="a|name|with|bars"),
        "15|PENDING|cut",
        _line("16", "COMPLETED"),
    ]
    output = "\n".join(lines) + "\n"
    snapshot = parse_snapshot(output)
    assert set(snapshot.jobs) == {"12", "13", "14", "16"}
    for job_id in snapshot.jobs:
        assert snapshot.jobs[job_id] == parse_job(output, job_id)
    assert snapshot.jobs["14"].name == "a|name|with|bars"
    assert snapshot.positions == {"13": 1, "14": 2}


def test_a_job_name_forging_another_jobs_line_makes_that_id_unlisted() -> None:
    forged = _line("12", "RUNNING", name="jupyterhub-l-9").replace("n1", "evil")
    # The forger's job 30 is named "x" + a line break + a whole line for job 12.
    lines = [_line("12", "PENDING"), _line("30", "RUNNING", name="x\n" + forged[:-1])]
    snapshot = parse_snapshot("\n".join(lines) + "\n")
    assert "12" not in snapshot.jobs
    assert "12" not in snapshot.positions
    assert "30" not in snapshot.jobs  # its own line is cut: skipped
    alone = parse_snapshot(_line("12", "PENDING") + "\n")
    assert alone.jobs["12"].node == "n1"


async def test_a_class_polling_at_once_shares_one_read() -> None:
    reads, queue, time = board()
    submitted = time.now
    answers = await asyncio.gather(*(reads.get(not_before=submitted) for _ in range(300)))
    assert len(queue.reads) == 1
    assert answers == [1] * 300


async def test_reads_start_at_least_an_interval_apart() -> None:
    reads, queue, time = board(interval_s=0.5)
    for _ in range(20):  # every session asks for a listing newer than its own submission
        await asyncio.gather(*(reads.get(not_before=time.now) for _ in range(10)))
        time.now += 0.1
    gaps = [b - a for a, b in zip(queue.reads, queue.reads[1:], strict=False)]
    assert gaps
    assert min(gaps) >= 0.5 - 1e-9


async def test_a_fresh_enough_read_is_reused_and_a_stale_one_is_not() -> None:
    reads, queue, time = board(interval_s=0.5)
    assert await reads.get() == 1
    time.now += 0.2
    assert await reads.get() == 1  # no newer listing asked for: the last one serves
    assert len(queue.reads) == 1
    asked = time.now
    assert await reads.get(not_before=asked) == 2  # a job submitted since must show
    assert queue.reads[-1] >= asked
    time.now += 1.0
    assert await reads.get() == 3  # older than the interval
    assert len(queue.reads) == 3


async def test_a_thousand_running_sessions_polling_cost_one_read_per_poll_interval() -> None:
    """Periodic polls that accept a listing as old as the poll interval (30 s): 1,000
    sessions, each polled every 30 s at its own moment, over ten minutes."""
    reads, queue, time = board(interval_s=0.5)
    poll_s, sessions, minutes = 30.0, 1000, 10
    for tick in range(int(minutes * 60 / poll_s * sessions)):
        time.now = 100.0 + tick * poll_s / sessions  # one session's poll after another
        assert await reads.get(max_age=poll_s) >= 1
    assert len(queue.reads) <= minutes * 60 / poll_s + 1
    # Without max_age the same polls read every interval.
    eager, counted, clock = board(interval_s=0.5)
    for tick in range(int(60 / poll_s * sessions)):
        clock.now = 100.0 + tick * poll_s / sessions
        await eager.get()
    assert len(counted.reads) >= 100  # one a 0.5 s interval (plus the read itself)


async def test_an_old_listing_never_answers_a_caller_needing_a_newer_one() -> None:
    reads, queue, time = board(interval_s=0.5)
    assert await reads.get(max_age=30) == 1
    time.now += 10
    assert await reads.get(max_age=30) == 1  # ten seconds old: the poll takes it
    asked = time.now
    assert await reads.get(not_before=asked, max_age=30) == 2  # after a submission
    assert queue.reads[-1] >= asked
    time.now += 0.2
    assert await reads.get(max_age=0.1) == 2  # never fresher than the interval demands


async def test_a_caller_needing_a_newer_listing_waits_for_the_next_read() -> None:
    reads, queue, time = board(interval_s=0.5)
    first = asyncio.ensure_future(reads.get(not_before=time.now))
    for _ in range(3):  # the first read is in flight
        await asyncio.sleep(0)
    assert len(queue.reads) == 1
    later = time.now + 0.01
    time.now = later
    second = await reads.get(not_before=later)
    assert await first == 1
    assert second == 2
    assert queue.reads[1] >= later


async def test_an_unanswered_read_fails_every_caller_and_is_kept_an_interval() -> None:
    reads, queue, _ = board()
    queue.fail_with = SlurmUnavailableError("Socket timed out")
    results = await asyncio.gather(*(reads.get() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, SlurmUnavailableError) for r in results)
    with pytest.raises(SlurmUnavailableError):
        await reads.get()
    assert len(queue.reads) == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_read() -> None:
    reads, queue, time = board()
    leaving = asyncio.ensure_future(reads.get(not_before=time.now))
    staying = asyncio.ensure_future(reads.get(not_before=time.now))
    await asyncio.sleep(0)
    leaving.cancel()
    assert await staying == 1
    assert len(queue.reads) == 1


async def test_a_controller_check_takes_a_recent_answer_and_asks_again_after() -> None:
    reads, queue, time = board(interval_s=0.5)
    assert await reads.get() == 1
    time.now += 2.0  # older than the interval, younger than the check's 5 s
    assert await reads.answered_within(5.0) == 1
    assert len(queue.reads) == 1
    time.now += 4.0  # the last answer came 6 s ago: a read begun now
    asked = time.now
    assert await reads.answered_within(5.0) == 2
    assert queue.reads[-1] >= asked
    assert await reads.answered_within(0) == 3  # 0: never the last answer
    assert len(queue.reads) == 3


async def test_a_controller_check_gives_a_recent_failure_as_it_was() -> None:
    reads, queue, time = board(interval_s=0.5)
    queue.fail_with = SlurmUnavailableError("Socket timed out")
    with pytest.raises(SlurmUnavailableError):
        await reads.get()
    queue.fail_with = None  # answers again, but the last read (3 s ago) did not
    time.now += 3.0
    with pytest.raises(SlurmUnavailableError):
        await reads.answered_within(5.0)
    assert len(queue.reads) == 1
    time.now += 3.0
    assert await reads.answered_within(5.0) == 2


SACCT = "\n".join(
    [
        "7|COMPLETED|60|cpu=1,gres/gpu:h100=1|1002|bob|100|110|170|jupyterhub-l-1",
        "8|REQUEUED|5|cpu=1,gres/gpu:h100=1|1003|eve|100|101|106|jupyterhub-l-2",
        "8|COMPLETED|30|cpu=1,gres/gpu:h100=1|1003|eve|106|107|137|jupyterhub-l-2",
        "9|COMPLETED|30|cpu=1|1004|mallory|100|101|131|jupyterhub-l-3",
        "10|RUNNING|0|cpu=1|1004|carol|100|101||jupyterhub-l-4",
    ]
)


def test_many_sessions_read_from_one_listing_as_each_from_its_own() -> None:
    runs = parse_sacct(SACCT)
    sessions = [
        ("7", "jupyterhub-l-1", "bob"),
        ("8", "jupyterhub-l-2", "eve"),
        ("9", "jupyterhub-l-3", "carol"),  # another user's job: not the session's
        ("10", "jupyterhub-l-4", "carol"),
        ("11", "jupyterhub-l-5", "dave"),  # not in accounting yet
    ]
    found = usages_of(runs, sessions)
    for (job_id, name, user), usage in zip(sessions, found, strict=True):
        alone = [run for run in runs if run.job_id == job_id]
        assert usage == session_usage(alone, job_id=job_id, name=name, user=user, since=0)
    assert [u is not None and u.complete for u in found] == [True, True, False, False, False]
    assert found[1] is not None
    assert len(found[1].runs) == 2
    assert found[2] is None
    assert found[4] is None


class Accounting:
    """What sacct would answer: each key doubled, every batch recorded."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_with: Exception | None = None

    async def answer(self, keys: list[int]) -> list[int]:
        self.batches.append(keys)
        await asyncio.sleep(0.01)
        if self.fail_with is not None:
            raise self.fail_with
        return [key * 2 for key in keys]


async def test_sessions_ending_together_share_few_sacct_calls() -> None:
    accounting = Accounting()
    sacct = Coalescer(accounting.answer)
    answers = await asyncio.gather(*(sacct.get(n) for n in range(300)))
    assert answers == [n * 2 for n in range(300)]
    assert len(accounting.batches) <= 2  # the first at once, the rest together
    assert sorted(k for batch in accounting.batches for k in batch) == list(range(300))


async def test_a_lone_question_is_sent_at_once_and_alone() -> None:
    accounting = Accounting()
    sacct = Coalescer(accounting.answer)
    assert await sacct.get(7) == 14
    assert await sacct.get(8) == 16
    assert accounting.batches == [[7], [8]]


async def test_a_failed_batch_fails_its_callers_only() -> None:
    accounting = Accounting()
    sacct = Coalescer(accounting.answer)
    accounting.fail_with = SlurmUnavailableError("Socket timed out")
    results = await asyncio.gather(*(sacct.get(n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(r, SlurmUnavailableError) for r in results)
    accounting.fail_with = None
    assert await sacct.get(5) == 10


async def test_a_cancelled_caller_leaves_the_others_their_answers() -> None:
    accounting = Accounting()
    sacct = Coalescer(accounting.answer)
    leaving = asyncio.ensure_future(sacct.get(1))
    staying = asyncio.ensure_future(sacct.get(2))
    await asyncio.sleep(0)
    leaving.cancel()
    assert await staying == 4
