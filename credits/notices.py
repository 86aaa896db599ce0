"""Notices people need: credit about to expire, an account too low for a typical session.

Pure functions from an account's figures to the sentences the spawn form, the hub's
home page, the credits page and the notebook widget show; no I/O. The ledger reads
the figures (:func:`~computehub.credits.noticereads.notice_figures`),
the credits service serves the notices (``GET /api/v1/notices``), and every page and
the widget show what it computed, so they all say the same (docs/notices.md).

**What one typical session costs**
(:func:`~computehub.credits.notices.typical_session_cost`): the median of what the
account was charged for its last :data:`~computehub.credits.notices.TYPICAL_OF`
sessions that cost anything (every member's sessions on the account: it is the
account's typical session, not one person's); an account with no such session yet
takes the cost of the spawn form's default choice
(:func:`~computehub.credits.notices.default_choice_cost`): ``defaults.hours`` hours of
CPU only at ``defaults.hub``'s ``cpu`` rate, or at the cheapest hub's when there is no
default hub (the form's "any hub" choice starts at the cheapest).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from computehub.credits.display import credits_words
from computehub.credits.money import round_credits
from computehub.i18n import _
from computehub.i18n.formats import date_text
from computehub.sitefile.schema import TYPICAL_SESSION, Site

#: How many of an account's latest charged sessions make its typical session.
TYPICAL_OF = 10
#: Roles whose members spend an account's credit on sessions (as the spawner lets them:
#: :func:`~computehub.spawners.billing.may_charge`, checked to agree by a test).
SPENDING_ROLES = frozenset({"owner", "member", "instructor"})
#: A course's students spend its pool too.
COURSE_SPENDING_ROLE = "student"

Kind = Literal["expiring", "low_balance"]
LowBalance = Literal["typical-session"] | Decimal | None


@dataclass(frozen=True)
class Rules:
    """The site file's ``notices`` section, as the notices apply it.

    Attributes:
        expiring_within: credit that expires within this is announced (zero: never).
        low_balance: ``"typical-session"``, an amount of credits, or ``None`` (never).
        default_cost: what the spawn form's default choice costs
            (:func:`~computehub.credits.notices.default_choice_cost`), for accounts
            with no charged session yet.
    """

    expiring_within: timedelta = timedelta(days=30)
    low_balance: LowBalance = TYPICAL_SESSION
    default_cost: Decimal | None = None

    @classmethod
    def from_site(cls, site: Site) -> Rules:
        """The rules of a site file."""
        return cls(
            expiring_within=timedelta(days=site.notices.expiring_within_days),
            low_balance=site.notices.low_balance,
            default_cost=default_choice_cost(site),
        )


@dataclass(frozen=True)
class Figures:
    """What the notices of one account are computed from.

    Attributes:
        account: its name.
        kind: personal, project or course.
        role: the user's role in it.
        available: what the user can spend from it now (for a course's student, no more
            than their share leaves).
        expiring: ``(expires_at, credits)`` of its unreserved credit that can expire.
        recent_charges: what its latest charged sessions cost, newest first.
    """

    account: str
    kind: str
    role: str | None
    available: Decimal
    expiring: Sequence[tuple[datetime, Decimal]] = ()
    recent_charges: Sequence[Decimal] = ()


@dataclass(frozen=True)
class Notice:
    """One thing to tell a person about one account.

    Attributes:
        kind: ``expiring`` or ``low_balance``.
        account: the account it is about.
        text: the sentence shown, amounts in credits with 2 decimals.
        amount: the credits that expire, or the credits available.
        expires_at: when they expire (``expiring``).
        last_day: the last day (UTC) they can be spent (``expiring``).
        threshold: the balance warned below (``low_balance``).
    """

    kind: Kind
    account: str
    text: str
    amount: Decimal
    expires_at: datetime | None = None
    last_day: date | None = None
    threshold: Decimal | None = None


def spends(kind: str, role: str | None) -> bool:
    """Whether a member with ``role`` spends the credit of an account of ``kind``."""
    return role in SPENDING_ROLES or (kind == "course" and role == COURSE_SPENDING_ROLE)


def typical_session_cost(
    recent_charges: Sequence[Decimal], default_cost: Decimal | None
) -> Decimal | None:
    """What one typical session of the account costs (see the module's docstring).

    Args:
        recent_charges: the account's latest charges, newest first; only the first
            :data:`~computehub.credits.notices.TYPICAL_OF` above zero count.
        default_cost: the spawn form's default choice's cost, used without a charge.
    """
    charged = [value for value in recent_charges if value > 0][:TYPICAL_OF]
    if not charged:
        return default_cost
    return round_credits(statistics.median(charged))


def default_choice_cost(site: Site) -> Decimal | None:
    """The cost of the spawn form's default choice: CPU only for ``defaults.hours``.

    At ``defaults.hub``'s ``cpu`` rate, or the cheapest hub's without a default hub (or
    when the default hub does not price ``cpu``); ``None`` when no hub prices ``cpu``.
    """
    hub = site.defaults.hub
    rate = site.hubs[hub].rates.get("cpu") if hub in site.hubs else None
    if rate is None:
        priced = [spec.rates["cpu"] for spec in site.hubs.values() if "cpu" in spec.rates]
        rate = min(priced) if priced else None
    return None if rate is None else round_credits(rate * site.defaults.hours)


def low_threshold(figures: Figures, rules: Rules) -> Decimal | None:
    """The available credit below which the account is low; ``None``: no warning."""
    if rules.low_balance is None:
        return None
    if isinstance(rules.low_balance, Decimal):
        return rules.low_balance
    return typical_session_cost(figures.recent_charges, rules.default_cost)


def last_day(expires_at: datetime) -> date:
    """The last day (UTC) credit expiring at ``expires_at`` can be spent.

    A grant "through 2026-12-08" expires at midnight starting the 9th.
    """
    return (_utc(expires_at) - timedelta(microseconds=1)).date()


def credits(value: Decimal) -> str:
    """An amount of credits as people read it: ``1,234.50 credits``."""
    return credits_words(value)


def _in_days(day: date, now: datetime) -> str:
    left = (day - _utc(now).date()).days
    if left <= 0:
        return _("today")
    if left == 1:
        return _("tomorrow")
    return _("in {count} days").format(count=left)


def expiring_text(account: str, amount: Decimal, day: date, now: datetime) -> str:
    """The sentence for credit that expires soon."""
    return _(
        "{amount} in account {account} expire at the end of {day} (UTC), {when}: after that "
        "they can no longer be spent."
    ).format(amount=credits(amount), account=account, day=date_text(day), when=_in_days(day, now))


def low_text(account: str, available: Decimal, threshold: Decimal, rule: LowBalance) -> str:
    """The sentence for an account whose available credit is low."""
    if rule == TYPICAL_SESSION:
        sentence = _(
            "Account {account} has {available} available, less than one typical session "
            "costs ({threshold}): ask for more credits before your next session."
        )
    else:
        sentence = _(
            "Account {account} has {available} available, less than {threshold}: ask for "
            "more credits before your next session."
        )
    return sentence.format(
        account=account, available=credits(available), threshold=credits(threshold)
    )


def account_notices(figures: Figures, rules: Rules, now: datetime) -> list[Notice]:
    """The notices of one account: expiring credit (soonest first), then a low balance.

    Credit expiring the same day is one notice; credit expiring within
    ``rules.expiring_within`` of ``now`` counts (credit already expired is gone).
    """
    found: list[Notice] = []
    if rules.expiring_within > timedelta(0):
        horizon = _utc(now) + rules.expiring_within
        by_day: dict[date, tuple[datetime, Decimal]] = {}
        for expires_at, amount in sorted(figures.expiring, key=lambda item: _utc(item[0])):
            at = _utc(expires_at)
            if amount <= 0 or at <= _utc(now) or at > horizon:
                continue
            day = last_day(at)
            first, total = by_day.get(day, (at, Decimal(0)))
            by_day[day] = (first, total + amount)
        for day, (at, total) in by_day.items():
            found.append(
                Notice(
                    kind="expiring",
                    account=figures.account,
                    text=expiring_text(figures.account, total, day, now),
                    amount=total,
                    expires_at=at,
                    last_day=day,
                )
            )
    threshold = low_threshold(figures, rules)
    if threshold is not None and figures.available < threshold:
        found.append(
            Notice(
                kind="low_balance",
                account=figures.account,
                text=low_text(figures.account, figures.available, threshold, rules.low_balance),
                amount=figures.available,
                threshold=threshold,
            )
        )
    return found


def notices(accounts: Sequence[Figures], rules: Rules, now: datetime) -> list[Notice]:
    """The notices of every account the user spends from, account by account."""
    return [
        notice
        for figures in accounts
        if spends(figures.kind, figures.role)
        for notice in account_notices(figures, rules, now)
    ]


def _utc(value: datetime) -> datetime:
    """Aware times in UTC; naive ones (SQLite) are UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
