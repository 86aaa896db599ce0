"""The test university: its directory's people, groups and the platform roles they map to.

Shared by the login tests and the session-wide hub of the test bed (the golden
path logs in as one of these people through the real login page).
"""

from __future__ import annotations

from typing import Any

import ldap3

from computehub.localbed.proc import BedError
from computehub.localbed.slapd import LdapPerson, Slapd

#: The university directory: POSIX test users (alice, bob, carol) and two who may not start.
PEOPLE = (
    LdapPerson(
        "alice", "alice-pw", "Alice Akhtar", ("research-staff", "course-instructors"), "faculty"
    ),
    LdapPerson("bob", "bob-pw", "Bob Baig", (), "student"),
    LdapPerson("carol", "carol-pw", "Carol Chaudhry", ("hpc-operators", "research-staff"), "staff"),
    # In the directory, but in no group or affiliation the platform admits.
    LdapPerson("erin", "erin-pw", "Erin Ejaz", ("alumni",), "alum"),
    # Admitted by group, but without a POSIX account on the clusters.
    LdapPerson("quinn", "quinn-pw", "Quinn Qureshi", ("research-staff",), "staff"),
)

#: Platform roles from the directory's groups and affiliations (the site file's auth.roles).
ROLES = {
    "student": {"affiliations": ["student"]},
    "instructor": {"groups": ["course-instructors"]},
    "researcher": {"groups": ["research-staff"], "affiliations": ["faculty"]},
    "operator": {"groups": ["hpc-operators"]},
}
FIRST_LOGIN = {
    "credits": {"student": 10, "instructor": 20, "researcher": 50},
    "expires_after_days": 180,
}
SUPPORT = "the Lahore hub helpdesk (helpdesk@ai-hubs.example)"


def ensure_people(slapd: Slapd, people: tuple[LdapPerson, ...] = PEOPLE) -> None:
    """Add the people to the directory unless they are there (the slapd is shared)."""
    with ldap3.Connection(
        ldap3.Server(slapd.url, get_info=ldap3.NONE),
        user=slapd.admin_dn,
        password=slapd.admin_password,
        auto_bind=True,
    ) as conn:
        missing = []
        for person in people:
            conn.search(f"ou=people,{slapd.suffix}", f"(uid={person.uid})", attributes=["uid"])
            if not conn.entries:
                missing.append(person)
        conn.search(f"ou=groups,{slapd.suffix}", "(objectClass=groupOfNames)", attributes=["cn"])
        existing_groups = {str(e.cn) for e in conn.entries}
    clash = {g for p in missing for g in p.groups} & existing_groups
    if clash:
        raise BedError(f"groups {sorted(clash)} already exist in the shared slapd")
    if missing:
        slapd.add_people(missing)


def ldap_auth(host: str, port: int) -> dict[str, Any]:
    """The site file's auth section for the test directory (direct bind, plaintext on loopback)."""
    return {
        "method": "ldap",
        "ldap": {
            "server_address": host,
            "server_port": port,
            "tls": "none",
            "bind_dn_template": ["uid={username},ou=people,dc=university,dc=example"],
            "group_search_base": "ou=groups,dc=university,dc=example",
            "attributes": {"affiliation": "employeeType"},
            "timeout_s": 3,
        },
        "roles": ROLES,
        "first_login": FIRST_LOGIN,
    }
