"""nbgrader on the real bed: release, fetch, submit, collect, autograde, feedback.

A hub of its own (its site file names two graded courses, each with a formgrader
service run as its grader account) on the bed's Slurm clusters. Logins are the dummy
kind (any password): nbg-a: tara teaches it, alice and bob take it. nbg-b: umar teaches
it, alice is its TA. The instructor works through the formgrader's own API with her
token, as its page does; the students through their sessions' nbgrader API, as
JupyterLab does.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import free_port
from computehub.localbed.sitegen import bed_site, write_site
from computehub.localbed.users import ensure_user
from tests.support.bedtools import assert_ledger_clean, hub_api, hub_login
from tests.support.coursework import assignment_source, call, driver_config, succeeded
from tests.support.sessions import stop, wait_ready

pytestmark = pytest.mark.integration

#: Login name: platform role. tara and umar are local accounts of this test only.
PEOPLE = {"alice": "student", "bob": "student", "tara": "instructor", "umar": "instructor"}
GRADERS = {"nbg-a": "grader-nbg-a", "nbg-b": "grader-nbg-b"}


@pytest.fixture(scope="module")
def graded(
    bed_root: Path,
    slurm_bed: SlurmBed,
    notebook_env: Path,
    test_users: dict[str, str],
) -> Iterator[dict[str, Any]]:
    """The hub with two graded courses, their people logged in, and their tokens."""
    for account in (*GRADERS.values(), *PEOPLE):
        ensure_user(account)
    _forget_coursework()
    base = bed_root / "coursework"
    exchange = base / "exchange"
    data = bed_site(slurm_bed, notebook_env, test_users)
    data["auth"] = {"method": "dummy", "dummy": {"users": PEOPLE}}
    data["nbgrader"] = {
        "exchange_root": str(exchange),
        "courses": {course: {"grader": grader} for course, grader in GRADERS.items()},
    }
    site = write_site(base / "site.yaml", data)
    token = secrets.token_hex(24)
    extra = driver_config(base / "extra_config.py", token)
    process = HubProcess(
        base / "hub",
        site,
        extra_config=extra,
        extra_env={"COMPUTEHUB_CREDITS_PORT": str(free_port())},
    )
    ledger_url = f"sqlite:///{process.base / 'ledger.sqlite'}"
    process.start()
    try:
        today = datetime.now(UTC).date()
        with Ledger(ledger_url) as ledger:
            for course in GRADERS:
                ledger.create_course(
                    course, course.upper(), today - timedelta(days=1),
                    today + timedelta(days=90), actor="test",
                )  # fmt: skip
            ledger.add_member("nbg-a", "tara", "instructor", actor="test")
            ledger.add_member("nbg-a", "alice", "student", actor="test")
            ledger.add_member("nbg-a", "bob", "student", actor="test")
            ledger.add_member("nbg-b", "umar", "instructor", actor="test")
            ledger.add_member("nbg-b", "alice", "ta", actor="test")
            ledger.grant("nbg-a", "200", actor="test", idempotency_key="nbg-a-pool")
        tokens = {}
        for user in PEOPLE:
            hub_login(process.url, user, "any")
            status, made = hub_api(
                process.url, token, "POST", f"/users/{user}/tokens",
                {"note": "coursework test", "expires_in": 1800}, timeout=30,
            )  # fmt: skip
            assert status == 201, made
            tokens[user] = made["token"]
        yield {
            "url": process.url,
            "token": token,
            "tokens": tokens,
            "exchange": exchange,
            "ledger_url": ledger_url,
            "log": process.log,
            "state": process.base,
        }
    finally:
        driver = _Driver(process.url, token)
        for user in ("alice", "bob"):
            if driver.api("GET", f"/users/{user}")[0] == 200:
                stop(driver, user)
        process.stop()
        _forget_coursework()
    assert_ledger_clean(ledger_url)


def _forget_coursework() -> None:
    """Remove what a run leaves in real homes (they outlive the bed): fetched work, gradebooks."""
    for account in (*GRADERS.values(), *PEOPLE):
        home = Path(pwd.getpwnam(account).pw_dir)
        for course in GRADERS:
            shutil.rmtree(home / course, ignore_errors=True)
        shutil.rmtree(home / ".computehub" / "formgrader", ignore_errors=True)
        # nbgrader's record of what one submitted (Exchange.cache).
        shutil.rmtree(home / ".local/share/jupyter/nbgrader_cache", ignore_errors=True)


class _Driver:
    """What tests.support.sessions needs of a hub: its URL and an admin REST call."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        return hub_api(self.url, self.token, method, path, body, timeout=60)


