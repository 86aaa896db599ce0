"""nbgitpuller on the real bed: a course's link pulls its repository into a student's home."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from computehub.credits.ledger import Ledger
from computehub.credits.service.pulllink import pull_link
from tests.spawners.test_billing import user_token
from tests.support.gitserve import git_daemon, make_repository
from tests.support.sessions import wait_ready

pytestmark = pytest.mark.integration

NOTEBOOK = json.dumps(
    {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Week 1: gradients"]}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


@pytest.fixture
def ledger(hub: Any) -> Iterator[Ledger]:
    with Ledger(hub.ledger_url) as opened:
        yield opened


#: The repository's name, new each run: the pull lands in alice's real home, which
#: outlives the bed (a folder of an earlier run would be fetched from its old daemon).
REPO = f"ml-materials-{secrets.token_hex(4)}"


@pytest.fixture
def served() -> Iterator[str]:
    """``git://…/<REPO>.git`` on loopback, readable by every test user."""
    with tempfile.TemporaryDirectory(prefix="course-git-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)  # noqa: S103 (the test users read it; nothing secret)
        make_repository(root, REPO, {"week 1/intro.ipynb": NOTEBOOK})
        with git_daemon(root) as base:
            yield f"{base}/{REPO}.git"
    shutil.rmtree(f"/home/alice/{REPO}", ignore_errors=True)


def _get(url: str, token: str, timeout: float = 60) -> tuple[int, str, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
        return resp.status, resp.geturl(), resp.read().decode()


def _pull(api: str, token: str, timeout: float = 120) -> list[dict[str, Any]]:
    """nbgitpuller's event stream (what its page's script reads) until it ends."""
    events: list[dict[str, Any]] = []
    req = urllib.request.Request(api, headers={"Authorization": f"token {token}"})  # noqa: S310
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("phase") in ("finished", "error"):
                    break
            assert time.monotonic() < deadline, "nbgitpuller did not finish"
    return events


def test_a_course_link_pulls_the_materials_into_the_students_home(
    hub: Any, ledger: Ledger, served: str, clean: None
) -> None:
    today = datetime.now(UTC).date()
    ledger.create_course(
        "git-course", "ML", today - timedelta(days=1), today + timedelta(days=60), actor="test"
    )
    ledger.add_member("git-course", "alice", "student", actor="test")
    ledger.grant("git-course", "100", actor="test", idempotency_key="git-course-grant")
    course = ledger.set_course_repository("git-course", served, actor="test", branch="main")
    assert course.repository is not None
    hub.api(
        "POST",
        "/users/alice/server",
        {"hub": "lahore", "gpu_type": "none", "hours": "1", "account": "git-course"},
    )
    wait_ready(hub, "alice")
    token = user_token(hub, "alice")
    link = pull_link(hub.url, course.repository, "week 1/intro.ipynb", course.branch)

    # The link goes to the hub's user-redirect, which needs the browser's login cookie
    # (a token is not taken there) and sends the student to /user/<name>/<rest>; the
    # test follows that step itself, with the student's token, to their own server.
    split = urlsplit(link)
    assert split.path == "/hub/user-redirect/git-pull"
    status, landed, page = _get(f"{hub.url}/user/alice/git-pull?{split.query}", token)
    assert status == 200
    assert urlsplit(landed).path == "/user/alice/git-pull"
    assert "git-pull" in page or "nbgitpuller" in page.lower()
    query = parse_qs(urlsplit(landed).query)
    assert query["repo"] == [served]
    # The page's script then reads the pull's progress from its API: the clone.
    events = _pull(landed.replace("/git-pull?", "/git-pull/api?", 1), token)
    assert events[-1].get("phase") == "finished", events

    # The notebook is in alice's home, hers, with the course's content.
    status, _, body = _get(
        f"{hub.url}/user/alice/api/contents/{REPO}/week%201/intro.ipynb?content=1", token
    )
    model = json.loads(body)
    assert model["content"]["cells"][0]["source"] == "# Week 1: gradients"
    owner = subprocess.run(
        ["sudo", "-u", "alice", "stat", "-c", "%U", f"/home/alice/{REPO}/week 1/intro.ipynb"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    assert owner == "alice"
    # The link opens it in JupyterLab once pulled.
    assert parse_qs(urlsplit(link).query)["urlpath"] == [f"lab/tree/{REPO}/week%201/intro.ipynb"]
