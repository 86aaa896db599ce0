"""Ended sessions settled together in one ledger transaction, one by one if that fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from computehub.credits.ledger import Ledger
from computehub.sitefile import load_site
from computehub.spawners.accounting import JobUsage, parse_sacct
from computehub.spawners.batch import job_name
from computehub.spawners.reconcile import PassReport, Reconciler, Settle
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import SlurmClient

SITE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    registry = HubRegistry(load_site(SITE))
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        opened.sync_rates(
            {
                (h, res): rate
                for h in registry.names()
                for res, rate in registry.site.hubs[h].rates.items()
            },
            actor="site",
        )
        opened.create_account("course", "project", actor="op")
        opened.grant("course", "1000", actor="op")
        yield opened


def _ended(ledger: Ledger, count: int) -> list[Settle]:
    actions = []
    for n in range(count):
        hold = ledger.place_hold("course", "lahore", {"cpu": 1}, "1", actor="ann", job_id=str(n))
        line = f"{n}|COMPLETED|1800|cpu=1|1001|ann|100|105|1905|{job_name('lahore', hold.id)}"
        actions.append(Settle(hold, JobUsage(tuple(parse_sacct(line)))))
    return actions


async def test_ended_sessions_are_settled_together(ledger: Ledger) -> None:
    registry = HubRegistry(load_site(SITE))
    reconciler = Reconciler(registry, ledger, SlurmClient(registry))
    actions = _ended(ledger, 5)
    report = PassReport()
    await reconciler._settle_together(report, "lahore", actions)
    assert report.actions == actions
    assert not report.failed
    assert all(ledger.hold(a.hold.id).status == "settled" for a in actions)
    assert ledger.check().ok


async def test_a_refusal_in_a_batch_fails_only_its_own_hold(ledger: Ledger) -> None:
    registry = HubRegistry(load_site(SITE))
    reconciler = Reconciler(registry, ledger, SlurmClient(registry))
    actions = _ended(ledger, 3)
    ledger.void_hold(actions[1].hold.id, "test: an operator voided it", actor="op")
    report = PassReport()
    await reconciler._settle_together(report, "lahore", actions)
    assert report.actions == [actions[0], actions[2]]
    assert report.failed_holds == {actions[1].hold.id}
    statuses = [ledger.hold(a.hold.id).status for a in actions]
    assert statuses == ["settled", "voided", "settled"]
