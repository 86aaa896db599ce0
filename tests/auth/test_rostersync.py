"""Course roles from groups, and what a group source changes on a roster (pure tables)."""

from __future__ import annotations

import pytest

from computehub.auth.rostersync import Action, course_roles, member_action, normalize_dn
from computehub.credits.roster import plan_source_roster

GROUPS = {
    "ml-101": {"student": "ml-s", "ta": "ml-t", "instructor": "ml-i"},
    "phys": {"student": "ph-s"},
}


@pytest.mark.parametrize(
    ("theirs", "expected"),
    [
        (set(), {"ml-101": None, "phys": None}),
        ({"ml-s"}, {"ml-101": "student", "phys": None}),
        ({"ml-s", "ml-t"}, {"ml-101": "ta", "phys": None}),
        ({"ml-s", "ml-i", "ph-s"}, {"ml-101": "instructor", "phys": "student"}),
        ({"other"}, {"ml-101": None, "phys": None}),
    ],
)
def test_course_roles(theirs: set[str], expected: dict[str, str | None]) -> None:
    assert course_roles(GROUPS, theirs) == expected


ALL = ("instructor", "ta", "student")


@pytest.mark.parametrize(
    ("current", "wanted", "managed", "expected"),
    [
        (None, "student", ALL, Action("add", "student", None)),
        ("student", "ta", ALL, Action("change", "ta", "student")),
        ("student", None, ALL, Action("remove", None, "student")),
        ("student", "student", ALL, None),
        (None, None, ALL, None),
        ("owner", None, ALL, None),  # owners are never touched
        ("owner", "student", ALL, None),
        ("instructor", None, ("student",), None),  # a role no group gives: not managed
        ("instructor", "student", ("student",), None),
        ("ta", None, ("student", "ta"), Action("remove", None, "ta")),
    ],
)
def test_member_action(
    current: str | None, wanted: str | None, managed: tuple[str, ...], expected: Action | None
) -> None:
    assert member_action(current, wanted, managed) == expected


def test_source_plan_touches_only_managed_roles() -> None:
    members = {"prof": "owner", "ayesha": "instructor", "bilal": "student", "sana": "student"}
    plan = plan_source_roster(
        "ml-101", members, {"bilal": "student", "nina": "student", "prof": "student"}, ["student"]
    )
    assert dict(plan.add) == {"nina": "student"}
    assert dict(plan.remove) == {"sana": "student"}
    assert plan.change == ()
    assert plan.unchanged == 2  # ayesha (not managed) and bilal


def test_dns_compare_without_case_or_spaces() -> None:
    assert normalize_dn("CN=ML101 Students, OU=Groups,dc=Example") == (
        "cn=ml101 students,ou=groups,dc=example"
    )
    with pytest.raises(ValueError, match="not a DN"):
        normalize_dn("ml101-students")


def _site(courses: dict[str, object], make: str = "ldap") -> dict[str, object]:
    from pathlib import Path

    from tests.support.authbed import ldap_auth, oidc_auth, site_data

    auth = (
        ldap_auth("127.0.0.1", 3890)
        if make == "ldap"
        else oidc_auth("https://i.example", "https://hub.example/hub/oauth_callback")
    )
    auth["courses"] = courses
    return site_data(auth, "sqlite:////tmp/ledger.sqlite", Path("/tmp/bed"))


GOOD_DN = "cn=ml101-students,ou=groups,dc=university,dc=example"


@pytest.mark.parametrize(
    ("courses", "make", "words"),
    [
        ({"ml-101": {}}, "ldap", "auth.courses.ml-101: name 'ldap_groups'"),
        ({"ml-101": {"ldap_groups": {"owner": GOOD_DN}}}, "ldap", "ldap_groups.owner"),
        ({"ml-101": {"ldap_groups": {"student": "ml101"}}}, "ldap", "is not a DN"),
        (
            {"ml-101": {"ldap_groups": {"student": "cn=x,ou=elsewhere,dc=university,dc=example"}}},
            "ldap",
            "is not under auth.ldap.group_search_base",
        ),
        (
            {"ml-101": {"ldap_groups": {"student": GOOD_DN, "ta": GOOD_DN.upper()}}},
            "ldap",
            "one group gives two roles",
        ),
        ({"ml-101": {"oidc_groups": {"student": "ml"}}}, "ldap", "needs auth.oidc"),
        ({"ml-101": {"ldap_groups": {"student": GOOD_DN}}}, "oidc", "needs auth.ldap"),
    ],
)
def test_bad_course_groups_are_one_line(courses: dict[str, object], make: str, words: str) -> None:
    from pathlib import Path

    from computehub.sitefile import SiteFileError
    from computehub.sitefile.load import parse_site

    with pytest.raises(SiteFileError) as caught:
        parse_site(_site(courses, make), Path("site.yaml"))
    assert words in caught.value.one_line(), caught.value.one_line()
    assert "\n" not in caught.value.one_line()


def test_course_groups_reach_the_authenticator(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from traitlets.config import Config

    from computehub.auth.configure import configure_auth
    from computehub.sitefile.load import parse_site

    site = parse_site(
        _site({"ml-101": {"ldap_groups": {"student": GOOD_DN.replace("cn=", "CN=")}}}),
        Path("site.yaml"),
    )
    c = Config()
    configure_auth(c, site)
    section = c.ComputeHubLDAPAuthenticator
    assert section.course_groups == {"ml-101": {"student": GOOD_DN}}
    assert section.roster_source == "ldap"
