"""Whether a refreshed auth model would change anything JupyterHub has stored.

JupyterHub applies every auth model a refresh returns in full: it re-syncs the
person's roles (re-writing each role's definition) and groups and commits, even when
nothing changed. With ``refresh_pre_spawn`` that happens at every start, and a class
pressing Start at once pays it 300 times on the hub's one event loop. A refresh whose
model matches what is stored answers ``True`` instead ("keep everything"), which
JupyterHub takes as a successful refresh without writing.

The comparison is strict: anything that differs, or can't be read, gives the full
model, so a person's rights are never left as they were when the directory or the
ledger says otherwise. What JupyterHub compares when it applies a model is mirrored
here: role names, and a role's description and scopes only where the model gives a
value other than the default (``create_role(..., reset_to_defaults=False)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: JupyterHub's defaults for a role's fields (orm.Role): a model leaving them out, or
#: giving these, leaves the stored values as they are.
_ROLE_DEFAULTS: dict[str, Any] = {"description": None, "scopes": []}


@dataclass(frozen=True)
class StoredRole:
    """A role as JupyterHub's database holds it."""

    name: str
    description: str | None
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class StoredRights:
    """What JupyterHub has stored of a person that a refresh's model sets."""

    admin: bool
    groups: frozenset[str]
    roles: tuple[StoredRole, ...]
    auth_state: Any


def stored_rights(orm_user: Any, auth_state: Any) -> StoredRights:
    """What JupyterHub stored of a person (its ``orm.User``), with their decrypted auth state."""
    return StoredRights(
        admin=bool(orm_user.admin),
        groups=frozenset(group.name for group in orm_user.groups),
        roles=tuple(
            StoredRole(
                name=role.name,
                description=role.description,
                scopes=tuple(role.scopes or ()),
            )
            for role in orm_user.roles
        ),
        auth_state=auth_state,
    )


def _role_matches(spec: dict[str, Any], stored: StoredRole) -> bool:
    for field, default in _ROLE_DEFAULTS.items():
        if field not in spec:
            continue
        given = spec[field]
        if given == default:
            continue
        held = list(stored.scopes) if field == "scopes" else stored.description
        if given != held:
            return False
    return True


def model_matches(model: dict[str, Any], stored: StoredRights, *, keeps_state: bool = True) -> bool:
    """Whether applying ``model`` (an auth model) would leave ``stored`` as it is.

    ``keeps_state``: the hub's ``enable_auth_state``; without it JupyterHub stores no
    auth_state whatever the model gives.
    """
    known = {"name", "admin", "groups", "roles", "auth_state"}
    if set(model) - known:
        return False  # something this comparison doesn't know about: apply it
    if "admin" in model and model["admin"] is not None and bool(model["admin"]) != stored.admin:
        return False
    groups = model.get("groups")
    if groups is not None and frozenset(groups) != stored.groups:
        return False
    roles = model.get("roles")
    if roles is not None:
        by_name = {role.name: role for role in stored.roles}
        names = [spec.get("name") for spec in roles]
        if len(set(names)) != len(names) or set(names) != set(by_name):
            return False
        for spec in roles:
            if not _role_matches(spec, by_name[spec["name"]]):
                return False
    state = model.get("auth_state") if keeps_state else None
    return bool(state == stored.auth_state)
