"""One ``squeue`` per hub per interval, shared by every session of the hub.

batchspawner asks Slurm about each session on its own (``squeue -j ID`` at every poll
of every server, and again every ``startup_poll_interval`` while one starts), so the
controller's load grows with the number of sessions. computehub instead reads the
whole queue of a hub at most once per interval (``squeue -h -t all -O ...``, one
line a job) and answers every session's question from that listing: its state, node,
allocation, and its place among the pending jobs of its partition.

:class:`QueueBoard` decides when to read, without knowing what is read: a caller may
ask for a listing taken *after* a moment (a job submitted or cancelled since then must
show), and waits for the next read when the last one is older; callers that need the
same read share it; reads start at least ``interval_s`` apart. :func:`parse_snapshot`
turns squeue's lines into a :class:`QueueSnapshot`. :class:`Coalescer` does the same
for accounting: sessions that end together (a stop storm) share ``sacct`` calls. None
of them does I/O of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

#: squeue states of a job that waits to run (its place in the queue is shown).
PENDING_STATES = frozenset({"PENDING", "CONFIGURING"})


@dataclass(frozen=True)
class QueueSnapshot(Generic[T]):
    """A hub's queue at one moment: each job by id, and each pending job's place.

    Attributes:
        jobs: every job squeue listed, by its id as printed.
        positions: for each pending job, its 1-based place among the pending jobs of
            its partition, in squeue's order (priority, then id).
    """

    jobs: Mapping[str, T] = field(default_factory=dict)
    positions: Mapping[str, int] = field(default_factory=dict)


def pending_positions(rows: Sequence[tuple[str, str, str]]) -> dict[str, int]:
    """Places of the pending jobs among their partition's, from ``(id, state, partition)``.

    ``rows`` come in squeue's ``--sort=-p,i`` order (highest priority first). A job
    that may run in several partitions (``a,b``) counts in each; its place is the
    best of them.

    >>> pending_positions([("7", "PENDING", "gpu"), ("8", "RUNNING", "gpu"),
    ...                    ("9", "PENDING", "gpu"), ("10", "PENDING", "cpu")])
    {'7': 1, '9': 2, '10': 1}
    """
    seen: dict[str, int] = {}
    places: dict[str, int] = {}
    for job_id, state, partitions in rows:
        if state not in PENDING_STATES:
            continue
        for partition in partitions.split(","):
            seen[partition] = seen.get(partition, 0) + 1
            places[job_id] = min(places.get(job_id, seen[partition]), seen[partition])
    return places


@dataclass(frozen=True)
class _Read(Generic[T]):
    """One read of the queue: when it started and ended, what it gave (or why it failed)."""

    started: float
    value: T | None = None
    error: BaseException | None = None
    answered: float = 0.0

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


class QueueBoard(Generic[T]):
    """Reads of one hub's queue, at most one per ``interval_s``, shared by all callers.

    Args:
        fetch: reads the queue (one squeue); what it raises is given to every caller
            that waited for that read, and kept as long as a value would be.
        interval_s: the least time between the starts of two reads, and how long a
            read answers callers that ask for nothing newer.
        clock: monotonic seconds (the same clock callers give ``not_before`` in).
        sleep: waits (``asyncio.sleep``; a test may pass another).
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[T]],
        interval_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._fetch = fetch
        self._interval = interval_s
        self._clock = clock
        self._sleep = sleep
        self._last: _Read[T] | None = None
        self._last_start: float | None = None
        self._task: asyncio.Future[_Read[T]] | None = None
        self._task_start = 0.0
        #: How many reads were started (for tests and benchmarks).
        self.reads = 0

    async def get(self, not_before: float | None = None, max_age: float | None = None) -> T:
        """The queue as a read that started at or after ``not_before`` saw it.

        Without ``not_before``, the last read if it is younger than ``max_age`` (at
        least the interval; by default the interval): a caller that can do with an older
        listing (a running session's periodic poll) takes it rather than start a read.
        Cancelling the caller never cancels a read others wait for.
        """
        fresh_for = self._interval if max_age is None else max(max_age, self._interval)
        while True:
            now = self._clock()
            last = self._last
            if (
                last is not None
                and (not_before is None or last.started >= not_before)
                and now - last.started < fresh_for
            ):
                return last.result()
            task = self._task
            if task is None or task.done():
                start = now
                if self._last_start is not None:
                    start = max(now, self._last_start + self._interval)
                self._task_start = start
                task = self._task = asyncio.ensure_future(self._read_at(start))
            await asyncio.wait([task])
            read = task.result()
            if not_before is None or read.started >= not_before:
                return read.result()
            # That read began before the moment asked for: wait for the next one.

    async def answered_within(self, max_age_s: float) -> T:
        """The last read's answer if it came less than ``max_age_s`` ago, else a new read's.

        For a question about the controller rather than a job (does it answer?): the
        last read's outcome is given as it was, a listing or the error of a controller
        that did not answer; one that ended longer ago is replaced by a read begun
        now (``get(not_before=now)``). ``max_age_s`` 0 always waits for a new read.
        """
        last = self._last
        now = self._clock()
        if last is not None and now - last.answered < max_age_s:
            return last.result()
        return await self.get(not_before=now)

    async def _read_at(self, start: float) -> _Read[T]:
        delay = start - self._clock()
        if delay > 0:
            await self._sleep(delay)
        started = self._last_start = self._clock()
        self.reads += 1
        try:
            read = _Read(started, value=await self._fetch(), answered=self._clock())
        except Exception as err:  # every caller of this read gets the error
            read = _Read(started, error=err, answered=self._clock())
        self._last = read
        return read


K = TypeVar("K")
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """Questions asked while one batch is answered go together in the next batch.

    The first question is sent at once (no added wait); those that arrive while its
    batch runs are sent together when it ends, and so on: with N sessions ending at
    once (a stop storm), a hub's accounting is read in a few ``sacct`` calls, not N.

    Args:
        answer: answers a batch of keys (in their order); what it raises is given to
            every caller of that batch.
    """

    def __init__(self, answer: Callable[[list[K]], Awaitable[Sequence[V]]]) -> None:
        self._answer = answer
        self._waiting: list[tuple[K, asyncio.Future[V]]] = []
        self._runner: asyncio.Future[None] | None = None
        #: How many batches were sent (for tests and benchmarks).
        self.batches = 0

    async def get(self, key: K) -> V:
        """The answer for ``key``, from the batch it joins."""
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            self.batches += 1
            try:
                answers = await self._answer([key for key, _ in batch])
            except Exception as err:  # every caller of this batch gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():  # a caller that was cancelled
                    future.set_result(answer)
