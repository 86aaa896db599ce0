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
from computehub.sitefile import load_site
from computehub.spawners.gpuidle import Rule, Server, end_note, running_servers

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


def test_idle_clock_refuses_a_bad_threshold() -> None:
    with pytest.raises(ValueError, match="1 to 100"):
        IdleClock(0).idle_seconds(0, 1)


RULE = Rule(limit_s=1800, busy_percent=5)
VERDICTS: list[tuple[str, dict[str, Any], float | None]] = [
    ("idle past the limit", {"gpus": 1, "idle_s": 1900.5}, 1900.5),
    ("idle exactly the limit", {"gpus": 2, "idle_s": 1800}, 1800.0),
    ("idle less than the limit", {"gpus": 1, "idle_s": 1799}, None),
    ("no GPUs (CPU-only session)", {"gpus": 0, "idle_s": 9999}, None),
    ("unknown idleness", {"gpus": 1, "idle_s": None}, None),
    ("garbage idle_s", {"gpus": 1, "idle_s": "9999"}, None),
    ("garbage gpus", {"gpus": True, "idle_s": 9999}, None),
    ("empty report", {}, None),
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


def test_running_servers_are_the_ready_ones() -> None:
    users: list[dict[str, Any]] = [
        {"name": "ayesha", "servers": {"": {"ready": True, "url": "/user/ayesha/"}}},
        {"name": "bilal", "servers": {"gpu": {"ready": True, "url": "/user/bilal/gpu/"}}},
        {"name": "zara", "servers": {"": {"ready": False, "url": "/user/zara/"}}},
        {"name": "omar"},
    ]
    assert running_servers(users) == [
        Server("ayesha", "", "/user/ayesha/"),
        Server("bilal", "gpu", "/user/bilal/gpu/"),
    ]


def test_culling_services_have_least_privilege() -> None:
    c = Config()
    c.JupyterHub.services = [{"name": "credits"}]
    c.JupyterHub.load_roles = [{"name": "credits", "scopes": []}]
    site = load_site(EXAMPLE)
    configure_culling(c, site, "http://127.0.0.1:8000", "sqlite:///x")
    services = {s["name"]: s for s in c.JupyterHub.services}
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert set(services) == {"credits", "idle-culler", "gpu-idle"}
    assert roles["idle-culler"] == {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
    assert roles["idle-culler"]["scopes"] == IDLE_CULLER_SCOPES
    assert roles["gpu-idle"]["scopes"] == GPU_IDLE_SCOPES
    assert "admin:users" not in GPU_IDLE_SCOPES + IDLE_CULLER_SCOPES
    assert services["idle-culler"]["command"][-2:] == ["--timeout=3600", "--cull-every=300"]
    assert services["gpu-idle"]["command"][-3:] == [
        "--limit=1800",
        "--busy-percent=5",
        "--every=60",
    ]
    assert services["gpu-idle"]["environment"]["COMPUTEHUB_PUBLIC_URL"] == "http://127.0.0.1:8000"
    # Both off: neither service nor role is left behind.
    off = site.model_copy(
        update={
            "culling": site.culling.model_copy(update={"idle_timeout_s": None, "gpu_idle_s": None})
        }
    )
    configure_culling(c, off, "http://127.0.0.1:8000", "sqlite:///x")
    assert [s["name"] for s in c.JupyterHub.services] == ["credits"]
    assert [r["name"] for r in c.JupyterHub.load_roles] == ["credits"]
