"""``POST /hub/api/computehub/extend`` on the real bed: who may extend, and up to what.

The widget's own use (the server's token, in a real browser) is in
test_widget_browser.py; the cost and the time limit of one extension in
test_billing.py.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from tests.support.bedtools import user_token
from tests.support.sessions import wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(hub: Any) -> Iterator[Ledger]:
    with Ledger(hub.ledger_url) as opened:
        yield opened


def extend(hub: Any, token: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(  # noqa: S310 (loopback)
        f"{hub.url}/hub/api/computehub/extend",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"token {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


def time_limit(bed: SlurmBed, hub: str, job_id: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%l"],
        env=bed.clusters[hub].env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def test_extending_needs_the_sessions_scope(hub: Any, ledger: Ledger, clean: None) -> None:
    hub.api("POST", "/users/alice/server", {"hub": "lahore", "gpu_type": "h100", "hours": "1"})
    state = wait_ready(hub, "alice")["state"]
    # A token that only tells who alice is (as an app she logs in to gets): refused.
    narrow = user_token(hub.url, hub.token, "alice", ["read:users:name!user"])
    status, body = extend(hub, narrow, {"hours": "1", "dry_run": True})
    assert status == 403, body
    assert extend(hub, narrow, {"hours": "1"})[0] == 403
    assert ledger.hold(state["hold_id"]).hours == 1
    # A token with alice's own permissions may.
    full = user_token(hub.url, hub.token, "alice")
    status, quote = extend(hub, full, {"hours": "1", "dry_run": True})
    assert status == 200, quote
    assert Decimal(quote["cost"]) == 10
    # A service (even the test driver, which may stop any server) has no session to extend.
    assert extend(hub, hub.token, {"hours": "1", "dry_run": True})[0] == 403


def test_concurrent_extensions_stop_at_the_hubs_limit(
    hub: Any, slurm_bed: SlurmBed, ledger: Ledger, clean: None
) -> None:
    # Lahore's sessions last at most 12 h: from 1 h, five extensions of 2 h fit, not eight.
    hub.api("POST", "/users/alice/server", {"hub": "lahore", "gpu_type": "h100", "hours": "1"})
    state = wait_ready(hub, "alice")["state"]
    token = user_token(hub.url, hub.token, "alice")
    available = ledger.balance("alice").available
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: extend(hub, token, {"hours": "2"}), range(8)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 5 + [400] * 3, answers
    refusals = {body["message"] for status, body in answers if status == 400}
    assert refusals == {"a session on Lahore AI Hub lasts at most 12 h; this one has 11 h"}
    hold = ledger.hold(state["hold_id"])
    assert hold.hours == 11
    assert ledger.balance("alice").available == available - 100
    # Slurm's limit is the hold's, whatever order the extensions reached it in.
    assert time_limit(slurm_bed, "lahore", state["job_id"]) == "11:00:00"
    assert ledger.check().ok
