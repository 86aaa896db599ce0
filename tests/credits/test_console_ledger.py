"""The console's figures equal the ledger's for a seeded period: both computed here.

A seeded ledger (grants from two funding sources, one of them expiring, an approved
application that opens a project account in a category, sessions on two hubs before,
in and after the period, one culled by the GPU-idle rule) is read by the console
(:meth:`~computehub.credits.ledger.Ledger.console_sessions` and the sums of
:mod:`~computehub.credits.console`) and, independently, through the ledger's own
operations: :meth:`~computehub.credits.ledger.Ledger.report`, each account's sessions,
balances, history and totals. The two must agree to the last decimal.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from computehub.credits import console as cs
from computehub.credits.ledger import Ledger
from computehub.gpuidle import Rule, end_note
from tests.support.ledgers import FakeClock, proposal_for

#: People's accounts of the seed: name -> kind.
ACCOUNTS = {"ayesha": "personal", "bilal": "personal", "ml-101": "course"}
#: (account, hub, resources, hours held, hours used) of the sessions in the period.
IN_PERIOD = [
    ("ayesha", "north", {"gpu:h100": 1, "cpu": 4}, "3", "2.5"),
    ("bilal", "north", {"mig:h100:1g.10gb": 1}, "2", "1.75"),
    ("ml-101", "south", {"gpu:a100": 2}, "1", "1"),
    ("riverwatch", "south", {"gpu:a100": 1}, "10", "4"),
    ("ayesha", "south", {"cpu": 2}, "1", "0.5"),
]
#: GPU-busy hours the hub recorded, by session of IN_PERIOD (bilal's MIG slice and the
#: CPU session: none, not recorded).
BUSY = {0: Decimal("1.5"), 2: Decimal("1.25"), 3: Decimal("0.5")}


def seed(ledger: Ledger, clock: FakeClock) -> tuple[datetime, datetime, int]:
    """The seeded ledger; returns the period's start and end and the culled hold."""
    for name, kind in ACCOUNTS.items():
        ledger.create_account(name, kind, actor="opal", owner=name if kind != "course" else None)
    ledger.grant("ayesha", 500, actor="opal")
    ledger.grant("bilal", 30, actor="opal", source="ignite")
    ledger.grant("ml-101", 200, actor="opal", expires_at=clock.now + timedelta(days=20))
    ledger.grant("bilal", 8, actor="opal", expires_at=clock.now + timedelta(days=2))
    application = ledger.submit_application(
        "fatima", proposal_for("riverwatch", new_account=True, hours="200")
    )
    ledger.approve_application(application.id, actor="opal", hours="150")
    settle(ledger, "ayesha", "north", {"gpu:h100": 1}, "1", "1")  # before the period
    clock.advance(days=3)  # bilal's 8 expiring credits expire
    ledger.expire(actor="system")
    since = clock.now
    culled = 0
    for i, (account, hub, resources, held, used) in enumerate(IN_PERIOD):
        clock.advance(hours=5)
        hold_id = settle(ledger, account, hub, resources, held, used)
        # The nodes measured every session's energy but the first (lost: unknown).
        wh = None if i == 0 else Decimal(100 * (i + 1)) + Decimal("0.25")
        ledger.record_energy(hold_id, wh, seconds=3600, gpus=1, actor="node")
        if i in BUSY:  # the hub, as each session stopped (a later report raises it)
            ledger.record_gpu_busy(hold_id, BUSY[i] / 2, actor="hub")
            ledger.record_gpu_busy(hold_id, BUSY[i], actor="hub")
        if i == 3:  # riverwatch's session: its GPU sat idle, the rule stopped it
            culled = hold_id
            session = ledger.session(hold_id)
            note = end_note(Rule(limit_s=1800, busy_percent=5), 1900, session)
            ledger.note_session_end(hold_id, note, actor="gpu-idle")
    clock.advance(hours=1)
    until = clock.now
    clock.advance(hours=1)
    settle(ledger, "bilal", "north", {"gpu:h100": 1}, "1", "0.5")  # after the period
    open_hold = ledger.place_hold("ayesha", "north", {"gpu:h100": 1}, 2, actor="ayesha")
    ledger.attach_job(open_hold.id, "north", "77", actor="hub")
    return since, until, culled


