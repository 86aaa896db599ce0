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
from computehub.sitefile.schema import PlatformRole

POLICY = LoginPolicy(
    roles={
        "student": RoleRule(affiliations=frozenset({"student"})),
        "instructor": RoleRule(groups=frozenset({"course-instructors"})),
        "researcher": RoleRule(
            groups=frozenset({"research-staff"}), affiliations=frozenset({"faculty"})
        ),
        "operator": RoleRule(groups=frozenset({"hpc-operators"})),
    },
    domains={"university.example": ("", "")},
    admin_users=frozenset({"boss"}),
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
    return name in {"alice", "carol", "boss"}


def test_admit_builds_name_roles_and_admin() -> None:
    who = Identity("alice@university.example", groups=frozenset({"research-staff"}))
    admission = admit(POLICY, who, _exists)
    assert (admission.name, admission.roles, admission.admin) == ("alice", ("researcher",), False)


def test_operators_and_admin_users_are_admins() -> None:
    carol = Identity("carol", groups=frozenset({"hpc-operators"}))
    assert admit(POLICY, carol, _exists).admin is True
    boss = Identity("boss", affiliations=frozenset({"faculty"}))
    assert admit(POLICY, boss, _exists).admin is True


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


# --- finding 3: one name, one person ------------------------------------------------------

CAMPUS = LoginPolicy(
    roles=POLICY.roles,
    domains={"uni-a.example": ("", ""), "uni-b.example": ("", "-b"), "uni-c.example": ("c_", "")},
    support="the helpdesk",
)


@pytest.mark.parametrize(
    ("login", "name"),
    [
        pytest.param("ali@uni-a.example", "ali", id="bare domain"),
        pytest.param("ali@uni-b.example", "ali-b", id="suffixed domain"),
        pytest.param("ali@uni-c.example", "c_ali", id="prefixed domain"),
        pytest.param("ALI@Uni-B.Example", "ali-b", id="ascii case folds"),
        pytest.param("ali", "ali", id="no domain"),
    ],
)
def test_each_domain_has_its_own_namespace(login: str, name: str) -> None:
    assert normalise_username(CAMPUS, login) == name


@pytest.mark.parametrize(
    "login",
    [
        pytest.param("\u212aelvin@uni-a.example", id="kelvin sign folds to k"),
        pytest.param("\u212aelvin", id="kelvin sign without domain"),
        pytest.param("\uff41li@uni-a.example", id="fullwidth a"),
        pytest.param("ali\u00a0@uni-a.example", id="no-break space"),
        pytest.param("al\u0131", id="dotless i"),
        pytest.param("ali@uni-a.ex\u0430mple", id="cyrillic a in the domain"),
    ],
)
def test_non_ascii_is_refused_before_folding(login: str) -> None:
    with pytest.raises(LoginRefusedError) as refused:
        normalise_username(CAMPUS, login)
    assert refused.value.reason == "bad-username"
    assert "plain letters" in refused.value.message


@pytest.mark.parametrize(
    "login",
    [
        pytest.param("ali-b@uni-a.example", id="bare domain name with another's suffix"),
        pytest.param("ali-b", id="undomained name with another's suffix"),
        pytest.param("c_ali", id="undomained name with another's prefix"),
        pytest.param("@uni-b.example", id="empty local part"),
    ],
)
def test_names_kept_for_another_domain_are_refused(login: str) -> None:
    with pytest.raises(LoginRefusedError) as refused:
        normalise_username(CAMPUS, login)
    assert refused.value.reason == "bad-username"


def test_a_suffix_alone_is_not_a_name() -> None:
    # "-b" alone is not kept for uni-b: nobody at uni-b has an empty local part.
    assert normalise_username(CAMPUS, "c_@uni-a.example") == "c_"


def test_email_as_login_must_be_verified() -> None:
    who = Identity(
        "bob@university.example",
        email="bob@university.example",
        affiliations=frozenset({"student"}),
        login_is_email=True,
    )
    with pytest.raises(LoginRefusedError) as refused:
        admit(POLICY, who, lambda _: True)
    assert refused.value.reason == "unverified-email"
    assert "the helpdesk" in refused.value.message
    verified = Identity(**{**who.__dict__, "email_verified": True})
    assert admit(POLICY, verified, lambda _: True).name == "bob"


def test_a_university_login_needs_a_stable_identity() -> None:
    strict = LoginPolicy(roles=POLICY.roles, require_identity=True)
    who = Identity("bob", affiliations=frozenset({"student"}))
    with pytest.raises(LoginRefusedError) as refused:
        admit(strict, who, lambda _: True)
    assert refused.value.reason == "no-identity"
    bound = Identity("bob", affiliations=frozenset({"student"}), issuer="i", subject="s")
    assert admit(strict, bound, lambda _: True).name == "bob"


# --- finding 2: system accounts -----------------------------------------------------------

STUDENT = frozenset({"student"})


@pytest.mark.parametrize(
    ("login", "detail"),
    [
        pytest.param("root", "deny-list", id="root"),
        pytest.param("munge", "deny-list", id="munge"),
        pytest.param("SLURM@university.example", "deny-list", id="slurm from a domain"),
        pytest.param("daemon", "deny-list", id="daemon"),
    ],
)
def test_system_accounts_are_refused(login: str, detail: str) -> None:
    with pytest.raises(LoginRefusedError) as refused:
        admit(POLICY, Identity(login, affiliations=STUDENT), lambda _: True)
    assert refused.value.reason == "system-account"
    assert "system account" in refused.value.message
    assert "the helpdesk" in refused.value.message
    assert detail in refused.value.detail


def test_the_uid_floor_refuses_accounts_not_on_the_deny_list() -> None:
    from computehub.auth.system import SystemAccounts

    floor_only = LoginPolicy(roles=POLICY.roles, system_accounts=SystemAccounts.of(1000, ()))
    uids = {"svc-backup": 998, "bob": 1002}

    def uid_of(name: str) -> int:
        return uids[name]

    with pytest.raises(LoginRefusedError) as refused:
        admit(floor_only, Identity("svc-backup", affiliations=STUDENT), lambda _: True, uid_of)
    assert refused.value.reason == "system-account"
    assert "uid 998" in refused.value.detail
    assert admit(floor_only, Identity("bob", affiliations=STUDENT), lambda _: True, uid_of).name


def test_the_uid_floor_reads_this_machine() -> None:
    # The real account database: root is uid 0 here, whatever the deny-list says.
    from computehub.auth.system import SystemAccounts

    floor_only = LoginPolicy(roles=POLICY.roles, system_accounts=SystemAccounts.of(1000, ()))
    with pytest.raises(LoginRefusedError) as refused:
        admit(floor_only, Identity("root", affiliations=STUDENT), lambda _: True)
    assert "uid 0" in refused.value.detail


# --- finding 13: operators by group only; course groups and roles --------------------------


def test_operator_is_never_given_by_affiliation() -> None:
    rules: dict[PlatformRole, RoleRule] = {"operator": RoleRule(affiliations=frozenset({"staff"}))}
    assert roles_for(rules, [], ["staff"]) == ()
    rules = {"operator": RoleRule(frozenset({"hpc-operators"}), frozenset({"staff"}))}
    assert roles_for(rules, ["hpc-operators"], []) == ("operator",)


def test_reviewer_is_never_given_by_affiliation() -> None:
    rules: dict[PlatformRole, RoleRule] = {"reviewer": RoleRule(affiliations=frozenset({"staff"}))}
    assert roles_for(rules, [], ["staff"]) == ()
    rules = {"reviewer": RoleRule(frozenset({"credits-reviewers"}), frozenset({"staff"}))}
    assert roles_for(rules, ["credits-reviewers"], []) == ("reviewer",)


def test_auth_model_adds_course_groups_and_staff_roles() -> None:
    from computehub.auth.courses import CourseMembership

    alice = admit(POLICY, Identity("alice", groups=frozenset({"course-instructors"})), _exists)
    courses = (
        CourseMembership("intro-ml", "instructor"),
        CourseMembership("physics", "student"),
    )
    fields = auth_model_fields(alice, courses)
    assert fields["groups"] == ["instructor", "course-intro-ml-staff", "course-physics-students"]
    names = [r["name"] for r in fields["roles"]]
    assert names == ["user", "instructor", "course-intro-ml-staff"]
    staff = fields["roles"][2]
    assert staff["scopes"] == [
        "list:users!group=course-intro-ml-students",
        "read:users:activity!group=course-intro-ml-students",
        "read:servers!group=course-intro-ml-students",
        # the course's formgrader service, where it has one
        "read:services!service=intro-ml",
        "access:services!service=intro-ml",
    ]
    instructor = fields["roles"][1]
    assert not [s for s in instructor["scopes"] if "group=" in s or "users" in s]
