"""A session's statement on the credits page (2 decimals), in JSON and in CSV (exact)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from computehub.credits import records as r
from computehub.credits import statement as st
from computehub.credits.service import page, statementviews

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
D = Decimal
IDLE = (
    "Stopped by computehub: its GPUs were below 5 % use for 42 min (the limit is 30 min). "
    "That saved you 4.31 credits, returned to =lab."
)


def _statement(**changes: object) -> st.Statement:
    """A culled session: 2 h of 1 H100 at 24.8436 (49.6872 held), used 1.8265 h."""
    fields: dict[str, object] = {
        "hold_id": 9,
        "account": "=lab",
        "hub": "karachi",
        "job_id": "4711",
        "status": "settled",
        "user": "ana",
        "placed_at": T0,
        "closed_at": T0 + timedelta(hours=2),
        "hours": D("2"),
        "amount": D("49.6872"),
        "resources": (st.ResourceRow("gpu:h100", 1, D("24.8436")),),
        "entries": (
            st.EntryRow(1, "hold", D("49.6872"), T0, D("2")),
            st.EntryRow(2, "charge", D("45.3763"), T0, reason="the session ended"),
            st.EntryRow(3, "release", D("4.3109"), T0, reason="the session ended"),
        ),
        "charge": st.ChargeRow(D("45.3763"), D("45.3763"), T0),
        "usage": (st.UsageRow("gpu:h100", D("1.8265"), D("24.8436"), D("45.3763")),),
        "end_note": IDLE,
        "energy_recorded": True,
        "energy_wh": D("612.5"),
    }
    fields.update(changes)
    return st.build(st.LedgerRows(**fields))  # type: ignore[arg-type]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_fold_out_shows_every_line_with_two_decimals() -> None:
    row = _statement()
    assert row.adds_up
    html = statementviews.statement_html(row)
    assert html.startswith('<details class="ch-statement" data-hold-id="9">')
    text = _text(html)
    for shown in (
        "Hub karachi",
        "Job id 4711",
        "GPUs 1 \N{MULTIPLICATION SIGN} H100",
        "Rate in force 24.84 credits per hour",
        "GPU-idle minutes 42 min",
        "GPU energy 612.5 Wh",
        "Reserved",
        "49.69",
        "Used 1 \N{MULTIPLICATION SIGN} gpu:h100 24.84 1.8265 resource-h",
        "45.38",
        "Returned",
        "4.31",
        "Held 49.69 Charged 45.38 Returned 4.31",
        "Node not recorded by the ledger",
    ):
        assert shown in text, shown
    assert "49.6872" not in html  # exact values are the API's and the CSV's
    assert "=lab" in html  # the note is shown as written, escaped
    assert "does not add up" not in html


def test_a_statement_that_does_not_add_up_says_so() -> None:
    html = statementviews.statement_html(_statement(amount=D("50")))
    assert "does not add up" in html
    assert "the hold is 50 but its hold and extension entries add up to 49.6872" in html


def test_json_is_exact() -> None:
    body = statementviews.statement_json(_statement())
    assert (body["held"], body["charged"], body["returned"]) == ("49.6872", "45.3763", "4.3109")
    assert [(line["kind"], line["amount"]) for line in body["lines"]] == [
        ("hold", "49.6872"),
        ("usage", "45.3763"),
        ("release", "4.3109"),
    ]
    assert body["lines"][1]["rate"] == "24.8436"
    assert body["gpu_idle_minutes"] == 42
    assert body["energy"] == "measured"
    assert body["adds_up"] is True
    assert body["closed_because"] == "the session ended"


def test_csv_is_exact_and_safe() -> None:
    capped = _statement(
        hold_id=10,
        end_note=None,
        entries=(
            st.EntryRow(4, "hold", D("49.6872"), T0, D("2")),
            st.EntryRow(5, "charge", D("49.6872"), T0),
        ),
        charge=st.ChargeRow(D("49.6872"), D("52"), T0),
        usage=(st.UsageRow("gpu:h100", D("2.0931"), D("24.8436"), D("52")),),
    )
    text = statementviews.statement_csv([_statement(), capped])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(row["hold_id"], row["line"], row["amount"]) for row in rows] == [
        ("9", "session", ""),
        ("9", "hold", "49.6872"),
        ("9", "usage", "45.3763"),
        ("9", "release", "4.3109"),
        ("10", "session", ""),
        ("10", "hold", "49.6872"),
        ("10", "usage", "52.00"),
        ("10", "cap", "-2.3128"),  # a number, not a formula: numbers are ours
    ]
    first = rows[0]
    assert (first["held"], first["charged"], first["returned"]) == ("49.6872", "45.3763", "4.3109")
    assert first["account"] == "'=lab"  # a spreadsheet shows it as text
    assert first["gpu_idle_minutes"] == "42"
    assert first["energy_wh"] == "612.5000"
    for hold_id in ("9", "10"):
        head = next(row for row in rows if row["hold_id"] == hold_id and row["line"] == "session")
        lines = [row for row in rows if row["hold_id"] == hold_id and row["line"] != "session"]
        charged = sum(D(row["amount"]) for row in lines if row["line"] in ("usage", "cap"))
        returned = sum((D(row["amount"]) for row in lines if row["line"] == "release"), D(0))
        assert charged == D(head["charged"])
        assert returned == D(head["returned"])
        assert D(head["held"]) == charged + returned


def test_the_page_folds_each_sessions_statement_under_its_row() -> None:
    row = _statement()
    hold = r.Hold(
        id=9,
        account="=lab",
        hub="karachi",
        job_id="4711",
        status="settled",
        hours=D(2),
        amount=D("49.6872"),
        per_hour=D("24.8436"),
        resources={"gpu:h100": 1},
        rates={"gpu:h100": D("24.8436")},
        created_at=T0,
    )
    session = r.Session(hold, "ana", closed_at=T0, charged=D("45.3763"), cost=D("45.3763"))
    balance = r.Balance("=lab", "project", D("1234.5678"), D(0), D("1234.5678"), role="owner")
    html = page.render(
        "ana",
        [balance],
        [session],
        soon=T0,
        statements={9: statementviews.statement_html(row)},
        downloads=statementviews.downloads_html(["=lab"], "/services/credits/", T0),
    )
    assert re.search(
        r'<tr data-hold-id="9".*?</tr>\s*<tr class="ch-statement-row"><td colspan="11"[^>]*>'
        r'<details class="ch-statement" data-hold-id="9">',
        html,
        re.S,
    )
    # One format for people: 2 decimals with separators, in the rows and the statement.
    assert "1,234.57" in html
    assert "49.69" in html
    assert "1234.5678" not in html
    assert "49.6872" not in html
    assert "45.3763" not in html
    assert (
        'href="/services/credits/accounts/%3Dlab/statement.csv?since=2026-03-01&amp;until=2026-04-01"'
        in html
    )
    assert (
        'href="/services/credits/accounts/%3Dlab/statement.csv?since=2026-02-01&amp;until=2026-03-01"'
        in html
    )
    assert "<script" not in html


def test_gpu_busy_hours_are_shown_beside_the_gpu_hours_charged() -> None:
    busy = _statement(gpu_busy_hours=D("0.4"))
    assert D(statementviews.statement_json(busy)["gpu_busy_hours"]) == D("0.4")
    assert "0.4 GPU-hours of 1.8265 charged (as the notebook server reported them)" in (
        _text(statementviews.statement_html(busy))
    )
    unrecorded = _statement()
    assert statementviews.statement_json(unrecorded)["gpu_busy_hours"] is None
    assert "not recorded (no report from the notebook server)" in _text(
        statementviews.statement_html(unrecorded)
    )
