"""Paying for sessions on the real bed: hold at start, settle from sacct at stop."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from tests.support.golden_scenario import table_rows
from tests.support.sessions import stop, wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(hub: Any) -> Iterator[Ledger]:
    with Ledger(hub.ledger_url) as opened:
        yield opened


def sacct(bed: SlurmBed, hub_name: str, job_id: str) -> list[str]:
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "ElapsedRaw,AllocTRES,State"],
        env=bed.clusters[hub_name].env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return out.split("|")


@pytest.mark.parametrize(
    ("hub_name", "gpu", "count", "rate"),
    [
        ("lahore", "h100", 2, Decimal(10)),
        ("karachi", "a100", 1, Decimal(7)),
        # Two MIG slices of an A100, GRES type 1g.10gb, at 1 credit per slice-hour.
        ("karachi", "a100:1g.10gb", 2, Decimal(1)),
    ],
)
def test_stop_charges_exactly_the_gpu_time_used(
    hub: Any,
    slurm_bed: SlurmBed,
    ledger: Ledger,
    clean: None,
    hub_name: str,
    gpu: str,
    count: int,
    rate: Decimal,
) -> None:
    before = ledger.balance("alice")
    hub.api(
        "POST",
        "/users/alice/server",
        {"hub": hub_name, "gpu_type": gpu, "gpus": count, "hours": "2"},
    )
    server = wait_ready(hub, "alice")
    hold_id = server["state"]["hold_id"]
    during = ledger.balance("alice")
    assert during.held - before.held == rate * count * 2  # rate x GPUs x hours, reserved
    assert during.balance == before.balance
    time.sleep(2)
    stop(hub, "alice")
    deadline = time.monotonic() + 60  # the stop settles, or the reconciler does soon after
    while ledger.hold(hold_id).status == "open":
        assert time.monotonic() < deadline, "the stopped session was never settled"
        time.sleep(0.5)
    after = ledger.balance("alice")
    elapsed, tres, _state = sacct(slurm_bed, hub_name, server["state"]["job_id"])
    assert f"gres/gpu:{gpu.split(':')[-1]}={count}" in tres.split(",")
    charge = next(e for e in ledger.history("alice") if e.kind == "charge" and e.hold_id == hold_id)
    used = (count * Decimal(elapsed) / 3600).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    expected = (rate * used).quantize(Decimal("0.0001"))
    assert -charge.change == expected > 0
    assert before.balance - after.balance == expected  # the balance moved by the charge only
    assert after.held == before.held  # the rest of the hold is released
    assert ledger.check().ok


def test_short_balance_is_refused_before_anything_reaches_slurm(
    hub: Any, slurm_bed: SlurmBed, ledger: Ledger, clean: None
) -> None:
    ledger.create_account("small-lab", "project", actor="test", owner="bob")
    ledger.grant("small-lab", "15", actor="test", idempotency_key="small-lab-grant")
    jobs_before = slurm_jobs(slurm_bed, "bob")
    status, body = hub.api(
        "POST",
        "/users/bob/server",
        {"hub": "lahore", "gpu_type": "a100", "gpus": 2, "hours": "1", "account": "small-lab"},
    )
    assert status == 402
    assert body["message"] == (
        "Not enough credits in small-lab: 15.0000 available, this session needs 16.0000 "
        "(16 credits/h for 1 h); it can fund up to 0.93 h."
    )
    assert slurm_jobs(slurm_bed, "bob") == jobs_before
    small = ledger.balance("small-lab")
    assert (small.balance, small.held) == (Decimal(15), Decimal(0))
    assert not ledger.open_holds()


def test_an_archived_course_pays_for_no_new_session(
    hub: Any, slurm_bed: SlurmBed, ledger: Ledger, clean: None
) -> None:
    today = datetime.now(UTC).date()
    ledger.create_course(
        "old-course",
        "An old course",
        today - timedelta(days=90),
        today,
        actor="test",
        owner="alice",
    )
    ledger.grant("old-course", "100", actor="test", idempotency_key="old-course-grant")
    ledger.archive_course("old-course", actor="test")
    jobs_before = slurm_jobs(slurm_bed, "alice")
    status, body = hub.api(
        "POST", "/users/alice/server", {"gpu_type": "none", "account": "old-course"}
    )
    assert status == 409, body
    assert body["message"] == (
        f"The course old-course was archived on {today:%Y-%m-%d}: its credits can't pay "
        "for new sessions. Choose another account to pay from."
    )
    assert slurm_jobs(slurm_bed, "alice") == jobs_before
    assert ledger.balance("old-course").held == Decimal(0)
    assert ledger.check().ok


def test_a_student_over_the_weekly_cap_is_refused_before_anything_reaches_slurm(
    hub: Any, slurm_bed: SlurmBed, ledger: Ledger, clean: None
) -> None:
    today = datetime.now(UTC).date()
    ledger.create_course(
        "capped-course",
        "A capped course",
        today - timedelta(days=30),
        today + timedelta(days=60),
        actor="test",
    )
    ledger.add_member("capped-course", "alice", "student", actor="test")
    ledger.grant("capped-course", "100", actor="test", idempotency_key="capped-course-grant")
    rate = ledger.rates("lahore")[("lahore", "cpu")]
    ledger.set_course_sharing("capped-course", weekly_cap=rate, actor="test")
    # Earlier this week alice used half an hour of the course's CPU time.
    earlier = ledger.place_hold("capped-course", "lahore", {"cpu": 1}, "1", actor="alice")
    ledger.settle(earlier.id, {"cpu": "0.5"}, actor="test")
    jobs_before = slurm_jobs(slurm_bed, "alice")
    rows_before = _money_rows(ledger)
    status, body = hub.api(
        "POST",
        "/users/alice/server",
        {"hub": "lahore", "gpu_type": "none", "hours": "1", "account": "capped-course"},
    )
    assert status == 402, body
    monday = today + timedelta(days=7 - today.weekday())
    half = rate / 2
    assert body["message"] == (
        f"Your weekly cap on course capped-course is {rate.normalize():f} credits: you have "
        f"used {half.normalize():f}, {half.normalize():f} left, and this session needs "
        f"{rate.normalize():f}. It resets on {monday:%A %d %B %Y} at 00:00 UTC. Choose a "
        "shorter or smaller session, or another account to pay from."
    )
    assert slurm_jobs(slurm_bed, "alice") == jobs_before
    assert _money_rows(ledger) == rows_before
    assert ledger.check().ok


def _money_rows(ledger: Ledger) -> dict[str, Any]:
    """Every ledger row but the identities' (a login records when its person was last seen)."""
    return {table: rows for table, rows in table_rows(ledger).items() if table != "identities"}


