"""The LTI login tests' pieces: the LMS's people and courses, the site's auth section."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from computehub.credits.ledger import Ledger
from computehub.localbed.university import FIRST_LOGIN, ROLES, ldap_auth
from tests.support.authbed import REFRESH_AGE_S, Directory, HubClient
from tests.support.lti_platform import (
    INSTITUTION,
    MEMBERSHIP,
    Fault,
    LmsPerson,
    LtiPlatform,
    Posted,
)

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


@dataclass
class CombinedHub(LtiHub):
    """A hub whose login page is the directory's and which accepts LMS launches too."""

    directory: Directory


#: People of the combined hub's LMS: the LTI hub's, and omar, who is also in the
#: directory (AUTH_PEOPLE) under the same name: whichever way comes first gets it.
COMBINED_LMS_PEOPLE = {
    **LMS_PEOPLE,
    "omar": LmsPerson(
        "lms-user-7005", "omar", "Omar Orakzai", (f"{MEMBERSHIP}Learner", f"{INSTITUTION}Student")
    ),
}


def combined_auth(
    platform: LtiPlatform, ldap_port: int, search_dn: str, env: str
) -> dict[str, Any]:
    """An LDAP hub's auth section with the LMS's launches accepted beside it."""
    auth = ldap_auth("127.0.0.1", ldap_port)
    auth["ldap"]["search_bind_dn"] = search_dn
    auth["ldap"]["search_password_env"] = env
    lti = lti_auth(platform)
    auth["lti"] = lti["lti"]
    auth["lti_launches"] = True
    # The directory's rules and the launches' groups (lti-<course role>) side by side.
    auth["roles"] = {
        **ROLES,
        "student": {"groups": ["lti-student", "lti-ta"], "affiliations": ["student"]},
        "instructor": {"groups": ["course-instructors", "lti-instructor"]},
    }
    auth["refresh_age_s"] = REFRESH_AGE_S
    return auth


def http_request(
    url: str, method: str = "GET", form: dict[str, str] | None = None, cookies: str = ""
) -> tuple[int, dict[str, list[str]], str]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=20)
    headers = {"Cookie": cookies} if cookies else {}
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    found: dict[str, list[str]] = {}
    for name, value in response.getheaders():
        found.setdefault(name.lower(), []).append(value)
    text = response.read().decode(errors="replace")
    conn.close()
    return response.status, found, text


def set_cookies(headers: dict[str, list[str]]) -> str:
    """The cookies a response sets, as a Cookie header's value."""
    return "; ".join(c.split(";", 1)[0] for c in headers.get("set-cookie", []))


def launch_by_hand(lti: LtiHub | CombinedHub, user: str, context: str) -> tuple[str, Posted]:
    """A launch's first half without a browser: the tool's cookies and the posted id_token."""
    form = lti.platform.login_initiation(user, context)
    status, headers, _ = http_request(f"{lti.hub.url}/hub/lti13/oauth_login", "POST", form)
    assert status == 302, status
    location = headers["location"][0]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return set_cookies(headers), lti.platform.authorize(query)


def post_id_token(posted: Posted, cookies: str) -> tuple[int, str, str]:
    """The launch's second half: post the id_token; status, cookies set, page text."""
    status, headers, text = http_request(
        posted.redirect_uri, "POST", {"id_token": posted.id_token, "state": posted.state}, cookies
    )
    return status, set_cookies(headers), text


def lti_roster(lti: LtiHub | CombinedHub) -> dict[str, str]:
    """The mapped course's roster, as the hub's ledger has it."""
    with Ledger(lti.ledger_url, migrate=False) as ledger:
        return dict(ledger.course(LTI_COURSE).members)


def assert_spoiled_launch_refused(lti: LtiHub | CombinedHub, user: str, spoiled: Fault) -> None:
    """A launch whose id_token the LMS spoiled: refused with a page, nobody made."""
    lti.platform.fault = spoiled
    try:
        cookies, posted = launch_by_hand(lti, user, "ctx-101")
    finally:
        lti.platform.fault = "none"
    status, session, text = post_id_token(posted, cookies)
    assert 400 <= status < 500, (status, text[:300])
    assert "could not be accepted" in text
    assert "jupyterhub-session-id" not in session
    assert lti.hub.api("GET", f"/users/{user}")[0] == 404
    assert user not in lti_roster(lti)


def assert_replay_refused(lti: LtiHub | CombinedHub, user: str) -> None:
    """The whole launch request again, cookies included (what an eavesdropper has)."""
    cookies, posted = launch_by_hand(lti, user, "ctx-101")
    first, session, _ = post_id_token(posted, cookies)
    assert first == 302
    assert "jupyterhub-session-id" in session
    again, session, text = post_id_token(posted, cookies)
    assert again == 400, (again, text[:300])
    assert "already used" in text
    assert "jupyterhub-session-id" not in session