def settle(
    ledger: Ledger, account: str, hub: str, resources: dict[str, int], held: str, used: str
) -> int:
    hold = ledger.place_hold(account, hub, resources, held, actor=account, job_id=None)
    ledger.settle(hold.id, {r: Decimal(used) * n for r, n in resources.items()}, actor="hub")
    return hold.id


def test_console_figures_equal_the_ledgers(ledger: Ledger, clock: FakeClock) -> None:
    since, until, culled_hold = seed(ledger, clock)
    figures = cs.console(ledger.console_sessions(since, until), since, until)

    # Credits charged and sessions, in total and by hub: the ledger's report.
    report = {row.key: row for row in ledger.report(since=since, until=until, by="hub")}
    by_hub = {f.key: f for f in figures.by["hub"]}
    assert set(by_hub) == set(report) == {"north", "south"}
    for hub, row in report.items():
        assert (by_hub[hub].charged, by_hub[hub].sessions) == (row.credits, row.sessions)
    assert figures.total.charged == sum((row.credits for row in report.values()), Decimal(0))
    assert figures.total.sessions == len(IN_PERIOD)

    # GPU-hours by GPU type: the report by resource, for GPUs and MIG slices.
    hours = {
        row.key: row.resource_hours
        for row in ledger.report(since=since, until=until, by="resource")
    }
    by_gpu = {f.key: f.gpu_hours for f in figures.by["gpu_type"]}
    assert by_gpu == {
        "h100": hours["gpu:h100"],
        "h100 1g.10gb": hours["mig:h100:1g.10gb"],
        "a100": hours["gpu:a100"],
        cs.CPU_ONLY: Decimal(0),
    }
    assert figures.total.gpu_hours == Decimal("2.5") + Decimal("1.75") + Decimal(2) + Decimal(4)

    # By account kind and by category: each account's own sessions, summed here.
    kinds = {**ACCOUNTS, "riverwatch": "project"}
    charged_by_kind: dict[str, Decimal] = defaultdict(Decimal)
    culled, saved = 0, Decimal(0)
    for account, kind in kinds.items():
        for session in ledger.sessions(account):
            closed = session.closed_at
            if session.charged is None or closed is None or not since <= closed < until:
                continue
            charged_by_kind[kind] += session.charged
            if (session.end_note or "").startswith("Stopped by computehub: its GPUs"):
                culled += 1
                saved += session.hold.amount - session.charged
    assert {f.key: f.charged for f in figures.by["account_kind"]} == dict(charged_by_kind)
    assert (figures.total.culled, figures.total.saved) == (culled, saved) == (1, Decimal(36))
    river = sum((s.charged or Decimal(0) for s in ledger.sessions("riverwatch")), Decimal(0))
    by_category = {f.key: f for f in figures.by["category"]}
    assert by_category["flood-prediction"].charged == river == Decimal(24)
    assert by_category["flood-prediction"].culled == 1
    assert by_category[cs.NONE_LABEL].charged == figures.total.charged - river
    assert culled_hold in {s.hold.id for s in ledger.sessions("riverwatch")}


