"""The GPU-idle rule's pure parts: idle time from readings, the verdict, the note, the config."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from computehub.credits.records import Hold, Session
from computehub.culling import GPU_IDLE_SCOPES, IDLE_CULLER_SCOPES, configure_culling
from computehub.extensions.idle import IdleClock
from computehub.gpuidle import Rule, Server, end_note, server_of
from computehub.sitefile import load_site
from computehub.spawners.scopes import GPU_ACTIVITY_READ

EXAMPLE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"

# (id, readings as (time, utilisations), ask at, threshold, expected idle seconds)
CLOCK: list[tuple[str, list[tuple[float, list[int | None]]], float, int, float | None]] = [
    ("never sampled", [], 50, 5, None),
    ("no GPU reports utilisation (MIG)", [(10, [None, None])], 50, 5, None),
    ("idle since start", [(10, [0]), (20, [2])], 50, 5, 50),
    ("busy then idle", [(10, [80]), (20, [0]), (30, [1])], 50, 5, 40),
    ("busy now", [(10, [0]), (40, [6])], 50, 5, 10),
    ("one busy GPU of two", [(10, [0, 60]), (20, [0, 0])], 50, 50, 40),
    ("below a higher threshold", [(10, [30])], 50, 50, 50),
    ("exactly at the threshold is busy", [(10, [5])], 50, 5, 40),
    ("at 100 %", [(10, [100])], 10, 100, 0),
]


@pytest.mark.parametrize(
    ("readings", "at", "threshold", "expected"),
    [pytest.param(r, a, t, e, id=i) for i, r, a, t, e in CLOCK],
)
def test_idle_clock(
    readings: list[tuple[float, list[int | None]]],
    at: float,
    threshold: int,
    expected: float | None,
) -> None:
    clock = IdleClock(started_at=0)
    for when, utilizations in readings:
        clock.observe(utilizations, when)
    assert clock.idle_seconds(threshold, at) == expected


# (id, readings as (time, utilisations), ask at, threshold, expected busy seconds)
BUSY_CLOCK: list[tuple[str, list[tuple[float, list[int | None]]], float, int, float | None]] = [
    ("never sampled", [], 50, 5, None),
    ("no GPU reports utilisation (MIG)", [(10, [None]), (20, [None])], 50, 5, None),
    ("one sample: no interval yet", [(10, [90])], 50, 5, 0),
    ("busy throughout", [(10, [90]), (20, [90]), (30, [90])], 50, 5, 20),
    ("the later sample decides", [(10, [0]), (20, [90]), (30, [0])], 50, 5, 10),
    ("exactly at the threshold is busy", [(10, [0]), (20, [5])], 50, 5, 10),
    ("below a higher threshold", [(10, [30]), (20, [30])], 50, 50, 0),
    ("the busiest of two GPUs", [(10, [0, 60]), (25, [0, 60])], 50, 50, 15),
    ("an unmeasured reading folds in", [(10, [0]), (20, [None]), (30, [80])], 50, 5, 20),
    ("after the last sample is not counted", [(10, [90]), (20, [90])], 500, 5, 10),
    ("a clock that went back counts nothing", [(10, [90]), (5, [90])], 50, 5, 0),
    ("never more than since the start", [(10, [90]), (40, [90])], 20, 5, 20),
]


@pytest.mark.parametrize(
    ("readings", "at", "threshold", "expected"),
    [pytest.param(r, a, t, e, id=i) for i, r, a, t, e in BUSY_CLOCK],
)
def test_idle_clock_busy_seconds(
    readings: list[tuple[float, list[int | None]]],
    at: float,
    threshold: int,
    expected: float | None,
) -> None:
    clock = IdleClock(started_at=0)
    for when, utilizations in readings:
        clock.observe(utilizations, when)
    assert clock.busy_seconds(threshold, at) == expected


def test_idle_clock_refuses_a_bad_threshold() -> None:
    with pytest.raises(ValueError, match="1 to 100"):
        IdleClock(0).idle_seconds(0, 1)
    with pytest.raises(ValueError, match="1 to 100"):
        IdleClock(0).busy_seconds(101, 1)


RULE = Rule(limit_s=1800, busy_percent=5, stale_after_s=180)
FRESH = {"busy_percent": 5, "age_s": 12.5}
VERDICTS: list[tuple[str, dict[str, Any], float | None]] = [
    ("idle past the limit", {**FRESH, "gpus": 1, "idle_s": 1900.5}, 1900.5),
    ("idle exactly the limit", {**FRESH, "gpus": 2, "idle_s": 1800}, 1800.0),
    ("idle less than the limit", {**FRESH, "gpus": 1, "idle_s": 1799}, None),
    ("no GPUs (CPU-only session)", {**FRESH, "gpus": 0, "idle_s": 9999}, None),
    ("unknown idleness", {**FRESH, "gpus": 1, "idle_s": None}, None),
    ("garbage idle_s", {**FRESH, "gpus": 1, "idle_s": "9999"}, None),
    ("garbage gpus", {**FRESH, "gpus": True, "idle_s": 9999}, None),
    ("empty report", {}, None),
    ("stale report", {"busy_percent": 5, "age_s": 180.5, "gpus": 1, "idle_s": 9999}, None),
    ("report just in time", {"busy_percent": 5, "age_s": 180, "gpus": 1, "idle_s": 9999}, 9999.0),
    ("no age", {"busy_percent": 5, "gpus": 1, "idle_s": 9999}, None),
    ("age from the future", {"busy_percent": 5, "age_s": -1, "gpus": 1, "idle_s": 9999}, None),
    ("another threshold", {"busy_percent": 50, "age_s": 1, "gpus": 1, "idle_s": 9999}, None),
]


@pytest.mark.parametrize(("report", "expected"), [pytest.param(r, e, id=i) for i, r, e in VERDICTS])
def test_rule(report: dict[str, Any], expected: float | None) -> None:
    assert RULE.idle_for(report) == expected


def _session(amount: str, charged: str | None) -> Session:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    hold = Hold(
        id=7,
        account="ayesha",
        hub="lahore",
        job_id="42",
        status="settled" if charged else "open",
        hours=Decimal(4),
        amount=Decimal(amount),
        per_hour=Decimal(10),
        resources={"gpu:h100": 1},
        rates={"gpu:h100": Decimal(10)},
        created_at=now,
    )
    return Session(
        hold=hold, created_by="ayesha", charged=None if charged is None else Decimal(charged)
    )


def test_end_note_says_what_the_stop_saved() -> None:
    note = end_note(RULE, 1850, _session("40", "5.5"))
    assert note == (
        "Stopped by computehub: its GPUs were below 5 % use for 30 min (the limit is 30 min). "
        "That saved you 34.50 credits, returned to ayesha."
    )
    assert end_note(RULE, 1850, _session("40", None)).endswith(
        "The unused part of its hold goes back to your account."
    )
    assert "for 45 s (the limit is 30 s)" in end_note(Rule(30, 5), 45, None)


REPORT_ROWS: list[tuple[str, dict[str, Any], Server | None]] = [
    ("default server", {"user": "ayesha", "server": "", "hold_id": 7}, Server("ayesha", "", 7)),
    ("named server", {"user": "bilal", "server": "gpu", "hold_id": 8}, Server("bilal", "gpu", 8)),
    ("no user", {"server": "", "hold_id": 7}, None),
    ("no server name", {"user": "ayesha", "hold_id": 7}, None),
    ("hold as text", {"user": "ayesha", "server": "", "hold_id": "7"}, None),
    ("hold as boolean", {"user": "ayesha", "server": "", "hold_id": True}, None),
]


@pytest.mark.parametrize(("row", "expected"), [pytest.param(r, e, id=i) for i, r, e in REPORT_ROWS])
def test_server_of_a_hub_report(row: dict[str, Any], expected: Server | None) -> None:
    assert server_of(row) == expected


def test_server_paths_are_escaped() -> None:
    assert Server("ayesha", "", 1).path == "/users/ayesha/server"
    assert Server("a/b", "x/../y", 1).path == "/users/a%2Fb/servers/x%2F..%2Fy"


def test_culling_services_have_least_privilege() -> None:
    c = Config()
    c.JupyterHub.services = [{"name": "credits"}]
    c.JupyterHub.load_roles = [{"name": "credits", "scopes": []}]
    site = load_site(EXAMPLE)
    c.Spawner.environment = {"COMPUTEHUB_HUB_URL": "http://127.0.0.1:8000"}
    configure_culling(c, site, "sqlite:///x")
    services = {s["name"]: s for s in c.JupyterHub.services}
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert set(services) == {"credits", "idle-culler", "gpu-idle"}
    assert roles["idle-culler"] == {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
    assert roles["idle-culler"]["scopes"] == IDLE_CULLER_SCOPES
    assert roles["gpu-idle"]["scopes"] == GPU_IDLE_SCOPES == [GPU_ACTIVITY_READ, "delete:servers"]
    # Neither may reach a server: a server is code its user controls.
    for scopes in (GPU_IDLE_SCOPES, IDLE_CULLER_SCOPES):
        assert not {s for s in scopes if s.startswith(("access:", "admin"))}, scopes
    assert services["idle-culler"]["command"][-2:] == ["--timeout=3600", "--cull-every=300"]
    assert services["gpu-idle"]["command"][-4:] == [
        "--limit=1800",
        "--busy-percent=5",
        "--every=60",
        "--stale-after=180",
    ]
    # The servers push their report as often as the rule looks, at its threshold.
    assert c.Spawner.environment == {
        "COMPUTEHUB_HUB_URL": "http://127.0.0.1:8000",
        "COMPUTEHUB_GPU_REPORT_S": "60",
        "COMPUTEHUB_GPU_BUSY_PERCENT": "5",
    }
    # Both off: neither service nor role is left behind.
    off = site.model_copy(
        update={
            "culling": site.culling.model_copy(update={"idle_timeout_s": None, "gpu_idle_s": None})
        }
    )
    configure_culling(c, off, "sqlite:///x")
    assert [s["name"] for s in c.JupyterHub.services] == ["credits"]
    assert [r["name"] for r in c.JupyterHub.load_roles] == ["credits"]
    assert c.Spawner.environment == {"COMPUTEHUB_HUB_URL": "http://127.0.0.1:8000"}
