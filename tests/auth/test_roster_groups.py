"""Course rosters from LDAP groups: at login, at refresh, and `computehub credits course sync`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from computehub.credits.ledger import Ledger
from tests.auth.conftest import SEARCH_PASSWORD_ENV
from tests.support.authbed import AUTH_PEOPLE, DIR_COURSE, DIR_COURSE_GROUP, REFRESH_AGE_S, LdapHub
from tests.support.bedtools import hub_api, hub_login

pytestmark = pytest.mark.integration


def members(hub: LdapHub) -> dict[str, str]:
    with Ledger(hub.ledger_url, migrate=False) as ledger:
        return dict(ledger.course(DIR_COURSE).members)


def sync(hub: LdapHub, *more: str) -> dict[str, object]:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "computehub"), "credits", "course", "sync", DIR_COURSE,
         "--site", str(hub.site_file), "--db", hub.ledger_url, "--actor", "test", "--json", *more],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, SEARCH_PASSWORD_ENV: hub.search_password},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_course_group_is_the_roster_at_login_refresh_and_sync(ldap_hub: LdapHub) -> None:
    with Ledger(ldap_hub.ledger_url) as ledger:
        ledger.create_course(
            DIR_COURSE, "ML from the directory", date(2020, 1, 1), date(2099, 12, 31),
            owner="pat", actor="test",
        )  # fmt: skip
        # Not managed by the group (a role it doesn't give): never touched by it.
        ledger.add_member(DIR_COURSE, "alice", "instructor", actor="test")
    directory = ldap_hub.directory
    try:
        # A student in the course's group logs in: on the roster as a student.
        hub_login(ldap_hub.hub.url, "nina", AUTH_PEOPLE["nina"].password)
        assert members(ldap_hub) == {"pat": "owner", "alice": "instructor", "nina": "student"}
        status, user = ldap_hub.hub.api("GET", "/users/nina")
        assert "course-dir-ml-students" in user["groups"]
        status, made = ldap_hub.hub.api("POST", "/users/nina/tokens", {"expires_in": 600})
        assert status == 201, made
        # Out of the group: the next refresh takes her off (and out of the hub group).
        directory.leave("nina", DIR_COURSE_GROUP)
        time.sleep(REFRESH_AGE_S + 1)
        status, me = hub_api(ldap_hub.hub.url, made["token"], "GET", "/user", timeout=30)
        assert status == 200, me
        assert "nina" not in members(ldap_hub)
        assert "course-dir-ml-students" not in me["groups"]
        # On demand: omar is in the group but never logged in. A dry run changes nothing.
        planned = sync(ldap_hub)
        assert (planned["applied"], planned["add"], planned["remove"]) == (
            False, {"omar": "student"}, {},
        )  # fmt: skip
        assert "omar" not in members(ldap_hub)
        applied = sync(ldap_hub, "--apply")
        assert (applied["applied"], applied["add"]) == (True, {"omar": "student"})
        assert members(ldap_hub) == {"pat": "owner", "alice": "instructor", "omar": "student"}
        # nina joins again; omar leaves the group: the sync adds her and takes him off.
        directory.add(AUTH_PEOPLE["nina"], 30100)
        directory.leave("omar", DIR_COURSE_GROUP)
        applied = sync(ldap_hub, "--apply")
        assert (applied["add"], applied["remove"]) == ({"nina": "student"}, {"omar": "student"})
        assert members(ldap_hub) == {"pat": "owner", "alice": "instructor", "nina": "student"}
    finally:
        directory.add(AUTH_PEOPLE["nina"], 30100)
        directory.add(AUTH_PEOPLE["omar"], 30101)
