"""configure_credits_service merges into other configuration; the widget view's maths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from traitlets.config import Config

from computehub.credits import records as r
from computehub.credits.service.jupyterhub import configure_credits_service, server_token_scopes
from computehub.credits.service.views import amount, current_session
from computehub.sitefile.schema import Site

SITE = Site.model_validate(
    {
        "hubs": {
            "lahore": {
                "display_name": "Lahore",
                "region": "Punjab",
                "slurm": {"conf": "/etc/slurm/slurm.conf"},
                "partitions": {"gpu": {"default": True, "max_hours": 24}},
                "gpus": {"h100": {"count": 4}},
                "rates": {"cpu": "0.5", "gpu:h100": "10"},
            }
        },
        "environments": {"notebook": {"display_name": "Python", "prefix": "/opt/env"}},
        "auth": {"method": "dummy", "dummy": {"users": {"ines": "instructor", "opal": "operator"}}},
        "ledger": {"db_url": "postgresql+psycopg://ledger@db/ledger"},
    }
)


def test_registers_service_scopes_and_roles_keeping_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPUTEHUB_CREDITS_PORT", "12345")
    c = Config()
    c.JupyterHub.services = [{"name": "culler", "command": ["cull"]}]
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self"]}]
    c.JupyterHub.custom_scopes = {"custom:other:x": {"description": "x"}}
    c.Spawner.server_token_scopes = ["users:activity!user", "read:users:name!user"]
    configure_credits_service(c, SITE, Path("/etc/computehub/site.yaml"))
    services = {spec["name"]: spec for spec in c.JupyterHub.services}
    assert set(services) == {"culler", "credits"}
    credits = services["credits"]
    assert credits["url"] == "http://127.0.0.1:12345"
    assert credits["environment"]["COMPUTEHUB_DB_URL"] == "postgresql+psycopg://ledger@db/ledger"
    assert credits["oauth_no_confirm"] is True
    assert set(c.JupyterHub.custom_scopes) == {
        "custom:other:x",
        "custom:credits:read",
        "custom:credits:instruct",
        "custom:credits:review",
        "custom:credits:admin",
    }
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    expected_user = {
        "self",
        "custom:credits:read",
        "custom:credits:instruct",
        "access:services!service=credits",
    }
    assert set(roles["user"]["scopes"]) == expected_user
    assert "custom:credits:read" in c.JupyterHub.extra_user_scopes
    # What a person may do in a course comes from the course: every person's login may
    # ask, the ledger's role in each course answers.
    assert "custom:credits:instruct" in c.JupyterHub.extra_user_scopes
    # The dummy login manages platform roles (JupyterHub refuses load_roles with users then).
    assert set(roles) == {"user"}
    assert c.JupyterHub.template_paths[0].endswith("hub_config/templates")
    assert credits["info"] == {
        "display_name": "Credits and sessions",
        "pages": [
            {"name": "Courses you teach", "path": "courses"},
            {"name": "AI hub status", "path": "hubs"},
        ],
    }
    # A session's own token reads; it never manages a course.
    assert set(c.Spawner.server_token_scopes) == {
        "users:activity!user",
        "read:users:name!user",
        "access:services!service=credits",
        "custom:credits:read",
    }
    configure_credits_service(c, SITE)
    assert [spec["name"] for spec in c.JupyterHub.services].count("credits") == 1


async def test_callable_server_token_scopes_are_wrapped() -> None:
    async def chosen(spawner: object) -> list[str]:
        return ["users:activity!user"]

    wrapped = server_token_scopes(chosen)
    assert await wrapped(object()) == [
        "access:services!service=credits",
        "custom:credits:read",
        "users:activity!user",
    ]


def _session(created: datetime, hours: str, per_hour: str, amount_: str) -> r.Session:
    hold = r.Hold(
        id=1,
        account="owen",
        hub="lahore",
        job_id="7",
        status="open",
        hours=Decimal(hours),
        amount=Decimal(amount_),
        per_hour=Decimal(per_hour),
        resources={"gpu:h100": 1},
        rates={"gpu:h100": Decimal(per_hour)},
        created_at=created,
    )
    return r.Session(hold=hold, created_by="owen")


@pytest.mark.parametrize(
    ("minutes", "cost"),
    [
        pytest.param(0, "0.00", id="just-started"),
        pytest.param(7.5, "1.25", id="seven-and-a-half-minutes"),
        pytest.param(60, "10.00", id="one-hour"),
        pytest.param(300, "30.00", id="overran-capped-at-hold"),
        pytest.param(-5, "0.00", id="clock-behind"),
    ],
)
def test_current_session_cost_so_far(minutes: float, cost: str) -> None:
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    view = current_session(
        _session(start, "3", "10", "30"), Decimal("37.5"), start + timedelta(minutes=minutes)
    )
    assert view["cost_so_far"] == cost
    assert view["available"] == "37.50"
    assert view["funded_until"] == "2026-03-01T12:00:00+00:00"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("37.5", "37.50"),
        ("1.2345", "1.2345"),
        ("0", "0.00"),
        ("-5.1", "-5.10"),
        ("10.1230", "10.123"),
    ],
)
def test_amounts_are_decimal_strings(value: str, text: str) -> None:
    assert amount(Decimal(value)) == text
