"""How long a session's GPUs have been idle: the pure part of the GPU-idle rule.

The notebook server samples its GPUs now and then (see :mod:`.activity`) and feeds
each reading's busiest utilisation to an :class:`IdleClock`; the hub-side rule asks
it how long ago the GPUs were last at or above a threshold. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Utilisation is a whole percentage (NVML reports 0-100).
_LEVELS = 101


class IdleClock:
    """When the GPUs were last busy, for every threshold from 1 % to 100 % at once.

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

    def observe(self, utilizations: Iterable[int | None], now: float) -> None:
        """Take one reading: each visible GPU's utilisation (None where not reported)."""
        self.samples += 1
        known = [u for u in utilizations if u is not None]
        if not known:
            return
        self.measured += 1
        busiest = max(0, min(100, max(known)))
        for level in range(1, busiest + 1):
            self._last_at[level] = now

    def idle_seconds(self, busy_percent: int, now: float) -> float | None:
        """Seconds since the GPUs were last at ``busy_percent`` or more.

        Returns:
            None while no utilisation has been measured (no GPUs, MIG slices, no
            driver): idleness is then unknown, and an unknown is never idle.
        """
        if not 1 <= busy_percent <= 100:
            raise ValueError(f"busy_percent is 1 to 100, not {busy_percent}")
        if self.measured == 0:
            return None
        last = self._last_at[busy_percent]
        return max(0.0, now - (self.started_at if last is None else last))
