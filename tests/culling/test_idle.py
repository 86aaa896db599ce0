"""Idle sessions on the real bed: jupyterhub-idle-culler and the GPU-idle rule.

The hub runs both as services with long limits (the site file's defaults). Here
each runs one pass, or a few seconds, with a short limit and a token of a probe
service that holds exactly the service's scopes: what it can do, the service can.
The notebook servers push their GPU reports to the hub every second (conftest).
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from tests.support.bedtools import hub_api, hub_login, user_token
from tests.support.sessions import REPORTS, gpu_idle_pass, gpu_reports, wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(hub: Any) -> Iterator[Ledger]:
    with Ledger(hub.ledger_url) as opened:
        yield opened


def start(hub: Any, user: str, options: dict[str, Any], name: str = "") -> dict[str, Any]:
    path = f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
    status, body = hub.api("POST", path, options)
    assert status in (201, 202), body
    if not name:
        return wait_ready(hub, user)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        _, model = hub.api("GET", f"/users/{user}")
        server = model["servers"].get(name)
        if server and server["ready"]:
            return dict(server)
        time.sleep(0.3)
    raise AssertionError(f"{user}/{name} not ready")


def servers(hub: Any, user: str) -> dict[str, Any]:
    _, model = hub.api("GET", f"/users/{user}")
    return dict(model["servers"])


def wait_report(hub: Any, user: str, server: str = "", **expected: Any) -> dict[str, Any]:
    """The report of ``user``'s server once it says what is expected (the hub's view)."""
    deadline = time.monotonic() + 60
    while True:
        report = gpu_reports(hub).get((user, server))
        if report is not None and all(report.get(k) == v for k, v in expected.items()):
            return report
        assert time.monotonic() < deadline, f"no report of {user}/{server} like {expected}"
        time.sleep(0.5)


def test_gpu_idle_rule_stops_idle_gpus_and_says_what_it_saved(
    hub: Any, ledger: Ledger, clean: None
) -> None:
    # alice: one A100 for 2 h whose (fake) GPU does nothing; carol: CPU only.
    gpu = start(hub, "alice", {"hub": "karachi", "gpu_type": "a100", "gpus": 1, "hours": "2"})
    cpu = start(hub, "carol", {"hub": "karachi", "gpu_type": "none", "hours": "1"})
    hold_id = gpu["state"]["hold_id"]
    # The hub attributes each report to the server's own job and hold.
    report = wait_report(hub, "alice", gpus=1)
    assert (report["hub"], report["job_id"], report["hold_id"]) == (
        "karachi",
        gpu["state"]["job_id"],
        hold_id,
    )
    assert report["busy_percent"] == 5
    assert 0 <= report["age_s"] < 10
    assert wait_report(hub, "carol", gpus=0)["hold_id"] == cpu["state"]["hold_id"]

    # Not idle long enough yet: nothing is stopped.
    limit = 8.0
    first = gpu_idle_pass(hub, limit_s=3600)
    assert first.returncode == 0, first.stderr
    assert set(servers(hub, "alice")) == {""}, first.stderr
    deadline = time.monotonic() + 60
    while (gpu_reports(hub)[("alice", "")]["idle_s"] or 0) < limit:
        assert time.monotonic() < deadline, "the GPU never counted as idle"
        time.sleep(1)

    done = gpu_idle_pass(hub, limit_s=limit)
    assert done.returncode == 0, done.stderr
    assert "Stopping alice" in done.stderr, done.stderr
    assert servers(hub, "alice") == {}
    assert set(servers(hub, "carol")) == {""}, "a CPU-only session is not the GPU rule's"
    assert ("alice", "") not in gpu_reports(hub), "a stopped server's report is forgotten"
    session = ledger.session(hold_id)
    assert session.charged is not None, done.stderr
    saved = session.hold.amount - session.charged
    assert saved > 0
    note = session.end_note or ""
    assert note.startswith("Stopped by computehub: its GPUs were below 5 % use for "), note
    assert note.endswith(
        f"(the limit is 8 s). That saved you {saved:.2f} credits, returned to alice."
    ), note
    assert ledger.check().ok
    # Its server reported busy time (none: the fake GPU does nothing), so the hub recorded
    # its GPU-busy hours as it stopped: 0, not "not recorded".
    busy = ledger.gpu_busy_of(hold_id)
    assert busy is not None, "the stopped session's GPU-busy hours were not recorded"
    assert busy.busy_hours == 0
    # A CPU session's server reports no GPUs: nothing is recorded when it stops.
    status, _ = hub.api("DELETE", "/users/carol/server")
    assert status in (202, 204)
    deadline = time.monotonic() + 60
    while servers(hub, "carol"):
        assert time.monotonic() < deadline, "carol's server did not stop"
        time.sleep(0.5)
    cpu_session = ledger.session(cpu["state"]["hold_id"])
    assert cpu_session.charged is not None
    assert ledger.gpu_busy_of(cpu_session.hold.id) is None
    # Back on the hub, the spawn form says why the session ended and what it saved.
    as_alice = hub_login(hub.url, "alice", "alice-pw")
    with as_alice.open(f"{hub.url}/hub/spawn", timeout=60) as resp:
        page = resp.read().decode()
    assert f"Your last session: {html.escape(note)}" in page


def test_only_the_gpu_idle_role_reads_reports_and_only_a_server_writes_its_own(
    hub: Any, clean: None
) -> None:
    start(hub, "alice", {"hub": "karachi", "gpu_type": "a100", "gpus": 1, "hours": "1"})
    wait_report(hub, "alice", gpus=1)
    alice = user_token(hub.url, hub.token, "alice")
    # Reading the reports: the GPU-idle role only (not users, not the culler, not an admin).
    for token in (alice, hub.probe_tokens["idle-culler"], hub.token):
        status, _ = hub_api(hub.url, token, "GET", REPORTS)
        assert status == 403
    # Writing one: a server's own token only (a user's token is not their server's).
    body = {"gpus": 1, "idle_s": 99999, "busy_percent": 5, "samples": 1}
    for token in (alice, hub.probe_tokens["gpu-idle"], hub.token):
        status, _ = hub_api(hub.url, token, "POST", REPORTS, body)
        assert status == 403
    assert gpu_reports(hub)[("alice", "")]["idle_s"] < 99999

    # The service's own reach: it can't list users, nor reach a server.
    gpu_idle = hub.probe_tokens["gpu-idle"]
    assert hub_api(hub.url, gpu_idle, "GET", "/users")[0] == 403
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{hub.url}/user/alice/api/status", headers={"Authorization": f"token {gpu_idle}"}
    )
    opener = urllib.request.build_opener(NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=30)
    assert refused.value.code in (302, 403), refused.value.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as the answer instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_idle_culler_stops_inactive_servers_with_its_least_privilege_role(
    hub: Any, clean: None
) -> None:
    start(hub, "carol", {"hub": "karachi", "gpu_type": "none", "hours": "1"})
    token = hub.probe_tokens["idle-culler"]
    # The role finds and stops servers, and nothing more.
    status, _ = hub_api(hub.url, token, "GET", "/users?state=active")
    assert status == 200
    status, _ = hub_api(hub.url, token, "POST", "/users/carol/tokens", {"note": "x"})
    assert status == 403
    env = {
        **os.environ,
        "JUPYTERHUB_API_URL": f"{hub.url}/hub/api",
        "JUPYTERHUB_API_TOKEN": token,
    }
    culler = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub_idle_culler", "--timeout=5", "--cull-every=2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while servers(hub, "carol"):
            assert time.monotonic() < deadline, "the idle culler did not stop carol's server"
            assert culler.poll() is None, culler.communicate()[0]
            time.sleep(1)
    finally:
        culler.terminate()
        output = culler.communicate(timeout=30)[0]
    assert "Culling server carol" in output, output
