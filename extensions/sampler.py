"""One background sampler per kernel, shared by every displayed widget.

A daemon thread rather than a task on the kernel's event loop: NVML and HTTP calls block, and
on the loop they would hold up the user's cells; in a thread they release the GIL while they
wait. The thread only runs while a widget is subscribed, and is joined when the last one
leaves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from computehub.clock import utcnow

from .creditsreader import CreditsError, CreditsSource, SessionCredits
from .gpus import GpuReader, GpuReading

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryPoint:
    """One point of a GPU's recent history.

    Attributes:
        at: Sampler clock time, in seconds.
        utilization: Percent, None where not reported (MIG).
        memory_percent: Memory used, percent of total.
    """

    at: float
    utilization: int | None
    memory_percent: float | None


@dataclass(frozen=True)
class CreditsState:
    """What is known of the credits.

    Attributes:
        session: The last good answer, None before the first one.
        error: Why the last poll failed; None when it succeeded.
        fetched_at: When `session` was fetched.
    """

    session: SessionCredits | None = None
    error: str | None = None
    fetched_at: datetime | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything a widget renders, at one moment.

    Attributes:
        at: Sampler clock time, in seconds.
        now: Wall-clock time (UTC) for time-left figures.
        gpus: The GPU reading.
        credits: The credits state.
        history: Recent points per GPU UUID, oldest first.
    """

    at: float
    now: datetime
    gpus: GpuReading
    credits: CreditsState
    history: Mapping[str, tuple[HistoryPoint, ...]] = field(default_factory=dict)


Subscriber = Callable[[Snapshot], None]


class Sampler:
    """Samples GPUs every `interval` seconds and credits every `credits_interval` seconds.

    Args:
        reader: The GPU reader; only the sampler's thread touches it while it runs.
        credits: The credits source; None to show GPUs only.
        interval: Seconds between GPU samples.
        credits_interval: Seconds between credits polls.
        history_seconds: How far back the history goes.
        history_points: At most this many points per GPU (older samples are thinned out).
        clock: Monotonic seconds (seam for tests).
        now: Wall-clock time (seam for tests).
        wait: Called with the seconds until the next sample; returns early when woken.
            Defaults to waiting on an internal event that `stop` and `refresh_credits` set.

    Raises:
        ValueError: An interval is out of range.
    """

    def __init__(
        self,
        reader: GpuReader,
        credits: CreditsSource | None,
        *,
        interval: float = 1.0,
        credits_interval: float = 15.0,
        history_seconds: float = 300.0,
        history_points: int = 150,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        if not 0.05 <= interval <= 3600:
            raise ValueError("interval must be between 0.05 and 3600 seconds")
        if not 1 <= credits_interval <= 86400:
            raise ValueError("credits_interval must be between 1 and 86400 seconds")
        if history_seconds <= 0 or history_points < 2:
            raise ValueError("history needs a positive span and at least two points")
        self.reader = reader
        self.credits = credits
        self.interval = interval
        self.credits_interval = credits_interval
        self.history_seconds = history_seconds
        self._history_step = history_seconds / history_points
        self._history_points = history_points
        self._clock = clock
        self._now = now
        self._wake = threading.Event()
        self._wait = wait if wait is not None else self._wake.wait
        self._lock = threading.Lock()
        self._tick_lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._credits_due = float("-inf")
        self._credits_state = CreditsState()
        self._history: dict[str, deque[HistoryPoint]] = {}
        self._latest: Snapshot | None = None

    @property
    def latest(self) -> Snapshot | None:
        """The last snapshot taken, if any."""
        return self._latest

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        """The sampling thread, while there is one."""
        return self._thread

    def subscribe(self, callback: Subscriber) -> None:
        """Receive every snapshot; the first subscriber starts the thread.

        The callback runs in the sampler's thread; it gets the latest snapshot at once.
        """
        with self._lock:
            self._subscribers.append(callback)
            start = self._thread is None
            if start:
                self._stopping.clear()
                self._thread = threading.Thread(
                    target=self._run, name="computehub-sampler", daemon=True
                )
        latest = self._latest
        if latest is not None:
            self._deliver(callback, latest)
        if start and self._thread is not None:
            self._thread.start()

    def unsubscribe(self, callback: Subscriber) -> None:
        """Stop receiving snapshots; the last one to leave stops the thread."""
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)
            last = not self._subscribers
        if last:
            self.stop()

    def refresh_credits(self) -> None:
        """Poll the credits at the next tick (after an extension), and wake the thread."""
        self._credits_due = float("-inf")
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and join the thread, then release NVML; safe to call more than once."""
        with self._lock:
            thread = self._thread
            self._thread = None
        self._stopping.set()
        self._wake.set()
        if thread is None:
            with self._tick_lock:
                self.reader.close()
        elif thread is not threading.current_thread():
            thread.join(timeout)

    def tick(self) -> Snapshot:
        """Take one sample now (credits too when due) and notify the subscribers."""
        with self._tick_lock:
            at = self._clock()
            reading = self.reader.read()
            if self.credits is not None and at >= self._credits_due:
                self._credits_due = at + self.credits_interval
                self._credits_state = self._poll_credits(self.credits)
            snapshot = Snapshot(
                at=at,
                now=self._now(),
                gpus=reading,
                credits=self._credits_state,
                history=self._record(at, reading),
            )
            self._latest = snapshot
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            self._deliver(callback, snapshot)
        return snapshot

    def _poll_credits(self, source: CreditsSource) -> CreditsState:
        try:
            session = source.current_session()
        except CreditsError as exc:
            previous = self._credits_state
            return CreditsState(previous.session, exc.message, previous.fetched_at)
        return CreditsState(session, None, self._now())

    def _record(self, at: float, reading: GpuReading) -> dict[str, tuple[HistoryPoint, ...]]:
        history = self._history
        for gpu in reading.gpus:
            points = history.setdefault(gpu.uuid, deque(maxlen=self._history_points))
            if gpu.error is None and (not points or at - points[-1].at >= self._history_step):
                points.append(HistoryPoint(at, gpu.utilization, gpu.memory_percent))
            while points and at - points[0].at > self.history_seconds:
                points.popleft()
        return {gpu.uuid: tuple(history[gpu.uuid]) for gpu in reading.gpus}

    @staticmethod
    def _deliver(callback: Subscriber, snapshot: Snapshot) -> None:
        try:
            callback(snapshot)
        except Exception:
            # A broken display must not stop the sampling for the other widgets.
            log.exception("computehub widget failed to render a snapshot")

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                # Cleared before sampling, so a wake-up during the tick is not lost.
                self._wake.clear()
                started = self._clock()
                self.tick()
                if self._stopping.is_set():
                    break
                delay = started + self.interval - self._clock()
                if delay > 0:
                    self._wait(delay)
        finally:
            with self._tick_lock:
                self.reader.close()
