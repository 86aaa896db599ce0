"""Every endpoint x every kind of caller: nobody reads or moves what isn't theirs.

Personas: the owner of a personal account (owen), another user (otto), the instructor
of a course (ines), a student of that course (sami), an operator (opal), anonymous.
"""

from __future__ import annotations

from typing import Any

import pytest

from computehub.credits.service.scopes import ACCESS, READ
from tests.support.credits_hub import (
    COURSE,
    COURSE_A,
    COURSE_B,
    COURSE_Z,
    CreditsHub,
    application_body,
    http,
)

pytestmark = pytest.mark.integration

PERSONAS = ("owner", "other", "instructor", "student", "operator", "anonymous")
_EST = "/estimate?hub=lahore&resource=gpu:h100&count=1&hours=1&account="

#: (id, method, path, body, expected status per persona in PERSONAS order).
MATRIX: list[tuple[str, str, str, Any, tuple[int, ...]]] = [
    ("list-own-accounts", "GET", "/accounts", None, (200, 200, 200, 200, 200, 401)),
    ("list-owners-accounts", "GET", "/accounts?user=owen", None, (200, 403, 403, 403, 200, 401)),
    ("read-personal", "GET", "/accounts/owen", None, (200, 403, 403, 403, 200, 401)),
    ("read-course", "GET", f"/accounts/{COURSE}", None, (403, 403, 200, 200, 200, 401)),
    ("read-unknown", "GET", "/accounts/nobody", None, (403, 403, 403, 403, 404, 401)),
    (
        "personal-transactions",
        "GET",
        "/accounts/owen/transactions",
        None,
        (200, 403, 403, 403, 200, 401),
    ),
    (
        "course-transactions",
        "GET",
        f"/accounts/{COURSE}/transactions",
        None,
        (403, 403, 200, 403, 200, 401),
    ),
    ("personal-sessions", "GET", "/accounts/owen/sessions", None, (200, 403, 403, 403, 200, 401)),
    (
        "course-sessions",
        "GET",
        f"/accounts/{COURSE}/sessions",
        None,
        (403, 403, 200, 200, 200, 401),
    ),
    (
        "grant",
        "POST",
        "/accounts/owen/grants",
        {"amount": "1"},
        (403, 403, 403, 403, 201, 401),
    ),
    (
        "transfer-course-to-student",
        "POST",
        "/transfers",
        {"from": COURSE, "to": "sami", "amount": "1"},
        (403, 403, 201, 403, 201, 401),
    ),
    (
        "transfer-course-to-non-student",
        "POST",
        "/transfers",
        {"from": COURSE, "to": "otto", "amount": "1"},
        (403, 403, 403, 403, 201, 401),
    ),
    (
        "transfer-personal",
        "POST",
        "/transfers",
        {"from": "owen", "to": "otto", "amount": "1"},
        (403, 403, 403, 403, 201, 401),
    ),
    ("rates", "GET", "/rates", None, (200, 200, 200, 200, 200, 401)),
    ("estimate-personal", "GET", _EST + "owen", None, (200, 403, 403, 403, 200, 401)),
    ("estimate-course", "GET", _EST + COURSE, None, (403, 403, 200, 200, 200, 401)),
    ("current-session", "GET", "/sessions/current", None, (200, 404, 404, 404, 404, 401)),
    ("own-notices", "GET", "/notices", None, (200, 200, 200, 200, 200, 401)),
    ("owners-notices", "GET", "/notices?user=owen", None, (200, 403, 403, 403, 200, 401)),
    ("unknown-users-notices", "GET", "/notices?user=nobody", None, (403, 403, 403, 403, 200, 401)),
    ("reports", "GET", "/reports", None, (403, 403, 403, 403, 200, 401)),
    ("energy-report", "GET", "/reports/energy", None, (403, 403, 403, 403, 200, 401)),
    ("openapi", "GET", "/openapi.json", None, (200, 200, 200, 200, 200, 200)),
]

