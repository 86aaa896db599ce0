"""A user's server is code its user controls: it must never receive a token but its own.

bob replaces his notebook server with a recorder (``recorder_server.py``): it
reports its port as batchspawner-singleuser does, then answers like a ready server
and writes down every credential it is sent. Everything that talks to servers then
runs against it — the hub's readiness check and the proxy's routing, a GPU-idle
pass and an idle-culler pass with the services' real scopes, requests by another
user and by nobody — and every credential the recorder saw must be bob's own
server token (the ``$JUPYTERHUB_API_TOKEN`` the hub gave his job) or none.

The recorder's environment is declared in the bed's site file for this module
only (the spawner rereads the site file when it changes).
"""

from __future__ import annotations

import http.cookies
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from computehub.credits.ledger import Ledger
from tests.support.bedtools import hub_api, hub_login
from tests.support.sessions import gpu_idle_pass, gpu_reports, stop, wait_ready

pytestmark = pytest.mark.integration

RECORDER = Path(__file__).resolve().parents[1] / "support" / "recorder_server.py"
#: JupyterHub's cookies that authenticate (the hub's login, a server's, a service's).
AUTH_COOKIES = ("jupyterhub-hub-login", "jupyterhub-user-", "jupyterhub-services")


def _touch_later(path: Path) -> None:
    """Give the file a newer mtime even within the clock's resolution."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture(scope="module")
def recorder_env(bed_root: Path, site_file: Path, test_users: dict[str, str]) -> Iterator[Path]:
    """An environment prefix whose servers are recorders, declared in the site file."""
    prefix = bed_root / "recorder-env"
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    for name in ("batchspawner-singleuser", "jupyterhub-singleuser"):
        shutil.copy(RECORDER, prefix / "bin" / name)
        (prefix / "bin" / name).chmod(0o755)
    prefix.chmod(0o755)
    (prefix / "bin").chmod(0o755)
    records = prefix / "records"
    records.mkdir(exist_ok=True)
    bob = pwd.getpwnam("bob")
    os.chown(records, bob.pw_uid, bob.pw_gid)
    records.chmod(0o700)
    original = site_file.read_text()
    data = yaml.safe_load(original)
    data["environments"]["recorder"] = {
        "display_name": "A recorder (the trust-boundary test)",
        "prefix": str(prefix),
    }
    site_file.write_text(yaml.safe_dump(data, sort_keys=False))
    _touch_later(site_file)
    yield prefix
    site_file.write_text(original)
    _touch_later(site_file)


@dataclass
class RecordedSession:
    """bob's session running the recorder."""

    state: dict[str, Any]
    record_file: Path

    def entries(self) -> list[dict[str, Any]]:
        lines = self.record_file.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    @property
    def token(self) -> str:
        """The token the hub gave bob's job, as the recorder read it from its environment."""
        start = next(e for e in self.entries() if e["event"] == "start")
        return str(start["token"])

    def requests(self) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e["event"] == "request"]


@pytest.fixture(scope="module")
def bobs_recorder(
    hub: Any, recorder_env: Path, test_users: dict[str, str]
) -> Iterator[RecordedSession]:
    for user in test_users:
        stop(hub, user)
    options = {"hub": "karachi", "gpu_type": "none", "hours": "1", "environment": "recorder"}
    status, body = hub.api("POST", "/users/bob/server", options)
    assert status in (201, 202), body
    server = wait_ready(hub, "bob")
    state = server["state"]
    record_file = recorder_env / "records" / f"bob-{state['job_id']}.jsonl"
    yield RecordedSession(state, record_file)
    stop(hub, "bob")


def who(hub: Any, token: str) -> str:
    """Whose token this is, as the hub sees it (for a readable failure)."""
    status, model = hub_api(hub.url, token, "GET", "/user")
    if status != 200:
        return "nobody"
    return f"{model.get('kind')} {model.get('name')} {sorted(model.get('scopes', []))}"


def cookie_authenticates(hub: Any, name: str, value: str) -> bool:
    """Whether a cookie the recorder saw logs anyone in at the hub."""
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{hub.url}/hub/api/user", headers={"Cookie": f"{name}={value}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except urllib.error.HTTPError:
        return False


def idle_culler_pass(hub: Any) -> str:
    """jupyterhub-idle-culler with its real scopes, until it has looked at every server."""
    env = {
        **os.environ,
        "JUPYTERHUB_API_URL": f"{hub.url}/hub/api",
        "JUPYTERHUB_API_TOKEN": hub.probe_tokens["idle-culler"],
    }
    culler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            "--timeout=3600",
            "--cull-every=1",
            "--IdleCuller.log_level=DEBUG",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    try:
        assert culler.stdout is not None
        deadline = time.monotonic() + 60
        for line in culler.stdout:
            output.append(line)
            if "users with ready servers" in line or time.monotonic() > deadline:
                break
    finally:
        culler.terminate()
        output.append(culler.communicate(timeout=30)[0] or "")
    text = "".join(output)
    assert "users with ready servers" in text, text
    return text


