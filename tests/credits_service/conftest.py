"""A real JupyterHub running the credits service, and the people of the authorization matrix.

The hub runs ``hub_config/`` exactly as deployed (the service is registered by
``configure_credits_service``); the site file's dummy login gives each person their
platform role. Ledger state is set up directly with :class:`Ledger` on the service's
database. No Slurm is needed: the site file only names the bed's clusters.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from computehub.credits.ledger import Ledger
from computehub.credits.roster import parse_roster
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import MissingComponentError, free_port
from computehub.localbed.sitegen import bed_site, write_site
from tests.support.bedtools import assert_ledger_clean, component_missing, hub_login
from tests.support.credits_hub import (
    COURSE,
    COURSE_A,
    COURSE_B,
    COURSE_Z,
    DRIVER_SCOPES,
    PEOPLE,
    CreditsHub,
    _wait_for_service,
    application_body,
)


@pytest.fixture(scope="session")
def credits_hub(bed_root: Path) -> Iterator[CreditsHub]:
    """JupyterHub from hub_config/ with the credits service, its people and their tokens."""
    base = bed_root / "credits-service"
    base.mkdir(parents=True, exist_ok=True)
    # bed_site only reads the clusters' names, GPUs and config paths: nothing is started.
    bed = SlurmBed(base / "slurm-unused")
    users = {name: role for name, role in PEOPLE.values()}
    site = write_site(base / "site.yaml", bed_site(bed, Path("/nonexistent/notebook"), users))
    token = secrets.token_hex(24)
    extra = base / "extra_config.py"
    # Appended, not assigned: configure_credits_service's service and roles stay.
    extra.write_text(
        f"c.JupyterHub.services.append({{'name': 'credits-test-driver', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'credits-test-driver',\n"
        f"    'services': ['credits-test-driver'], 'scopes': {DRIVER_SCOPES!r}}})\n"
    )
    extra.chmod(0o600)
    db_url = f"sqlite:///{base / 'ledger.sqlite'}"
    process = HubProcess(
        base / "hub",
        site,
        extra_config=extra,
        extra_env={"COMPUTEHUB_DB_URL": db_url, "COMPUTEHUB_CREDITS_PORT": str(free_port())},
    )
    try:
        process.start()
    except MissingComponentError as err:
        component_missing(err)
    hub = CreditsHub(process, token, db_url)
    try:
        _wait_for_service(hub)
        for persona, (user, _role) in PEOPLE.items():
            # A login, as the demo's people do: it gives them their platform role.
            hub_login(process.url, user, "any password")
            hub.tokens[persona] = hub.token_for(user)
        yield hub
    finally:
        process.stop()
    assert_ledger_clean(db_url)


@pytest.fixture(scope="session")
def ledger(credits_hub: CreditsHub) -> Iterator[Ledger]:
    """The service's ledger, opened directly."""
    with Ledger(credits_hub.db_url) as opened:
        yield opened


@pytest.fixture(scope="session")
def accounts(ledger: Ledger) -> dict[str, str]:
    """Personal accounts for owner, other and student; a course with instructor and student."""
    for persona in ("owner", "other", "student"):
        user = PEOPLE[persona][0]
        ledger.ensure_personal_account(user, actor="test")
        ledger.grant(user, "1000", actor="test")
    ledger.create_account(COURSE, "course", actor="test")
    ledger.add_member(COURSE, PEOPLE["instructor"][0], "instructor", actor="test")
    ledger.add_member(COURSE, PEOPLE["student"][0], "student", actor="test")
    ledger.grant(COURSE, "1000", actor="test")
    owen = PEOPLE["owner"][0]
    hold = ledger.place_hold(owen, "lahore", {"gpu:h100": 1, "cpu": 1}, "2", actor=owen)
    ledger.attach_job(hold.id, "lahore", "4242", actor=owen)
    sami = PEOPLE["student"][0]
    ledger.place_hold(COURSE, "lahore", {"cpu": 1}, "1", actor=sami)
    _courses(ledger)
    return {persona: PEOPLE[persona][0] for persona in PEOPLE}


def _courses(ledger: Ledger) -> None:
    """Course A (ines teaches, tao assists, sami takes), B (bea teaches, sue takes), Z."""
    term = (date(2026, 1, 5), date(2027, 6, 30))
    rosters = {
        COURSE_A: "ines,instructor\ntao,ta\nsami,student\n",
        COURSE_B: "bea,instructor\nsue,student\n",
        COURSE_Z: "ines,instructor\n",
    }
    for course, roster in rosters.items():
        ledger.create_course(course, f"Course {course}", *term, actor="test")
        ledger.apply_course_roster(course, parse_roster(roster), actor="test")
        ledger.grant(course, "500", actor="test")
    for persona in ("ta", "student_b", "instructor_b"):
        ledger.ensure_personal_account(PEOPLE[persona][0], actor="test")
    ledger.place_hold(COURSE_A, "lahore", {"cpu": 1}, "1", actor="sami")
    ledger.place_hold(COURSE_B, "lahore", {"cpu": 1}, "1", actor="sue")


@pytest.fixture(scope="session")
def apps(credits_hub: CreditsHub, accounts: dict[str, str]) -> dict[str, int]:
    """Applications of the founder's: one to read, one for each decision of the matrix."""
    made = {}
    for name in ("open", "approve", "reject", "changes"):
        answer = credits_hub.call(
            "founder", "POST", "/applications", application_body(f"auth-{name}")
        )
        assert answer.status == 201, answer.raw
        made[name] = answer.body["id"]
    return made