def _formgrader(hub: dict[str, Any], course: str, user: str, path: str, method: str = "GET",
                body: Any = None) -> tuple[int, Any]:  # fmt: skip
    return call(f"{hub['url']}/services/{course}/{path}", hub["tokens"][user], method, body)


def _disabled_lab_plugins(page: str) -> set[str]:
    """The plugins a JupyterLab page turns off (its embedded page config)."""
    found = re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S
    )
    assert found, page[:300]
    return set(json.loads(found.group(1)).get("disabledExtensions", []))


def _wait_formgrader(hub: dict[str, Any], course: str, user: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        status, body = _formgrader(hub, course, user, "formgrader/api/status")
        if status == 200:
            return
        assert time.monotonic() < deadline, f"formgrader {course}: {status} {body}"
        time.sleep(2)


def test_only_a_courses_staff_reach_its_formgrader(graded: dict[str, Any]) -> None:
    _wait_formgrader(graded, "nbg-a", "tara")
    _wait_formgrader(graded, "nbg-b", "umar")
    table = {
        ("tara", "nbg-a"): 200,  # its instructor
        ("umar", "nbg-a"): 403,  # another course's instructor
        ("alice", "nbg-a"): 403,  # its student
        ("bob", "nbg-a"): 403,  # its student
        ("umar", "nbg-b"): 200,  # its instructor
        ("alice", "nbg-b"): 200,  # its TA grades
        ("tara", "nbg-b"): 403,
        ("bob", "nbg-b"): 403,  # no part of it
    }
    seen = {
        (user, course): _formgrader(graded, course, user, "formgrader/api/assignments")[0]
        for user, course in table
    }
    assert seen == table
    # The service runs as the course's grader, in its course directory, closed to others.
    course_dir = Path(pwd.getpwnam(GRADERS["nbg-a"]).pw_dir) / "nbg-a"
    info = course_dir.stat()
    assert pwd.getpwuid(info.st_uid).pw_name == GRADERS["nbg-a"]
    assert info.st_mode & 0o777 == 0o700
    exchange = (graded["exchange"] / "nbg-a").stat()
    assert pwd.getpwuid(exchange.st_uid).pw_name == GRADERS["nbg-a"]


def _session(graded: dict[str, Any], user: str) -> str:
    driver = _Driver(graded["url"], graded["token"])
    status, body = driver.api(
        "POST",
        f"/users/{user}/server",
        {"hub": "lahore", "gpu_type": "none", "hours": "1", "account": "nbg-a"},
    )
    assert status in (201, 202), body
    wait_ready(driver, user)
    return f"{graded['url']}/user/{user}"


def _as(graded: dict[str, Any], user: str, url: str, method: str = "GET",
        body: Any = None) -> tuple[int, Any]:  # fmt: skip
    return call(url, graded["tokens"][user], method, body)


def _answer(graded: dict[str, Any], user: str, server: str, body: str) -> None:
    path = f"{server}/api/contents/nbg-a/ps1/ps1.ipynb"
    status, model = _as(graded, user, f"{path}?content=1")
    assert status == 200, model
    notebook = model["content"]
    notebook["cells"][0]["source"] = f"def double(x):\n    {body}"
    status, saved = _as(graded, user, path, "PUT", {"type": "notebook", "content": notebook})
    assert status == 200, saved


def test_an_assignment_from_release_to_feedback(graded: dict[str, Any]) -> None:
    _wait_formgrader(graded, "nbg-a", "tara")
    fg = "formgrader/api/assignment/ps1"
    # tara writes the source in the service's own files and releases it.
    for folder in ("source", "source/ps1"):
        status, made = _formgrader(
            graded, "nbg-a", "tara", f"api/contents/{folder}", "PUT", {"type": "directory"}
        )
        assert status in (200, 201), made
    status, made = _formgrader(
        graded, "nbg-a", "tara", "api/contents/source/ps1/ps1.ipynb", "PUT",
        {"type": "notebook", "content": assignment_source()},
    )  # fmt: skip
    assert status in (200, 201), made
    assert _formgrader(graded, "nbg-a", "tara", fg, "PUT", {})[0] == 200
    status, generated = _formgrader(graded, "nbg-a", "tara", f"{fg}/assign", "POST", {})
    succeeded((status, generated))
    status, released = _formgrader(graded, "nbg-a", "tara", f"{fg}/release", "POST", {})
    succeeded((status, released))
    outbound = graded["exchange"] / "nbg-a" / "outbound" / "ps1"
    assert (outbound / "ps1.ipynb").is_file()
    assert "BEGIN SOLUTION" not in (outbound / "ps1.ipynb").read_text()

    # Both students start a session paid by the course, see it, fetch, answer, submit.
    servers = {user: _session(graded, user) for user in ("alice", "bob")}
    for user, server in servers.items():
        status, listed = _as(graded, user, f"{server}/assignments?course_id=nbg-a")
        succeeded((status, listed))
        assert [(a["course_id"], a["assignment_id"], a["status"]) for a in listed["value"]] == [
            ("nbg-a", "ps1", "released")
        ]
        status, fetched = _as(
            graded, user, f"{server}/assignments/fetch?course_id=nbg-a&assignment_id=ps1", "POST"
        )
        succeeded((status, fetched))
    _answer(graded, "alice", servers["alice"], "return 2 * x")
    _answer(graded, "bob", servers["bob"], "return x + 1")
    for user, server in servers.items():
        status, submitted = _as(
            graded, user, f"{server}/assignments/submit?course_id=nbg-a&assignment_id=ps1", "POST"
        )
        succeeded((status, submitted))
    # bob forges a later "submission" in alice's name: collect leaves it out.
    inbound = graded["exchange"] / "nbg-a" / "inbound"
    forged = f"alice+ps1+{datetime.now(UTC) + timedelta(minutes=5):%Y-%m-%d %H:%M:%S.%f} UTC"
    subprocess.run(
        ["sudo", "-u", "bob", "cp", "-r", str(Path("/home/bob/nbg-a/ps1")), str(inbound / forged)],
        check=True, timeout=30,
    )  # fmt: skip

    # tara collects, autogrades, and returns feedback.
    status, collected = _formgrader(graded, "nbg-a", "tara", f"{fg}/collect", "POST", {})
    succeeded((status, collected))
    assert "named for alice but belongs to bob" in collected["log"], collected["log"]
    for user in ("alice", "bob"):
        status, graded_ = _formgrader(
            graded, "nbg-a", "tara", f"formgrader/api/submission/ps1/{user}/autograde", "POST", {}
        )
        succeeded((status, graded_))
    status, submissions = _formgrader(graded, "nbg-a", "tara", "formgrader/api/submissions/ps1")
    assert status == 200, submissions
    scores = {s["student"]: (s["score"], s["max_score"]) for s in submissions}
    assert scores == {"alice": (1.0, 1.0), "bob": (0.0, 1.0)}
    for step in ("generate_feedback", "release_feedback"):
        status, done = _formgrader(graded, "nbg-a", "tara", f"{fg}/{step}", "POST", {})
        succeeded((status, done))

    # Each student fetches their own feedback in their session.
    for user, server in servers.items():
        status, after = _as(
            graded, user,
            f"{server}/assignments/fetch_feedback?course_id=nbg-a&assignment_id=ps1", "POST",
        )  # fmt: skip
        succeeded((status, after))
        submitted = next(a for a in after["value"] if a.get("submissions"))
        feedback = submitted["submissions"][-1]
        assert feedback["has_local_feedback"], feedback
        # (relative to the student's home, where the session's files start)
        folder = Path(pwd.getpwnam(user).pw_dir) / feedback["local_feedback_path"]
        html = subprocess.run(
            ["sudo", "-u", user, "cat", str(folder / "ps1.html")],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        want = "Score: 1.0 / 1.0" if user == "alice" else "Score: 0.0 / 1.0"
        assert want in html, (user, html[:400])

    # The instructor's page shows the assignment as the gradebook has it.
    status, html = call(f"{graded['url']}/services/credits/courses/nbg-a", graded["tokens"]["tara"])
    assert status == 200, html
    row = html[html.index('data-assignment="ps1"') :].split("</tr>", 1)[0]
    assert "released" in row
    assert "<td>2 of 2</td><td>2</td><td>0.5 of 1</td>" in row, row
    assert "/services/nbg-a/formgrader/manage_submissions/ps1" in row

    # Students have no formgrader of their own in their sessions, nor its lab parts;
    # the course's formgrader has them all (the create-assignment toolbar included).
    status, _ = _as(graded, "alice", f"{servers['alice']}/formgrader")
    assert status == 404
    staff_parts = {
        "@jupyter/nbgrader:formgrader",
        "@jupyter/nbgrader:course-list",
        "@jupyter/nbgrader:create-assignment",
    }
    status, page = _as(graded, "alice", f"{servers['alice']}/lab")
    assert status == 200
    assert staff_parts <= _disabled_lab_plugins(page)
    status, page = _formgrader(graded, "nbg-a", "tara", "lab")
    assert status == 200
    assert not staff_parts & _disabled_lab_plugins(page)

    # The course ends and is archived: nothing more is spent from it, and its grades
    # and history stay readable for its staff.
    driver = _Driver(graded["url"], graded["token"])
    for user in servers:
        stop(driver, user)
    with Ledger(graded["ledger_url"]) as ledger:
        ledger.archive_course("nbg-a", actor="test")
    status, body = driver.api(
        "POST",
        "/users/alice/server",
        {"hub": "lahore", "gpu_type": "none", "hours": "1", "account": "nbg-a"},
    )
    assert status == 409, body
    assert "archived" in body["message"]
    status, submissions = _formgrader(graded, "nbg-a", "tara", "formgrader/api/submissions/ps1")
    assert status == 200, submissions
    assert {s["student"]: s["score"] for s in submissions} == {"alice": 1.0, "bob": 0.0}
    status, html = call(f"{graded['url']}/services/credits/courses/nbg-a", graded["tokens"]["tara"])
    assert status == 200, html
    assert 'data-assignment="ps1"' in html
    assert "archived" in html


def test_a_courses_exchange_folder_taken_by_someone_else_is_refused(tmp_path: Path) -> None:
    """The formgrader refuses an exchange folder that is not its grader's (a squatter's)."""
    from computehub.extensions.formgrader import FormgraderSetupError, prepare

    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)
    squatted = exchange / "nbg-x"
    squatted.mkdir()
    os.chown(squatted, ensure_user("bob").pw_uid, -1)
    home = tmp_path / "home"
    home.mkdir()
    grader = ensure_user("grader-nbg-a").pw_uid
    with pytest.raises(FormgraderSetupError, match="not to this course's grader"):
        prepare("nbg-x", exchange, home, grader)
    assert not (home / "nbg-x").exists()
    # Its own folder (made here, by this process's account) is accepted, and the
    # course directory made, closed to others.
    assert prepare("nbg-y", exchange, home, os.getuid()) == home / "nbg-y"
    assert (exchange / "nbg-y").is_dir()
    assert (home / "nbg-y").stat().st_mode & 0o777 == 0o700


def _credits_service_env(graded: dict[str, Any]) -> dict[str, str]:
    """The credits service's environment, read from /proc (the tests run as root)."""
    marker = f"COMPUTEHUB_STATE_DIR={graded['state']}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ and b"computehub.credits.service" in cmdline:
            pairs = (item.decode().split("=", 1) for item in environ if b"=" in item)
            return dict(pairs)
    raise AssertionError("the credits service of the coursework hub is not running")


def test_the_pages_reading_token_opens_its_own_courses_formgrader_only(
    graded: dict[str, Any],
) -> None:
    readers = json.loads(_credits_service_env(graded)["COMPUTEHUB_FORMGRADERS"])
    assert set(readers) == set(GRADERS)
    for course, where in readers.items():
        other = next(c for c in GRADERS if c != course)
        own, _ = call(f"{graded['url']}/services/{course}/formgrader/api/assignments",
                       where["token"])  # fmt: skip
        assert own == 200
        theirs, _ = call(f"{graded['url']}/services/{other}/formgrader/api/assignments",
                          where["token"])  # fmt: skip
        assert theirs == 403
        # Nor anything of the hub's own: it is a token for reading one formgrader.
        for path in ("/hub/api/users", "/hub/api/users/alice", "/hub/api/groups"):
            status, _ = call(f"{graded['url']}{path}", where["token"])
            assert status == 403, path
