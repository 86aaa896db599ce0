"""The LTI login tests' pieces: the LMS's people and courses, the site's auth section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from computehub.localbed.university import FIRST_LOGIN
from tests.support.authbed import HubClient
from tests.support.lti_platform import INSTITUTION, MEMBERSHIP, LmsPerson, LtiPlatform

#: The computehub course the LMS's course maps to.
LTI_COURSE = "lti-101"
#: The LMS's courses (LTI contexts): one mapped to LTI_COURSE, one mapped to nothing.
LMS_CONTEXTS = {
    "ctx-101": {"id": "ctx-101", "label": "ML101", "title": "Machine Learning 101"},
    "ctx-999": {"id": "ctx-999", "label": "HIST9", "title": "Medieval History"},
}
#: People in the LMS (their login names have POSIX accounts: AUTH_POSIX_PEOPLE).
LMS_PEOPLE = {
    "pat": LmsPerson(
        "lms-user-7001",
        "pat",
        "Pat Parvez",
        (f"{MEMBERSHIP}Instructor", f"{INSTITUTION}Faculty"),
    ),
    "dora": LmsPerson(
        "lms-user-7002", "dora", "Dora Durrani", (f"{MEMBERSHIP}Learner", f"{INSTITUTION}Student")
    ),
    "evan": LmsPerson(
        "lms-user-7003", "evan", "Evan Elahi", (f"{MEMBERSHIP}Learner", f"{INSTITUTION}Student")
    ),
    "rita": LmsPerson(
        "lms-user-7004",
        "rita",
        "Rita Rana",
        ("http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant",),
    ),
}


def lti_auth(platform: LtiPlatform) -> dict[str, Any]:
    """The site file's auth section for the test platform."""
    return {
        "method": "lti",
        "lti": {
            "issuer": platform.issuer,
            "client_ids": [platform.client_id],
            "deployment_ids": [platform.deployment_id],
            "authorize_url": f"{platform.url}/authorize",
            "jwks_url": f"{platform.url}/jwks",
            "courses": {"ctx-101": LTI_COURSE},
        },
        "roles": {
            "student": {"groups": ["lti-student", "lti-ta"]},
            "instructor": {"groups": ["lti-instructor"]},
        },
        "first_login": FIRST_LOGIN,
    }


@dataclass
class LtiHub:
    """A hub on LTI 1.3, its LMS and its ledger."""

    hub: HubClient
    platform: LtiPlatform
    ledger_url: str
