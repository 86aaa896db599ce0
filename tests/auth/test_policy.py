"""Admission, POSIX names and roles: tables of pure cases."""

from __future__ import annotations

import pytest

from computehub.auth.policy import (
    Identity,
    LoginPolicy,
    LoginRefusedError,
    RoleRule,
    admit,
    affiliations_from,
    groups_from,
    normalise_username,
    roles_for,
)
from computehub.auth.roles import auth_model_fields

POLICY = LoginPolicy(
    roles={
        "student": RoleRule(affiliations=frozenset({"student"})),
        "instructor": RoleRule(groups=frozenset({"course-instructors"})),
        "researcher": RoleRule(
            groups=frozenset({"research-staff"}), affiliations=frozenset({"faculty"})
        ),
        "operator": RoleRule(groups=frozenset({"hpc-operators"})),
    },
    strip_domains=frozenset({"university.example"}),
    admin_users=frozenset({"root-admin"}),
    support="the helpdesk",
    platform="Test AI Compute",
)


@pytest.mark.parametrize(
    ("login", "name"),
    [
        pytest.param("alice", "alice", id="plain"),
        pytest.param("Alice", "alice", id="lower-cased"),
        pytest.param(" bob ", "bob", id="stripped"),
        pytest.param("alice@university.example", "alice", id="listed domain stripped"),
        pytest.param("Alice@University.Example", "alice", id="domain case-insensitive"),
        pytest.param("a_b-c9", "a_b-c9", id="posix characters"),
    ],
)
def test_normalise_username(login: str, name: str) -> None:
    assert normalise_username(POLICY, login) == name


@pytest.mark.parametrize(
    "login",
    [
        pytest.param("alice@evil.example", id="other domain"),
        pytest.param("alice@university.example.evil", id="suffix trick"),
        pytest.param("al ice", id="space"),
        pytest.param("../etc", id="path"),
        pytest.param("9lives", id="leading digit"),
        pytest.param("a" * 33, id="too long"),
        pytest.param("", id="empty"),
        pytest.param("al;ice", id="shell metacharacter"),
        pytest.param("alice.smith", id="dot not in pattern"),
    ],
)
def test_bad_usernames_are_refused(login: str) -> None:
    with pytest.raises(LoginRefusedError) as refused:
        normalise_username(POLICY, login)
    assert refused.value.reason == "bad-username"
    assert "the helpdesk" in refused.value.message


def test_username_pattern_is_configurable() -> None:
    dotted = LoginPolicy(roles=POLICY.roles, username_pattern=r"^[a-z][a-z.]{0,31}$")
    assert normalise_username(dotted, "alice.smith") == "alice.smith"


@pytest.mark.parametrize(
    ("groups", "affiliations", "roles"),
    [
        pytest.param([], ["student"], ("student",), id="affiliation"),
        pytest.param([], ["STUDENT"], ("student",), id="affiliation any case"),
        pytest.param(["research-staff"], [], ("researcher",), id="group"),
        pytest.param([], ["faculty"], ("researcher",), id="either group or affiliation"),
        pytest.param(
            ["course-instructors", "research-staff"],
            ["member"],
            ("instructor", "researcher"),
            id="several, canonical order",
        ),
        pytest.param(["hpc-operators"], ["staff"], ("operator",), id="operator"),
        pytest.param(["alumni"], ["alum"], (), id="nothing matches"),
        pytest.param(["Research-Staff"], [], (), id="group names are exact"),
    ],
)
def test_roles_for(groups: list[str], affiliations: list[str], roles: tuple[str, ...]) -> None:
    assert roles_for(POLICY.roles, groups, affiliations) == roles


def _exists(name: str) -> bool:
    return name in {"alice", "carol", "root-admin"}


def test_admit_builds_name_roles_and_admin() -> None:
    who = Identity("alice@university.example", groups=frozenset({"research-staff"}))
    admission = admit(POLICY, who, _exists)
    assert (admission.name, admission.roles, admission.admin) == ("alice", ("researcher",), False)


def test_operators_and_admin_users_are_admins() -> None:
    carol = Identity("carol", groups=frozenset({"hpc-operators"}))
    assert admit(POLICY, carol, _exists).admin is True
    root = Identity("root-admin", affiliations=frozenset({"faculty"}))
    assert admit(POLICY, root, _exists).admin is True


def test_no_role_is_refused_before_the_account_check() -> None:
    with pytest.raises(LoginRefusedError) as refused:
        admit(POLICY, Identity("erin", groups=frozenset({"alumni"})), _exists)
    assert refused.value.reason == "no-role"
    assert "Test AI Compute" in refused.value.message


def test_missing_posix_account_names_whom_to_ask() -> None:
    with pytest.raises(LoginRefusedError) as refused:
        admit(POLICY, Identity("quinn", affiliations=frozenset({"student"})), _exists)
    assert refused.value.reason == "no-posix-account"
    assert "'quinn'" in refused.value.message
    assert "Ask the helpdesk" in refused.value.message


def test_account_check_can_be_off() -> None:
    lenient = LoginPolicy(roles=POLICY.roles, require_posix_account=False)
    assert admit(lenient, Identity("quinn", affiliations=frozenset({"student"})), _exists).name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("student", {"student"}, id="one string"),
        pytest.param(["faculty", "member"], {"faculty", "member"}, id="list"),
        pytest.param(["student@university.example"], {"student"}, id="scoped"),
        pytest.param(None, set(), id="absent"),
        pytest.param(42, set(), id="wrong type"),
        pytest.param(["", " "], set(), id="blank"),
    ],
)
def test_affiliations_from(value: object, expected: set[str]) -> None:
    assert affiliations_from(value) == expected


def test_groups_from() -> None:
    assert groups_from(["a", "b", ""]) == {"a", "b"}
    assert groups_from("a") == {"a"}
    assert groups_from({"not": "a list"}) == set()


def test_auth_model_lists_user_and_admin_roles() -> None:
    carol = admit(POLICY, Identity("carol", groups=frozenset({"hpc-operators"})), _exists)
    fields = auth_model_fields(carol)
    assert fields["groups"] == ["operator"]
    assert [r["name"] for r in fields["roles"]] == ["user", "operator", "admin"]
    assert fields["admin"] is True