def test_an_account_one_may_not_charge_is_refused(hub: Any, ledger: Ledger, clean: None) -> None:
    status, body = hub.api("POST", "/users/alice/server", {"gpu_type": "none", "account": "bob"})
    assert status == 400
    assert body["message"].startswith("Invalid spawn option account: you can't charge 'bob'")


def slurm_jobs(bed: SlurmBed, user: str) -> list[list[str]]:
    return [
        subprocess.run(
            ["sacct", "-n", "-X", "-P", "-u", user, "-S", "now-2hours", "-o", "JobID"],
            env=c.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for c in bed.clusters.values()
    ]


def test_twenty_concurrent_starts_on_five_funded_sessions(
    hub: Any, slurm_bed: SlurmBed, ledger: Ledger, clean: None
) -> None:
    # A CPU-only quarter hour costs 0.5 x 0.25 = 0.125: the account funds exactly five.
    ledger.create_account("five-sessions", "project", actor="test", owner="carol")
    ledger.grant("five-sessions", "0.625", actor="test", idempotency_key="five-grant")
    body = {"hub": "karachi", "gpu_type": "none", "hours": "0.25", "account": "five-sessions"}

    def start(n: int) -> int:
        status, _ = hub.api("POST", f"/users/carol/servers/s{n}", body)
        return int(status)

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(start, range(20)))
    assert sorted(statuses).count(402) == 15, statuses
    deadline = time.monotonic() + 120
    while True:
        _, model = hub.api("GET", "/users/carol")
        ready = [name for name, s in model["servers"].items() if s["ready"]]
        if len(ready) == 5 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(ready) == 5
    funded = ledger.balance("five-sessions")
    assert funded.available == 0
    assert funded.held == Decimal("0.625")
    assert ledger.check().ok