def visit(opener: urllib.request.OpenerDirector, url: str) -> int:
    try:
        with opener.open(url, timeout=60) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_a_users_server_never_receives_a_token_but_its_own(
    hub: Any, bobs_recorder: RecordedSession
) -> None:
    bob_token = bobs_recorder.token
    assert bob_token, "the recorder saw no token of its own"
    events = bobs_recorder.entries()
    assert {"event": "port-reported", "status": 201} in events
    # The hub's readiness check reached the recorder through the hub's own route.
    assert any(r["path"] == "/user/bob/api" for r in bobs_recorder.requests())

    # Everything that talks to servers, with the credentials it really has:
    # a GPU-idle pass and an idle-culler pass, with the services' scopes;
    gpu = gpu_idle_pass(hub, limit_s=3600)
    assert gpu.returncode == 0, gpu.stderr
    idle_culler_pass(hub)
    # another user, logged in, opening bob's server through the proxy (the recorder
    # sends her to the hub's OAuth login, which must not hand bob a code for her);
    alice = hub_login(hub.url, "alice", "alice-pw")
    assert visit(alice, f"{hub.url}/user/bob/lab?visitor=alice") == 403
    assert visit(alice, f"{hub.url}/user/bob/api/contents?visitor=alice") == 403
    # and nobody at all.
    anonymous = urllib.request.build_opener()
    visit(anonymous, f"{hub.url}/user/bob/tree?visitor=anonymous")
    # The server is still bob's running recorder.
    assert wait_ready(hub, "bob")["state"]["job_id"] == bobs_recorder.state["job_id"]

    requests = bobs_recorder.requests()
    visitors = {v for r in requests for v in r["query"].get("visitor", [])}
    assert visitors == {"alice", "anonymous"}, "the proxy did not route the visits to bob"
    foreign: list[str] = []
    for r in requests:
        where = f"{r['method']} {r['path']}"
        auth = r["authorization"]
        if auth:
            token = auth.split(" ", 1)[-1].strip()
            if token != bob_token:
                foreign.append(f"{where}: Authorization of {who(hub, token)}")
        for token in r["query"].get("token", []):
            if token != bob_token:
                foreign.append(f"{where}: ?token= of {who(hub, token)}")
        if r["query"].get("code"):
            foreign.append(f"{where}: an OAuth code")
        for name, morsel in http.cookies.SimpleCookie(r["cookie"] or "").items():
            if morsel.value == bob_token:
                continue
            if name.startswith(AUTH_COOKIES) or cookie_authenticates(hub, name, morsel.value):
                foreign.append(f"{where}: cookie {name}")
    assert not foreign, "bob's server received credentials not its own:\n" + "\n".join(foreign)


def test_a_server_reports_for_itself_only_and_at_worst_gets_itself_stopped(
    hub: Any, bobs_recorder: RecordedSession
) -> None:
    """What bob can do with his server's token: fake GPU reports for that server only."""
    token, state = bobs_recorder.token, bobs_recorder.state
    path = "/computehub/gpu-activity"
    fake = {"gpus": 1, "idle_s": 99999, "busy_percent": 5, "samples": 1}
    # A report claiming another job is refused; so is one naming a hold.
    assert hub_api(hub.url, token, "POST", path, {**fake, "job_id": "999999"})[0] == 400
    assert hub_api(hub.url, token, "POST", path, {**fake, "hub": "lahore"})[0] == 400
    assert hub_api(hub.url, token, "POST", path, {**fake, "hold_id": 1})[0] == 400
    # The report is bob's server's, with the hub's record of its job and hold.
    assert hub_api(hub.url, token, "POST", path, fake)[0] == 204
    report = gpu_reports(hub)[("bob", "")]
    assert (report["hub"], report["job_id"], report["hold_id"], report["idle_s"]) == (
        "karachi",
        state["job_id"],
        state["hold_id"],
        99999,
    )
    assert [key for key in gpu_reports(hub) if key[0] != "bob"] == []
    # Its token can't read the others' reports, nor move the running server elsewhere.
    assert hub_api(hub.url, token, "GET", path)[0] == 403
    assert hub_api(hub.url, token, "POST", "/batchspawner", {"port": 1})[0] == 409
    # The GPU rule believes him about his own server: it stops it, notes it on his hold.
    done = gpu_idle_pass(hub, limit_s=3600)
    assert done.returncode == 0, done.stderr
    assert "Stopping bob" in done.stderr, (
        f"{done.stderr}\nreports now: {gpu_reports(hub)}\nbob: {hub.api('GET', '/users/bob')[1]}"
    )
    assert hub.api("GET", "/users/bob")[1]["servers"] == {}
    with Ledger(hub.ledger_url) as ledger:
        session = ledger.session(state["hold_id"])
        assert session.hold.account == "bob"
        assert (session.end_note or "").startswith("Stopped by computehub")
        assert ledger.check().ok
