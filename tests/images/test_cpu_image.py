"""The CPU notebook image (images/cpu/Containerfile), as scripts/build-images.sh built it.

The README's test command builds it with buildah (no daemon, from the local Debian 12
base: no registry). Here a working container of the image runs with ``buildah run``
(chroot isolation, the host's network, the image's own user and environment): the
notebook side imports, the lock file's versions are the ones installed, and
``jupyterhub-singleuser`` starts, talks to a stand-in hub's API and answers a request
authenticated through it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from computehub.localbed.proc import MissingComponentError
from tests.support.bedtools import component_missing

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("COMPUTEHUB_DEPLOY_CACHE", "/var/cache/computehub-deploy"))
STORE = CACHE / "containers"
IMAGE = "localhost/computehub-cpu:latest"
LOCK = REPO / "images" / "notebook" / "requirements.txt"


def buildah(*args: str) -> list[str]:
    """buildah's argv on the store scripts/build-images.sh builds into."""
    return [
        "buildah",
        "--root",
        str(STORE / "storage"),
        "--runroot",
        str(STORE / "run"),
        "--storage-driver",
        "vfs",
        *args,
    ]


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    """A working container of the built CPU image (removed afterwards)."""
    try:
        if shutil.which("buildah") is None:
            raise MissingComponentError("buildah not found: install the Debian package buildah")
        found = subprocess.run(
            buildah("inspect", "--type", "image", IMAGE), capture_output=True, timeout=120
        )
        if found.returncode != 0:
            raise MissingComponentError(f"{IMAGE} is not built: run scripts/build-images.sh")
    except MissingComponentError as err:
        component_missing(err)
    name = f"computehub-cpu-test-{secrets.token_hex(4)}"
    subprocess.run(
        buildah("from", "--name", name, IMAGE), check=True, capture_output=True, timeout=600
    )
    try:
        yield name
    finally:
        subprocess.run(buildah("rm", name), capture_output=True, timeout=300)


def run_in(container: str, *argv: str, env: dict[str, str] | None = None) -> list[str]:
    """``buildah run`` argv for ``argv`` in the container (host network, the image's user)."""
    flags = [f"--env={key}={value}" for key, value in (env or {}).items()]
    return buildah(
        "run", "--isolation", "chroot", "--network", "host", *flags, container, "--", *argv
    )


def _lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if found:
            pins[found.group(1)] = found.group(2)
    return pins


_IMPORTS = r"""
import importlib.metadata as md, json, os, sys
import computehub.extensions, nbgrader, nbgitpuller
from nbgitpuller.pull import GitPuller
print(json.dumps({
    "python": sys.executable,
    "uid": os.getuid(),
    "versions": {name: md.version(name) for name in sys.argv[1:]},
    "computehub": md.version("computehub"),
    "extensions": computehub.extensions.__file__,
    "labextension": os.path.isfile(os.path.join(
        sys.prefix, "share/jupyter/labextensions/@computehub/labextension/package.json")),
}))
"""


def test_notebook_side_imports_at_the_lock_files_versions(container: str) -> None:
    pins = _lock()
    assert {"jupyterhub", "nbgrader", "nbgitpuller", "jupyterlab"} <= set(pins)
    done = subprocess.run(
        run_in(container, "python", "-c", _IMPORTS, *pins),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert seen["python"] == "/opt/computehub/envs/notebook/bin/python"
    assert seen["uid"] == 1000  # the image's non-root user
    assert seen["versions"] == pins
    assert seen["extensions"].startswith("/opt/computehub/envs/notebook/lib/")
    assert seen["labextension"], "the computehub JupyterLab extension is not in the image"


def test_nbgitpuller_pulls_a_repository_inside_the_image(container: str) -> None:
    # A course repository made inside the image (no network), pulled as a student would.
    script = (
        "set -e; cd /tmp; rm -rf course pulled; git init -q -b main course; cd course;"
        " echo 'print(1)' > lesson.py; git add lesson.py;"
        " git -c user.name=t -c user.email=t@t commit -q -m one; cd /tmp;"
        " python -c 'from nbgitpuller.pull import GitPuller;"
        ' [print(l) for l in GitPuller("file:///tmp/course", "pulled", branch="main").pull()]\';'
        " cat pulled/lesson.py"
    )
    done = subprocess.run(
        run_in(container, "bash", "-c", script), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.rstrip().endswith("print(1)")


class _StandInHub(BaseHTTPRequestHandler):
    """The hub API a single-user server calls: its version, and who holds a token."""

    token: ClassVar[str] = ""
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        if self.path.rstrip("/") == "/hub/api":
            self._answer(200, {"version": "6.1.1"})
        elif self.path.startswith("/hub/api/user"):
            if self.headers.get("Authorization") != f"token {self.token}":
                self._answer(403, {"status": 403, "message": "no such token"})
                return
            self._answer(
                200,
                {
                    "kind": "user",
                    "name": "alice",
                    "admin": False,
                    "groups": [],
                    "scopes": ["access:servers!server=alice/", "self"],
                    "session_id": None,
                },
            )
        else:
            self._answer(404, {"status": 404})

    def do_POST(self) -> None:
        self.paths.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(200, {})

    def _answer(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-JupyterHub-Version", "6.1.1")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    req = urllib.request.Request(url)  # noqa: S310 (loopback URL built here)
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_singleuser_starts_and_answers_inside_the_image(container: str) -> None:
    hub = ThreadingHTTPServer(("127.0.0.1", 0), _StandInHub)
    _StandInHub.token = secrets.token_hex(16)
    _StandInHub.paths = []
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    hub_url = f"http://127.0.0.1:{hub.server_address[1]}"
    port = _free_port()
    env = {
        "JUPYTERHUB_API_TOKEN": _StandInHub.token,
        "JUPYTERHUB_API_URL": f"{hub_url}/hub/api",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-alice",
        "JUPYTERHUB_HOST": "",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": "/user/alice/oauth_callback",
        "JUPYTERHUB_OAUTH_SCOPES": '["access:servers!server=alice/"]',
        "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}/user/alice/",
        "JUPYTERHUB_USER": "alice",
        "JUPYTERHUB_SERVER_NAME": "",
    }
    log = REPO / "test-output" / "images" / "singleuser.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        server = subprocess.Popen(
            run_in(container, "jupyterhub-singleuser", env=env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}/user/alice"
            deadline = time.monotonic() + 240
            status = 0
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    status, _headers, body = _get(f"{base}/api")
                    break
                except OSError:
                    time.sleep(1)
            assert server.poll() is None, log.read_text()[-4000:]
            assert status == 200, log.read_text()[-4000:]
            assert "version" in json.loads(body)
            # An authenticated request: the server asks the hub whose token it is.
            status, _headers, body = _get(f"{base}/api/status", token=_StandInHub.token)
            assert status == 200, body
            assert "kernels" in json.loads(body)
            assert any(path.startswith("/hub/api/user") for path in _StandInHub.paths)
            # A stranger's token is refused; a browser without one is sent to the hub's login.
            status, _headers, _body = _get(f"{base}/api/status", token="not-a-token")
            assert status == 403
            status, headers, _body = _get(f"{base}/lab")
            assert status == 302
            assert "/hub/api/oauth2/authorize" in headers["Location"]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
            hub.shutdown()