def user_token(hub: Any, user: str) -> str:
    status, made = hub.api("POST", f"/users/{user}/tokens", {"note": "test", "expires_in": 600})
    assert status == 201, made
    return str(made["token"])


def extend(hub: Any, token: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(  # noqa: S310 (loopback)
        f"{hub.url}/hub/api/computehub/extend",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"token {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_extension_shows_the_cost_then_moves_the_end(
    hub: Any, slurm_bed: SlurmBed, ledger: Ledger, clean: None
) -> None:
    token = user_token(hub, "alice")
    assert extend(hub, token, {"hours": "1"})[0] == 409  # nothing running yet
    hub.api("POST", "/users/alice/server", {"hub": "lahore", "gpu_type": "h100", "hours": "1"})
    state = wait_ready(hub, "alice")["state"]
    available = ledger.balance("alice").available
    status, quote = extend(hub, token, {"hours": "1.5", "dry_run": True})
    assert status == 200, quote
    assert Decimal(quote["cost"]) == Decimal(15)
    assert Decimal(quote["available"]) == available
    assert ledger.hold(state["hold_id"]).hours == 1  # a dry run changes nothing
    status, done = extend(hub, token, {"hours": "1.5"})
    assert status == 200, done
    assert ledger.hold(state["hold_id"]).hours == Decimal("2.5")
    assert ledger.balance("alice").available == available - 15
    limit = subprocess.run(
        ["squeue", "-h", "-j", state["job_id"], "-o", "%l"],
        env=slurm_bed.clusters["lahore"].env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert limit == "2:30:00"
    status, refused = extend(hub, token, {"hours": "11"})
    assert status == 400
    assert "at most 12 h" in refused["message"]
    assert extend(hub, token, {"hours": "1; scancel"})[0] == 400


def test_a_session_ends_at_its_funded_time_and_is_settled(
    hub: Any, slurm_bed: SlurmBed, ledger: Ledger, clean: None
) -> None:
    """One funded minute: Slurm ends the job at its time limit, the hub settles it."""
    hub.api("POST", "/users/bob/server", {"hub": "karachi", "gpu_type": "a100", "hours": "0.01"})
    state = wait_ready(hub, "bob")["state"]
    deadline = time.monotonic() + 180
    while ledger.hold(state["hold_id"]).status == "open":
        assert time.monotonic() < deadline, "the session outlived its funded minute"
        time.sleep(2)
    elapsed, _tres, job_state = sacct(slurm_bed, "karachi", state["job_id"])
    assert job_state == "TIMEOUT"
    charge = next(
        e for e in ledger.history("bob") if e.kind == "charge" and e.hold_id == state["hold_id"]
    )
    # At most the hold (7 credits/h for 0.01 h), however late Slurm's check came.
    used = (Decimal(elapsed) / 3600).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    assert -charge.change == min(Decimal("0.07"), (7 * used).quantize(Decimal("0.0001")))
    # The hub notices on its next poll of the session (the reconciler may settle first).
    deadline = time.monotonic() + 30
    while hub.api("GET", "/users/bob")[1]["servers"]:
        assert time.monotonic() < deadline, "the ended session is still listed"
        time.sleep(0.5)
