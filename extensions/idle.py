"""How long a session's GPUs have been idle: the pure part of the GPU-idle rule.

The notebook server samples its GPUs now and then (see :mod:`.activity`) and feeds
each reading's busiest utilisation to an :class:`IdleClock`; the hub-side rule asks
it how long ago the GPUs were last at or above a threshold, and the console how long in
all they were at or above it. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Utilisation is a whole percentage (NVML reports 0-100).
_LEVELS = 101


class IdleClock:
    """When the GPUs were last busy, and how long in all, for every threshold from 1 % to 100 %.

    Busy time is counted between consecutive *measured* samples: the interval from one
    measured sample to the next counts as busy at a level when the later sample's busiest
    GPU is at or above it (a reading with no utilisation is skipped, and its interval
    folds into the next measured one). Time before the first measured sample and after
    the last one is not counted, so the figure trails by at most one sampling interval.

    Args:
        started_at: when sampling began (monotonic seconds); idle time counts from it
            until the GPUs are first seen busy.
    """

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.samples = 0
        self.measured = 0
        # last_at[p]: the last time the busiest GPU was at >= p percent (index 0 unused).
        self._last_at: list[float | None] = [None] * _LEVELS
        # busy_s[p]: seconds the busiest GPU was at >= p percent (see the class docstring).
        self._busy_s: list[float] = [0.0] * _LEVELS
        self._measured_at: float | None = None

    def observe(self, utilizations: Iterable[int | None], now: float) -> None:
        """Take one reading: each visible GPU's utilisation (None where not reported)."""
        self.samples += 1
        known = [u for u in utilizations if u is not None]
        if not known:
            return
        self.measured += 1
        busiest = max(0, min(100, max(known)))
        interval = 0.0 if self._measured_at is None else max(0.0, now - self._measured_at)
        self._measured_at = now
        for level in range(1, busiest + 1):
            self._last_at[level] = now
            self._busy_s[level] += interval

    def busy_seconds(self, busy_percent: int, now: float) -> float | None:
        """Seconds in all the GPUs were at ``busy_percent`` or more (see the class docstring).

        Never more than the time since sampling began (``now - started_at``).

        Returns:
            None while no utilisation has been measured (unknown, never 0).
        """
        _check(busy_percent)
        if self.measured == 0:
            return None
        return min(self._busy_s[busy_percent], max(0.0, now - self.started_at))

    def idle_seconds(self, busy_percent: int, now: float) -> float | None:
        """Seconds since the GPUs were last at ``busy_percent`` or more.

        Returns:
            None while no utilisation has been measured (no GPUs, MIG slices, no
            driver): idleness is then unknown, and an unknown is never idle.
        """
        _check(busy_percent)
        if self.measured == 0:
            return None
        last = self._last_at[busy_percent]
        return max(0.0, now - (self.started_at if last is None else last))


def _check(busy_percent: int) -> None:
    if not 1 <= busy_percent <= 100:
        raise ValueError(f"busy_percent is 1 to 100, not {busy_percent}")
