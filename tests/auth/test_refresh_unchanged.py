"""A refresh that changes nothing stored answers True; one that changes anything, the model.

JupyterHub's own code applies the models (``BaseHandler.auth_to_user`` on a real
JupyterHub database, in memory, with auth_state encrypted by its ``CryptKeeper``); the
comparison then reads what it stored.
"""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub import orm, roles
from jupyterhub.crypto import CryptKeeper
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.user import User

from computehub.auth.base import PlatformLogin
from computehub.auth.unchanged import model_matches, stored_rights

STUDENT = {"name": "student", "description": "a student", "scopes": ["self"]}
RESEARCHER = {"name": "researcher", "description": "a researcher", "scopes": ["self"]}


def model(**changes: Any) -> dict[str, Any]:
    """An auth model shaped as the platform's logins return them."""
    base: dict[str, Any] = {
        "name": "alice",
        "admin": False,
        "groups": ["student", "course-ml-students"],
        "roles": [{"name": "user"}, dict(STUDENT)],
        "auth_state": {"computehub": {"method": "dummy", "roles": ["student"]}},
    }
    base.update(changes)
    return base


@pytest.fixture
def hub_user() -> Iterator[tuple[Any, Any]]:
    """alice in a real JupyterHub database, and JupyterHub's own way to apply a model."""
    CryptKeeper.clear_instance()
    CryptKeeper.instance(keys=[os.urandom(32)])
    db = orm.new_session_factory("sqlite://")()
    for role in roles.get_default_roles():
        roles.create_role(db, role)
    orm_user = orm.User(name="alice")
    db.add(orm_user)
    db.commit()
    user = User(orm_user, settings={"db": db})
    authenticator = SimpleNamespace(
        manage_groups=True, manage_roles=True, enable_auth_state=True,
        reconcile_auth_state_hook=None,
    )  # fmt: skip
    handler = SimpleNamespace(db=db, authenticator=authenticator, find_user=lambda name: user)

    def apply(auth_model: dict[str, Any]) -> None:
        asyncio.run(BaseHandler.auth_to_user(handler, copy.deepcopy(auth_model), user))
        db.commit()

    user.test_authenticator = authenticator  # the hub's settings, for a test to change
    try:
        yield user, apply
    finally:
        db.close()
        CryptKeeper.clear_instance()


def matches(user: Any, auth_model: dict[str, Any]) -> bool:
    stored = stored_rights(user.orm_user, asyncio.run(user.get_auth_state()))
    return model_matches(auth_model, stored)


def test_the_model_jupyterhub_just_applied_matches(hub_user: tuple[Any, Any]) -> None:
    user, apply = hub_user
    apply(model())
    assert matches(user, model())
    # Order doesn't matter to JupyterHub for groups and roles: nor here.
    assert matches(user, model(groups=["course-ml-students", "student"]))
    assert matches(user, model(roles=[dict(STUDENT), {"name": "user"}]))


@pytest.mark.parametrize(
    ("what", "changed"),
    [
        ("a group more", model(groups=["student", "course-ml-students", "course-cv-students"])),
        ("a group less", model(groups=["student"])),
        ("no groups", model(groups=[])),
        ("a role more", model(roles=[{"name": "user"}, dict(STUDENT), dict(RESEARCHER)])),
        ("a role less", model(roles=[dict(STUDENT)])),
        ("another role", model(roles=[{"name": "user"}, dict(RESEARCHER, name="researcher")])),
        ("a role's scopes", model(roles=[{"name": "user"}, dict(STUDENT, scopes=["self", "x"])])),
        ("a role's description", model(roles=[{"name": "user"}, dict(STUDENT, description="x")])),
        ("admin", model(admin=True)),
        ("auth_state", model(auth_state={"computehub": {"method": "ldap", "roles": ["student"]}})),
        ("no auth_state", {k: v for k, v in model().items() if k != "auth_state"}),
        ("a field this doesn't compare", model(user_info={"x": 1})),
        ("a role named twice", model(roles=[{"name": "user"}, dict(STUDENT), dict(STUDENT)])),
    ],
)
def test_any_change_gives_the_model(
    hub_user: tuple[Any, Any], what: str, changed: dict[str, Any]
) -> None:
    user, apply = hub_user
    apply(model())
    assert not matches(user, changed), what


def test_a_changed_model_once_applied_matches_again(hub_user: tuple[Any, Any]) -> None:
    user, apply = hub_user
    apply(model())
    promoted = model(admin=True, roles=[{"name": "user"}, dict(STUDENT), {"name": "admin"}])
    assert not matches(user, promoted)
    apply(promoted)
    assert matches(user, promoted)
    assert not matches(user, model())


def test_a_role_jupyterhub_keeps_as_it_is_is_not_a_change(hub_user: tuple[Any, Any]) -> None:
    """A model leaving out a role's scopes (or giving the default) leaves them as stored."""
    user, apply = hub_user
    apply(model())
    assert matches(user, model(roles=[{"name": "user"}, {"name": "student"}]))
    assert matches(user, model(roles=[{"name": "user", "scopes": []}, dict(STUDENT)]))


def test_the_login_answers_true_only_when_nothing_changes(hub_user: tuple[Any, Any]) -> None:
    user, apply = hub_user
    login = PlatformLogin(enable_auth_state=True)
    apply(model())
    assert asyncio.run(login.unless_unchanged(user, model())) is True
    changed = model(groups=["student"])
    assert asyncio.run(login.unless_unchanged(user, changed)) == changed
    # Refusals and "keep" answers pass as they are; so does a model for an object that
    # isn't a JupyterHub user (nothing stored to compare with).
    assert asyncio.run(login.unless_unchanged(user, False)) is False
    assert asyncio.run(login.unless_unchanged(SimpleNamespace(name="alice"), model())) == model()


def test_a_hub_that_keeps_no_auth_state(hub_user: tuple[Any, Any]) -> None:
    """Without enable_auth_state JupyterHub stores none, whatever the model gives."""
    user, apply = hub_user
    apply(model())  # stored with the state, as a hub that kept them did
    user.test_authenticator.enable_auth_state = False
    login = PlatformLogin(enable_auth_state=False)
    # A state left from then: JupyterHub clears it when it applies the model.
    assert asyncio.run(login.unless_unchanged(user, model())) == model()
    apply(model())
    assert user.orm_user.encrypted_auth_state is None
    assert asyncio.run(login.unless_unchanged(user, model())) is True
    assert asyncio.run(login.unless_unchanged(user, model(admin=True))) == model(admin=True)
