"""Named servers and simulated energy in the statement, the sessions table, JSON and CSV.

Pure tables: what a server's token speaks for (its scopes), and how a statement names
the server and labels energy from simulated GPUs.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from computehub.credits import console as cs
from computehub.credits.service import consoletables, statementviews
from computehub.credits.service.access import Caller
from computehub.credits.service.energywords import energy_words
from computehub.credits.service.serverscope import token_server
from tests.credits_service.test_statement_views import _statement

D = Decimal
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SERVER_SCOPES = ("users:activity!user=alice", "custom:credits:access", "custom:credits:read")


@pytest.mark.parametrize(
    ("name", "kind", "scopes", "server"),
    [
        pytest.param(
            "alice", "user", {*SERVER_SCOPES, "access:servers!server=alice/gpu-run"}, "gpu-run",
            id="a-named-servers-token",
        ),
        pytest.param(
            "alice", "user", {*SERVER_SCOPES, "access:servers!server=alice/"}, "",
            id="the-default-servers-token",
        ),
        pytest.param(
            "alice", "user", {"access:servers!user=alice", "custom:credits:read"}, None,
            id="a-persons-token-reaches-all-their-servers",
        ),
        pytest.param(
            "alice", "user",
            {"access:servers!user=alice", "access:servers!server=bob/shared"}, None,
            id="a-person-with-a-shared-server",
        ),
        pytest.param(
            "alice", "user", {"access:servers", "access:servers!server=alice/x"}, None,
            id="an-admins-token",
        ),
        pytest.param(
            "alice", "user", {*SERVER_SCOPES, "access:servers!server=bob/gpu-run"}, None,
            id="another-users-server-is-never-ours",
        ),
        pytest.param(
            "alice", "user",
            {"access:servers!server=alice/a", "access:servers!server=alice/b"}, None,
            id="two-servers-is-no-one-server",
        ),
        pytest.param("alice", "user", set(SERVER_SCOPES), None, id="no-server-scope"),
        pytest.param(
            "al", "user", {"access:servers!server=alice/x"}, None, id="a-name-that-is-a-prefix"
        ),
        pytest.param(
            "grader", "service", {"access:servers!server=grader/x"}, None, id="a-service"
        ),
    ],
)  # fmt: skip
def test_which_server_a_token_speaks_for(
    name: str, kind: str, scopes: set[str], server: str | None
) -> None:
    assert token_server(Caller(name, kind, frozenset(scopes))) == server


@pytest.mark.parametrize(
    ("wh", "source", "words"),
    [
        (D("612.5"), "nvml", "612.5 Wh"),
        (D("612.5"), "simulated", "612.5 Wh (simulated GPU, not measured)"),
        (D("4560"), "simulated", "4.56 kWh (simulated GPU, not measured)"),
        (None, "simulated", "not measured"),
        (None, "nvml", "not measured"),
    ],
)
def test_energy_in_words_says_when_it_is_simulated(
    wh: Decimal | None, source: str, words: str
) -> None:
    assert energy_words(wh, source) == words


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_named_servers_statement_names_it_and_labels_simulated_energy() -> None:
    row = _statement(server_name="gpu-run", energy_source="simulated")
    text = _text(statementviews.statement_html(row))
    assert "Statement of session 9 ( named server “gpu-run” )" in text
    assert "Server named server “gpu-run”" in text
    assert "GPU energy 612.5 Wh (simulated GPU, not measured)" in text
    data = statementviews.statement_json(row)
    assert (data["server_name"], data["energy_source"]) == ("gpu-run", "simulated")
    [head, session, *_lines] = list(csv.reader(io.StringIO(statementviews.statement_csv([row]))))
    found = dict(zip(head, session, strict=True))
    assert (found["server_name"], found["energy_source"]) == ("gpu-run", "simulated")


def test_the_default_servers_statement_and_measured_energy() -> None:
    row = _statement(energy_source="nvml")
    text = _text(statementviews.statement_html(row))
    assert "Server your default server" in text
    assert "named server" not in text
    assert "GPU energy 612.5 Wh Why" in text
    data = statementviews.statement_json(row)
    assert (data["server_name"], data["energy_source"]) == ("", "nvml")


def test_a_server_name_is_escaped() -> None:
    row = _statement(server_name="<b>x</b>")
    html = statementviews.statement_html(row)
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def _console_row(hold_id: int, wh: str | None, simulated: bool) -> cs.SessionRow:
    return cs.SessionRow(
        hold_id=hold_id,
        hub="lahore",
        account_kind="personal",
        category=None,
        gpu_type="h100",
        gpu_hours=D("1"),
        charged=D("10"),
        held=D("10"),
        culled=False,
        settled_at=T0,
        wh=None if wh is None else D(wh),
        wh_simulated=simulated,
    )


@pytest.mark.parametrize(
    ("rows", "wh", "simulated"),
    [
        pytest.param([("100", False), ("50", False)], "150.00", None, id="all-measured"),
        pytest.param([("100", False), ("50", True)], "150.00", "50.00", id="one-simulated"),
        pytest.param([("30", True), (None, True)], "30.00", "30.00", id="the-demo"),
        pytest.param([(None, False)], None, None, id="nothing-recorded"),
    ],
)
def test_the_console_says_how_much_of_its_energy_was_simulated(
    rows: list[tuple[str | None, bool]], wh: str | None, simulated: str | None
) -> None:
    figures = cs.PeriodFigures("total")
    for hold_id, (row_wh, is_simulated) in enumerate(rows, 1):
        figures.add(_console_row(hold_id, row_wh, is_simulated))
    answer = consoletables.period_row(figures)
    assert (answer["wh"], answer["wh_simulated"]) == (wh, simulated)
