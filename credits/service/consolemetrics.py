"""Prometheus metrics of the operator console's figures (``/services/credits/metrics``).

The same sums as the console's page and API (:mod:`~computehub.credits.console`), over
every session settled so far (counters) and the figures now (gauges), with the hub,
account kind, category and GPU type as labels, so that Grafana chooses the period
(``increase(...[$__range])``) and the breakdown (``sum by (...)``). The hubs' figures
now come from the hub (the same answer as the status page), read by the scrape before
the registry is collected: see :class:`~computehub.credits.service.metrics.MetricsHandler`.

Every metric name is in :data:`~computehub.credits.service.consolemetrics.METRICS`; the
Grafana dashboard (``hub_config/grafana/computehub-console.json``) queries only those
and JupyterHub's own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from computehub.clock import Clock, utcnow
from computehub.credits import console as cs
from computehub.credits.ledger import Ledger

#: Accounts with less than this available count as near zero in the metrics.
NEAR_ZERO_BELOW: Final = Decimal(10)
#: How far ahead "expiring" looks in the metrics.
EXPIRING_WITHIN: Final = timedelta(days=30)
_SESSION_LABELS: Final = ["hub", "account_kind", "category", "gpu_type"]
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

#: Every metric this collector exports: name -> (type, help). Counters get ``_total``.
METRICS: Final[dict[str, tuple[str, str]]] = {
    "computehub_sessions_settled": ("counter", "Sessions settled (charged)"),
    "computehub_gpu_hours_allocated": (
        "counter",
        "GPU-hours allocated to settled sessions (MIG slices: slice-hours)",
    ),
    "computehub_gpu_hours_busy": (
        "counter",
        "GPU-hours settled sessions' GPUs were busy, as their servers reported (self-reported, "
        "clamped to the allocation; only sessions whose busy time was recorded)",
    ),
    "computehub_sessions_credits_charged": ("counter", "Credits charged for settled sessions"),
    "computehub_sessions_culled": ("counter", "Sessions the GPU-idle rule stopped"),
    "computehub_culling_credits_saved": (
        "counter",
        "Credits the GPU-idle rule saved (the unused part of the culled sessions' holds)",
    ),
    "computehub_sessions_energy_wh": (
        "counter",
        "Energy of settled sessions in Wh (only sessions whose energy was recorded)",
    ),
    "computehub_funding_credits": (
        "gauge",
        "Credits of each funding source: granted, spent, expired, remaining, expiring (30 days)",
    ),
    "computehub_accounts_near_zero": (
        "gauge",
        "People's accounts with less than 10 credits available",
    ),
    "computehub_applications_open": ("gauge", "Applications for credits awaiting a decision"),
    "computehub_hub_up": ("gauge", "1 when the hub's Slurm controller answers, else 0"),
    "computehub_hub_maintenance": ("gauge", "1 while an operator has the hub in maintenance"),
    "computehub_hub_gpus": ("gauge", "GPUs of the hub now, by state: busy, free, down"),
    "computehub_hub_queue": ("gauge", "Jobs waiting in the hub's Slurm queue"),
    "computehub_hub_sessions": ("gauge", "Sessions running or queued on the hub (open holds)"),
}


def _family(name: str, labels: Sequence[str]) -> CounterMetricFamily | GaugeMetricFamily:
    kind, words = METRICS[name]
    if kind == "counter":
        return CounterMetricFamily(name, words, labels=list(labels))
    return GaugeMetricFamily(name, words, labels=list(labels))


def session_families(rows: Sequence[cs.SessionRow]) -> list[Metric]:
    """The session counters, one series per hub, account kind, category and GPU type."""
    groups: dict[tuple[str, ...], cs.PeriodFigures] = defaultdict(lambda: cs.PeriodFigures(""))
    for row in rows:
        groups[tuple(row.label(by) for by in cs.GROUPINGS)].add(row)
    names = [
        "computehub_sessions_settled",
        "computehub_gpu_hours_allocated",
        "computehub_gpu_hours_busy",
        "computehub_sessions_credits_charged",
        "computehub_sessions_culled",
        "computehub_culling_credits_saved",
        "computehub_sessions_energy_wh",
    ]
    families = {name: _family(name, _SESSION_LABELS) for name in names}
    for labels, f in sorted(groups.items()):
        values: dict[str, float | None] = {
            "computehub_sessions_settled": f.sessions,
            "computehub_gpu_hours_allocated": float(f.gpu_hours),
            "computehub_gpu_hours_busy": (
                None if f.gpu_busy_hours is None else float(f.gpu_busy_hours)
            ),
            "computehub_sessions_credits_charged": float(f.charged),
            "computehub_sessions_culled": f.culled,
            "computehub_culling_credits_saved": float(f.saved),
            "computehub_sessions_energy_wh": None if f.wh is None else float(f.wh),
        }
        for name, value in values.items():
            if value is not None:
                families[name].add_metric(list(labels), value)
    return list(families.values())


def hub_families(hubs: Sequence[cs.HubNow]) -> list[Metric]:
    """The hubs' gauges now."""
    up = _family("computehub_hub_up", ["hub"])
    closed = _family("computehub_hub_maintenance", ["hub"])
    gpus = _family("computehub_hub_gpus", ["hub", "state"])
    queue = _family("computehub_hub_queue", ["hub"])
    sessions = _family("computehub_hub_sessions", ["hub"])
    for hub in hubs:
        up.add_metric([hub.hub], 1 if hub.controller_up else 0)
        closed.add_metric([hub.hub], 1 if hub.state == "maintenance" else 0)
        for state, count in (
            ("busy", hub.gpus_busy),
            ("free", hub.gpus_free),
            ("down", hub.gpus_down),
        ):
            if count is not None:
                gpus.add_metric([hub.hub, state], count)
        if hub.queue is not None:
            queue.add_metric([hub.hub], hub.queue)
        sessions.add_metric([hub.hub], hub.sessions)
    return [up, closed, gpus, queue, sessions]


