"""The console's tables, plots and page, and the choice of period: pure, no hub."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from computehub.credits import console as cs
from computehub.credits.service import consolepage, consoletables, svgplot
from computehub.credits.service.consoleapi import DEFAULT_BELOW, choice
from computehub.credits.service.errors import ApiError
from computehub.credits.service.page import Links

NOW = datetime(2026, 3, 31, 12, tzinfo=UTC)
SOON = timedelta(days=30)


def figures() -> cs.Console:
    rows = [
        cs.SessionRow(1, "lahore", "project", "health", "h100", Decimal("2.5"), Decimal("25"),
                      Decimal("40"), True, NOW - timedelta(days=1)),
        cs.SessionRow(2, "karachi", "personal", None, "a100", Decimal(1), Decimal("6.0001"),
                      Decimal(10), False, NOW - timedelta(days=2)),
    ]  # fmt: skip
    return cs.console(rows, NOW - timedelta(days=30), NOW)


def test_amounts_are_exact_decimal_strings_and_unknown_figures_null() -> None:
    table = consoletables.period_table("hub", figures().by["hub"])
    assert table.json() == [
        {"key": "karachi", "sessions": 1, "gpu_hours": "1.00", "gpu_busy_hours": None,
         "credits_charged": "6.0001", "wh": None, "culled": 0, "credits_saved": "0.00",
         "wh_simulated": None},
        {"key": "lahore", "sessions": 1, "gpu_hours": "2.50", "gpu_busy_hours": None,
         "credits_charged": "25.00", "wh": None, "culled": 1, "credits_saved": "15.00",
         "wh_simulated": None},
    ]  # fmt: skip


def test_csv_has_a_header_of_keys_and_one_line_per_row() -> None:
    table = consoletables.period_table("category", figures().by["category"])
    lines = list(csv.reader(io.StringIO(table.csv())))
    assert lines[0] == [c.key for c in table.columns]
    assert lines[1] == ["health", "1", "2.50", "", "25.00", "", "1", "15.00", ""]
    assert lines[2][0] == "none"


def test_csv_cells_a_spreadsheet_would_run_are_quoted_as_text() -> None:
    rows = [cs.AccountRow("=cmd|calc", "personal", Decimal(1), Decimal(0))]
    text = consoletables.accounts_table(rows).csv()
    assert "'=cmd|calc" in text
    assert ",1.00," in text


def test_the_plot_draws_a_bar_per_known_value_scaled_to_the_largest() -> None:
    svg = svgplot.bars(
        "GPU-hours <by hub>",
        ["lahore", "<karachi>"],
        [
            svgplot.Series("allocated", (Decimal(4), Decimal(1))),
            svgplot.Series("busy", (None, None)),
        ],
    )
    widths = [float(w) for w in re.findall(r'class="ch-bar"[^>]*width="([0-9.]+)"', svg)]
    assert widths == [360.0, 90.0]
    assert svg.count("not recorded") == 2
    assert "<karachi>" not in svg
    assert "&lt;karachi&gt;" in svg
    assert svgplot.bars("nothing", [], []).startswith("<p")


def test_the_page_has_every_panel_with_a_plot_and_both_exports() -> None:
    hubs = [cs.hub_now("lahore", "maintenance", [cs.GpuReading(4, 3, 0)], 0, 1,
                       "<b>Cooling</b> work")]  # fmt: skip
    chosen = figures()
    tables = {"hubs": consoletables.hubs_table(hubs)}
    for by, rows in chosen.by.items():
        tables[f"period-{by}"] = consoletables.period_table(by, rows)
    tables["applications"] = consoletables.applications_table([])
    tables["funding"] = consoletables.funding_table(
        cs.funding({"programme": Decimal(100)}, {}, [], horizon=NOW)
    )
    tables["accounts"] = consoletables.accounts_table(
        [cs.AccountRow("low", "personal", Decimal(1), Decimal(0), NOW + timedelta(hours=3))]
    )
    view = consolepage.ConsoleView(
        tables=tables,
        total=consoletables.period_row(chosen.total),
        query={"since": "2026-03-01", "until": "2026-03-31"},
        hub_answered=True,
        xsrf="tok",
    )
    page = consolepage.render("opal", view, links=Links())
    assert set(tables) == set(consoletables.TABLE_NAMES)
    for name in consoletables.TABLE_NAMES:
        panel = re.search(rf'id="ch-{name}">.*?Export:.*?</p></div>', page, re.S)
        assert panel, name
        assert f"/services/credits/console/export/{name}.csv?since=2026-03-01" in panel.group(0)
        assert "/services/credits/api/v1/console/" in panel.group(0)
        assert "<svg" in panel.group(0) or "Nothing to plot" in panel.group(0)
    assert "&lt;b&gt;Cooling&lt;/b&gt; work" in page
    assert '<input type="hidden" name="_xsrf" value="tok">' in page
    assert "<script" not in page
    # Credits with 2 decimals on the page (exact in the JSON and CSV).
    assert 'data-figure="Credits charged">31.00<' in page
    assert 'data-col="next_expiry_at">2026-03-31 15:00 UTC<' in page


@pytest.mark.parametrize(
    ("args", "since", "until", "days", "below"),
    [
        ({}, NOW - timedelta(days=30), NOW, 30, DEFAULT_BELOW),
        ({"since": "2026-03-01", "until": "2026-03-02", "days": "7", "below": "2.5"},
         datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC), 7, Decimal("2.5")),
        ({"until": "2026-02-01"}, datetime(2026, 1, 2, tzinfo=UTC),
         datetime(2026, 2, 1, tzinfo=UTC), 30, DEFAULT_BELOW),
    ],
    ids=["default", "all-chosen", "until-only"],
)  # fmt: skip
def test_choice(
    args: dict[str, str | None], since: datetime, until: datetime, days: int, below: Decimal
) -> None:
    chosen = choice(args, NOW, SOON)
    assert (chosen.since, chosen.until, chosen.expiring_days, chosen.below) == (
        since,
        until,
        days,
        below,
    )


@pytest.mark.parametrize(
    ("args", "status"),
    [
        ({"since": "2026-03-02", "until": "2026-03-01"}, 422),
        ({"since": "2026-3-1"}, 400),
        ({"days": "0"}, 400),
        ({"days": "١٢"}, 400),
        ({"days": "99999"}, 400),
        ({"below": "-1"}, 400),
        ({"below": "1e3"}, 400),
    ],
    ids=["reversed", "bad-day", "zero-days", "arabic-digits", "too-many-days", "negative",
         "exponent"],
)  # fmt: skip
def test_a_choice_that_cant_be_read_is_refused(args: dict[str, str | None], status: int) -> None:
    with pytest.raises(ApiError) as refused:
        choice(args, NOW, SOON)
    assert refused.value.status == status
