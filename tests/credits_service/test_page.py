"""The page of credits and sessions, rendered from plain ledger records (no hub, no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from computehub.credits import records as r
from computehub.credits.service import page
from computehub.credits.service.home import wants_html
from tests.support.credits_hub import page_rows

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SOON = NOW + timedelta(days=30)
X = "\N{MULTIPLICATION SIGN}"


def hold(
    hold_id: int,
    status: str,
    *,
    amount: str = "14",
    resources: dict[str, int] | None = None,
    account: str = "alice",
    hub: str = "karachi",
    created_at: datetime = NOW,
) -> r.Hold:
    return r.Hold(
        id=hold_id,
        account=account,
        hub=hub,
        job_id="77",
        status=status,
        hours=Decimal(2),
        amount=Decimal(amount),
        per_hour=Decimal(7),
        resources={"gpu:a100": 1} if resources is None else resources,
        rates={"gpu:a100": Decimal(7)},
        created_at=created_at,
    )


SETTLED = r.Session(
    hold(3, "settled"),
    "alice",
    closed_at=NOW,
    charged=Decimal("0.4"),
    cost=Decimal("0.4"),
    end_note="stopped after its GPUs were idle for 30 minutes",
    energy_wh=Decimal("61.25"),
    energy_recorded=True,
)
VOIDED = r.Session(hold(2, "voided", amount="21"), "alice", closed_at=NOW)
OPEN = r.Session(hold(1, "open", resources={"cpu": 1}, amount="1"), "alice")
BALANCE = r.Balance(
    account="alice",
    kind="personal",
    balance=Decimal(1000),
    held=Decimal(1),
    available=Decimal(999),
    next_expiry_at=NOW + timedelta(days=3),
    expiring=Decimal(50),
    role="owner",
)


def test_rows_say_what_each_session_cost_and_returned() -> None:
    html = page.render("alice", [BALANCE], [SETTLED, VOIDED, OPEN], soon=SOON)
    rows = page_rows(html).rows
    assert list(rows) == ["3", "2", "1"]
    assert rows["3"] == {
        "ch-started": "2026-03-01 12:00",
        "ch-account": "alice",
        "ch-hub": "karachi",
        "ch-resources": f"1 {X} A100",
        "ch-hours": "2.00",
        "ch-held": "14.00",
        "ch-status": "ended",
        "ch-charged": "0.40",
        "ch-returned": "13.60",
        "ch-energy": "61.2 Wh",
        "ch-note": "stopped after its GPUs were idle for 30 minutes",
    }
    assert (rows["2"]["ch-status"], rows["2"]["ch-charged"], rows["2"]["ch-returned"]) == (
        "never started",
        "0.00",
        "21.00",
    )
    assert rows["2"]["ch-note"] == ""
    assert (rows["1"]["ch-status"], rows["1"]["ch-charged"], rows["1"]["ch-returned"]) == (
        "running",
        "—",
        "—",
    )
    assert rows["1"]["ch-resources"] == "CPU only"
    assert (rows["2"]["ch-energy"], rows["1"]["ch-energy"]) == ("—", "—")  # not (yet) recorded
    assert 'id="ch-sessions"' in html
    assert "Your credits and sessions" in html


def test_account_figures_and_credits_expiring_soon() -> None:
    html = page.render("alice", [BALANCE], [], soon=SOON)
    row = re.search(r'<tr data-account="alice">.*?</tr>', html)
    assert row is not None
    text = re.sub(r"<[^>]+>", "|", row.group(0))
    for figure in ("1,000.00", "1.00", "999.00", "50.00 through 2026-03-04", "owner"):
        assert f"|{figure}|" in text
    later = page.render("alice", [BALANCE], [], soon=NOW + timedelta(days=1))
    assert "50.00 through" not in later
    assert 'id="ch-no-sessions"' in html


def test_everything_from_the_ledger_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    row = r.Session(
        hold(9, "settled", account=evil, hub='"><img src=x onerror=alert(1)>', resources={}),
        evil,
        charged=Decimal(1),
        end_note=evil,
    )
    balance = r.Balance(evil, evil, Decimal(1), Decimal(0), Decimal(1), role=evil)
    html = page.render(evil, [balance], [row], soon=SOON)
    parsed = page_rows(html)
    assert "script" not in parsed.tags
    assert html.count("<img") == 1  # the hub's logo, not the hub name's
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert parsed.rows["9"]["ch-note"] == evil
    assert parsed.rows["9"]["ch-hub"] == '"><img src=x onerror=alert(1)>'
    error = page.error_page(403, evil)
    assert "<script>" not in error
    assert "&lt;script&gt;" in error


def test_page_loads_only_the_hubs_bootstrap_and_runs_nothing() -> None:
    html = page.render("alice", [], [], soon=SOON, links=page.Links(hub_prefix="/base/hub/"))
    assert '<link rel="stylesheet" href="/base/hub/static/components/bootstrap' in html
    assert "<script" not in html
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []
    assert 'id="ch-no-accounts"' in html


def test_latest_sessions_merge_accounts_newest_first() -> None:
    older = r.Session(
        hold(5, "settled", account="course", created_at=NOW - timedelta(hours=1)), "a"
    )
    # A naive time (SQLite) is UTC; an aware one in another zone is converted.
    naive = r.Session(hold(4, "open", created_at=datetime(2026, 3, 1, 11, 30)), "a")
    east = r.Session(
        hold(
            8, "open", created_at=datetime(2026, 3, 1, 16, 45, tzinfo=timezone(timedelta(hours=5)))
        ),
        "a",
    )
    merged = page.latest_sessions([[SETTLED, naive], [east, older]], limit=3)
    assert [row.hold.id for row in merged] == [3, 8, 4]
    assert page_rows(page.render("a", [], [east], soon=SOON)).rows["8"]["ch-started"] == (
        "2026-03-01 11:45"
    )


@pytest.mark.parametrize(
    ("resources", "words"),
    [
        pytest.param({"gpu:h100": 2}, f"2 {X} H100", id="gpus"),
        pytest.param({"cpu": 1}, "CPU only", id="cpu"),
        pytest.param({}, "CPU only", id="nothing"),
        pytest.param({"gpu:h100": 1, "cpu": 1}, f"1 {X} H100", id="gpu-and-cpu"),
        pytest.param({"gpu:h100": 1, "gpu:a100": 2}, f"2 {X} A100, 1 {X} H100", id="two-kinds"),
    ],
)
def test_resources_in_words(resources: dict[str, int], words: str) -> None:
    assert page.resources_in_words(resources) == words


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        pytest.param("text/html,application/xhtml+xml,*/*;q=0.8", True, id="browser"),
        pytest.param("application/json", False, id="api"),
        pytest.param("", False, id="none"),
        pytest.param("*/*", False, id="curl"),
    ],
)
def test_browsers_get_the_page(accept: str, html: bool) -> None:
    assert wants_html(accept) is html


def test_energy_the_node_could_not_measure_says_so() -> None:
    unknown = r.Session(hold(4, "settled"), "alice", closed_at=NOW, energy_recorded=True)
    big = r.Session(
        hold(5, "settled"), "alice", closed_at=NOW, energy_wh=Decimal(4560), energy_recorded=True
    )
    rows = page_rows(page.render("alice", [BALANCE], [unknown, big], soon=SOON)).rows
    assert (rows["4"]["ch-energy"], rows["5"]["ch-energy"]) == ("not measured", "4.56 kWh")
