"""Platform roles as JupyterHub groups and roles (``manage_groups``/``manage_roles``).

A person's platform roles become JupyterHub groups of the same names (the spawner
reads them for its allow-lists) and JupyterHub roles with the scopes below,
re-synced at every login and refresh. Operators are admins. Course memberships add
groups and roles of their own (:mod:`computehub.auth.courses`).
"""

from __future__ import annotations

from typing import Any

from computehub.auth.courses import CourseMembership, course_groups, course_roles
from computehub.auth.policy import PLATFORM_ROLES, Admission
from computehub.sitefile.schema import PlatformRole

#: JupyterHub scopes of each platform role, beyond the default ``user`` role.
ROLE_SCOPES: dict[PlatformRole, tuple[str, ...]] = {
    "student": ("self",),
    "researcher": ("self",),
    # Nothing more: what a person may do in a course comes from the course (their role
    # in it in the ledger; courses.py gives its staff a hub role of that course only).
    "instructor": ("self",),
    # Admin rights come with the 'admin' role that every operator also gets.
    # custom:computehub:hubs:maintain: put a hub in maintenance (spawners/maintenanceapi.py).
    "operator": ("self", "custom:credits:admin", "custom:computehub:hubs:maintain"),
    # Reads and reviews applications for credits (comment, recommend); never grants.
    "reviewer": ("self", "custom:credits:review"),
}

ROLE_DESCRIPTIONS: dict[PlatformRole, str] = {
    "student": "computehub platform role: student (course resources)",
    "instructor": "computehub platform role: instructor (course resources)",
    "researcher": "computehub platform role: researcher",
    "operator": "computehub platform role: operator (hub admin)",
    "reviewer": "computehub platform role: reviewer of applications for credits",
}


def role_spec(role: PlatformRole) -> dict[str, Any]:
    """The JupyterHub role definition of a platform role."""
    return {"name": role, "description": ROLE_DESCRIPTIONS[role], "scopes": list(ROLE_SCOPES[role])}


def managed_roles() -> list[dict[str, Any]]:
    """Every platform role's definition, loaded at hub start (``load_managed_roles``)."""
    return [role_spec(role) for role in PLATFORM_ROLES]


def auth_model_fields(
    admission: Admission, courses: tuple[CourseMembership, ...] = ()
) -> dict[str, Any]:
    """The ``groups``, ``roles`` and ``admin`` fields of a JupyterHub auth model.

    ``manage_roles`` strips every role the model doesn't list, JupyterHub's
    default ``user`` role and ``admin`` included, so they are listed here.
    """
    roles: list[dict[str, Any]] = [{"name": "user"}]
    roles += [role_spec(role) for role in admission.roles]
    roles += course_roles(courses)
    if admission.admin:
        roles.append({"name": "admin"})
    groups = list(admission.roles) + course_groups(courses)
    return {"groups": groups, "roles": roles, "admin": admission.admin}
