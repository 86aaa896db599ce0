#!/usr/bin/python3
"""A notebook server replaced by its user: it records every credential it is sent.

Installed as ``bin/batchspawner-singleuser`` (and ``bin/jupyterhub-singleuser``)
of an environment prefix, it does what batchspawner-singleuser does — reports its
port to the hub with the server's own token (``POST {JUPYTERHUB_API_URL}/batchspawner``)
— then serves HTTP on that port, answering like a ready server (``/api``), sending
anything else without a token to the hub's OAuth login as a real server does,
and writing each request (its Authorization header, cookies and query) as a JSON
line to ``<prefix>/records/<user>-<job id>.jsonl``. Its first line holds the
token the hub gave the job, so that a test can tell it from any other.

Standard library only: it runs as the user with the system Python.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ENV = os.environ
PREFIX = Path(__file__).resolve().parent.parent
RECORD = (
    PREFIX / "records" / f"{ENV.get('JUPYTERHUB_USER', 'x')}-{ENV.get('SLURM_JOB_ID', 'x')}.jsonl"
)
_LOCK = threading.Lock()


def record(entry: dict[str, Any]) -> None:
    with _LOCK, RECORD.open("a") as out:
        out.write(json.dumps(entry) + "\n")


def report_port(port: int) -> int:
    request = urllib.request.Request(  # noqa: S310 (the hub's API URL from the job)
        ENV["JUPYTERHUB_API_URL"].rstrip("/") + "/batchspawner",
        method="POST",
        data=json.dumps({"port": port}).encode(),
        headers={"Authorization": f"token {ENV['JUPYTERHUB_API_TOKEN']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        return int(resp.status)


class Recorder(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the record file says it all."""

    def _answer(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        query = urllib.parse.parse_qs(url.query)
        entry: dict[str, Any] = {
            "event": "request",
            "method": self.command,
            "path": url.path,
            "query": query,
            "authorization": self.headers.get("Authorization"),
            "cookie": self.headers.get("Cookie"),
            "headers": dict(self.headers.items()),
            "body": body[:2000],
        }
        record(entry)
        prefix = ENV.get("JUPYTERHUB_SERVICE_PREFIX", "/")
        if url.path.rstrip("/") in (f"{prefix}api", f"{prefix}api/status"):
            self._send(200, {"version": "2.14.0"})
        elif entry["authorization"] or "token" in query:
            self._send(200, {"recorded": True})
        else:
            # As a real server does: log in with the hub first (OAuth).
            login = (
                ENV.get("JUPYTERHUB_BASE_URL", "/")
                + "hub/api/oauth2/authorize?"
                + (
                    urllib.parse.urlencode(
                        {
                            "client_id": ENV.get("JUPYTERHUB_CLIENT_ID", ""),
                            "redirect_uri": ENV.get("JUPYTERHUB_OAUTH_CALLBACK_URL", ""),
                            "response_type": "code",
                            "state": "recorder",
                        }
                    )
                )
            )
            self.send_response(302)
            self.send_header("Location", login)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _send(self, status: int, doc: object) -> None:
        raw = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    # BaseHTTPRequestHandler's names: every method is recorded alike.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer  # noqa: N815


def main() -> int:
    service = urllib.parse.urlsplit(ENV.get("JUPYTERHUB_SERVICE_URL", ""))
    host = service.hostname or "0.0.0.0"  # noqa: S104 (where the hub said to listen)
    server = ThreadingHTTPServer((host, 0), Recorder, bind_and_activate=False)
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.server_bind()
    server.server_activate()
    port = server.server_address[1]
    record(
        {
            "event": "start",
            "token": ENV.get("JUPYTERHUB_API_TOKEN", ""),
            "port": port,
            "pid": os.getpid(),
            "argv": sys.argv,
        }
    )
    record({"event": "port-reported", "status": report_port(port)})
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    record({"event": "stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
