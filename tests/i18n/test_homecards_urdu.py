"""The home page's sentences in Urdu (computehub.spawners.homecards under ``use("ur")``).

Every sentence the cards, balances and last sessions carry comes from the catalog; Latin
names (a hub, ``1 x H100``) are isolated so they keep their order in right-to-left text;
amounts and times follow Babel's ``ur`` locale (computehub.i18n.formats). The exact
values beside them (for programs) never change with the language.
"""

# ruff: noqa: RUF001 (Urdu's full stop is the sentence's end, not a hyphen)
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from computehub.credits import records as r
from computehub.i18n import use
from computehub.i18n.catalog import FSI, PDI
from computehub.spawners import homecards as hc
from computehub.spawners.homeapi import home_answer

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
LAHORE = hc.HubWords("Lahore AI Hub", "Punjab")
RUNNING = hc.SlurmView(True, "RUNNING", NOW - timedelta(minutes=29), 120)


def _hold(status: str = "open", resources: dict[str, int] | None = None) -> r.Hold:
    return r.Hold(
        id=7,
        account="alice",
        hub="lahore",
        job_id="41",
        status=status,
        hours=Decimal(2),
        amount=Decimal(16),
        per_hour=Decimal(8),
        resources=resources if resources is not None else {"gpu:h100": 1},
        rates={"gpu:h100": Decimal(8)},
        created_at=NOW - timedelta(minutes=30),
    )


def _server(name: str = "", ready: bool = True) -> hc.Server:
    return hc.Server(
        name, f"/user/alice/{name}", ready, None if ready else "spawn", "lahore", "41", 7
    )


def _iso(text: str) -> str:
    return f"{FSI}{text}{PDI}"


def test_a_running_card_in_urdu() -> None:
    session = r.Session(hold=_hold(), created_by="alice")
    with use("ur"):
        card = hc.session_card(_server(), session, LAHORE, RUNNING, NOW)
    assert card["label"] == "ڈیفالٹ سرور"
    assert card["hub_text"] == _iso("Lahore AI Hub (Punjab)")
    assert card["resources_text"] == _iso("1 \u00d7 H100")
    assert card["started_text"] == "09:31 UTC"
    assert card["rate_text"] == "8.00 کریڈٹ فی گھنٹہ"
    assert card["time_left_text"] == "1 گھنٹہ 31 منٹ"
    # The exact figures for programs are the same in every language.
    assert (card["cost_so_far"], card["rate"], card["state"]) == ("3.8667", "8", "running")


def test_a_named_server_and_a_waiting_card_in_urdu() -> None:
    session = r.Session(hold=_hold(), created_by="alice")
    waiting = hc.SlurmView(True, "PENDING", NOW + timedelta(minutes=9), 60, "Priority", 3)
    with use("ur"):
        card = hc.session_card(_server("training", ready=False), session, LAHORE, waiting, NOW)
    assert card["label"] == "سرور “training”"
    assert card["queue_text"] == "قطار میں اس کا نمبر 3 ہے۔"
    assert card["reason_text"] == "یہ انتظار میں ہے کیونکہ قطار میں دوسری جابز اس سے آگے ہیں۔"
    assert card["estimate_text"] == (
        "Slurm کے اندازے کے مطابق یہ تقریباً 10:09 UTC پر شروع ہوگا (تقریباً 9 منٹ میں)؛ "
        "یہ پہلے بھی شروع ہو سکتا ہے۔"
    )
    assert card["waiting_text"] == "انتظار مفت ہے: ادائیگی سیشن شروع ہونے سے شروع ہوتی ہے۔"


WORDS = [
    ("under a minute", lambda: hc.duration_text(timedelta(seconds=5)), "ایک منٹ سے کم"),
    ("days", lambda: hc.duration_text(timedelta(days=2, hours=1)), "2 دن 1 گھنٹے"),
    ("hours", lambda: hc.duration_text(timedelta(hours=2, minutes=5)), "2 گھنٹے 05 منٹ"),
    ("next in the queue", lambda: hc.queue_text(1), "قطار میں اگلی باری اسی کی ہے۔"),
    ("another day", lambda: hc.clock_text(datetime(2026, 12, 3, 9, 7), NOW), "3 دسمبر 09:07 UTC"),
    ("CPU only", lambda: hc.resources_text({}), "صرف CPU"),
    (
        "MIG slices",
        lambda: hc.resources_text({"mig:a100:1g.10gb": 2}),
        _iso("2 \u00d7 A100 1g.10gb MIG سلائس"),
    ),
    ("no estimate", lambda: hc.estimate_text(hc.SlurmView(True, "PENDING"), NOW), None),
]


@pytest.mark.parametrize(("make", "text"), [pytest.param(m, t, id=i) for i, m, t in WORDS])
def test_words_in_urdu(make: object, text: str | None) -> None:
    assert callable(make)
    english = make()
    with use("ur"):
        urdu = make()
    assert urdu != english
    if text is not None:
        assert urdu == text


def test_balances_and_last_sessions_in_urdu() -> None:
    balance = r.Balance(
        account="alice",
        kind="personal",
        role="owner",
        balance=Decimal("20"),
        held=Decimal("16"),
        available=Decimal("4"),
        expiring=Decimal("3.5"),
        next_expiry_at=datetime(2026, 12, 8, 10, 0, tzinfo=UTC),
    )
    ended = r.Session(
        hold=_hold(status="settled"),
        created_by="alice",
        cost=Decimal(0),
        charged=Decimal(0),
        closed_at=NOW - timedelta(minutes=5),
    )
    with use("ur"):
        answer = home_answer(
            [], {}, {"lahore": LAHORE}, [], [balance], [ended], timedelta(days=7), NOW
        )
    row = answer["balances"][0]
    assert row["expiring_text"] == "3.50 کی میعاد 8 دسمبر 2026 کو 10:00 UTC پر ختم ہوگی"
    assert row["available"] == "4"
    assert (row["kind"], row["kind_text"]) == ("personal", "ذاتی")
    past = answer["past"][0]
    assert past["status_text"] == "شروع ہونے سے پہلے ختم"
    assert past["hub_text"] == _iso("Lahore AI Hub")
