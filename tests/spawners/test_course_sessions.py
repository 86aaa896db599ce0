"""Sessions paid from a course's pool on the real bed: extensions within the share, archive."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from tests.spawners.test_billing import extend, user_token
from tests.support.sessions import wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(hub: Any) -> Iterator[Ledger]:
    with Ledger(hub.ledger_url) as opened:
        yield opened


def _course(ledger: Ledger, course: str, student: str) -> None:
    today = datetime.now(UTC).date()
    ledger.create_course(
        course, course, today - timedelta(days=30), today + timedelta(days=60), actor="test"
    )
    ledger.add_member(course, student, "student", actor="test")
    ledger.grant(course, "100", actor="test", idempotency_key=f"{course}-grant")


def _time_limit(bed: SlurmBed, hub_name: str, job_id: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%l"],
        env=bed.clusters[hub_name].env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_an_extension_past_the_weekly_cap_is_refused(
    hub: Any, slurm_bed: SlurmBed, ledger: Ledger, clean: None
) -> None:
    _course(ledger, "ext-course", "alice")
    rate = ledger.rates("lahore")[("lahore", "cpu")]
    cap = rate * Decimal("1.5")
    ledger.set_course_sharing("ext-course", weekly_cap=cap, actor="test")
    hub.api(
        "POST",
        "/users/alice/server",
        {"hub": "lahore", "gpu_type": "none", "hours": "1", "account": "ext-course"},
    )
    state = wait_ready(hub, "alice")["state"]
    token = user_token(hub, "alice")
    status, body = extend(hub, token, {"hours": "1"})
    assert status == 402, body
    monday = datetime.now(UTC).date() + timedelta(days=7 - datetime.now(UTC).weekday())
    left = cap - rate
    assert body["message"] == (
        f"Your weekly cap on course ext-course is {cap.normalize():f} credits: you have used "
        f"{rate.normalize():f}, {left.normalize():f} left, and this extension needs "
        f"{rate.normalize():f}. It resets on {monday:%A %d %B %Y} at 00:00 UTC. "
        "Ask for fewer hours."
    )
    # Nothing moved: the hold and Slurm's time limit are as the start left them.
    assert ledger.hold(state["hold_id"]).hours == 1
    assert _time_limit(slurm_bed, "lahore", state["job_id"]) == "1:00:00"
    # Half an hour fits what the cap leaves.
    status, body = extend(hub, token, {"hours": "0.5"})
    assert status == 200, body
    assert ledger.hold(state["hold_id"]).hours == Decimal("1.5")
    assert ledger.check().ok


def test_archiving_a_course_stops_its_sessions(
    hub: Any, slurm_bed: SlurmBed, ledger: Ledger, clean: None
) -> None:
    _course(ledger, "stop-course", "bob")
    hub.api(
        "POST",
        "/users/bob/server",
        {"hub": "lahore", "gpu_type": "none", "hours": "2", "account": "stop-course"},
    )
    state = wait_ready(hub, "bob")["state"]
    hold_id = state["hold_id"]
    assert ledger.hold(hold_id).account == "stop-course"
    ledger.archive_course("stop-course", actor="test")
    # The hub polls each session every 3 s here: one poll cancels the job, a later one
    # settles it once Slurm's accounting has the end.
    deadline = time.monotonic() + 90
    while hub.api("GET", "/users/bob")[1]["servers"]:
        assert time.monotonic() < deadline, "the archived course's session still runs"
        time.sleep(1)
    assert ledger.hold(hold_id).status == "settled"
    assert _time_limit(slurm_bed, "lahore", state["job_id"]) == ""  # gone from the queue
    session = next(s for s in ledger.sessions("stop-course", user="bob") if s.hold.id == hold_id)
    today = datetime.now(UTC).date()
    assert session.end_note == (
        f"The course stop-course was archived on {today:%Y-%m-%d}: its credits pay for no "
        "more session time, so this session was stopped and charged for the time it ran."
    )
    assert ledger.balance("stop-course").held == Decimal(0)
    assert ledger.check().ok
