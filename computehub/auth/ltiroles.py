"""What an LTI 1.3 launch says, in the platform's terms: pure tables, no I/O.

An LTI 1.3 launch's id_token names the LMS course it comes from (the ``context``
claim: ``id``, ``label``, ``title``) and the person's roles in it (the ``roles``
claim: full IMS role URIs). Here the context becomes a computehub course (by the
site file's map), the context roles become a course role (Instructor → instructor,
TeachingAssistant → ta, Learner → student), and the roles also become the groups
and affiliations the login policy decides platform roles from (``lti-instructor``,
``lti-ta``, ``lti-student``; LIS institution roles as eduPerson affiliations).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

#: The id_token claims of LTI 1.3 (IMS LTI Core 1.3, section 5).
CONTEXT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/context"
ROLES_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/roles"
DEPLOYMENT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
CUSTOM_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/custom"

#: A course role an LTI launch can give (never ``owner``: operators name owners).
LtiCourseRole = Literal["instructor", "ta", "student"]

_MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
_INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"

#: Context (membership) role URIs and the course role each gives. A sub-role
#: (``membership/Instructor#TeachingAssistant``) is read before its parent.
CONTEXT_ROLES: dict[str, LtiCourseRole] = {
    f"{_MEMBERSHIP}Instructor": "instructor",
    f"{_MEMBERSHIP}Administrator": "instructor",
    "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant": "ta",
    f"{_MEMBERSHIP}TeachingAssistant": "ta",
    f"{_MEMBERSHIP}Learner": "student",
    "http://purl.imsglobal.org/vocab/lis/v2/membership/Learner#Learner": "student",
}
#: LTI 1.1's short names, which LTI 1.3 still allows for context roles (deprecated).
_SHORT_ROLES: dict[str, LtiCourseRole] = {
    "Instructor": "instructor",
    "TeachingAssistant": "ta",
    "Learner": "student",
}
#: Which course role wins when the LMS sends several (an instructor who is also a learner).
_RANK: dict[LtiCourseRole, int] = {"instructor": 3, "ta": 2, "student": 1}

#: LIS institution roles that are eduPerson affiliations (what auth.roles can name).
INSTITUTION_AFFILIATIONS: dict[str, str] = {
    f"{_INSTITUTION}Student": "student",
    f"{_INSTITUTION}Faculty": "faculty",
    f"{_INSTITUTION}Staff": "staff",
    f"{_INSTITUTION}Member": "member",
    f"{_INSTITUTION}Alumni": "alum",
    f"{_INSTITUTION}Employee": "employee",
}

#: The group a launch's course role puts in the login identity (for ``auth.roles``).
LTI_GROUP_PREFIX = "lti-"


def course_role(roles: Iterable[str]) -> LtiCourseRole | None:
    """The course role the launch's ``roles`` claim gives (None: none of the three).

    Only context roles count (a platform-wide ``institution/person#Instructor`` is no
    role in this course); the highest of instructor, ta, student wins.
    """
    best: LtiCourseRole | None = None
    for uri in roles:
        role = CONTEXT_ROLES.get(uri) or _SHORT_ROLES.get(uri)
        if role is not None and (best is None or _RANK[role] > _RANK[best]):
            best = role
    return best


def affiliations(roles: Iterable[str]) -> frozenset[str]:
    """The eduPerson affiliations among the launch's LIS institution roles."""
    return frozenset(INSTITUTION_AFFILIATIONS[r] for r in roles if r in INSTITUTION_AFFILIATIONS)


def launch_groups(role: LtiCourseRole | None) -> frozenset[str]:
    """The groups the login policy sees for a launch (``lti-instructor`` and so on)."""
    return frozenset() if role is None else frozenset({f"{LTI_GROUP_PREFIX}{role}"})


def roles_claim(token: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``roles`` claim as strings (an absent or malformed claim: none)."""
    roles = token.get(ROLES_CLAIM)
    if not isinstance(roles, list):
        return ()
    return tuple(r for r in roles if isinstance(r, str))


def context_course(token: Mapping[str, Any], courses: Mapping[str, str]) -> tuple[str | None, str]:
    """The computehub course the launch's LMS context maps to, and how it was named.

    Args:
        token: the validated id_token's claims.
        courses: the site file's map from LMS context id or label to course id; an id
            is looked up before a label (labels are chosen by people and can repeat).

    Returns:
        ``(course or None, what the context is called in messages)``.
    """
    context = token.get(CONTEXT_CLAIM)
    if not isinstance(context, Mapping):
        return None, "(no course context)"
    cid, label, title = (str(context.get(k) or "") for k in ("id", "label", "title"))
    shown = title or label or cid or "(unnamed)"
    for key in (cid, label):
        if key and key in courses:
            return courses[key], shown
    return None, shown