def programme_families(
    funding: Sequence[cs.FundingFigures], near_zero: int, open_by_category: dict[str, int]
) -> list[Metric]:
    """Funding sources, accounts near zero, open applications."""
    credits = _family("computehub_funding_credits", ["source", "figure"])
    for f in funding:
        for figure, value in (
            ("granted", f.granted),
            ("spent", f.spent),
            ("expired", f.expired),
            ("remaining", f.remaining),
            ("expiring", f.expiring),
        ):
            credits.add_metric([f.source, figure], float(value))
    near = _family("computehub_accounts_near_zero", [])
    near.add_metric([], near_zero)
    applications = _family("computehub_applications_open", ["category"])
    for category, count in sorted(open_by_category.items()):
        applications.add_metric([category], count)
    return [credits, near, applications]


class ConsoleCollector:
    """Yields the console's figures on every collection (the ledger is read then).

    Args:
        ledger: the ledger.
        clock: the current time.
    """

    def __init__(self, ledger: Ledger, clock: Clock = utcnow) -> None:
        self._ledger = ledger
        self._clock = clock
        #: The hubs now, as the last scrape read them from the hub (set before collecting).
        self.hubs: list[cs.HubNow] = []

    def collect(self) -> Iterator[Metric]:
        """Prometheus hook: read the ledger now."""
        now = self._clock()
        rows = self._ledger.console_sessions(_EPOCH, now + timedelta(days=1))
        yield from session_families(rows)
        granted, expired, lots = self._ledger.console_funding()
        funding = cs.funding(granted, expired, lots, horizon=now + EXPIRING_WITHIN)
        near = len(cs.near_zero(self._ledger.console_accounts(), NEAR_ZERO_BELOW))
        waiting: dict[str, int] = defaultdict(int)
        for application in self._ledger.applications(
            statuses=["submitted", "changes_requested", "approving"]
        ):
            waiting[application.proposal.category] += 1
        yield from programme_families(funding, near, dict(waiting))
        yield from hub_families(self.hubs)
