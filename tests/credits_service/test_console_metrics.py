"""The console's Prometheus metrics, and the Grafana dashboard that queries them.

Every metric the dashboard (``hub_config/grafana/computehub-console.json``) queries is
exported: ours by the credits service's registry (read from a seeded ledger), JupyterHub's
by JupyterHub's own metrics module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from computehub.credits import console as cs
from computehub.credits.ledger import Ledger
from computehub.credits.service.consolemetrics import METRICS, ConsoleCollector
from computehub.credits.service.metrics import registry_for
from computehub.gpuidle import Rule, end_note
from tests.support.ledgers import RATES, FakeClock

DASHBOARD = Path(__file__).parents[2] / "hub_config" / "grafana" / "computehub-console.json"
_NAME = re.compile(r"\b((?:computehub|jupyterhub)_[a-z_]+)\b")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    clock = FakeClock()
    with Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", clock=clock) as opened:
        opened.sync_rates(RATES, actor="site")
        opened.create_account("ayesha", "personal", actor="t", owner="ayesha")
        opened.grant("ayesha", 100, actor="t")
        for used, cull in (("1.5", False), ("0.5", True)):
            hold = opened.place_hold("ayesha", "north", {"gpu:h100": 1}, 2, actor="ayesha")
            opened.settle(hold.id, {"gpu:h100": Decimal(used)}, actor="hub")
            # The node measured the first session; the second's reading was lost (unknown).
            wh = None if cull else Decimal("750.5")
            opened.record_energy(hold.id, wh, seconds=5400, gpus=1, actor="node")
            if not cull:  # its server reported busy time; the culled one's never did
                opened.record_gpu_busy(hold.id, Decimal("1.25"), actor="spawner")
            if cull:
                note = end_note(Rule(1800, 5), 1900, opened.session(hold.id))
                opened.note_session_end(hold.id, note, actor="gpu-idle")
        clock.advance(seconds=1)
        yield opened


def exported(ledger: Ledger) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Each sample name the registry exports, with its labels and values."""
    console = ConsoleCollector(ledger, ledger._clock)
    console.hubs = [
        cs.hub_now("north", "up", [cs.GpuReading(4, 1, 1)], 2, 1),
        cs.hub_now("south", "maintenance", [cs.GpuReading(None, None, None)], None, 0),
    ]
    text = generate_latest(registry_for(ledger, console)).decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        # A counter with no series yet is still declared (# TYPE), under its _total name.
        samples.setdefault(f"{family.name}_total" if family.type == "counter" else family.name, [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def test_the_metrics_are_the_consoles_figures(ledger: Ledger) -> None:
    samples = exported(ledger)
    labels = {"hub": "north", "account_kind": "personal", "category": "none", "gpu_type": "h100"}
    assert samples["computehub_sessions_settled_total"] == [(labels, 2.0)]
    assert samples["computehub_gpu_hours_allocated_total"] == [(labels, 2.0)]
    assert samples["computehub_gpu_hours_busy_total"] == [(labels, 1.25)]
    assert samples["computehub_sessions_credits_charged_total"] == [(labels, 20.0)]
    assert samples["computehub_sessions_culled_total"] == [(labels, 1.0)]
    assert samples["computehub_culling_credits_saved_total"] == [(labels, 15.0)]
    assert samples["computehub_sessions_energy_wh_total"] == [(labels, 750.5)]
    gpus = {(lab["hub"], lab["state"]): v for lab, v in samples["computehub_hub_gpus"]}
    assert gpus == {("north", "busy"): 2.0, ("north", "free"): 1.0, ("north", "down"): 1.0}
    assert dict((lab["hub"], v) for lab, v in samples["computehub_hub_up"]) == {
        "north": 1.0,
        "south": 0.0,
    }
    funding = {lab["figure"]: v for lab, v in samples["computehub_funding_credits"]}
    assert funding == {
        "granted": 100.0,
        "spent": 20.0,
        "expired": 0.0,
        "remaining": 80.0,
        "expiring": 0.0,
    }
    assert samples["computehub_accounts_near_zero"] == [({}, 0.0)]


def queried(dashboard: Path = DASHBOARD) -> set[str]:
    """Every metric name the dashboard's queries and variables use."""
    data = json.loads(dashboard.read_text())
    text = json.dumps([data["panels"], data["templating"]])
    names = set(_NAME.findall(text))
    assert names, "the dashboard queries nothing"
    return names


def test_every_metric_the_dashboard_queries_is_exported(ledger: Ledger) -> None:
    ours = set(exported(ledger))
    import jupyterhub.metrics  # noqa: F401  (registers JupyterHub's metrics)

    families = list(prometheus_client.REGISTRY.collect())
    theirs = {s.name for f in families for s in f.samples} | {f.name for f in families}
    theirs |= {f"{f.name}_bucket" for f in families if f.type == "histogram"}
    for name in sorted(queried()):
        source = ours if name.startswith("computehub_") else theirs
        assert name in source, f"{name} is not exported"


def test_every_console_metric_is_on_the_dashboard() -> None:
    names = queried()
    for name, (kind, _words) in METRICS.items():
        assert (f"{name}_total" if kind == "counter" else name) in names, name
