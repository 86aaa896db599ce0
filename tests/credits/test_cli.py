"""``computehub credits ...`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from computehub.credits import cli
from computehub.credits.ledger import Ledger
from tests.support.ledgers import proposal_for

SITE = """
hubs:
  north:
    display_name: North AI Hub
    region: North
    slurm: {conf: /etc/slurm/north/slurm.conf}
    partitions: {gpu: {default: true}}
    gpus: {h100: {count: 4}}
    rates: {cpu: 0.5, "gpu:h100": 10}
environments:
  base: {display_name: Base, prefix: /opt/envs/base}
auth: {method: dummy, dummy: {users: {alice: researcher}}}
"""


def run(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> tuple[int, str, str]:
    status = cli.main([*argv, "--db", db_url])
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> Any:
    status, out, err = run(capsys, db_url, *argv, "--json")
    assert (status, err) == (0, "")
    return json.loads(out)


@pytest.fixture
def funded(capsys: pytest.CaptureFixture[str], db_url: str) -> str:
    """A database with a funded project ``p1`` and an empty course ``c1``."""
    run_json(capsys, db_url, "accounts", "create", "p1", "--kind", "project", "--owner", "alice")
    run_json(capsys, db_url, "accounts", "create", "c1", "--kind", "course", "--owner", "prof")
    run_json(capsys, db_url, "grant", "p1", "100", "--expires", "2099-12-31", "--note", "seed")
    return db_url


def test_grant_transfer_balance_history(capsys: pytest.CaptureFixture[str], funded: str) -> None:
    moved = run_json(capsys, funded, "transfer", "p1", "c1", "30.5", "--reason", "week 1")
    assert moved["amount"] == "30.5000"
    balance = run_json(capsys, funded, "balance", "p1")
    assert (balance["balance"], balance["held"], balance["available"]) == (
        "69.5000",
        "0.0000",
        "69.5000",
    )
    assert balance["next_expiry_at"] == "2100-01-01T00:00:00+00:00"
    history = run_json(capsys, funded, "history", "p1")
    assert [(e["kind"], e["change"]) for e in history] == [
        ("transfer", "-30.5000"),
        ("grant", "100.0000"),
    ]
    status, out, _ = run(capsys, funded, "balance", "c1")
    assert status == 0
    assert "available: 30.5000" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["grant", "p1", "-5"], "amount '-5' is negative", id="negative"),
        pytest.param(["grant", "p1", "1e9999"], "is larger than", id="huge"),
        pytest.param(["grant", "p1", "abc"], "is not a decimal number", id="letters"),
        pytest.param(["grant", "p1", "1.00001"], "more than 4 decimal places", id="decimals"),
        pytest.param(["grant", "p1", "NaN"], "not a finite number", id="nan"),
        pytest.param(["grant", "ghost", "5"], "unknown account 'ghost'", id="unknown-account"),
        pytest.param(
            ["transfer", "p1", "c1", "1000"], "100.0000 credits available", id="insufficient"
        ),
        pytest.param(["transfer", "c1", "p1", "1"], "0 credits available", id="empty-source"),
        pytest.param(
            ["accounts", "create", "p1", "--kind", "project"], "already exists", id="duplicate"
        ),
        pytest.param(["accounts", "create", "a:b", "--kind", "project"], "bad account", id="name"),
        pytest.param(
            ["accounts", "add-member", "p1", "sam", "--role", "student"], "no student", id="role"
        ),
        pytest.param(
            ["grant", "p1", "5", "--expires", "2020-01-01"], "not in the future", id="past"
        ),
    ],
)
def test_refusals_exit_non_zero_with_one_line_and_change_nothing(
    capsys: pytest.CaptureFixture[str], funded: str, argv: list[str], message: str
) -> None:
    before = [run_json(capsys, funded, "history", name) for name in ("p1", "c1")]
    status, out, err = run(capsys, funded, *argv)
    assert status == 1
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("computehub credits: error: ")
    assert message in err
    assert [run_json(capsys, funded, "history", name) for name in ("p1", "c1")] == before
    assert run_json(capsys, funded, "check")["ok"] is True


def test_rates_from_a_site_file(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE)
    first = run_json(capsys, db_url, "rates", "--site", str(site))
    assert first["current"] == [
        {"hub": "north", "resource": "cpu", "rate": "0.5000"},
        {"hub": "north", "resource": "gpu:h100", "rate": "10.0000"},
    ]
    assert len(first["recorded"]) == 2
    again = run_json(capsys, db_url, "rates", "--site", str(site))
    assert again["recorded"] == []
    site.write_text(SITE.replace("cpu: 0.5", "cpu: 0.75"))
    changed = run_json(capsys, db_url, "rates", "--site", str(site))
    assert [(r["resource"], r["rate"]) for r in changed["recorded"]] == [("cpu", "0.7500")]
    assert len(changed["history"]) == 3
    site.write_text(SITE.replace("cpu: 0.5", "cpu: -1"))
    status, _, err = run(capsys, db_url, "rates", "--site", str(site))
    assert status == 1
    assert len(err.splitlines()) == 1
    assert "hubs.north.rates" in err


def test_report_is_csv_by_default(capsys: pytest.CaptureFixture[str], funded: str) -> None:
    with Ledger(funded) as ledger:
        ledger.sync_rates({("north", "gpu:h100"): 10}, actor="site")  # type: ignore[dict-item]
        hold = ledger.place_hold("p1", "north", {"gpu:h100": 1}, "2", actor="spawner")
        ledger.settle(hold.id, {"gpu:h100": "1.5"}, actor="spawner")
    status, out, _ = run(capsys, funded, "report", "--by", "hub", "--since", "2020-01-01")
    assert status == 0
    assert out.splitlines() == ["hub,credits,resource_hours,sessions", "north,15.0000,1.5000,1"]
    rows = run_json(capsys, funded, "report", "--by", "account")
    assert [(r["key"], r["credits"]) for r in rows] == [("p1", "15.0000")]


def test_check_fails_on_a_difference(capsys: pytest.CaptureFixture[str], funded: str) -> None:
    assert run_json(capsys, funded, "check")["ok"] is True
    with Ledger(funded) as ledger, ledger.engine.begin() as connection:
        connection.execute(text("UPDATE accounts SET held = 10000 WHERE name = 'p1'"))
    status, out, err = run(capsys, funded, "check", "--json")
    assert status == 1
    assert err == "computehub credits: check found 2 differences\n"
    assert any("p1: held 1.0000, open holds say 0" in d for d in json.loads(out)["differences"])


def test_the_environment_names_the_database(funded: str, tmp_path: Path) -> None:
    env = {**os.environ, "COMPUTEHUB_DB_URL": funded}
    done = subprocess.run(
        [sys.executable, "-m", "computehub.credits.cli", "balance", "p1", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["balance"] == "100.0000"
    refused = subprocess.run(
        [sys.executable, "-m", "computehub.credits.cli", "transfer", "p1", "c1", "abc"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr == "computehub credits: error: amount 'abc' is not a decimal number\n"


def test_check_audits_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Not even the schema: on a database that is not a ledger it refuses, creating nothing."""
    other = tmp_path / "not-a-ledger.sqlite"
    status, _out, err = run(capsys, f"sqlite:///{other}", "check")
    assert status == 1
    assert "schema revision none (not a ledger)" in err
    engine = create_engine(f"sqlite:///{other}")
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_courses_from_the_command_line(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> None:
    made = run_json(
        capsys,
        db_url,
        "course",
        "create",
        "ml-101",
        "--title",
        "Machine learning",
        "--start",
        "2026-01-05",
        "--end",
        "2026-06-30",
        "--owner",
        "prof",
    )
    assert (made["id"], made["starts_on"], made["ends_on"]) == (
        "ml-101",
        "2026-01-05",
        "2026-06-30",
    )
    assert made["members"] == {"prof": "owner"}
    bad = tmp_path / "bad.csv"
    bad.write_text("username,role\nana,student\nbo b,boss\nana,ta\n")
    status, out, err = run(capsys, db_url, "course", "roster", "ml-101", str(bad), "--json")
    assert status == 1
    assert "nothing changed" in err
    assert [e["line"] for e in json.loads(out)["errors"]] == [3, 4]
    good = tmp_path / "good.csv"
    good.write_text("ines,instructor\nana,student\n")
    plan = run_json(capsys, db_url, "course", "roster", "ml-101", str(good))
    assert (plan["add"], plan["applied"]) == ({"ana": "student", "ines": "instructor"}, False)
    assert run_json(capsys, db_url, "course", "show", "ml-101")["members"] == {"prof": "owner"}
    assert run_json(capsys, db_url, "course", "roster", "ml-101", str(good), "--apply")["applied"]
    shown = run_json(capsys, db_url, "course", "show", "ml-101", "--site", str(_site(tmp_path)))
    assert shown["members"] == {"ana": "student", "ines": "instructor", "prof": "owner"}
    assert shown["resources"] == [{"hub": "north", "resource": "gpu:h100"}]
    shared = run_json(
        capsys, db_url, "course", "share", "ml-101", "--allowance", "20", "--weekly-cap", "5"
    )
    assert shared == {
        "share": "fixed",
        "allowance": "20.0000",
        "weekly_cap": "5.0000",
        "students": {},
    }
    status, _out, err = run(capsys, db_url, "course", "allowance", "ml-101", "prof", "30")
    assert status == 1
    assert err.strip().endswith("'prof' is not a student of course 'ml-101'")
    assert run_json(capsys, db_url, "course", "share", "ml-101", "--equal")["share"] == "equal"
    assert run_json(capsys, db_url, "course", "archive", "ml-101")["archived_by"].startswith("cli")
    status, _out, err = run(capsys, db_url, "grant", "ml-101", "5")
    assert status == 1
    assert "'ml-101' was archived" in err
    assert run_json(capsys, db_url, "course", "list", "--current") == []
    assert [c["id"] for c in run_json(capsys, db_url, "course", "list", "--user", "ana")] == [
        "ml-101"
    ]


def _site(folder: Path) -> Path:
    path = folder / "site.yaml"
    path.write_text(
        SITE.replace(
            "    rates:",
            '    limits: {access: {"gpu:h100": {courses: [ml-101]}}}\n    rates:',
        )
    )
    return path


def test_applications_from_the_command_line(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    with Ledger(db_url) as ledger:
        ledger.sync_rates({("south", "gpu:a100"): Decimal(6)}, actor="site")
        late = ledger.submit_application(
            "fatima", proposal_for("riverwatch", new_account=True, ends_on=date(2099, 6, 30))
        )
        first = ledger.submit_application(
            "ana", proposal_for("lab", new_account=True, ends_on=date(2099, 6, 30))
        )
        other = ledger.submit_application(
            "omar", proposal_for("omar-lab", new_account=True, priority=False)
        )
    queue = run_json(capsys, db_url, "applications", "list", "--open")
    assert [a["id"] for a in queue] == [late.id, first.id, other.id]
    shown = run_json(capsys, db_url, "applications", "show", str(late.id))
    assert (shown["status"], shown["estimate"], shown["proposal"]["category"]) == (
        "submitted",
        "1200.0000",
        "flood-prediction",
    )
    approve = ("applications", "approve", str(late.id), "--hours", "150")
    done = run_json(capsys, db_url, *approve, "--expires", "2099-12-31")
    again = run_json(capsys, db_url, *approve, "--expires", "2099-12-31")
    assert done == again
    assert (done["status"], done["approved_amount"]) == ("approved", "900.0000")
    assert run_json(capsys, db_url, "balance", "riverwatch")["balance"] == "900.0000"
    status, _out, err = run(capsys, db_url, *approve, "--hours", "10")
    assert status == 1
    assert "approved already for 150 GPU-hours" in err
    rejected = run_json(
        capsys, db_url, "applications", "reject", str(other.id), "--reason", "Out of scope."
    )
    assert (rejected["status"], rejected["reason"]) == ("rejected", "Out of scope.")
    assert [a["id"] for a in run_json(capsys, db_url, "applications", "list", "--open")] == [
        first.id
    ]
    assert [
        a["id"] for a in run_json(capsys, db_url, "applications", "list", "--applicant", "omar")
    ] == [other.id]
    status, _out, err = run(capsys, db_url, "applications", "show", "999")
    assert (status, err.strip()) == (1, "computehub credits: error: there is no application 999")
    assert run_json(capsys, db_url, "check")["ok"] is True


def test_energy_is_reported_by_hub_as_csv_and_json(
    capsys: pytest.CaptureFixture[str], funded: str
) -> None:
    with Ledger(funded) as ledger:
        ledger.sync_rates({("north", "gpu:h100"): 10}, actor="site")  # type: ignore[dict-item]
        for job, wh in (("1", Decimal("600")), ("2", Decimal("400")), ("3", None)):
            hold = ledger.place_hold("p1", "north", {"gpu:h100": 1}, "2", actor="sp", job_id=job)
            ledger.settle(hold.id, {"gpu:h100": "1"}, actor="spawner")
            # The demo's hook reads simulated GPUs: job 2's figure is one of those.
            source = "simulated" if job == "2" else "nvml"
            ledger.record_energy(
                hold.id, wh, seconds=3600, gpus=1, actor="reconciler", source=source
            )
    status, out, _ = run(capsys, funded, "energy", "--by", "hub", "--from", "2020-01-01")
    assert status == 0
    assert out.splitlines() == [
        "hub,sessions,measured,unknown,pending,wh,credits,credits_per_kwh,simulated",
        "north,3,2,1,0,1000.0000,30.0000,20.0000,1",
    ]
    rows = run_json(capsys, funded, "energy", "--by", "gpu", "--to", "2999-01-01")
    assert [(r["key"], r["wh"], r["credits_per_kwh"]) for r in rows] == [
        ("gpu:h100", "1000.0000", "20.0000")
    ]


def test_history_shows_each_entrys_effect_with_its_sign(
    capsys: pytest.CaptureFixture[str], funded: str
) -> None:
    """A hold takes from available only; its release gives back; the charge takes from balance."""
    with Ledger(funded) as ledger:
        ledger.sync_rates({("north", "gpu:h100"): Decimal("10")}, actor="site")
        hold = ledger.place_hold("p1", "north", {"gpu:h100": 1}, "1", actor="alice").id
        ledger.settle(hold, {"gpu:h100": "0.3052"}, actor="spawner")
    history = run_json(capsys, funded, "history", "p1")
    effects = [(e["kind"], e["effect"]["balance"], e["effect"]["available"]) for e in history]
    assert effects == [
        ("release", "0.0000", "+6.9480"),
        ("charge", "-3.0520", "0.0000"),
        ("hold", "0.0000", "-10.0000"),
        ("grant", "+100.0000", "+100.0000"),
    ]
    # The exact figures add up to the account's: balance 96.948, nothing held.
    balance = run_json(capsys, funded, "balance", "p1")
    assert sum(Decimal(e["effect"]["balance"]) for e in history) == Decimal(balance["balance"])
    assert sum(Decimal(e["effect"]["available"]) for e in history) == Decimal(balance["available"])
    status, out, _ = run(capsys, funded, "history", "p1")
    assert status == 0
    release = next(line for line in out.splitlines() if " release " in line)
    assert "\N{PLUS-MINUS SIGN}0.00" in release
    assert "+6.95" in release
    assert "-6.9" not in release
    hold_line = next(line for line in out.splitlines() if " hold " in line)
    assert "\N{MINUS SIGN}10.00" in hold_line
