"""LTI 1.3 launches in the platform's terms: roles, contexts, replays, the site file (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from computehub.auth.lti import NonceLedger
from computehub.auth.ltiroles import (
    CONTEXT_CLAIM,
    affiliations,
    context_course,
    course_role,
    launch_groups,
)
from computehub.sitefile.schema import LtiAuth

M = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
I = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"  # noqa: E741
TA = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([f"{M}Instructor"], "instructor"),
        ([f"{M}TeachingAssistant"], "ta"),
        ([TA], "ta"),
        ([f"{M}Learner"], "student"),
        (["Learner"], "student"),
        ([f"{M}Learner", f"{M}Instructor"], "instructor"),
        ([TA, f"{M}Learner"], "ta"),
        # An institution role is no role in this course.
        ([f"{I}Instructor", f"{I}Faculty"], None),
        ([f"{M}Mentor"], None),
        ([], None),
    ],
)
def test_lti_roles_give_a_course_role(roles: list[str], expected: str | None) -> None:
    assert course_role(roles) == expected


def test_institution_roles_become_affiliations_and_course_roles_groups() -> None:
    assert affiliations([f"{I}Student", f"{I}Faculty", f"{M}Learner"]) == {"student", "faculty"}
    assert launch_groups("ta") == {"lti-ta"}
    assert launch_groups(None) == frozenset()


COURSES = {"ctx-1": "intro-ml", "ML101": "ml-label", "ctx-2": "by-id"}


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"id": "ctx-1", "label": "X", "title": "Intro"}, ("intro-ml", "Intro")),
        ({"id": "ctx-9", "label": "ML101"}, ("ml-label", "ML101")),
        # The id wins over a label that names another course.
        ({"id": "ctx-2", "label": "ML101"}, ("by-id", "ML101")),
        ({"id": "ctx-9", "label": "HIST", "title": "History"}, (None, "History")),
        (None, (None, "(no course context)")),
        ("ctx-1", (None, "(no course context)")),
    ],
)
def test_the_context_maps_to_a_course(context: Any, expected: tuple[str | None, str]) -> None:
    token = {} if context is None else {CONTEXT_CLAIM: context}
    assert context_course(token, COURSES) == expected


def test_a_nonce_is_accepted_once_until_its_token_expires() -> None:
    nonces = NonceLedger()
    assert nonces.first_use("https://lms", "n1", expires_at=100, now=10)
    assert not nonces.first_use("https://lms", "n1", expires_at=100, now=20)
    assert nonces.first_use("https://other-lms", "n1", expires_at=100, now=20)
    # Forgotten after its token expired (the token itself is refused then).
    assert nonces.first_use("https://lms", "n1", expires_at=300, now=200)


def _lti(**changes: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "issuer": "https://moodle.university.example",
        "client_ids": ["abc"],
        "deployment_ids": ["1"],
        "authorize_url": "https://moodle.university.example/mod/lti/auth.php",
        "jwks_url": "https://moodle.university.example/mod/lti/certs.php",
        "courses": {"42": "intro-ml"},
    }
    section.update(changes)
    return section


def test_a_complete_lti_section_is_accepted() -> None:
    assert LtiAuth.model_validate(_lti()).username_claim == "custom_username"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"username_claim": "sub"}, "username_claim"),
        ({"username_claim": "email"}, "lms_verifies_email"),
        ({"jwks_url": "http://lms.example/certs"}, "jwks_url"),
        ({"authorize_url": "moodle"}, "authorize_url"),
        ({"deployment_ids": []}, "deployment_ids"),
        ({"client_ids": []}, "client_ids"),
        ({"courses": {}}, "courses"),
        ({"courses": {"42": "not a course id!"}}, "courses"),
    ],
)
def test_an_lti_section_that_cant_be_honoured_is_refused(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as refused:
        LtiAuth.model_validate(_lti(**changes))
    assert key in str(refused.value)