CASES = [
    pytest.param(method, path, body, persona, expected[i], id=f"{name}-{persona}")
    for name, method, path, body, expected in MATRIX
    for i, persona in enumerate(PERSONAS)
]


@pytest.mark.parametrize(("method", "path", "body", "persona", "status"), CASES)
def test_matrix(
    credits_hub: CreditsHub,
    accounts: dict[str, str],
    method: str,
    path: str,
    body: Any,
    persona: str,
    status: int,
) -> None:
    answer = credits_hub.call(persona, method, path, body)
    assert answer.status == status, answer.raw
    assert isinstance(answer.body, dict)
    if status >= 400:
        assert answer.body["message"]


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        pytest.param(p, s, id=p)
        for p, s in zip(PERSONAS, (403, 403, 403, 403, 200, 401), strict=True)
    ],
)
def test_metrics_matrix(
    credits_hub: CreditsHub, accounts: dict[str, str], persona: str, status: int
) -> None:
    token = None if persona == "anonymous" else credits_hub.tokens[persona]
    assert http("GET", f"{credits_hub.service}/metrics", token).status == status


def test_student_sees_only_own_sessions_on_the_course(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    ledger.place_hold(COURSE, "lahore", {"cpu": 1}, "1", actor="ines")
    student = credits_hub.call("student", "GET", f"/accounts/{COURSE}/sessions").body
    staff = credits_hub.call("instructor", "GET", f"/accounts/{COURSE}/sessions").body
    assert {row["user"] for row in student["sessions"]} == {"sami"}
    assert {row["user"] for row in staff["sessions"]} >= {"sami", "ines"}


def test_members_only_for_managers(credits_hub: CreditsHub, accounts: dict[str, str]) -> None:
    staff = credits_hub.call("instructor", "GET", f"/accounts/{COURSE}").body
    student = credits_hub.call("student", "GET", f"/accounts/{COURSE}").body
    assert staff["members"] == {"ines": "instructor", "sami": "student"}
    assert "members" not in student


def test_token_without_the_read_scope_is_refused(
    credits_hub: CreditsHub, accounts: dict[str, str]
) -> None:
    token = credits_hub.token_for("owen", ["access:services!service=credits"])
    answer = http("GET", f"{credits_hub.api}/accounts", token)
    assert answer.status == 403
    assert "custom:credits:read" in answer.body["message"]


def test_token_without_service_access_is_refused(
    credits_hub: CreditsHub, accounts: dict[str, str]
) -> None:
    token = credits_hub.token_for("owen", ["custom:credits:read"])
    answer = http("GET", f"{credits_hub.api}/accounts", token)
    assert answer.status == 403
    assert "access:services!service=credits" in answer.body["message"]


def test_bad_token_is_401(credits_hub: CreditsHub) -> None:
    assert http("GET", f"{credits_hub.api}/accounts", "not-a-token").status == 401


# --- courses: what each may do comes from the course, not from a platform role ----------

#: Course A's instructor (ines, platform role instructor), course B's (bea, platform role
#: researcher), A's TA (tao), A's student (sami), B's student (sue), an operator.
COURSE_PERSONAS = ("instructor", "instructor_b", "ta", "student", "student_b", "operator")
_ROSTER_A = {"csv": "ines,instructor\ntao,ta\nsami,student\n"}
_ROSTER_B = {"csv": "bea,instructor\nsue,student\n"}

COURSE_MATRIX: list[tuple[str, str, str, Any, tuple[int, ...]]] = [
    ("list-courses", "GET", "/courses", None, (200, 200, 200, 200, 200, 200)),
    (
        "share-a",
        "PUT",
        f"/courses/{COURSE_A}/sharing",
        {"weekly_cap": "400"},
        (200, 403, 403, 403, 403, 200),
    ),
    (
        "share-b",
        "PUT",
        f"/courses/{COURSE_B}/sharing",
        {"weekly_cap": "400"},
        (403, 200, 403, 403, 403, 200),
    ),
    (
        "allowance-a-student",
        "PUT",
        f"/courses/{COURSE_A}/allowances/sami",
        {"allowance": "400"},
        (200, 403, 403, 403, 403, 200),
    ),
    (
        "allowance-b-student",
        "PUT",
        f"/courses/{COURSE_B}/allowances/sue",
        {"allowance": "400"},
        (403, 200, 403, 403, 403, 200),
    ),
    ("read-a", "GET", f"/courses/{COURSE_A}", None, (200, 403, 200, 200, 403, 200)),
    ("read-b", "GET", f"/courses/{COURSE_B}", None, (403, 200, 403, 403, 200, 200)),
    ("read-unknown", "GET", "/courses/nope", None, (403, 403, 403, 403, 403, 404)),
    ("account-a", "GET", f"/accounts/{COURSE_A}", None, (200, 403, 200, 200, 403, 200)),
    (
        "use-of-a",
        "GET",
        f"/accounts/{COURSE_A}/transactions",
        None,
        (200, 403, 200, 403, 403, 200),
    ),
    (
        "use-of-b",
        "GET",
        f"/accounts/{COURSE_B}/transactions",
        None,
        (403, 200, 403, 403, 403, 200),
    ),
    ("sessions-a", "GET", f"/accounts/{COURSE_A}/sessions", None, (200, 403, 200, 200, 403, 200)),
    ("sessions-b", "GET", f"/accounts/{COURSE_B}/sessions", None, (403, 200, 403, 403, 200, 200)),
    ("b-student-own", "GET", "/accounts/sue/sessions", None, (403, 403, 403, 403, 200, 200)),
    (
        "transfer-a-to-its-student",
        "POST",
        "/transfers",
        {"from": COURSE_A, "to": "sami", "amount": "1"},
        (201, 403, 403, 403, 403, 201),
    ),
    (
        # The hole: bea instructs B in the ledger but holds no platform instructor role.
        "transfer-b-to-its-student",
        "POST",
        "/transfers",
        {"from": COURSE_B, "to": "sue", "amount": "1"},
        (403, 201, 403, 403, 403, 201),
    ),
    (
        "transfer-a-to-b-student",
        "POST",
        "/transfers",
        {"from": COURSE_A, "to": "sue", "amount": "1"},
        (403, 403, 403, 403, 403, 201),
    ),
    (
        "transfer-b-to-a-student",
        "POST",
        "/transfers",
        {"from": COURSE_B, "to": "sami", "amount": "1"},
        (403, 403, 403, 403, 403, 201),
    ),
    (
        "roster-a-dry-run",
        "POST",
        f"/courses/{COURSE_A}/roster",
        _ROSTER_A,
        (200, 403, 403, 403, 403, 200),
    ),
    (
        "roster-b-dry-run",
        "POST",
        f"/courses/{COURSE_B}/roster",
        _ROSTER_B,
        (403, 200, 403, 403, 403, 200),
    ),
    (
        "create-course",
        "POST",
        "/courses",
        {"id": "ml-new", "title": "New", "starts_on": "2026-01-05", "ends_on": "2026-06-30"},
        (403, 403, 403, 403, 403, 201),
    ),
    (
        "change-course",
        "PATCH",
        f"/courses/{COURSE_A}",
        {"title": "Renamed"},
        (403, 403, 403, 403, 403, 200),
    ),
    ("archive", "POST", f"/courses/{COURSE_Z}/archive", None, (403, 403, 403, 403, 403, 200)),
]

COURSE_CASES = [
    pytest.param(method, path, body, persona, expected[i], id=f"{name}-{persona}")
    for name, method, path, body, expected in COURSE_MATRIX
    for i, persona in enumerate(COURSE_PERSONAS)
]


@pytest.mark.parametrize(("method", "path", "body", "persona", "status"), COURSE_CASES)
def test_course_matrix(
    credits_hub: CreditsHub,
    accounts: dict[str, str],
    method: str,
    path: str,
    body: Any,
    persona: str,
    status: int,
) -> None:
    answer = credits_hub.call(persona, method, path, body)
    assert answer.status == status, answer.raw
    if status >= 400:
        assert answer.body["message"]


def test_each_sees_only_their_courses_and_students(
    credits_hub: CreditsHub, accounts: dict[str, str]
) -> None:
    listed = {
        persona: {c["id"] for c in credits_hub.call(persona, "GET", "/courses").body["courses"]}
        for persona in ("instructor", "instructor_b", "ta", "student_b")
    }
    assert listed["instructor"] == {COURSE_A, COURSE_Z}
    assert listed["instructor_b"] == {COURSE_B}
    assert listed["ta"] == {COURSE_A}
    assert listed["student_b"] == {COURSE_B}
    sessions = credits_hub.call("instructor_b", "GET", f"/accounts/{COURSE_B}/sessions").body
    assert {row["user"] for row in sessions["sessions"]} == {"sue"}
    # Students and TAs: a course without its roster for a student, with it for a TA.
    assert "roster" not in credits_hub.call("student", "GET", f"/courses/{COURSE_A}").body
    roster = credits_hub.call("ta", "GET", f"/courses/{COURSE_A}").body["roster"]
    assert {row["username"] for row in roster} == {"ines", "tao", "sami"}


def test_a_sessions_token_never_moves_course_credits(
    credits_hub: CreditsHub, accounts: dict[str, str]
) -> None:
    """What a server's token holds (read): code in a session can't act as the instructor."""
    token = credits_hub.token_for("bea", [ACCESS, READ])
    body = {"from": COURSE_B, "to": "sue", "amount": "1"}
    answer = http("POST", f"{credits_hub.api}/transfers", token, body)
    assert answer.status == 403, answer.raw
    roster = http("POST", f"{credits_hub.api}/courses/{COURSE_B}/roster", token, _ROSTER_B)
    assert roster.status == 403, roster.raw


# --- the instructor's page (HTML): its course's staff and TAs read, its staff change ----

_BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_ROSTER_FORM = "action=dry-run&csv=ines%2Cinstructor%0Atao%2Cta%0Asami%2Cstudent%0A"

#: (id, method, path under /services/credits, form body, status per COURSE_PERSONAS).
PAGE_MATRIX: list[tuple[str, str, str, str | None, tuple[int, ...]]] = [
    ("courses-list", "GET", "/courses", None, (200, 200, 200, 403, 403, 200)),
    ("page-a", "GET", f"/courses/{COURSE_A}", None, (200, 403, 200, 403, 403, 200)),
    ("page-b", "GET", f"/courses/{COURSE_B}", None, (403, 200, 403, 403, 403, 200)),
    ("page-unknown", "GET", "/courses/nope", None, (403, 403, 403, 403, 403, 404)),
    ("csv-a", "GET", f"/courses/{COURSE_A}/roster.csv", None, (200, 403, 200, 403, 403, 200)),
    ("csv-b", "GET", f"/courses/{COURSE_B}/roster.csv", None, (403, 200, 403, 403, 403, 200)),
    (
        "roster-form-a",
        "POST",
        f"/courses/{COURSE_A}/roster",
        _ROSTER_FORM,
        (200, 403, 403, 403, 403, 200),
    ),
    (
        # A saved form goes back to the page (303, followed).
        "sharing-form-a",
        "POST",
        f"/courses/{COURSE_A}/sharing",
        "share=none&weekly_cap=400",
        (200, 403, 403, 403, 403, 200),
    ),
    (
        # One student's own allowance, from the roster: as PUT /courses/{id}/allowances/{user}.
        "allowance-form-a",
        "POST",
        f"/courses/{COURSE_A}/allowances/sami",
        "allowance=400",
        (200, 403, 403, 403, 403, 200),
    ),
    (
        "allowance-form-b",
        "POST",
        f"/courses/{COURSE_B}/allowances/sue",
        "allowance=400",
        (403, 200, 403, 403, 403, 200),
    ),
    (
        "allowance-form-unknown",
        "POST",
        "/courses/nope/allowances/sami",
        "allowance=400",
        (403, 403, 403, 403, 403, 404),
    ),
    # The hubs' status: anyone logged in (this hub's clusters never run: all down).
    ("hub-status", "GET", "/hubs", None, (200, 200, 200, 200, 200, 200)),
]

PAGE_CASES = [
    pytest.param(method, path, body, persona, expected[i], id=f"{name}-{persona}")
    for name, method, path, body, expected in PAGE_MATRIX
    for i, persona in enumerate(COURSE_PERSONAS)
]


@pytest.mark.parametrize(("method", "path", "body", "persona", "status"), PAGE_CASES)
def test_instructor_page_matrix(
    credits_hub: CreditsHub,
    accounts: dict[str, str],
    method: str,
    path: str,
    body: str | None,
    persona: str,
    status: int,
) -> None:
    answer = http(
        method,
        f"{credits_hub.service}{path}",
        credits_hub.tokens[persona],
        raw=None if body is None else body.encode(),
        accept=_BROWSER,
        extra_headers=_FORM if body is not None else None,
    )
    assert answer.status == status, answer.raw
    kind = "text/csv" if path.endswith(".csv") and status == 200 else "text/html"
    assert answer.headers["content-type"].startswith(kind)
    if status >= 400:
        assert 'id="ch-error"' in answer.raw.decode()
    elif persona == "ta" and not path.endswith(".csv"):
        # A TA reads the page without the forms that change the course.
        assert 'id="ch-roster-form"' not in answer.raw.decode()


#: Applicants (a startup's founder, a researcher, a student), a reviewer, an operator.
APPLICATION_PERSONAS = ("founder", "other", "student", "reviewer", "operator", "anonymous")
BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"


#: Applications for credits: (id, method, path, body, expected status per persona in
#: APPLICATION_PERSONAS order); ``{open}``
#: and the others name the applications of :func:`apps`.
APPLICATION_MATRIX: list[tuple[str, str, str, Any, tuple[int, ...]]] = [
    ("list-own", "GET", "/applications", None, (200, 200, 200, 200, 200, 401)),
    ("apply", "POST", "/applications", "apply", (201, 201, 201, 201, 201, 401)),
    ("queue", "GET", "/applications/queue", None, (403, 403, 403, 200, 200, 401)),
    ("read", "GET", "/applications/{open}", None, (200, 403, 403, 200, 200, 401)),
    ("read-unknown", "GET", "/applications/999999", None, (403, 403, 403, 404, 404, 401)),
    ("resubmit", "PUT", "/applications/{open}", "resubmit", (200, 403, 403, 403, 403, 401)),
    (
        "comment",
        "POST",
        "/applications/{open}/comments",
        {"message": "Which gauges?"},
        (403, 403, 403, 200, 200, 401),
    ),
    (
        "recommend",
        "POST",
        "/applications/{open}/recommendation",
        {"recommendation": "approve", "hours": "150"},
        (403, 403, 403, 200, 200, 401),
    ),
    (
        "ask-changes",
        "POST",
        "/applications/{changes}/changes",
        {"message": "Say which gauges."},
        (403, 403, 403, 403, 200, 401),
    ),
    (
        "approve",
        "POST",
        "/applications/{approve}/approval",
        {"hours": "10"},
        (403, 403, 403, 403, 200, 401),
    ),
    (
        "reject",
        "POST",
        "/applications/{reject}/rejection",
        {"reason": "Not a local challenge."},
        (403, 403, 403, 403, 200, 401),
    ),
]
APPLICATION_CASES = [
    pytest.param(method, path, body, persona, expected[i], id=f"{name}-{persona}")
    for name, method, path, body, expected in APPLICATION_MATRIX
    for i, persona in enumerate(APPLICATION_PERSONAS)
]


@pytest.mark.parametrize(("method", "path", "body", "persona", "status"), APPLICATION_CASES)
def test_application_matrix(
    credits_hub: CreditsHub,
    apps: dict[str, int],
    method: str,
    path: str,
    body: Any,
    persona: str,
    status: int,
) -> None:
    if body == "apply":
        body = application_body(f"matrix-{persona}")
    elif body == "resubmit":
        body = application_body("auth-open", hours="180", message="Fewer hours.")
    answer = credits_hub.call(persona, method, path.format(**apps), body)
    assert answer.status == status, answer.raw
    assert isinstance(answer.body, dict)
    if status >= 400:
        assert answer.body["message"]


@pytest.mark.parametrize(
    ("persona", "path", "status"),
    [
        pytest.param(p, path, s, id=f"{name}-{p}")
        for name, path, statuses in [
            ("apply-page", "/applications", (200, 200, 200, 200, 200)),
            ("queue-page", "/applications/queue", (403, 403, 403, 200, 200)),
            ("application-page", "/applications/{open}", (200, 403, 403, 200, 200)),
        ]
        for p, s in zip(APPLICATION_PERSONAS[:-1], statuses, strict=True)
    ],
)
def test_application_page_matrix(
    credits_hub: CreditsHub, apps: dict[str, int], persona: str, path: str, status: int
) -> None:
    url = f"{credits_hub.service}{path.format(**apps)}"
    answer = http("GET", url, credits_hub.tokens[persona], accept=BROWSER)
    assert answer.status == status, answer.raw
    assert "script-src" not in answer.headers["content-security-policy"]
    assert "form-action 'self'" in answer.headers["content-security-policy"]


#: A session's statement: (which hold, expected status per persona in PERSONAS order).
STATEMENT_MATRIX: list[tuple[str, tuple[int, ...]]] = [
    # owen's own session on his personal account.
    ("owners-session", (200, 403, 403, 403, 200, 401)),
    # sami's session on the course: its staff and sami read it, nobody else.
    ("students-course-session", (403, 403, 200, 200, 200, 401)),
    # ines's session on the course: its staff, not another student.
    ("instructors-course-session", (403, 403, 200, 403, 200, 401)),
    # No such hold: only operators are told so.
    ("unknown", (403, 403, 403, 403, 404, 401)),
    ("beyond-32-bits", (403, 403, 403, 403, 404, 401)),
    ("not-a-number", (400, 400, 400, 400, 400, 401)),
]


def _statement_hold(ledger: Any, which: str) -> str:
    if which == "unknown":
        return "999999"
    if which == "beyond-32-bits":
        return "9999999999"
    if which == "not-a-number":
        return "1e3"
    account, user = {
        "owners-session": ("owen", "owen"),
        "students-course-session": (COURSE, "sami"),
        "instructors-course-session": (COURSE, "ines"),
    }[which]
    if which == "instructors-course-session" and not ledger.sessions(COURSE, user="ines"):
        ledger.place_hold(COURSE, "lahore", {"cpu": 1}, "1", actor="ines")
    return str(ledger.sessions(account, user=user)[-1].hold.id)


@pytest.mark.parametrize(
    ("which", "persona", "status"),
    [
        pytest.param(which, persona, expected[i], id=f"{which}-{persona}")
        for which, expected in STATEMENT_MATRIX
        for i, persona in enumerate(PERSONAS)
    ],
)
def test_statement_matrix(
    credits_hub: CreditsHub,
    accounts: dict[str, str],
    ledger: Any,
    which: str,
    persona: str,
    status: int,
) -> None:
    hold_id = _statement_hold(ledger, which)
    answer = credits_hub.call(persona, "GET", f"/sessions/{hold_id}/statement")
    assert answer.status == status, answer.raw
    assert isinstance(answer.body, dict)
    if status == 200:
        assert answer.body["hold_id"] == int(hold_id)
        assert answer.body["adds_up"] is True
    else:
        assert answer.body["message"]
