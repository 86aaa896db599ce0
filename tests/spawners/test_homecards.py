"""The home page's cards, balances and last sessions, built from plain records (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from computehub.credits import records as r
from computehub.i18n.catalog import isolate
from computehub.spawners import homecards as hc
from computehub.spawners.extend import parse_server
from computehub.spawners.homeapi import home_answer
from computehub.spawners.slurmclient import parse_start

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
LAHORE = hc.HubWords("Lahore", "Punjab")


def _hold(
    *,
    placed: datetime = NOW - timedelta(minutes=30),
    hours: str = "2",
    per_hour: str = "8",
    resources: dict[str, int] | None = None,
    status: str = "open",
    hold_id: int = 7,
) -> r.Hold:
    return r.Hold(
        id=hold_id,
        account="alice",
        hub="lahore",
        job_id="41",
        status=status,
        hours=Decimal(hours),
        amount=Decimal(per_hour) * Decimal(hours),
        per_hour=Decimal(per_hour),
        resources=resources if resources is not None else {"gpu:h100": 1},
        rates={"gpu:h100": Decimal(per_hour)},
        created_at=placed,
    )


def _session(**kwargs: Any) -> r.Session:
    return r.Session(hold=_hold(**kwargs), created_by="alice")


def _server(name: str = "", *, ready: bool = True, pending: str | None = None) -> hc.Server:
    return hc.Server(name, f"/user/alice/{name}", ready, pending, "lahore", "41", 7)


RUNNING_SLURM = hc.SlurmView(True, "RUNNING", NOW - timedelta(minutes=29), 120)


# --- words --------------------------------------------------------------------------------

DURATIONS = [
    ("seconds", timedelta(seconds=40), "under a minute"),
    ("minutes", timedelta(minutes=45, seconds=59), "45 min"),
    ("hours pad the minutes", timedelta(hours=1, minutes=5), "1 h 05 min"),
    ("a day", timedelta(days=1, hours=3), "1 day 3 h"),
    ("days", timedelta(days=3), "3 days 0 h"),
]


@pytest.mark.parametrize(("span", "text"), [pytest.param(s, t, id=i) for i, s, t in DURATIONS])
def test_duration_text(span: timedelta, text: str) -> None:
    assert hc.duration_text(span) == text


RESOURCES = [
    ("one GPU", {"gpu:h100": 1}, "1 \u00d7 H100"),
    ("CPU only", {"cpu": 1}, "CPU only"),
    ("nothing", {}, "CPU only"),
    ("a MIG slice", {"mig:a100:1g.10gb": 1}, "1 \u00d7 A100 1g.10gb MIG slice"),
    ("MIG slices", {"mig:a100:1g.10gb": 2}, "2 \u00d7 A100 1g.10gb MIG slices"),
    ("GPUs and CPU", {"gpu:a100": 2, "cpu": 8}, "2 \u00d7 A100"),
]


@pytest.mark.parametrize(("resources", "text"), [pytest.param(c, t, id=i) for i, c, t in RESOURCES])
def test_resources_text(resources: dict[str, int], text: str) -> None:
    assert hc.resources_text(resources) == text


CLOCKS = [
    ("today", NOW.replace(hour=14, minute=5), "14:05 UTC"),
    ("another day", datetime(2026, 12, 3, 9, 7, tzinfo=UTC), "3 Dec 09:07 UTC"),
    ("naive is UTC", datetime(2026, 12, 5, 8, 1), "08:01 UTC"),
]


@pytest.mark.parametrize(("when", "text"), [pytest.param(w, t, id=i) for i, w, t in CLOCKS])
def test_clock_text(when: datetime, text: str) -> None:
    assert hc.clock_text(when, NOW) == text


# --- a session's figures -----------------------------------------------------------------

COSTS = [
    # (id, started before now, hours, rate, cost so far)
    ("half an hour of 8 an hour", timedelta(minutes=30), "2", "8", Decimal("4.0000")),
    ("rounded to the ledger's 4 decimals", timedelta(seconds=10), "2", "8", Decimal("0.0222")),
    ("never more than the hold", timedelta(hours=3), "2", "8", Decimal(16)),
    ("a hold placed in the future costs nothing", -timedelta(minutes=1), "1", "8", Decimal(0)),
]


@pytest.mark.parametrize(
    ("ago", "hours", "rate", "cost"), [pytest.param(a, h, p, c, id=i) for i, a, h, p, c in COSTS]
)
def test_cost_so_far(ago: timedelta, hours: str, rate: str, cost: Decimal) -> None:
    hold = _hold(placed=NOW - timedelta(hours=4), hours=hours, per_hour=rate)
    assert hc.cost_so_far(hold, NOW - ago, NOW) == cost


def test_funded_until_is_the_start_plus_the_hours() -> None:
    hold = _hold(hours="1.5")
    start = datetime(2026, 12, 5, 9, 30)  # naive: UTC (SQLite)
    assert hc.funded_until(hold, start) == datetime(2026, 12, 5, 11, 0, tzinfo=UTC)


RUN_STARTS = [
    ("Slurm's start", "running", RUNNING_SLURM, NOW - timedelta(minutes=29)),
    (
        "Slurm did not answer: the hold's",
        "running",
        hc.SlurmView(False),
        NOW - timedelta(minutes=30),
    ),
    ("not asked: the hold's", "starting", None, NOW - timedelta(minutes=30)),
    (
        "a waiting job's estimate is no start",
        "pending",
        hc.SlurmView(True, "PENDING", NOW + timedelta(minutes=5)),
        NOW - timedelta(minutes=30),
    ),
]


@pytest.mark.parametrize(
    ("state", "slurm", "start"), [pytest.param(s, v, t, id=i) for i, s, v, t in RUN_STARTS]
)
def test_run_start(state: str, slurm: hc.SlurmView | None, start: datetime) -> None:
    assert hc.run_start(_hold(), state, slurm) == start


# --- cards --------------------------------------------------------------------------------

STATES = [
    # (id, server, Slurm, state, buttons)
    ("ready", _server(), RUNNING_SLURM, "running", ["open", "extend", "stop"]),
    (
        "job runs, server not ready",
        _server(ready=False, pending="spawn"),
        RUNNING_SLURM,
        "starting",
        ["extend", "stop"],
    ),
    (
        "job waits",
        _server(ready=False, pending="spawn"),
        hc.SlurmView(True, "PENDING", None, 120, "Resources", 2),
        "pending",
        ["cancel"],
    ),
    ("stopping", _server(ready=True, pending="stop"), RUNNING_SLURM, "stopping", []),
    (
        "no job yet",
        hc.Server("", "/user/alice/", False, "spawn", "lahore", "", 7),
        None,
        "submitting",
        ["cancel"],
    ),
]


@pytest.mark.parametrize(
    ("server", "slurm", "state", "actions"),
    [pytest.param(s, v, st, a, id=i) for i, s, v, st, a in STATES],
)
def test_card_state_and_buttons(
    server: hc.Server, slurm: hc.SlurmView | None, state: str, actions: list[str]
) -> None:
    card = hc.session_card(server, _session(), LAHORE, slurm, NOW)
    assert (card["state"], card["actions"]) == (state, actions)


def test_a_running_card_says_hub_gpu_cost_rate_and_time_left() -> None:
    card = hc.session_card(_server(), _session(), LAHORE, RUNNING_SLURM, NOW)
    assert {k: card[k] for k in _SHOWN} == {
        "label": "Default server",
        "hub_text": "Lahore (Punjab)",
        "resources_text": "1 \u00d7 H100",
        # From the job's start (29 min ago), not the hold's placing (30 min ago).
        "started_text": "09:31 UTC",
        "cost_so_far_text": "3.87",
        "cost_so_far": "3.8667",
        "rate_text": "8.00 credits an hour",
        "funded_until_text": "11:31 UTC",
        "time_left_text": "1 h 31 min",
        "time_left_s": 5460,
        "url": "/user/alice/",
    }
    # Slurm's end: its start plus its time limit (29 min ago + 120 min).
    assert card["slurm_ends_at"] == "2026-12-05T11:31:00+00:00"


def test_a_named_server_has_its_own_label_and_url() -> None:
    card = hc.session_card(_server("training"), _session(), LAHORE, RUNNING_SLURM, NOW)
    assert (card["server"], card["label"], card["url"]) == (
        "training",
        "Server \u201ctraining\u201d",
        "/user/alice/training",
    )


def test_time_left_past_the_funded_end_is_none() -> None:
    started = hc.SlurmView(True, "RUNNING", NOW - timedelta(hours=2, seconds=1), 120)
    card = hc.session_card(_server(), _session(), LAHORE, started, NOW)
    assert (card["time_left_s"], card["time_left_text"]) == (0, "none: it ends now")


PENDING_LINES = [
    (
        "an estimate",
        hc.SlurmView(True, "PENDING", NOW + timedelta(minutes=95), 120, "Resources", 1),
        "It is next in the queue.",
        "It waits because the GPUs or memory it needs are in use; it starts when they are free.",
        "Slurm expects it to start around 11:35 UTC (in about 1 h 35 min); it may start sooner.",
    ),
    (
        "no estimate",
        hc.SlurmView(True, "PENDING", None, 120, "Priority", 3),
        "It is number 3 in the queue.",
        "It waits because other jobs are ahead of it in the queue.",
        "Slurm can't estimate when it starts yet (it depends on when the sessions before it end).",
    ),
    (
        "an estimate already past",
        hc.SlurmView(True, "PENDING", NOW - timedelta(seconds=5), 120, "None", None),
        "Its place in the queue is not known right now.",
        "It waits for the scheduler to place it.",
        "Slurm expects it to start any moment now.",
    ),
    (
        "a reason with node names is never shown as is",
        hc.SlurmView(True, "PENDING", None, 120, "ReqNodeNotAvail, UnavailableNodes:gpu[01-04]", 2),
        "It is number 2 in the queue.",
        "It waits because the nodes it needs are not available now (maintenance or reserved).",
        "Slurm can't estimate when it starts yet (it depends on when the sessions before it end).",
    ),
]


@pytest.mark.parametrize(
    ("slurm", "queue", "reason", "estimate"),
    [pytest.param(s, q, r_, e, id=i) for i, s, q, r_, e in PENDING_LINES],
)
def test_a_pending_card_says_its_place_why_and_when(
    slurm: hc.SlurmView, queue: str, reason: str, estimate: str
) -> None:
    card = hc.session_card(_server(ready=False, pending="spawn"), _session(), LAHORE, slurm, NOW)
    assert (card["queue_text"], card["reason_text"], card["estimate_text"]) == (
        queue,
        reason,
        estimate,
    )
    assert "cost_so_far" not in card  # waiting costs nothing
    assert card["queue_position"] == slurm.position


# --- balances and last sessions ----------------------------------------------------------

BALANCES = [
    (
        "expires soon",
        NOW + timedelta(days=3),
        Decimal("3.5"),
        "3.50 expire on 8 Dec 2026 at 10:00 UTC",
    ),
    (
        "expires today",
        NOW + timedelta(hours=2),
        Decimal("1234.5"),
        "1,234.50 expire today at 12:00 UTC",
    ),
    ("expires later", NOW + timedelta(days=40), Decimal("3.5"), ""),
    ("never expires", None, Decimal(0), ""),
]


@pytest.mark.parametrize(
    ("expiry", "expiring", "text"), [pytest.param(e, x, t, id=i) for i, e, x, t in BALANCES]
)
def test_balance_rows_say_what_expires_soon(
    expiry: datetime | None, expiring: Decimal, text: str
) -> None:
    row = r.Balance(
        "alice",
        "personal",
        Decimal("1012.3456"),
        Decimal(16),
        Decimal("996.3456"),
        expiry,
        expiring,
        "owner",
    )
    (shown,) = hc.balance_rows([row], NOW + timedelta(days=14), NOW)
    assert (shown["available_text"], shown["held_text"], shown["expiring_text"]) == (
        "996.35",
        "16.00",
        text,
    )
    assert shown["available"] == "996.3456"  # exact beside the display


def test_past_rows_skip_open_sessions_and_show_the_charge() -> None:
    rows = [
        _session(hold_id=9),  # still running: a card, not a past session
        r.Session(
            _hold(hold_id=8, status="settled"),
            "alice",
            NOW - timedelta(minutes=5),
            Decimal("3.1234"),
            Decimal("3.1234"),
            "Stopped: its GPUs were idle",
        ),
        r.Session(_hold(hold_id=6, status="voided"), "alice", NOW - timedelta(hours=1)),
        # Stopped while it waited: settled, its job never ran.
        r.Session(_hold(hold_id=5, status="settled"), "alice", NOW, Decimal(0), Decimal(0)),
    ]
    shown = hc.past_rows(rows, NOW, {"lahore": LAHORE})
    assert [
        (p["hold_id"], p["hub_text"], p["status_text"], p["charged_text"], p["end_note"])
        for p in shown
    ] == [
        (8, "Lahore", "ended", "3.12", "Stopped: its GPUs were idle"),
        (6, "Lahore", "never started", "0.00", ""),
        (5, "Lahore", "ended before it started", "0.00", ""),
    ]
    assert hc.past_rows(rows, NOW, limit=1)[0]["hub_text"] == "lahore"  # no names: the id
    assert len(hc.past_rows(rows, NOW, limit=1)) == 1


def test_past_rows_name_a_named_servers_session_and_not_the_default_one() -> None:
    ended = _hold(hold_id=8, status="settled")
    rows = [
        r.Session(ended, "alice", NOW, Decimal(1), Decimal(1), server_name="gpu-run"),
        r.Session(_hold(hold_id=7, status="settled"), "alice", NOW, Decimal(1), Decimal(1)),
    ]
    shown = hc.past_rows(rows, NOW, {"lahore": LAHORE})
    assert [(p["server_name"], p["server_text"]) for p in shown] == [
        ("gpu-run", isolate("named server “gpu-run”")),
        ("", ""),
    ]


def test_the_answer_pairs_each_server_with_its_own_session() -> None:
    servers = [_server(), hc.Server("b", "/user/alice/b", True, None, "lahore", "42", 8)]
    sessions = {7: _session(hold_id=7), 8: _session(hold_id=8, hours="1")}
    answer = home_answer(
        servers,
        sessions,
        {"lahore": LAHORE},
        [RUNNING_SLURM, RUNNING_SLURM],
        [],
        [],
        timedelta(days=14),
        NOW,
    )
    assert [(c["server"], c["funded_until_text"]) for c in answer["sessions"]] == [
        ("", "11:31 UTC"),
        ("b", "10:31 UTC"),
    ]


# --- Slurm's words and the extend body ----------------------------------------------------

STARTS = [
    ("running", "41|RUNNING|1733392800|2:00:00\n", ("RUNNING", 1733392800, 120)),
    ("pending with an estimate", "41|PENDING|1733399000|1:00:00\n", ("PENDING", 1733399000, 60)),
    ("pending, Slurm can't tell", "41|PENDING|N/A|1:00:00\n", ("PENDING", None, 60)),
    ("unknown start", "41|PENDING|Unknown|UNLIMITED\n", ("PENDING", None, None)),
    ("another job's line", "410|RUNNING|1733392800|2:00:00\n", None),
    ("nothing", "", None),
]


@pytest.mark.parametrize(("out", "parsed"), [pytest.param(o, p, id=i) for i, o, p in STARTS])
def test_parse_start(out: str, parsed: tuple[str, int | None, int | None] | None) -> None:
    assert parse_start(out, "41") == parsed


SERVERS: list[tuple[str, Any, str | None]] = [
    ("none named", {"hours": "1"}, None),
    ("the default", {"hours": "1", "server": ""}, ""),
    ("a named one", {"hours": "1", "server": "training"}, "training"),
    ("a path", {"hours": "1", "server": "../bob"}, "error"),
    ("not text", {"hours": "1", "server": 3}, "error"),
]


@pytest.mark.parametrize(("body", "name"), [pytest.param(b, n, id=i) for i, b, n in SERVERS])
def test_parse_server(body: Any, name: str | None) -> None:
    if name == "error":
        with pytest.raises(ValueError, match="one of your servers"):
            parse_server(body)
    else:
        assert parse_server(body) == name


_SHOWN = (
    "label",
    "hub_text",
    "resources_text",
    "started_text",
    "cost_so_far_text",
    "cost_so_far",
    "rate_text",
    "funded_until_text",
    "time_left_text",
    "time_left_s",
    "url",
)


HEADINGS = [
    ("the default server", "", ""),
    (
        "a named one",
        "training",
        '<p class="lead" id="ch-server-name">Starting Server \u201ctraining\u201d: a session '
        "of its own, with its own hold, job and card on your home page.</p>",
    ),
    ("escaped", "<b>", "Starting Server \u201c&lt;b&gt;\u201d"),
]


@pytest.mark.parametrize(("name", "html"), [pytest.param(n, h, id=i) for i, n, h in HEADINGS])
def test_spawn_heading(name: str, html: str) -> None:
    assert html in hc.spawn_heading(name)
    assert bool(hc.spawn_heading(name)) == bool(name)
