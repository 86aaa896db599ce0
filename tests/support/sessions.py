"""Sessions on the shared bed hub, driven through JupyterHub's REST API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from tests.support.bedtools import hub_api

#: Where the hub keeps the notebook servers' GPU reports (its computehub API).
REPORTS = "/computehub/gpu-activity"


def wait_ready(hub: Any, user: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, model = hub.api("GET", f"/users/{user}")
        server = model["servers"].get("") if status == 200 else None
        if server and server["ready"]:
            return dict(server)
        if server is None and status == 200 and not model.get("pending"):
            raise AssertionError(f"{user}'s server is gone: {model}")
        time.sleep(0.3)
    raise AssertionError(f"{user}'s server not ready in {timeout} s")


def stop(hub: Any, user: str) -> None:
    status, _ = hub.api("DELETE", f"/users/{user}/server")
    assert status in (202, 204, 400)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, model = hub.api("GET", f"/users/{user}")
        if not model["servers"] and not model.get("pending"):
            return
        time.sleep(0.3)
    raise AssertionError(f"{user}'s server did not stop")


def gpu_reports(hub: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The hub's GPU reports, read as the GPU-idle service reads them."""
    status, answer = hub_api(hub.url, hub.probe_tokens["gpu-idle"], "GET", REPORTS)
    assert status == 200, answer
    return {(r["user"], r["server"]): r for r in answer["reports"]}


def gpu_idle_pass(
    hub: Any, limit_s: float, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """One pass of the GPU-idle service, with the scopes the real one has."""
    env = {
        **os.environ,
        "JUPYTERHUB_API_URL": f"{hub.url}/hub/api",
        "JUPYTERHUB_API_TOKEN": token or hub.probe_tokens["gpu-idle"],
        # Where the service of old reached the servers (it no longer needs it).
        "COMPUTEHUB_PUBLIC_URL": hub.url,
        "COMPUTEHUB_DB_URL": hub.ledger_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "computehub.gpuidle", f"--limit={limit_s}", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