def test_console_funding_and_accounts_equal_the_ledgers(ledger: Ledger, clock: FakeClock) -> None:
    seed(ledger, clock)
    granted, expired, lots = ledger.console_funding()
    horizon = clock.now + timedelta(days=30)
    table = {f.source: f for f in cs.funding(granted, expired, lots, horizon=horizon)}

    totals = ledger.totals()
    assert {s: f.granted for s, f in table.items()} == totals.granted
    # Spent: every charge, from its accounts' funding source (ignite funds only bilal's
    # first 30; bilal's programme credit expired before bilal spent anything).
    # (The report's period ends before now: the last charge was made at "now".)
    every_charge = ledger.report(until=clock.now + timedelta(seconds=1), by="hub")
    all_charged = sum((row.credits for row in every_charge), Decimal(0))
    assert sum((f.spent for f in table.values()), Decimal(0)) == all_charged
    bilal_spent = sum((s.charged or Decimal(0) for s in ledger.sessions("bilal")), Decimal(0))
    assert table["ignite"].spent == bilal_spent
    # Expired: the journal's expiry entries.
    expiries = [e for e in ledger.history("bilal") if e.kind == "expiry"]
    assert table["programme"].expired == sum((e.amount for e in expiries), Decimal(0)) == Decimal(8)
    # Left and expiring: the accounts' own figures.
    balances = [ledger.balance(name) for name in [*ACCOUNTS, "riverwatch"]]
    assert sum((f.remaining for f in table.values()), Decimal(0)) == sum(
        (b.balance for b in balances), Decimal(0)
    )
    expiring = sum(
        (b.expiring for b in balances if b.next_expiry_at and b.next_expiry_at < horizon),
        Decimal(0),
    )
    assert table["programme"].expiring == expiring == Decimal(188)  # ml-101: 200 less 12 charged

    # Accounts near zero: every balance's available below the line.
    below = Decimal(25)
    near = [(r.account, r.available) for r in cs.near_zero(ledger.console_accounts(), below)]
    expected = sorted(
        ((b.account, b.available) for b in balances if b.available < below),
        key=lambda pair: (pair[1], pair[0]),
    )
    assert near == expected
    assert near[0][0] == "bilal"
    # Sessions open now, per hub: the one with a job.
    assert ledger.console_open_sessions() == {"north": 1}


def test_console_wh_is_the_energy_reports(ledger: Ledger, clock: FakeClock) -> None:
    """Per hub and in total, the console's Wh is the sum over sessions of the energy report."""
    since, until, _ = seed(ledger, clock)
    figures = cs.console(ledger.console_sessions(since, until), since, until)
    energy = {row.key: row.wh for row in ledger.energy_report(since, until, "hub")}
    assert {f.key: f.wh for f in figures.by["hub"]} == energy
    # The seed's own figures: north has bilal's 200.25 (ayesha's first was lost), south
    # has 300.25 + 400.25 + 500.25.
    assert energy == {"north": Decimal("200.25"), "south": Decimal("1200.75")}
    assert figures.total.wh == Decimal("1401.00")


def test_console_gpu_busy_hours_are_the_recorded_ones(ledger: Ledger, clock: FakeClock) -> None:
    """Per hub, GPU type and account kind, busy hours are the sums of what was recorded."""
    since, until, _ = seed(ledger, clock)
    figures = cs.console(ledger.console_sessions(since, until), since, until)
    kinds = {**ACCOUNTS, "riverwatch": "project"}
    recorded: dict[str, dict[str, Decimal]] = {"hub": {}, "account_kind": {}}
    for account, kind in kinds.items():
        for session in ledger.sessions(account):
            closed = session.closed_at
            busy = ledger.gpu_busy_of(session.hold.id)
            if busy is None or closed is None or not since <= closed < until:
                continue
            for by, key in (("hub", session.hold.hub), ("account_kind", kind)):
                recorded[by][key] = recorded[by].get(key, Decimal(0)) + busy.busy_hours
    for by, sums in recorded.items():
        shown = {f.key: f.gpu_busy_hours for f in figures.by[by] if f.gpu_busy_hours is not None}
        assert shown == sums
    assert recorded["hub"] == {"north": Decimal("1.5"), "south": Decimal("1.75")}
    by_gpu = {f.key: f.gpu_busy_hours for f in figures.by["gpu_type"]}
    # Types whose sessions never reported stay "not recorded" (None), not 0.
    assert by_gpu == {"h100": Decimal("1.5"), "h100 1g.10gb": None, "a100": Decimal("1.75"),
                      cs.CPU_ONLY: None}  # fmt: skip
    assert figures.total.gpu_busy_hours == sum(BUSY.values()) == Decimal("3.25")
