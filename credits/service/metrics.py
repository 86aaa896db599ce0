"""Prometheus metrics, computed from the ledger at scrape time.

Holds and charges are made by the spawner in the hub process, not by this service, so
counting operations here would miss them. Each scrape therefore reads the totals from
the ledger (:meth:`~computehub.credits.ledger.Ledger.totals`: a few aggregate queries)
in a worker thread; the figures are the same whichever process made the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from computehub.credits.ledger import Ledger
from computehub.credits.service.access import may_read_metrics
from computehub.credits.service.base import BaseHandler
from computehub.credits.service.consoleapi import hubs_now
from computehub.credits.service.consolemetrics import ConsoleCollector
from computehub.credits.service.errors import ApiError
from computehub.credits.service.scopes import ADMIN, READ_METRICS


class LedgerCollector:
    """Yields the ledger's totals as metric families on every collection."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def collect(self) -> Iterator[Metric]:
        """Prometheus hook: read the ledger now."""
        totals = self._ledger.totals()
        granted = CounterMetricFamily(
            "computehub_credits_granted",
            "Credits ever granted, by funding source",
            labels=["source"],
        )
        for source, value in sorted(totals.granted.items()):
            granted.add_metric([source], float(value))
        yield granted
        held = GaugeMetricFamily(
            "computehub_credits_held",
            "Credits reserved by open holds, by hub and resource",
            labels=["hub", "resource"],
        )
        for (hub, resource), value in sorted(totals.held.items()):
            held.add_metric([hub, resource], float(value))
        yield held
        open_holds = GaugeMetricFamily(
            "computehub_credits_open_holds", "Holds not yet settled or voided", labels=["hub"]
        )
        for hub, count in sorted(totals.open_holds.items()):
            open_holds.add_metric([hub], count)
        yield open_holds
        charged = CounterMetricFamily(
            "computehub_credits_charged",
            "Credits charged for sessions (capped at each hold), by hub",
            labels=["hub"],
        )
        for hub, value in sorted(totals.charged.items()):
            charged.add_metric([hub], float(value))
        yield charged
        cost = CounterMetricFamily(
            "computehub_credits_usage_cost",
            "Price of the resource-hours sessions used, by hub and resource, before the cap",
            labels=["hub", "resource"],
        )
        hours = CounterMetricFamily(
            "computehub_credits_usage_hours",
            "Resource-hours sessions used, by hub and resource",
            labels=["hub", "resource"],
        )
        for (hub, resource), value in sorted(totals.usage_cost.items()):
            cost.add_metric([hub, resource], float(value))
            hours.add_metric([hub, resource], float(totals.usage_hours[(hub, resource)]))
        yield cost
        yield hours


def registry_for(ledger: Ledger, console: ConsoleCollector | None = None) -> CollectorRegistry:
    """A registry of the ledger's collectors (no process metrics of the service).

    ``console``: the operator console's figures (:mod:`~computehub.credits.service.consolemetrics`).
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(ledger))
    if console is not None:
        registry.register(console)
    return registry


class MetricsHandler(BaseHandler):
    """``GET /services/credits/metrics``: for operators and JupyterHub metrics readers."""

    async def get(self) -> None:
        """The Prometheus text format."""
        caller = self.require_caller()
        if not may_read_metrics(caller):
            raise ApiError(403, f"metrics need the {ADMIN} or {READ_METRICS} scope")
        registry = self.settings["computehub_metrics"]
        console: ConsoleCollector | None = self.settings.get("computehub_console_metrics")
        if console is not None:
            # The hubs now, from the hub (as the console reads them), with its timeout.
            console.hubs, _answered = await hubs_now(self.ctx)
        payload = await asyncio.to_thread(generate_latest, registry)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(payload)
