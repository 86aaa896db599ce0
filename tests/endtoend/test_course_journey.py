"""A whole course in Chromium, on the real bed: from the operator's command to the grades.

The operator creates the course with the CLI and grants its pool; its instructor
(alice, from the directory) loads the roster from CSV (dry run, then apply), sets a
weekly cap, publishes an nbgitpuller link and releases an nbgrader assignment from the
course's formgrader; two students log in, bob through the directory and evan through
an LTI 1.3 launch from the LMS, start a course session on a course-only GPU paid from
the pool, pull the materials, fetch the assignment, answer and submit it; the
instructor collects, autogrades and returns feedback; both students read theirs; the
instructor's page shows each student's use of the pool as the ledger has it.
A screenshot of each step lands in test-output/test_a_whole_course_in_the_browser/.

What JupyterLab's nbgrader panel does (fetch, submit, fetch feedback) and the
formgrader's buttons (create, generate, release, collect, autograde, feedback) are
driven through the same server APIs those pages call, with each person's own token;
the screenshots show the pages themselves.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from computehub.credits.display import credits_text
from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import free_port
from computehub.localbed.sitegen import bed_site, write_site
from computehub.localbed.slapd import Slapd
from computehub.localbed.university import ensure_people, ldap_auth
from computehub.localbed.users import ensure_user
from tests.support.bedtools import assert_ledger_clean, hub_api
from tests.support.coursework import KERNELSPEC, assignment_source, call, driver_config, succeeded
from tests.support.gitserve import git_daemon, make_repository
from tests.support.lti_platform import INSTITUTION, MEMBERSHIP, LmsPerson, LtiPlatform
from tests.support.sessions import stop, wait_ready

pytestmark = pytest.mark.integration

COURSE = "ml-journey"
GRADER = "grader-ml-journey"
#: The LMS's course that maps to COURSE, and its learner who launches from it.
CONTEXT = {"id": "ctx-ml", "label": "ML201", "title": "Machine Learning 201"}
LEARNER = LmsPerson(
    "lms-user-9001", "evan", "Evan Elahi", (f"{MEMBERSHIP}Learner", f"{INSTITUTION}Student")
)
STUDENTS = ("bob", "evan")
#: Credits a student may spend from the pool in a week; an H100 hour costs 10 in Lahore.
WEEKLY_CAP = "25"
REPO = f"ml-journey-{secrets.token_hex(4)}"
WEEK1 = json.dumps(
    {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Week 1: tensors"]}],
        "metadata": {"kernelspec": KERNELSPEC},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


class Journey:
    """The course's hub, its LMS, its git server, and what the steps pass along."""

    def __init__(self, process: HubProcess, token: str, lms: LtiPlatform, ledger_url: str):
        self.process, self.token, self.lms, self.ledger_url = process, token, lms, ledger_url
        self.tokens: dict[str, str] = {}
        self.link = ""
        self.repository = ""

    @property
    def url(self) -> str:
        return self.process.url

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        return hub_api(self.url, self.token, method, path, body, timeout=60)

    def token_of(self, user: str) -> str:
        if user not in self.tokens:
            status, made = self.api(
                "POST", f"/users/{user}/tokens", {"note": "journey", "expires_in": 3600}
            )
            assert status == 201, made
            self.tokens[user] = made["token"]
        return self.tokens[user]

    def formgrader(self, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
        """The course's formgrader API, as alice (what its page's buttons call)."""
        url = f"{self.url}/services/{COURSE}/{path}"
        return call(url, self.token_of("alice"), method, body)

    def server(self, user: str, path: str, method: str = "POST") -> Any:
        """The student's own server's nbgrader API (what JupyterLab's panel calls)."""
        return succeeded(call(f"{self.url}/user/{user}/{path}", self.token_of(user), method))


def _forget(users: tuple[str, ...]) -> None:
    """What a run leaves in real homes (they outlive the bed)."""
    for user in users:
        home = Path(pwd.getpwnam(user).pw_dir)
        for leftover in (COURSE, REPO, ".local/share/jupyter/nbgrader_cache",
                         ".computehub/formgrader"):  # fmt: skip
            shutil.rmtree(home / leftover, ignore_errors=True)


@pytest.fixture(scope="module")
def journey(
    bed_root: Path,
    slurm_bed: SlurmBed,
    notebook_env: Path,
    test_users: dict[str, str],
    slapd: Slapd,
) -> Iterator[Journey]:
    ensure_people(slapd)
    for account in (GRADER, LEARNER.username):
        ensure_user(account)
    people = (*STUDENTS, "alice", GRADER)
    _forget(people)
    base = bed_root / "journey"
    base.mkdir(parents=True, exist_ok=True)
    hub_port = free_port()
    lms = LtiPlatform(
        client_id="computehub-journey",
        deployment_id="deployment-1",
        people={LEARNER.username: LEARNER},
        contexts={CONTEXT["id"]: CONTEXT},
        tool_url=f"http://127.0.0.1:{hub_port}",
    )
    lms.start()
    data = bed_site(slurm_bed, notebook_env, test_users)
    data["auth"] = _auth(lms, slapd)
    # Lahore's H100s are kept for the course (and for researchers, instructors, operators).
    access = data["hubs"]["lahore"]["limits"]["access"]["gpu:h100"]
    access["courses"] = [*access["courses"], COURSE]
    data["nbgrader"] = {
        "exchange_root": str(base / "exchange"),
        "courses": {COURSE: {"grader": GRADER}},
    }
    site = write_site(base / "site.yaml", data)
    token = secrets.token_hex(24)
    extra = driver_config(base / "extra_config.py", token)
    process = HubProcess(
        base / "hub",
        site,
        port=hub_port,
        extra_config=extra,
        extra_env={
            "COMPUTEHUB_CREDITS_PORT": str(free_port()),
            # auth_state records how each person logged in (a refresh goes that way).
            "JUPYTERHUB_CRYPT_KEY": secrets.token_hex(32),
        },
    )
    ledger_url = f"sqlite:///{process.base / 'ledger.sqlite'}"
    with tempfile.TemporaryDirectory(prefix="journey-git-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 (the students' jobs read it; nothing secret)
        make_repository(Path(tmp), REPO, {"week1/tensors.ipynb": WEEK1})
        with git_daemon(Path(tmp)) as git_base:
            process.start()
            journey = Journey(process, token, lms, ledger_url)
            journey.repository = f"{git_base}/{REPO}.git"
            try:
                yield journey
            finally:
                for user in STUDENTS:
                    if journey.api("GET", f"/users/{user}")[0] == 200:
                        stop(journey, user)
                process.stop()
                lms.stop()
                _forget(people)
    assert_ledger_clean(ledger_url)


def _auth(lms: LtiPlatform, slapd: Slapd) -> dict[str, Any]:
    """The directory for staff and bob, LTI launches from the LMS for its learners."""
    auth = ldap_auth("127.0.0.1", slapd.port)
    auth["lti"] = {
        "issuer": lms.issuer,
        "client_ids": [lms.client_id],
        "deployment_ids": [lms.deployment_id],
        "authorize_url": f"{lms.url}/authorize",
        "jwks_url": f"{lms.url}/jwks",
        "courses": {CONTEXT["id"]: COURSE},
    }
    auth["lti_launches"] = True
    # The directory's rules, and the launches' groups (lti-<course role>) beside them.
    auth["roles"] = {
        **auth["roles"],
        "student": {"groups": ["lti-student", "lti-ta"], "affiliations": ["student"]},
        "instructor": {"groups": ["course-instructors", "lti-instructor"]},
    }
    return auth


def _cli(*argv: str, db: str) -> Any:
    """The operator's command line, as they run it on the hub host."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "computehub"), "credits", *argv, "--db", db, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_whole_course_in_the_browser(journey: Journey, browser: Any, output_dir: Path) -> None:
    steps = iter(range(1, 100))
    pages: list[Any] = []

    def window() -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        pages.append(page)
        return page

    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(output_dir / f"{next(steps):02d}-{name}.png"), full_page=True)

    try:
        _walk(journey, window, shot)
    except Exception:
        for n, page in enumerate(pages):
            page.screenshot(path=str(output_dir / f"failure-{n}.png"), full_page=True)
        raise
    finally:
        for page in pages:
            page.context.close()


def _login(page: Any, hub: str, user: str, password: str) -> None:
    page.goto(f"{hub}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r".*/hub/(spawn|home).*"))


def _spawn(page: Any, hub: str, user: str, shot: Any) -> None:
    """The spawn form: a Lahore H100 for an hour, which the course's pool pays."""
    page.goto(f"{hub}/hub/spawn")
    page.select_option("#ch-hub", "lahore")
    page.select_option("#ch-gpu-type", "h100")
    page.fill("#ch-gpus", "1")
    page.fill("#ch-hours", "1")
    # A course-only GPU: the form picks the course's pool to pay.
    assert page.input_value("#ch-account") == COURSE
    page.locator("#ch-cost[data-source=ledger]").wait_for(timeout=30_000)
    shot(page, f"{user}-spawn-form")
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(re.compile(rf".*/user/{user}/lab.*"), timeout=180_000)


def _walk(journey: Journey, window: Any, shot: Any) -> None:
    hub = journey.url
    db = journey.ledger_url
    today = datetime.now(UTC).date()

    # 1. The operator creates the course and grants its pool (CLI), then looks at it.
    made = _cli("course", "create", COURSE, "--title", "Machine Learning 201",
                "--start", str(today - timedelta(days=1)), "--end", str(today + timedelta(days=90)),
                "--owner", "alice", db=db)  # fmt: skip
    assert made["id"] == COURSE
    _cli("grant", COURSE, "200", "--note", "ML201 pool", db=db)
    operator = window()
    _login(operator, hub, "carol", "carol-pw")
    operator.goto(f"{hub}/services/credits/courses/{COURSE}")
    operator.wait_for_selector("#ch-roster")
    shot(operator, "operator-course-created")

    # 2. The instructor loads the roster from CSV: a dry run, then for real.
    teacher = window()
    _login(teacher, hub, "alice", "alice-pw")
    teacher.goto(f"{hub}/services/credits/courses/{COURSE}")
    teacher.fill("#ch-roster-text", "username,role\nbob,student\nevan,student\n")
    teacher.click("#ch-roster-preview")
    teacher.wait_for_selector("#ch-roster-preview-result")
    preview = teacher.inner_text("#ch-roster-preview-result")
    assert "add bob as student" in preview
    assert "add evan as student" in preview
    with Ledger(db) as ledger:
        assert "bob" not in ledger.course(COURSE).members
    shot(teacher, "roster-dry-run")
    teacher.click("#ch-roster-apply")
    teacher.wait_for_selector("#ch-roster-applied")
    with Ledger(db) as ledger:
        members = ledger.course(COURSE).members
    assert {user: members.get(user) for user in STUDENTS} == dict.fromkeys(STUDENTS, "student")
    shot(teacher, "roster-applied")

    # 3. A weekly cap per student.
    teacher.fill("#ch-weekly-cap", WEEKLY_CAP)
    teacher.click("#ch-sharing-save")
    teacher.wait_for_selector("#ch-notice")
    with Ledger(db) as ledger:
        assert ledger.course_sharing(COURSE).weekly_cap == Decimal(WEEKLY_CAP)
    shot(teacher, "weekly-cap")

    # 4. The course's materials and an nbgitpuller link to them.
    teacher.fill("#ch-repository-url", journey.repository)
    teacher.click("#ch-repository-save")
    teacher.wait_for_selector("#ch-link-form")
    teacher.fill("#ch-link-path", "week1/tensors.ipynb")
    teacher.click("#ch-link-make")
    journey.link = teacher.input_value("#ch-link")
    assert urlsplit(journey.link).path == "/hub/user-redirect/git-pull"
    shot(teacher, "pull-link")

    # 5. An assignment, written and released in the course's formgrader (its own tab).
    assert journey.formgrader("formgrader/api/status")[0] == 200
    for folder in ("source", "source/ps1"):
        assert journey.formgrader(f"api/contents/{folder}", "PUT", {"type": "directory"})[0] in (
            200,
            201,
        )
    status, _ = journey.formgrader(
        "api/contents/source/ps1/ps1.ipynb",
        "PUT",
        {"type": "notebook", "content": assignment_source("Write `double(x)`.")},
    )
    assert status in (200, 201)
    assert journey.formgrader("formgrader/api/assignment/ps1", "PUT", {})[0] == 200
    succeeded(journey.formgrader("formgrader/api/assignment/ps1/assign", "POST", {}))
    succeeded(journey.formgrader("formgrader/api/assignment/ps1/release", "POST", {}))
    with teacher.expect_popup() as opened:
        teacher.goto(f"{hub}/services/credits/courses/{COURSE}")
        teacher.click("#ch-formgrader")
    formgrader = opened.value
    formgrader.wait_for_selector("text=ps1")
    shot(formgrader, "formgrader-released")

    # 6. bob logs in through the directory and starts a course session.
    bob = window()
    _login(bob, hub, "bob", "bob-pw")
    _spawn(bob, hub, "bob", shot)
    # 7. evan launches from the LMS and starts one too.
    evan = window()
    evan.goto(f"{journey.lms.url}/launch?user=evan&context={CONTEXT['id']}")
    evan.wait_for_url(re.compile(rf"^{re.escape(hub)}/.*"), timeout=60_000)
    _spawn(evan, hub, "evan", shot)
    students = {"bob": bob, "evan": evan}
    for user in STUDENTS:
        wait_ready(journey, user)

    # 8. Each pulls the materials with the link, and lands on the notebook in JupyterLab.
    for user, page in students.items():
        page.goto(journey.link)
        page.wait_for_url(re.compile(rf".*/user/{user}/lab/tree/{REPO}/week1/tensors.ipynb"),
                          timeout=180_000)  # fmt: skip
        page.locator(".jp-Notebook h1", has_text="Week 1: tensors").wait_for(timeout=120_000)
        shot(page, f"{user}-materials")

    # 9. Each fetches the assignment, answers and submits it.
    answers = {"bob": "return 2 * x", "evan": "return x * x"}
    for user, page in students.items():
        listed = journey.server(user, f"assignments?course_id={COURSE}", "GET")
        assert [(a["assignment_id"], a["status"]) for a in listed["value"]] == [("ps1", "released")]
        journey.server(user, f"assignments/fetch?course_id={COURSE}&assignment_id=ps1")
        path = f"{hub}/user/{user}/api/contents/{COURSE}/ps1/ps1.ipynb"
        status, model = call(f"{path}?content=1", journey.token_of(user))
        assert status == 200, model
        notebook = model["content"]
        notebook["cells"][1]["source"] = f"def double(x):\n    {answers[user]}"
        status, _ = call(path, journey.token_of(user), "PUT",
                          {"type": "notebook", "content": notebook})  # fmt: skip
        assert status == 200
        page.goto(f"{hub}/user/{user}/lab/tree/{COURSE}/ps1/ps1.ipynb")
        page.locator(".jp-Notebook .jp-Cell", has_text=answers[user]).wait_for(timeout=120_000)
        shot(page, f"{user}-answered")
        journey.server(user, f"assignments/submit?course_id={COURSE}&assignment_id=ps1")

    # 10. The instructor collects, autogrades and returns the feedback.
    succeeded(journey.formgrader("formgrader/api/assignment/ps1/collect", "POST", {}))
    for user in STUDENTS:
        succeeded(journey.formgrader(f"formgrader/api/submission/ps1/{user}/autograde", "POST", {}))
    status, submissions = journey.formgrader("formgrader/api/submissions/ps1")
    assert status == 200, submissions
    assert {s["student"]: s["score"] for s in submissions} == {"bob": 1.0, "evan": 0.0}
    for step in ("generate_feedback", "release_feedback"):
        succeeded(journey.formgrader(f"formgrader/api/assignment/ps1/{step}", "POST", {}))
    formgrader.goto(f"{hub}/services/{COURSE}/formgrader/manage_submissions/ps1")
    formgrader.wait_for_selector("text=evan")
    shot(formgrader, "formgrader-graded")

    # 11. Both students read their feedback.
    scores = {"bob": "1.0 / 1.0", "evan": "0.0 / 1.0"}
    for user, page in students.items():
        after = journey.server(
            user, f"assignments/fetch_feedback?course_id={COURSE}&assignment_id=ps1"
        )
        submitted = next(a for a in after["value"] if a.get("submissions"))
        feedback = submitted["submissions"][-1]["local_feedback_path"]
        page.goto(f"{hub}/user/{user}/files/{feedback}/ps1.html")
        page.get_by_text(scores[user]).first.wait_for(timeout=60_000)
        shot(page, f"{user}-feedback")

    # 12. The instructor's page: each student's use of the pool, as the ledger has it;
    # the assignment collected and graded.
    teacher.goto(f"{hub}/services/credits/courses/{COURSE}")
    teacher.wait_for_selector("#ch-roster")
    with Ledger(db) as ledger:
        use = ledger.pool_use(COURSE)
    for user in STUDENTS:
        row = teacher.locator(f"#ch-roster tr[data-username={user}]")
        assert use[user].used > 0
        assert row.locator(".ch-used").inner_text() == credits_text(use[user].used)
        assert row.locator(".ch-sessions").inner_text() == str(use[user].sessions)
    assignment = teacher.locator("#ch-coursework tr[data-assignment=ps1]").inner_text()
    assert "released" in assignment
    assert "2 of 2" in assignment
    shot(teacher, "instructor-page")
