"""The login tests' pieces: a site file, a TCP gate, the IdP process.

The directory's people and roles are in :mod:`computehub.localbed.university`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bedtools import hub_api

from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import (
    BedError,
    MissingComponentError,
    free_port,
    port_open,
    spawn,
    stop_pid,
    tail_hint,
    wait_for,
)

# Re-exported for the login tests, which import them from here.
from computehub.localbed.university import FIRST_LOGIN as FIRST_LOGIN
from computehub.localbed.university import PEOPLE as PEOPLE
from computehub.localbed.university import ROLES as ROLES
from computehub.localbed.university import SUPPORT as SUPPORT
from computehub.localbed.university import ensure_people as ensure_people
from computehub.localbed.university import ldap_auth as ldap_auth
from computehub.paths import repo_root


@dataclass
class HubClient:
    """A JupyterHub process and its REST API as the test-driver service."""

    process: HubProcess
    token: str

    @property
    def url(self) -> str:
        return self.process.url

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """Call the hub's REST API; returns (status, JSON or None)."""
        return hub_api(self.url, self.token, method, path, body, timeout=30)


def site_data(auth: dict[str, Any], ledger_url: str, bed: Path) -> dict[str, Any]:
    """A site file with one hub that is never spawned on: the login tests need no Slurm."""
    return {
        "platform": {
            "name": "Test AI Compute",
            "organisation": "Test University",
            "support": SUPPORT,
        },
        "hubs": {
            "lahore": {
                "display_name": "Lahore AI Hub",
                "region": "Punjab",
                "slurm": {"conf": str(bed / "no-slurm" / "slurm.conf")},
                "partitions": {"gpu": {"default": True}},
                "rates": {"cpu": 1},
            }
        },
        "environments": {"notebook": {"display_name": "Python 3", "prefix": str(bed / "no-env")}},
        "auth": auth,
        "ledger": {"db_url": ledger_url},
    }


def extra_config(path: Path, token: str) -> Path:
    """The tests' JupyterHub additions: a test-driver service, DEBUG logs, home after login."""
    path.write_text(
        f"c.JupyterHub.services = [{{'name': 'test-driver', 'api_token': {token!r}}}]\n"
        "c.JupyterHub.load_roles = [{'name': 'test-driver', 'services': ['test-driver'],\n"
        "    'scopes': ['admin:users', 'admin:groups', 'list:users', 'read:roles']}]\n"
        "c.JupyterHub.log_level = 'DEBUG'\n"
        "c.JupyterHub.default_url = '/hub/home'\n"
    )
    path.chmod(0o600)
    return path


@dataclass
class TcpGate:
    """A TCP forwarder on loopback that can be closed: the directory 'goes down'."""

    target_port: int
    port: int = field(default_factory=free_port)
    _server: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)

    def open(self) -> None:
        """Listen and forward each connection to the target."""
        server = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        self._server = server
        thread = threading.Thread(target=self._accept, args=(server,), daemon=True)
        thread.start()

    def close(self) -> None:
        """Stop listening: new connections are refused, as with a server that is down."""
        if self._server is not None:
            with suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


#: People of the test identity provider, with the claims a university IdP would send.
IDP_PEOPLE = {
    "alice": {
        "preferred_username": "alice@university.example",
        "name": "Alice Akhtar",
        "email": "alice@university.example",
        "groups": ["research-staff", "course-instructors"],
        "eduperson_affiliation": ["faculty", "member"],
    },
    "bob": {
        "preferred_username": "bob@university.example",
        "name": "Bob Baig",
        "email": "bob@university.example",
        "groups": [],
        "eduperson_affiliation": "student",
    },
    "guest": {
        "preferred_username": "guest@university.example",
        "name": "Visiting Guest",
        "email": "guest@university.example",
        "groups": ["visitors"],
        "eduperson_affiliation": ["affiliate"],
    },
}


def oidc_auth(issuer: str, callback_url: str) -> dict[str, Any]:
    """The site file's auth section for the test IdP (explicit endpoints, secret from env)."""
    return {
        "method": "oidc",
        "oidc": {
            "issuer": issuer,
            "authorize_url": f"{issuer}/auth",
            "token_url": f"{issuer}/token",
            "userinfo_url": f"{issuer}/me",
            "client_id": "computehub-test",
            "client_secret_env": "COMPUTEHUB_TEST_OIDC_SECRET",
            "scopes": ["openid", "profile", "email", "groups", "eduperson"],
            "callback_url": callback_url,
            "button_label": "Log in with Test University",
        },
        "roles": ROLES,
        "username": {"strip_domains": ["university.example"]},
        "first_login": FIRST_LOGIN,
    }


@dataclass
class OidcProviderProcess:
    """``node tests/auth/oidc_provider.mjs``: oidc-provider on 127.0.0.1."""

    base: Path
    client_secret: str
    redirect_uri: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.base / "oidc-provider.log"

    def start(self) -> None:
        """Start the provider and wait for its discovery document."""
        module = repo_root() / "node_modules" / "oidc-provider"
        if not module.exists():
            raise MissingComponentError("npm package oidc-provider missing: run scripts/install.sh")
        node = "/usr/bin/node" if Path("/usr/bin/node").exists() else "node"
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "idp.json"
        config.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "issuer": self.issuer,
                    "client_id": "computehub-test",
                    "redirect_uris": [self.redirect_uri],
                    "people": IDP_PEOPLE,
                }
            )
        )
        script = Path(__file__).with_name("oidc_provider.mjs")
        env = {**os.environ, "OIDC_TEST_CLIENT_SECRET": self.client_secret}
        # Node resolves packages from the script's folder upwards: the repository's node_modules.
        self.proc = spawn([node, str(script), str(config)], log=self.log, env=env, cwd=self.base)
        wait_for(
            lambda: (
                port_open(self.port) or (self.proc is not None and self.proc.poll() is not None)
            ),
            30,
            "oidc-provider",
            self.log,
        )
        if not port_open(self.port):
            raise BedError("oidc-provider exited at start" + tail_hint(self.log, 20))

    def stop(self) -> None:
        """Stop the provider by its pid."""
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc.wait()


@dataclass
class LdapHub:
    """A hub logging in through the test directory, reached through a gate that can close."""

    hub: HubClient
    gate: TcpGate
    ledger_url: str


@dataclass
class OidcHub:
    """A hub logging in through the test identity provider."""

    hub: HubClient
    idp: OidcProviderProcess
    client_secret: str
    ledger_url: str
    site_file: Path
