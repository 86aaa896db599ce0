"""Warnings about the session's end and the account's credits (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from .creditsreader import SessionCredits

DEFAULT_WARN_MINUTES = (15, 5)


@dataclass(frozen=True)
class Alert:
    """One warning for the user.

    Attributes:
        level: ``warning`` ahead of time; ``critical`` at the last threshold or after the end.
        text: The sentence shown.
    """

    level: Literal["warning", "critical"]
    text: str


def format_duration(delta: timedelta) -> str:
    """A short duration for people: ``2 h 05 min``, ``14 min``, ``45 s``; never negative."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def session_alerts(
    credits: SessionCredits,
    now: datetime,
    *,
    warn_minutes: Sequence[int] = DEFAULT_WARN_MINUTES,
    low_credits: Decimal = Decimal("5"),
) -> tuple[Alert, ...]:
    """The warnings that hold at `now`.

    Args:
        credits: The session's credits.
        now: The current time (timezone-aware).
        warn_minutes: Minutes before the funded end at which to warn; reaching the smallest
            one is critical.
        low_credits: Warn when the available credits fall below this amount.

    Returns:
        The time warning first (if any), then the credits warning (if any).
    """
    alerts: list[Alert] = []
    left = credits.time_left(now)
    end = credits.funded_until.strftime("%H:%M %Z").strip()
    thresholds = sorted(warn_minutes)
    if left <= timedelta(0):
        alerts.append(Alert("critical", f"Funded time ended at {end}: the session will stop."))
    elif thresholds and left <= timedelta(minutes=thresholds[-1]):
        level: Literal["warning", "critical"] = (
            "critical" if left <= timedelta(minutes=thresholds[0]) else "warning"
        )
        alerts.append(
            Alert(
                level,
                f"The session stops in {format_duration(left)} (funded until {end}); "
                "extend it to keep working.",
            )
        )
    if credits.available < low_credits:
        alerts.append(
            Alert(
                "warning",
                f"Credits are low: {credits.available} left on account {credits.account}.",
            )
        )
    return tuple(alerts)
