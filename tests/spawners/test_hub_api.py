"""computehub's own hub API, its pure parts: scopes, GPU reports, a server's own token.

The handlers themselves run on the real bed (tests/culling/test_idle.py,
test_extend.py, test_estimate.py, test_trust_boundary.py). JupyterHub's spawners
are stood in for here by plain objects with the attributes the code reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub.scopes import scope_definitions
from jupyterhub.utils import hash_token
from traitlets.config import Config

from computehub.credits.service.jupyterhub import configure_credits_service
from computehub.credits.service.scopes import ACCESS, READ
from computehub.sitefile import load_site
from computehub.spawners.extend import parse_extension
from computehub.spawners.gpuactivity import (
    Measurement,
    ReportBook,
    ReportError,
    busy_gpu_hours,
    parse_report,
)
from computehub.spawners.owntoken import own_spawner
from computehub.spawners.scopes import (
    CREDITS_STATUS_ROLE,
    CUSTOM_SCOPES,
    GPU_ACTIVITY_READ,
    HUBS_MAINTAIN,
    HUBS_READ,
    SESSIONS,
    configure_hub_scopes,
)

# --- scopes ------------------------------------------------------------------------------


def test_the_scopes_are_known_to_jupyterhub_before_the_config_is_read() -> None:
    # @needs_scope refuses unknown scopes when the handler module is imported.
    assert scope_definitions[SESSIONS] == CUSTOM_SCOPES[SESSIONS]
    assert scope_definitions[GPU_ACTIVITY_READ] == CUSTOM_SCOPES[GPU_ACTIVITY_READ]


def test_users_and_server_tokens_get_their_own_sessions_only() -> None:
    c = Config()
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self"]}]
    configure_credits_service(c, load_site(EXAMPLE))
    configure_hub_scopes(c)
    assert set(CUSTOM_SCOPES) <= set(c.JupyterHub.custom_scopes)
    assert f"{READ}" in c.JupyterHub.custom_scopes  # the credits service's stay
    assert f"{SESSIONS}!user" in c.JupyterHub.extra_user_scopes
    assert f"{SESSIONS}!user" in c.JupyterHub.load_roles[0]["scopes"]
    assert c.Spawner.server_token_scopes == sorted(
        {
            "users:activity!user",
            "access:servers!server",
            ACCESS,
            READ,
            f"{SESSIONS}!server",
            # nbgrader in the session reads which courses its user takes
            "read:users:groups!user",
        }
    )
    # The GPU reports are for the GPU-idle service's role only.
    assert not any(GPU_ACTIVITY_READ in s for s in c.JupyterHub.extra_user_scopes)
    assert not any(GPU_ACTIVITY_READ in s for s in c.Spawner.server_token_scopes)


def test_users_and_the_credits_service_read_the_hubs_status_and_servers_do_not() -> None:
    c = Config()
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self"]}]
    configure_credits_service(c, load_site(EXAMPLE))
    configure_hub_scopes(c)
    configure_hub_scopes(c)  # twice: one role, not two
    assert HUBS_READ in c.JupyterHub.extra_user_scopes
    assert HUBS_READ in c.JupyterHub.load_roles[0]["scopes"]
    assert HUBS_READ not in c.Spawner.server_token_scopes
    role = [r for r in c.JupyterHub.load_roles if r["name"] == CREDITS_STATUS_ROLE]
    assert len(role) == 1
    # ... and puts hubs in maintenance for its operator console; users and servers do not.
    assert role[0]["scopes"] == [HUBS_READ, HUBS_MAINTAIN]
    assert role[0]["services"] == ["credits"]
    assert scope_definitions[HUBS_READ] == CUSTOM_SCOPES[HUBS_READ]
    assert scope_definitions[HUBS_MAINTAIN] == CUSTOM_SCOPES[HUBS_MAINTAIN]
    assert not any(HUBS_MAINTAIN in s for s in c.JupyterHub.extra_user_scopes)
    assert not any(HUBS_MAINTAIN in s for s in c.Spawner.server_token_scopes)


async def test_a_callable_server_token_scopes_gets_the_session_scope() -> None:
    c = Config()
    c.Spawner.server_token_scopes = lambda spawner: ["users:activity!user"]
    configure_hub_scopes(c)
    assert await c.Spawner.server_token_scopes(None) == sorted(
        {"users:activity!user", f"{SESSIONS}!server", "read:users:groups!user"}
    )


# --- GPU reports -------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"
GOOD = {"gpus": 1, "idle_s": 12.5, "busy_percent": 5, "samples": 3}
REPORTS: list[tuple[str, Any, Measurement | str]] = [
    ("minimal", GOOD, Measurement(1, 12.5, 5, 3)),
    ("own hub and job", {**GOOD, "hub": "karachi", "job_id": "42"}, Measurement(1, 12.5, 5, 3)),
    ("unmeasured", {**GOOD, "idle_s": None}, Measurement(1, None, 5, 3)),
    ("whole seconds", {**GOOD, "idle_s": 30}, Measurement(1, 30.0, 5, 3)),
    ("busy time", {**GOOD, "busy_s": 5400}, Measurement(1, 12.5, 5, 3, busy_s=5400.0)),
    ("busy time unmeasured", {**GOOD, "busy_s": None}, Measurement(1, 12.5, 5, 3)),
    ("negative busy time", {**GOOD, "busy_s": -0.5}, "busy_s must be from 0"),
    ("busy for ages", {**GOOD, "busy_s": 1e12}, "busy_s must be from 0"),
    ("busy as text", {**GOOD, "busy_s": "60"}, "busy_s must be a number"),
    ("busy as boolean", {**GOOD, "busy_s": True}, "busy_s must be a number"),
    ("another hub", {**GOOD, "hub": "lahore"}, "hub is not this server's"),
    ("another job", {**GOOD, "job_id": "41"}, "job_id is not this server's"),
    ("a hold", {**GOOD, "hold_id": 3}, "unknown field: hold_id"),
    ("a user", {**GOOD, "user": "carol"}, "unknown field: user"),
    ("not an object", [GOOD], "expected a JSON object"),
    ("no GPU count", {"idle_s": 1, "busy_percent": 5, "samples": 1}, "gpus must be"),
    ("GPUs as text", {**GOOD, "gpus": "1"}, "gpus must be"),
    ("GPUs as boolean", {**GOOD, "gpus": True}, "gpus must be"),
    ("too many GPUs", {**GOOD, "gpus": 65}, "gpus must be"),
    ("negative idle", {**GOOD, "idle_s": -1}, "idle_s must be from 0"),
    ("idle for ages", {**GOOD, "idle_s": 1e12}, "idle_s must be from 0"),
    ("idle as text", {**GOOD, "idle_s": "9999"}, "idle_s must be a number"),
    ("threshold 0", {**GOOD, "busy_percent": 0}, "busy_percent must be"),
    ("threshold 101", {**GOOD, "busy_percent": 101}, "busy_percent must be"),
    ("negative samples", {**GOOD, "samples": -1}, "samples must be"),
]


@pytest.mark.parametrize(("body", "expected"), [pytest.param(b, e, id=i) for i, b, e in REPORTS])
def test_parse_report(body: Any, expected: Measurement | str) -> None:
    if isinstance(expected, Measurement):
        assert parse_report(body, "karachi", "42") == expected
    else:
        with pytest.raises(ReportError, match=expected):
            parse_report(body, "karachi", "42")


def test_a_report_from_the_json_parser_with_infinity_is_refused() -> None:
    with pytest.raises(ReportError, match="idle_s must be from 0"):
        parse_report({**GOOD, "idle_s": float("inf")}, "karachi", "42")


def test_a_report_with_infinite_busy_time_is_refused() -> None:
    with pytest.raises(ReportError, match="busy_s must be from 0"):
        parse_report({**GOOD, "busy_s": float("nan")}, "karachi", "42")


# (id, report's GPUs, busy_s, the session's GPUs, its elapsed seconds, GPU-busy hours)
CLAMPS: list[tuple[str, int, float | None, int, float, str | None]] = [
    ("as reported", 2, 5400.0, 2, 7200, "3"),
    ("fewer GPUs seen than held", 1, 3600.0, 2, 7200, "1"),
    ("more GPUs claimed than held", 8, 3600.0, 2, 7200, "2"),
    ("more busy time than the job ran", 1, 90000.0, 1, 3600, "1"),
    ("a few seconds, to the quantum", 1, 1.0, 1, 3600, "0.0003"),
    ("never busy", 1, 0.0, 1, 3600, "0"),
    ("an older server: no busy time", 1, None, 1, 3600, None),
    ("utilisation not measured (MIG)", 1, None, 1, 3600, None),
    ("a CPU session", 0, 100.0, 0, 3600, None),
    ("the server saw no GPU", 0, 100.0, 1, 3600, None),
    ("no accounting of the run", 1, 100.0, 1, -1, "0"),
]


@pytest.mark.parametrize(
    ("gpus", "busy_s", "held", "elapsed", "expected"),
    [pytest.param(g, b, h, e, x, id=i) for i, g, b, h, e, x in CLAMPS],
)
def test_busy_gpu_hours_are_clamped_to_the_session(
    gpus: int, busy_s: float | None, held: int, elapsed: float, expected: str | None
) -> None:
    measurement = Measurement(gpus, 0.0, 5, 10, busy_s=busy_s)
    hours = busy_gpu_hours(measurement, session_gpus=held, elapsed_s=elapsed)
    assert hours == (None if expected is None else Decimal(expected))


@dataclass(eq=False)
class StandInSpawner:
    """The attributes of a ComputeHubSpawner the report book reads."""

    user: Any
    name: str = ""
    hub_name: str = "karachi"
    job_id: str = "42"
    hold_id: int = 7
    active: bool = True
    ready: bool = True
    api_token: str = ""
    orm_spawner: Any = None
    spawners: dict[str, Any] = field(default_factory=dict)


def _spawner(user: str = "ayesha", **attrs: Any) -> StandInSpawner:
    return StandInSpawner(user=SimpleNamespace(name=user), **attrs)


def test_the_book_keeps_the_latest_report_of_each_running_job() -> None:
    book = ReportBook()
    ayesha, bilal = _spawner(), _spawner("bilal", name="gpu", job_id="43", hold_id=8)
    book.record(ayesha, Measurement(1, 10.0, 5, 1))
    book.record(ayesha, Measurement(1, 20.0, 5, 2))
    book.record(bilal, Measurement(2, None, 5, 1))
    book.record(ayesha, Measurement(1, 20.0, 5, 2, busy_s=30.0))
    rows = book.current()
    assert [(r["user"], r["server"], r["hold_id"], r["idle_s"], r["busy_s"]) for r in rows] == [
        ("ayesha", "", 7, 20.0, 30.0),
        ("bilal", "gpu", 8, None, None),
    ]
    assert book.of(ayesha) is not None
    assert book.of(ayesha).measurement.busy_s == 30.0  # type: ignore[union-attr]
    assert 0 <= rows[0]["age_s"] < 5
    # A server starting again runs another job: its old report says nothing of it.
    ayesha.job_id, ayesha.hold_id = "50", 9
    assert [r["user"] for r in book.current()] == ["bilal"]
    assert book.of(ayesha) is None
    # Starting or stopping: not listed; stopped: forgotten.
    bilal.ready = False
    assert book.current() == []
    bilal.active = False
    book.current()
    bilal.active = bilal.ready = True
    assert book.current() == []


def test_a_reports_age_is_the_hubs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    book = ReportBook()
    spawner = _spawner()
    book.record(spawner, Measurement(1, 10.0, 5, 1))
    later = time.monotonic() + 300
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert book.current()[0]["age_s"] >= 299


# --- a server's own token ----------------------------------------------------------------


def test_a_servers_own_token_is_recognised_before_and_after_a_hub_restart() -> None:
    token, other = "a" * 32, "b" * 32
    running = _spawner(api_token=token)
    user = SimpleNamespace(kind="user", spawners={"": running})
    assert own_spawner(user, token) is running
    assert own_spawner(user, other) is None
    assert own_spawner(user, None) is None
    # After a restart the hub has only the hashed OAuth client secret (the same token).
    client = SimpleNamespace(secret=hash_token(token))
    restarted = _spawner(orm_spawner=SimpleNamespace(oauth_client=client))
    user = SimpleNamespace(kind="user", spawners={"": restarted})
    assert own_spawner(user, token) is restarted
    assert own_spawner(user, token) is restarted  # remembered for the job
    assert own_spawner(user, other) is None
    # Not a server of this user, or not running: no.
    restarted.active = False
    assert own_spawner(user, token) is None
    service = SimpleNamespace(kind="service", spawners={"": running})
    assert own_spawner(service, token) is None


# --- extensions --------------------------------------------------------------------------

EXTENSIONS: list[tuple[str, Any, tuple[Decimal, bool] | str]] = [
    ("hours as text", {"hours": "1.5"}, (Decimal("1.5"), False)),
    ("a dry run", {"hours": 2, "dry_run": True}, (Decimal(2), True)),
    ("a newline after the number", {"hours": "1\n"}, "hours must be"),
    ("non-ASCII digits", {"hours": "\u0661\u0662"}, "hours must be"),
    ("superscript", {"hours": "\u00b2"}, "hours must be"),
    ("zero", {"hours": "0"}, "more than 0"),
    ("a command", {"hours": "1; scancel"}, "hours must be"),
    ("an unknown field", {"hours": "1", "job_id": "7"}, "expected"),
    ("a named server", {"hours": "1", "server": "gpu-run"}, (Decimal(1), False)),
]


@pytest.mark.parametrize(("body", "expected"), [pytest.param(b, e, id=i) for i, b, e in EXTENSIONS])
def test_parse_extension(body: Any, expected: tuple[Decimal, bool] | str) -> None:
    if isinstance(expected, tuple):
        assert parse_extension(body) == expected
    else:
        with pytest.raises(ValueError, match=expected):
            parse_extension(body)
