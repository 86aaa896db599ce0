"""Who takes which course, for nbgrader: the hub's course groups, read with one's own token.

nbgrader's ``JupyterHubAuthPlugin`` reads groups named ``nbgrader-COURSE`` and, when a
student is added in formgrader, adds them to that group with the service's token.
computehub's rosters live in the credit ledger and reach the hub as the groups
``course-COURSE-students`` and ``course-COURSE-staff`` at each login
(``computehub.auth.courses``), from CSV, LTI, LDAP or OIDC; a grader adding someone
in formgrader must not make them a course member. This plugin reads those groups and
adds or removes nobody (``nbgrader db student add`` only fills the gradebook).

It runs inside sessions (fetch, submit, list) with the session's own token, which may
read its own user's groups (``read:users:groups!user``) and nobody else's.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from nbgrader.auth.base import BaseAuthPlugin

#: Answers are small; a cap keeps a misbehaving hub from filling memory.
_MAX_BODY = 1024 * 1024
_TIMEOUT_S = 10.0


class HubGroupsError(RuntimeError):
    """The hub could not say which groups a person is in."""


def courses_of(groups: list[str]) -> list[str]:
    """The courses whose student or staff group is among ``groups``, in order.

    Only course ids that are their own group slug (lower-case letters, digits,
    ``.``, ``_``, ``-``) can be nbgrader courses; escaped slugs (with ``~``) are not.
    """
    found: set[str] = set()
    for group in groups:
        if not group.startswith("course-"):
            continue
        for suffix in ("-students", "-staff"):
            if group.endswith(suffix):
                course = group[len("course-") : -len(suffix)]
                if course and "~" not in course:
                    found.add(course)
    return sorted(found)


def hub_groups(user: str, env: dict[str, str] | None = None) -> list[str]:
    """``user``'s groups, asked of the hub API with this process's own token.

    Raises:
        HubGroupsError: no hub environment, or the hub refused or did not answer.
    """
    env = dict(os.environ) if env is None else env
    api = env.get("JUPYTERHUB_API_URL", "").rstrip("/")
    token = env.get("JUPYTERHUB_API_TOKEN", "")
    if not api or not token:
        raise HubGroupsError("not in a hub session (JUPYTERHUB_API_URL and _TOKEN are unset)")
    url = f"{api}/users/{urllib.parse.quote(user, safe='')}"
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as answer:  # noqa: S310
            body: Any = json.loads(answer.read(_MAX_BODY))
    except urllib.error.HTTPError as err:
        raise HubGroupsError(f"the hub answered {err.code} for {user}'s groups") from None
    except (OSError, ValueError) as err:
        raise HubGroupsError(f"the hub did not answer for {user}'s groups: {err}") from None
    groups = body.get("groups") if isinstance(body, dict) else None
    if not isinstance(groups, list):
        raise HubGroupsError(f"the hub's answer for {user} has no groups")
    return [g for g in groups if isinstance(g, str)]


class CourseGroupsAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """nbgrader's view of the rosters: computehub's course groups, read-only."""

    def get_student_courses(self, student_id: str) -> list[str] | None:
        """The courses ``student_id`` takes or teaches (``*``: the session's own user)."""
        own_course = os.environ.get("COMPUTEHUB_NBGRADER_COURSE", "")
        if student_id == "*" and own_course:
            # A course's formgrader service, as its grader: that course.
            return [own_course]
        user = os.environ.get("JUPYTERHUB_USER", "") if student_id == "*" else student_id
        if not user:
            raise HubGroupsError("JUPYTERHUB_USER is not set: not in a hub session")
        courses = courses_of(hub_groups(user))
        self.log.debug("%s is in the courses %s", user, courses)
        return courses

    def add_student_to_course(self, student_id: str, course_id: str) -> None:
        """Nothing: rosters come from computehub (CSV, LTI, directory), not formgrader."""
        self.log.info(
            "%s added to the gradebook of %s only; the course roster is kept in computehub",
            student_id,
            course_id,
        )

    def remove_student_from_course(self, student_id: str, course_id: str) -> None:
        """Nothing: rosters come from computehub, not formgrader."""
        self.log.info(
            "%s removed from the gradebook of %s only; the course roster is kept in computehub",
            student_id,
            course_id,
        )
