"""Helpers for the widget tests: a real tiny credits server, fake GPUs, a movable clock.

Named uniquely because the test folders are not packages (pytest's default import mode).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from computehub.extensions.creditsreader import HttpCreditsClient
from computehub.extensions.fake import MIB, FakeGpu, FakeGpuBackend, FakeMig

TOKEN = "secret-token"
SESSION_PATH = "/services/credits/api/v1/sessions/current"
EXTEND_PATH = "/hub/api/computehub/extend"
GPU_REPORT_PATH = "/hub/api/computehub/gpu-activity"
START = datetime.fromisoformat("2026-11-23T01:00:00+00:00")


def session_doc() -> dict[str, str]:
    """The contract's example session."""
    return {
        "account": "ayesha",
        "hub": "lahore",
        "job_id": "12",
        "available": "37.50",
        "hold": "10.00",
        "cost_so_far": "1.25",
        "burn_rate_per_hour": "10.00",
        "started_at": "2026-11-23T01:00:00+00:00",
        "funded_until": "2026-11-23T02:00:00+00:00",
    }


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    authorization: str | None
    body: object


@dataclass
class CreditsHub:
    """State of the test server: what it answers and what it was asked."""

    base_url: str = ""
    session: dict[str, str] = field(default_factory=session_doc)
    requests: list[Recorded] = field(default_factory=list)
    failures: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        """The JUPYTERHUB_API_URL a single-user server would get."""
        return self.base_url + "/hub/api"

    def env(self, token: str = TOKEN) -> dict[str, str]:
        """The single-user server's environment."""
        return {"JUPYTERHUB_API_URL": self.api_url, "JUPYTERHUB_API_TOKEN": token}

    def client(self, token: str = TOKEN, timeout: float = 5.0) -> HttpCreditsClient:
        """A client as the widget builds it."""
        return HttpCreditsClient.from_env(self.env(token), timeout=timeout)

    def calls(self, path: str) -> list[Recorded]:
        """The requests received on `path`."""
        return [r for r in self.requests if r.path == path]


def _handler(hub: CreditsHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, doc: object) -> None:
            self._send(status, json.dumps(doc).encode())

        def _record(self) -> object:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            auth = self.headers.get("Authorization")
            hub.requests.append(Recorded(self.command, self.path, auth, body))
            return body

        def do_GET(self) -> None:
            self._record()
            if self.path in hub.failures:
                self._send(*hub.failures[self.path])
            elif self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/echo")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path == "/echo":
                self._json(200, hub.session)
            elif self.headers.get("Authorization") != f"token {TOKEN}":
                self._json(403, {"message": "Forbidden"})
            elif self.path == SESSION_PATH:
                self._json(200, hub.session)
            else:
                self._json(404, {"message": "Not Found"})

        def do_POST(self) -> None:
            body = self._record()
            if self.path in hub.failures:
                self._send(*hub.failures[self.path])
                return
            if self.headers.get("Authorization") != f"token {TOKEN}":
                self._json(403, {"message": "Forbidden"})
                return
            if self.path == GPU_REPORT_PATH:
                self._send(204, b"")
                return
            if self.path != EXTEND_PATH:
                self._json(404, {"message": "Not Found"})
                return
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("hours"), str)
                or not isinstance(body.get("dry_run"), bool)
            ):
                self._json(400, {"message": "hours must be a decimal string"})
                return
            hours = Decimal(body["hours"])
            available = Decimal(hub.session["available"])
            cost = hours * Decimal(hub.session["burn_rate_per_hour"])
            if cost > available:
                self._json(402, {"message": f"not enough credits: {cost:.2f} needed"})
                return
            funded = datetime.fromisoformat(hub.session["funded_until"])
            new_end = (funded + timedelta(hours=float(hours))).isoformat()
            if not body["dry_run"]:
                available -= cost
                hub.session["available"] = f"{available:.2f}"
                hub.session["hold"] = f"{Decimal(hub.session['hold']) + cost:.2f}"
                hub.session["funded_until"] = new_end
            answer = {"cost": f"{cost:.2f}", "available": f"{available:.2f}"}
            self._json(200, {**answer, "funded_until": new_end})

    return Handler


@contextmanager
def serve_credits() -> Iterator[CreditsHub]:
    """Run a real HTTP server on 127.0.0.1 speaking the credits and extension contract."""
    hub = CreditsHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll interval keeps shutdown() (hence every test's teardown) fast.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def two_gpus_and_a_mig() -> FakeGpuBackend:
    """Three physical GPUs; the third is in MIG mode with two instances."""
    return FakeGpuBackend(
        [
            FakeGpu(
                uuid="GPU-11111111-1111-1111-1111-111111111111",
                name="NVIDIA H100 80GB HBM3",
                utilization=37,
                memory_used=20 * 1024 * MIB,
                memory_total=80 * 1024 * MIB,
                power_mw=250_000,
                power_limit_mw=700_000,
                temperature_c=51,
                energy_mj=1_000_000,
            ),
            FakeGpu(
                uuid="GPU-22222222-2222-2222-2222-222222222222",
                name="NVIDIA H100 80GB HBM3",
                utilization=99,
                memory_used=70 * 1024 * MIB,
                memory_total=80 * 1024 * MIB,
            ),
            FakeGpu(
                uuid="GPU-33333333-3333-3333-3333-333333333333",
                name="NVIDIA A100-SXM4-40GB",
                temperature_c=44,
                migs=[
                    FakeMig(
                        uuid="MIG-aaaaaaaa-aaaa-5aaa-aaaa-aaaaaaaaaaaa",
                        name="NVIDIA A100-SXM4-40GB MIG 1g.5gb",
                        memory_used=1024 * MIB,
                        gpu_instance_id=7,
                    ),
                    FakeMig(
                        uuid="MIG-bbbbbbbb-bbbb-5bbb-bbbb-bbbbbbbbbbbb",
                        name="NVIDIA A100-SXM4-40GB MIG 3g.20gb",
                        memory_total=19968 * MIB,
                        gpu_instance_id=2,
                    ),
                ],
            ),
        ]
    )


class FakeClock:
    """A clock the test moves: monotonic seconds and the matching UTC wall time."""

    def __init__(self, start: datetime = START) -> None:
        self.seconds = 1000.0
        self.start = start
        self._origin = self.seconds

    def monotonic(self) -> float:
        """Seconds, as time.monotonic."""
        return self.seconds

    def now(self) -> datetime:
        """Wall time, as datetime.now(UTC)."""
        return self.start + timedelta(seconds=self.seconds - self._origin)

    def advance(self, seconds: float) -> None:
        """Time travel."""
        self.seconds += seconds
