"""The one clock: the current time, timezone-aware in UTC.

Hub side, ledger and notebook widget all read the time through :func:`utcnow`, and take
a :data:`Clock` where a test needs to move time by hand. No dependencies: the notebook
images import it too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: Returns the current time, timezone-aware UTC; tests pass their own to time-travel.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)
