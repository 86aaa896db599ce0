"""The status item's data: this server's `computehub/api/session`, in a real Jupyter server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from computehub.extensions.creditsreader import CreditsError, parse_session
from computehub.extensions.statusapi import CachedSession, answer, session_document
from computehub.localbed.proc import free_port
from tests.support.widget_testkit import SESSION_PATH, CreditsHub, session_doc

NOW = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("available", "text"),
    [
        ("37.50", "37.50"),
        ("1234.5678", "1,234.57"),
        ("0.005", "0.00"),  # half to even, as the widget rounds
        ("0.015", "0.02"),
        ("-2.4", "-2.40"),
    ],
)
def test_the_document_rounds_for_display_and_keeps_the_exact_amount(
    available: str, text: str
) -> None:
    session = parse_session({**session_doc(), "available": available})
    doc = session_document(True, NOW, session=session)
    assert doc == {
        "enabled": True,
        "now": "2026-11-23T01:30:00+00:00",
        "session": {
            "account": "ayesha",
            "hub": "lahore",
            "job_id": "12",
            "available": str(Decimal(available)),
            "available_text": text,
            "funded_until": "2026-11-23T02:00:00+00:00",
        },
    }


async def test_off_answers_without_asking_anyone() -> None:
    assert await answer(False, None, NOW) == {"enabled": False, "now": NOW.isoformat()}


async def test_answers_are_reused_for_max_age_and_errors_are_lines() -> None:
    reads: list[float] = []
    now = [100.0]
    outcome: list[object] = [parse_session(session_doc())]

    def read() -> Any:
        reads.append(now[0])
        if isinstance(outcome[0], CreditsError):
            raise outcome[0]
        return outcome[0]

    cache = CachedSession(read, max_age=10, clock=lambda: now[0])
    first = await answer(True, cache, NOW)
    now[0] = 109.9
    assert await answer(True, cache, NOW) == first
    assert reads == [100.0]
    outcome[0] = CreditsError("credits service unreachable: timed out")
    now[0] = 110.0
    assert await answer(True, cache, NOW) == {
        "enabled": True,
        "now": NOW.isoformat(),
        "message": "credits service unreachable: timed out",
    }
    assert reads == [100.0, 110.0]


def get(url: str, token: str | None) -> tuple[int, Any]:
    request = urllib.request.Request(url)  # noqa: S310 (a loopback http URL)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, None


@pytest.fixture
def server(credits_hub: CreditsHub, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real Jupyter server with the extension, in a computehub session's environment."""
    port, token = free_port(), "browser-login-token"
    env = {
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "COMPUTEHUB_HUB": "lahore",
        **credits_hub.env(),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--port={port}",
            "--ip=127.0.0.1",
            "--no-browser",
            "--allow-root",
            f"--ServerApp.root_dir={tmp_path}",
            f"--IdentityProvider.token={token}",
            '--ServerApp.jpserver_extensions={"computehub.extensions.statusapi": True}',
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api", timeout=2).close()  # noqa: S310
                break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the Jupyter server did not start"
                time.sleep(0.2)
        yield base, token
    finally:
        process.terminate()
        process.wait(10)


def test_the_server_answers_its_own_user_with_the_credits_services_figures(
    server: tuple[str, str], credits_hub: CreditsHub
) -> None:
    base, token = server
    status, doc = get(f"{base}/computehub/api/session", token)
    assert status == 200
    assert doc["enabled"] is True
    assert doc["session"] == {
        "account": "ayesha",
        "hub": "lahore",
        "job_id": "12",
        "available": "37.50",
        "available_text": "37.50",
        "funded_until": "2026-11-23T02:00:00+00:00",
    }
    # Asked with the server's own token, which the browser never sees.
    assert [c.authorization for c in credits_hub.calls(SESSION_PATH)] == ["token secret-token"]
    assert "secret-token" not in json.dumps(doc)


def test_the_server_refuses_a_browser_that_is_not_logged_in(server: tuple[str, str]) -> None:
    base, _ = server
    assert get(f"{base}/computehub/api/session", None)[0] == 403
    assert get(f"{base}/computehub/api/session", "someone-elses-token")[0] == 403
