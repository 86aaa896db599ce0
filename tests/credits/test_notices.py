"""Notices: what one typical session costs, credit expiring soon, a low balance.

Pure tables for :mod:`~computehub.credits.notices`, then the ledger's reads
(:mod:`~computehub.credits.noticereads`) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from computehub.credits.ledger import Ledger
from computehub.credits.noticereads import notice_figures
from computehub.credits.notices import (
    TYPICAL_OF,
    Figures,
    Rules,
    account_notices,
    default_choice_cost,
    last_day,
    notices,
    spends,
    typical_session_cost,
)
from computehub.sitefile import load_site, parse_site
from computehub.spawners.billing import may_charge
from tests.support.ledgers import FakeClock

D = Decimal
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"


@pytest.mark.parametrize(
    ("charges", "default", "expected"),
    [
        pytest.param([], D("0.50"), D("0.50"), id="no-history-default-choice"),
        pytest.param([], None, None, id="no-history-no-default"),
        pytest.param([D("8")], None, D("8.00"), id="one-session"),
        pytest.param([D("3"), D("9"), D("4")], None, D("4.00"), id="median-odd"),
        pytest.param([D("3"), D("9"), D("4"), D("10")], None, D("6.50"), id="median-even"),
        pytest.param([D("0"), D("0"), D("6")], D("1"), D("6.00"), id="free-sessions-skipped"),
        pytest.param([D("0")], D("1"), D("1"), id="only-free-sessions-default"),
        pytest.param(
            [D("2")] * TYPICAL_OF + [D("100")] * 5, None, D("2.00"), id="only-the-latest-ten"
        ),
        pytest.param([D("1.005"), D("1.0051")], None, D("1.0051"), id="ledger-quantum"),
    ],
)
def test_typical_session_cost(
    charges: list[Decimal], default: Decimal | None, expected: Decimal | None
) -> None:
    assert typical_session_cost(charges, default) == expected


def _site(**changes: Any) -> Any:
    data = yaml.safe_load(EXAMPLE.read_text())
    data = copy.deepcopy(data)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return parse_site(data, EXAMPLE)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # Example: lahore's cpu is 0.5 per hour, one hour by default.
        pytest.param({}, D("0.50"), id="default-hub-cpu-times-default-hours"),
        pytest.param({"defaults__hours": 3}, D("1.50"), id="three-hours"),
        pytest.param(
            {"defaults__hub": None, "hubs__karachi__rates__cpu": 0.25},
            D("0.25"),
            id="no-default-hub-cheapest-cpu",
        ),
        pytest.param(
            {"hubs__lahore__rates__cpu": None, "hubs__karachi__rates__cpu": 0.4},
            D("0.40"),
            id="default-hub-without-cpu-rate-cheapest",
        ),
        pytest.param(
            {"hubs__lahore__rates__cpu": None, "hubs__karachi__rates__cpu": None},
            None,
            id="nobody-prices-cpu",
        ),
    ],
)
def test_default_choice_cost(changes: dict[str, Any], expected: Decimal | None) -> None:
    assert default_choice_cost(_site(**changes)) == expected


def test_site_file_notices_setting() -> None:
    example = load_site(EXAMPLE).notices
    assert (example.expiring_within_days, example.low_balance) == (14, "typical-session")
    assert _site(notices={"low_balance": 25}).notices.low_balance == D(25)
    assert _site(notices={"low_balance": None}).notices.low_balance is None
    assert _site(notices=None).notices.expiring_within_days == 30
    rules = Rules.from_site(load_site(EXAMPLE))
    assert rules == Rules(timedelta(days=14), "typical-session", D("0.50"))


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"low_balance": "typical"}, id="unknown-word"),
        pytest.param({"low_balance": 0}, id="zero-amount"),
        pytest.param({"expiring_within_days": -1}, id="negative-days"),
        pytest.param({"expiring_days": 3}, id="typo-key"),
    ],
)
def test_site_file_notices_refused(bad: dict[str, Any]) -> None:
    from computehub.sitefile import SiteFileError

    with pytest.raises(SiteFileError, match="notices"):
        _site(notices=bad)


def _at(days: float) -> datetime:
    return NOW + timedelta(days=days)


MIDNIGHT_IN_3 = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # "spendable through 2026-12-07"


@pytest.mark.parametrize(
    ("figures", "rules", "expected"),
    [
        pytest.param(
            Figures("ana", "personal", "owner", D("100"), [(MIDNIGHT_IN_3, D("12.5"))]),
            Rules(timedelta(days=14), None),
            [
                (
                    "expiring",
                    "12.50 credits in account ana expire at the end of 2026-12-07 (UTC), "
                    "in 2 days: after that they can no longer be spent.",
                )
            ],
            id="expiring-within-window",
        ),
        pytest.param(
            Figures("ana", "personal", "owner", D("100"), [(_at(20), D("12.5"))]),
            Rules(timedelta(days=14), None),
            [],
            id="expiring-after-window",
        ),
        pytest.param(
            Figures("ana", "personal", "owner", D("100"), [(_at(2), D("12.5"))]),
            Rules(timedelta(0), None),
            [],
            id="expiring-off",
        ),
        pytest.param(
            Figures(
                "ana",
                "personal",
                "owner",
                D("100"),
                [(_at(0.25), D("1")), (_at(0.5), D("2")), (_at(1.5), D("1234.5"))],
            ),
            Rules(timedelta(days=14), None),
            [
                (
                    "expiring",
                    "3.00 credits in account ana expire at the end of 2026-12-05 (UTC), "
                    "today: after that they can no longer be spent.",
                ),
                (
                    "expiring",
                    "1,234.50 credits in account ana expire at the end of 2026-12-06 (UTC), "
                    "tomorrow: after that they can no longer be spent.",
                ),
            ],
            id="same-day-lots-summed",
        ),
        pytest.param(
            Figures("ana", "personal", "owner", D("100"), [(_at(-1), D("5"))]),
            Rules(timedelta(days=14), None),
            [],
            id="already-expired-not-told",
        ),
        pytest.param(
            Figures("lab", "project", "member", D("3"), (), [D("8"), D("7"), D("9")]),
            Rules(timedelta(days=14), "typical-session", D("0.5")),
            [
                (
                    "low_balance",
                    "Account lab has 3.00 credits available, less than one typical session "
                    "costs (8.00 credits): ask for more credits before your next session.",
                )
            ],
            id="low-against-typical-session",
        ),
        pytest.param(
            Figures("lab", "project", "member", D("8"), (), [D("8"), D("7"), D("9")]),
            Rules(timedelta(days=14), "typical-session", D("0.5")),
            [],
            id="exactly-one-typical-session-is-not-low",
        ),
        pytest.param(
            Figures("ana", "personal", "owner", D("0.25")),
            Rules(timedelta(days=14), "typical-session", D("0.5")),
            [
                (
                    "low_balance",
                    "Account ana has 0.25 credits available, less than one typical session "
                    "costs (0.50 credits): ask for more credits before your next session.",
                )
            ],
            id="low-against-default-choice",
        ),
        pytest.param(
            Figures("ana", "personal", "owner", D("4.5"), (), [D("1")]),
            Rules(timedelta(days=14), D("5")),
            [
                (
                    "low_balance",
                    "Account ana has 4.50 credits available, less than 5.00 credits: ask for "
                    "more credits before your next session.",
                )
            ],
            id="low-against-site-amount",
        ),
        pytest.param(
            Figures("ana", "personal", "owner", D("0")),
            Rules(timedelta(days=14), None),
            [],
            id="low-off",
        ),
    ],
)
def test_account_notices(figures: Figures, rules: Rules, expected: list[tuple[str, str]]) -> None:
    assert [(n.kind, n.text) for n in account_notices(figures, rules, NOW)] == expected


def test_notices_only_for_accounts_the_user_spends_from() -> None:
    rules = Rules(timedelta(days=14), D("5"))
    rows = [
        Figures("ana", "personal", "owner", D("1")),
        Figures("ml", "course", "ta", D("1")),
        Figures("ml2", "course", "student", D("1")),
    ]
    assert [n.account for n in notices(rows, rules, NOW)] == ["ana", "ml2"]


@pytest.mark.parametrize(
    ("kind", "role"),
    list(
        itertools.product(
            ["personal", "project", "course"],
            ["owner", "member", "instructor", "ta", "student", None],
        )
    ),
)
def test_spends_agrees_with_the_spawner(kind: str, role: str | None) -> None:
    assert spends(kind, role) == may_charge(kind, role)


def test_last_day_of_a_grant_through_a_day() -> None:
    assert last_day(datetime(2026, 12, 8, tzinfo=UTC)) == date(2026, 12, 7)
    assert last_day(datetime(2026, 12, 8, 13, 0, tzinfo=UTC)) == date(2026, 12, 8)


def test_ledger_reads_what_notices_need(ledger: Ledger, clock: FakeClock) -> None:
    ledger.ensure_personal_account("ana", actor="t")
    ledger.create_account("lab", "project", actor="t", owner="bo")
    ledger.add_member("lab", "ana", "member", actor="t")
    soon = clock.now + timedelta(days=3)
    later = clock.now + timedelta(days=40)
    ledger.grant("ana", "20", actor="t", expires_at=soon)
    ledger.grant("ana", "7", actor="t", expires_at=soon)
    ledger.grant("ana", "30", actor="t", expires_at=later)
    ledger.grant("ana", "5", actor="t")
    ledger.grant("lab", "100", actor="t")
    for hours in ("1", "2", "0.5"):
        hold = ledger.place_hold("lab", "north", {"gpu:h100": 1}, "3", actor="bo")
        ledger.settle(hold.id, {"gpu:h100": hours}, actor="t")
    # A running session reserves the soonest-expiring credit first: 10 of the 27.
    ledger.place_hold("ana", "north", {"gpu:h100": 1}, "1", actor="ana")
    figures = {row.account: row for row in notice_figures(ledger, "ana")}
    assert set(figures) == {"ana", "lab"}
    ana, lab = figures["ana"], figures["lab"]
    assert sorted((at, amount) for at, amount in ana.expiring) == [
        (soon, D("7")),
        (soon, D("10")),
        (later, D("30")),
    ]
    assert ana.available == D("52")
    assert ana.recent_charges == []
    assert lab.recent_charges == [D("5"), D("20"), D("10")]
    assert typical_session_cost(lab.recent_charges, None) == D("10.00")
    clock.advance(days=4)
    expired = {row.account: row for row in notice_figures(ledger, "ana")}["ana"]
    assert [amount for _at, amount in expired.expiring] == [D("30")]
