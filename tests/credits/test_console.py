"""The operator console's sums (credits/console.py): plain tables, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from computehub.credits import console as cs
from computehub.credits.records import Hold, Session
from computehub.gpuidle import Rule, end_note

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def session(
    hold_id: int,
    hub: str = "lahore",
    *,
    kind: str = "personal",
    category: str | None = None,
    gpu: str = "h100",
    hours: str = "1",
    charged: str = "10",
    held: str = "10",
    culled: bool = False,
    at: datetime = T0,
    wh: str | None = None,
) -> cs.SessionRow:
    return cs.SessionRow(
        hold_id=hold_id,
        hub=hub,
        account_kind=kind,
        category=category,
        gpu_type=gpu,
        gpu_hours=Decimal(hours),
        charged=Decimal(charged),
        held=Decimal(held),
        culled=culled,
        settled_at=at,
        wh=None if wh is None else Decimal(wh),
    )


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"gpu:h100", "cpu"}, "h100"),
        ({"mig:a100:1g.10gb"}, "a100 1g.10gb"),
        ({"cpu"}, cs.CPU_ONLY),
        (set(), cs.CPU_ONLY),
    ],
    ids=["gpu", "mig-slice", "cpu-only", "nothing"],
)
def test_gpu_type(resources: set[str], expected: str) -> None:
    assert cs.gpu_type(resources) == expected


def test_a_session_the_gpu_idle_rule_stopped_is_culled_and_no_other() -> None:
    hold = Hold(
        7, "ayesha", "lahore", None, "settled", Decimal(2), Decimal(20), Decimal(10), {}, {}, T0
    )
    note = end_note(
        Rule(limit_s=1800, busy_percent=5), 1860, Session(hold, "ayesha", T0, Decimal(5))
    )
    assert cs.culled(note)
    assert not cs.culled("Stopped: course ml-a was archived at 2026-01-01.")
    assert not cs.culled(None)
    assert not cs.culled("")


@pytest.mark.parametrize(
    ("held", "charged", "culled", "saved"),
    [("20", "5", True, "15"), ("20", "5", False, "0"), ("5", "5", True, "0")],
    ids=["culled-saves-the-rest", "not-culled-saves-nothing", "culled-at-the-end"],
)
def test_saved(held: str, charged: str, culled: bool, saved: str) -> None:
    assert session(1, held=held, charged=charged, culled=culled).saved == Decimal(saved)


def test_breakdowns_sum_each_group_and_the_total_sums_all() -> None:
    rows = [
        session(1, "lahore", kind="project", category="health", hours="2", charged="20"),
        session(2, "lahore", kind="personal", gpu="h100", hours="1.5", charged="15",
                held="40", culled=True),
        session(3, "karachi", kind="project", category="health", gpu="a100", hours="3",
                charged="18"),
        session(4, "karachi", kind="course", gpu=cs.CPU_ONLY, hours="0", charged="0.5"),
    ]  # fmt: skip
    by_hub = {f.key: f for f in cs.breakdown(rows, "hub")}
    assert list(by_hub) == ["karachi", "lahore"]
    assert (by_hub["lahore"].sessions, by_hub["lahore"].gpu_hours) == (2, Decimal("3.5"))
    assert (by_hub["lahore"].charged, by_hub["lahore"].culled) == (Decimal(35), 1)
    assert by_hub["lahore"].saved == Decimal(25)
    assert (by_hub["karachi"].charged, by_hub["karachi"].saved) == (Decimal("18.5"), Decimal(0))
    by_category = {f.key: f for f in cs.breakdown(rows, "category")}
    assert by_category["health"].charged == Decimal(38)
    assert by_category[cs.NONE_LABEL].sessions == 2
    by_kind = {f.key: f.sessions for f in cs.breakdown(rows, "account_kind")}
    assert by_kind == {"course": 1, "personal": 1, "project": 2}
    by_gpu = {f.key: f.gpu_hours for f in cs.breakdown(rows, "gpu_type")}
    assert by_gpu == {"a100": Decimal(3), "cpu only": Decimal(0), "h100": Decimal("3.5")}
    everything = cs.total(rows)
    assert (everything.sessions, everything.charged, everything.gpu_hours) == (
        4,
        Decimal("53.5"),
        Decimal("6.5"),
    )
    for by in cs.GROUPINGS:  # each breakdown adds up to the total
        groups = cs.breakdown(rows, by)
        assert sum((g.charged for g in groups), Decimal(0)) == everything.charged
        assert sum(g.sessions for g in groups) == everything.sessions


def test_wh_is_unknown_until_recorded_and_summed_once_it_is() -> None:
    assert cs.total([session(1), session(2)]).wh is None
    assert cs.total([session(1, wh="120.5"), session(2), session(3, wh="30")]).wh == Decimal(
        "150.5"
    )
    assert cs.total([session(1)]).gpu_busy_hours is None


def test_the_period_includes_its_start_and_excludes_its_end() -> None:
    rows = [session(i, at=T0 + timedelta(days=i)) for i in range(5)]
    chosen = cs.console(rows, T0 + timedelta(days=1), T0 + timedelta(days=3))
    assert chosen.total.sessions == 2
    assert [f.key for f in chosen.by["hub"]] == ["lahore"]
    assert set(chosen.by) == set(cs.GROUPINGS)


def test_funding_spent_is_what_is_neither_left_nor_expired() -> None:
    horizon = T0 + timedelta(days=30)
    lots = [
        cs.LotRow("programme", Decimal(60), Decimal(10), T0 + timedelta(days=10)),
        cs.LotRow("programme", Decimal(25), Decimal(0), None),
        cs.LotRow(
            "programme", Decimal(5), Decimal(0), T0 - timedelta(days=1)
        ),  # due, not yet expired
        cs.LotRow("ignite", Decimal(40), Decimal(0), T0 + timedelta(days=90)),
    ]
    table = cs.funding(
        {"programme": Decimal(200), "ignite": Decimal(40)},
        {"programme": Decimal(15)},
        lots,
        horizon=horizon,
    )
    programme, ignite = {f.source: f for f in table}["programme"], table[0]
    assert [f.source for f in table] == ["ignite", "programme"]
    assert (programme.granted, programme.remaining, programme.expired) == (
        Decimal(200),
        Decimal(90),
        Decimal(15),
    )
    assert programme.spent == Decimal(95)
    assert programme.expiring == Decimal(55)  # 60 - 10 reserved, and the 5 already due
    assert (ignite.spent, ignite.expiring) == (Decimal(0), Decimal(0))


def test_near_zero_lists_accounts_below_the_line_emptiest_first() -> None:
    rows = [
        cs.AccountRow("a", "personal", Decimal(12), Decimal(0)),
        cs.AccountRow("b", "project", Decimal(30), Decimal(25)),
        cs.AccountRow("c", "course", Decimal(0), Decimal(0)),
        cs.AccountRow("d", "personal", Decimal(10), Decimal(0)),
    ]
    assert [(r.account, r.available) for r in cs.near_zero(rows, Decimal(10))] == [
        ("c", Decimal(0)),
        ("b", Decimal(5)),
    ]


@pytest.mark.parametrize(
    ("state", "gpus", "busy", "up"),
    [
        ("up", [cs.GpuReading(4, 1, 0), cs.GpuReading(2, 2, 0)], 3, True),
        ("degraded", [cs.GpuReading(4, 1, 2)], 1, True),
        ("down", [cs.GpuReading(None, None, None)], None, False),
        ("maintenance", [cs.GpuReading(4, 4, 0)], 0, True),
        ("maintenance", [cs.GpuReading(None, None, None)], None, False),
    ],
    ids=["up", "some-out-of-service", "controller-down", "maintenance", "maintenance-and-down"],
)
def test_hub_now(state: str, gpus: list[cs.GpuReading], busy: int | None, up: bool) -> None:
    queue = None if busy is None else 2
    hub = cs.hub_now("lahore", state, gpus, queue, 3)
    assert (hub.gpus_busy, hub.controller_up, hub.sessions) == (busy, up, 3)
