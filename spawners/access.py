"""Who may use which resource of a hub: the site file's ``limits.access`` allow-lists.

A resource a hub does not list is open to everyone who may log in. A listed one is
open to people with one of its platform roles (JupyterHub groups of the same names,
set at login) or who belong to one of its course accounts in the ledger. Pure: the
caller brings the person's roles and courses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from computehub.spawners.registry import HubEntry


@dataclass(frozen=True)
class Entitlements:
    """What a person brings to the allow-lists: platform roles and course accounts."""

    roles: frozenset[str] = field(default_factory=frozenset)
    courses: frozenset[str] = field(default_factory=frozenset)


def _people(roles: list[str], courses: list[str]) -> str:
    parts = []
    if roles:
        parts.append(", ".join(f"{role}s" for role in roles))
    if courses:
        label = "course" if len(courses) == 1 else "courses"
        parts.append(f"members of the {label} {', '.join(courses)}")
    return " and ".join(parts)


def _yours(who: Entitlements) -> str:
    roles = ", ".join(sorted(who.roles)) or "none"
    courses = ", ".join(sorted(who.courses)) or "none"
    return f"your roles: {roles}; your courses: {courses}"


def refusal(hub: HubEntry, resource: str, who: Entitlements) -> str | None:
    """Why ``who`` may not use ``resource`` on ``hub``, or None when they may."""
    rule = hub.limits.access.get(resource)
    if rule is None:
        return None
    if who.roles & set(rule.roles) or who.courses & set(rule.courses):
        return None
    return (
        f"{describe(resource)} on {hub.display_name} are for "
        f"{_people(list(rule.roles), list(rule.courses))} ({_yours(who)})"
    )


def describe(resource: str) -> str:
    """A resource as a person reads it: ``H100 GPUs``, ``CPU-only sessions``, ..."""
    if resource == "cpu":
        return "CPU-only sessions"
    kind, _, rest = resource.partition(":")
    if kind == "gpu":
        return f"{rest.upper()} GPUs"
    if kind == "mig":
        gpu, _, profile = rest.partition(":")
        return f"{gpu.upper()} {profile} slices"
    return resource
