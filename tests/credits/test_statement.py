"""The statement builder on plain rows: its lines, its totals, and the checks that name a
ledger that does not add up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from computehub.credits import statement as st

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
D = Decimal


def _rows(**changes: object) -> st.LedgerRows:
    """A settled session: 2 h of one H100 at 10.00 (20.00 held), 1.5 h used (15.00)."""
    fields: dict[str, object] = {
        "hold_id": 7,
        "account": "lab",
        "hub": "north",
        "job_id": "4242",
        "status": "settled",
        "user": "ana",
        "placed_at": T0,
        "closed_at": T0 + timedelta(hours=1.5),
        "hours": D("2"),
        "amount": D("20"),
        "resources": (st.ResourceRow("gpu:h100", 1, D("10")),),
        "entries": (
            st.EntryRow(1, "hold", D("20"), T0, D("2")),
            st.EntryRow(2, "charge", D("15"), T0 + timedelta(hours=1.5)),
            st.EntryRow(3, "release", D("5"), T0 + timedelta(hours=1.5)),
        ),
        "charge": st.ChargeRow(D("15"), D("15"), T0 + timedelta(hours=1.5)),
        "usage": (st.UsageRow("gpu:h100", D("1.5"), D("10"), D("15")),),
    }
    fields.update(changes)
    return st.LedgerRows(**fields)  # type: ignore[arg-type]


def test_a_settled_session_lists_reservation_usage_and_release() -> None:
    built = st.build(_rows())
    assert built.adds_up
    assert [(line.kind, line.amount) for line in built.lines] == [
        ("hold", D("20")),
        ("usage", D("15")),
        ("release", D("5")),
    ]
    usage = built.lines[1]
    assert (usage.resource, usage.count, usage.rate, usage.hours) == (
        "gpu:h100",
        1,
        D(10),
        D("1.5"),
    )
    assert (built.held, built.charged, built.returned) == (D(20), D(15), D(5))
    assert built.per_hour == D(10)
    assert built.closed_because is None  # no reason on the charge


def test_why_it_closed_is_the_settlements_reason_not_the_releases() -> None:
    entries = (
        st.EntryRow(1, "hold", D("20"), T0, D("2")),
        st.EntryRow(2, "charge", D("15"), T0, reason="the session ended"),
        st.EntryRow(3, "release", D("5"), T0, reason="unused part of the hold"),
    )
    assert st.build(_rows(entries=entries)).closed_because == "the session ended"
    void = (
        st.EntryRow(1, "hold", D("20"), T0, D("2")),
        st.EntryRow(2, "release", D("20"), T0, reason="the start failed"),
    )
    voided = st.build(_rows(status="voided", entries=void, charge=None, usage=()))
    assert voided.closed_because == "the start failed"


@pytest.mark.parametrize(
    ("changes", "difference"),
    [
        # The hold's amount disagrees with its entries.
        ({"amount": D("21")}, "the hold is 21 but its hold and extension entries add up to 20"),
        # A usage line missing: the lines no longer add up to the charge's cost.
        ({"usage": ()}, "the usage lines cost 0 but the charge records a cost of 15"),
        # The release lost: held is not charged + returned.
        (
            {
                "entries": (
                    st.EntryRow(1, "hold", D("20"), T0, D("2")),
                    st.EntryRow(2, "charge", D("15"), T0),
                )
            },
            "held 20 is not charged 15 + returned 0",
        ),
        # The journal's charge entry differs from the charge.
        (
            {
                "entries": (
                    st.EntryRow(1, "hold", D("20"), T0, D("2")),
                    st.EntryRow(2, "charge", D("14"), T0),
                    st.EntryRow(3, "release", D("5"), T0),
                )
            },
            "the charge is 15 but the journal's charge entries are 14",
        ),
        # A running session with a release.
        (
            {"status": "open", "charge": None, "usage": (), "closed_at": None},
            "a running session has a charge or a release",
        ),
    ],
)
def test_a_ledger_that_does_not_add_up_is_named(
    changes: dict[str, object], difference: str
) -> None:
    assert difference in st.build(_rows(**changes)).differences


def test_usage_beyond_the_hold_is_a_cap_line_so_the_lines_add_up_to_the_charge() -> None:
    rows = _rows(
        entries=(
            st.EntryRow(1, "hold", D("20"), T0, D("2")),
            st.EntryRow(2, "charge", D("20"), T0),
        ),
        charge=st.ChargeRow(D("20"), D("23.5"), T0),
        usage=(st.UsageRow("gpu:h100", D("2.35"), D("10"), D("23.5")),),
    )
    built = st.build(rows)
    assert built.adds_up, built.differences
    assert [(line.kind, line.amount) for line in built.lines] == [
        ("hold", D("20")),
        ("usage", D("23.5")),
        ("cap", D("-3.5")),
    ]
    assert (built.usage_cost, built.charged, built.returned) == (D("23.5"), D(20), D(0))


def test_extensions_and_a_void() -> None:
    entries = (
        st.EntryRow(1, "hold", D("20"), T0, D("2")),
        st.EntryRow(2, "extend", D("5"), T0 + timedelta(hours=1), D("0.5")),
        st.EntryRow(3, "release", D("25"), T0 + timedelta(hours=1)),
    )
    built = st.build(_rows(status="voided", amount=D(25), entries=entries, charge=None, usage=()))
    assert built.adds_up, built.differences
    assert [line.kind for line in built.lines] == ["hold", "extend", "release"]
    assert (built.held, built.charged, built.returned) == (D(25), D(0), D(25))


def test_a_running_session_has_no_charge_yet() -> None:
    built = st.build(
        _rows(
            status="open",
            closed_at=None,
            entries=(st.EntryRow(1, "hold", D("20"), T0, D("2")),),
            charge=None,
            usage=(),
        )
    )
    assert built.adds_up
    assert (built.charged, built.returned, built.ended_at) == (None, None, None)


@pytest.mark.parametrize(
    ("note", "minutes"),
    [
        (
            "Stopped by computehub: its GPUs were below 5 % use for 42 min (the limit is "
            "30 min). That saved you 3.00 credits, returned to lab.",
            42,
        ),
        ("Stopped by computehub: its GPUs were below 5 % use for 50 s (the limit is 30 s).", 0),
        ("Stopped by an operator: use for 42 min (maintenance).", None),
        ("the session ended", None),
        (None, None),
    ],
)
def test_gpu_idle_minutes_come_only_from_the_rules_note(
    note: str | None, minutes: int | None
) -> None:
    assert st.gpu_idle_minutes(note) == minutes
