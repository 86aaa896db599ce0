"""Reconcile the ledger's open holds with what Slurm says, on every hub.

Runs beside the hub as a JupyterHub-managed service (``python -m
computehub.spawners.reconcile``), at start and then periodically. It needs no hub API
access (JupyterHub 6 has no read-only scope for server state): what it knows of a
session is in the ledger and in Slurm, tied together by the job's name,
``jupyterhub-<hub>-<hold id>``, given before the job exists (the hold is placed first).

A queued job is the platform's only when its id is a plain job id (no array or
heterogeneous job), its name names this hub and a hold of the ledger, and its user
placed that hold; a job other than the one the hold recorded must also have been
submitted after the hold was placed. Every other job is left alone, whatever its name.
For each open hold on a hub whose controller answers:

* its job has ended and Slurm's accounting of every run of it is final: settle it;
* its job was requeued (it would run again on a fresh time limit): cancel it (ALERT);
  it is then settled for every run;
* its job has ended, accounting stays incomplete, its funded end (its latest run's
  start plus the hold's hours; see ``accounting.funded_end``) is past and the job has
  been gone for ``overdue_after``: settle the whole hold (its time limit was the funded
  time), with a distinct reason and an ALERT; never while accounting shows a run
  waiting to start;
* the platform asked to end its job (``Hold.cancel_requested_at``: a stop while the
  controller was down, a start the hub gave up): cancel the job;
* no job id was recorded (the hub died during the start) and a job named for it is
  queued: record that job and cancel it; none queued and accounting has one of the
  hold's user that ended: record and settle it; none anywhere after ``grace``: void it;
* a platform job that no open hold pays for (its hold is closed, or it is a second job
  for a hold that recorded another) is cancelled at once.

Each pass also records the GPU energy of sessions settled within ``energy_window`` that
the node's epilog has put in Slurm's accounting (``computehub.spawners.energy``).

A hub whose controller does not answer is skipped: nothing is settled, voided or
cancelled on a guess. Each action is carried out on its own: one that fails is logged
and counted, and the pass goes on; a hold that fails ``ALERT_AFTER`` passes in a row is
an ERROR (and a metric, with ``--metrics-file``). A pass reads the queues first, then
the holds it needs (the open ones, and those the queued jobs' names give) in one
ledger read. :func:`plan` decides, without I/O.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from computehub.credits.ledger import Ledger
from computehub.credits.records import Hold
from computehub.sitefile import load_site
from computehub.spawners.accounting import CLOCK_SKEW_S, JobUsage, funded_end
from computehub.spawners.batch import hold_of_job_name, job_name
from computehub.spawners.billing import (
    ledger_for,
    ledger_url,
    settle_in_full,
    settle_usage,
    settle_usages,
    void,
)
from computehub.spawners.energy import collect_energy
from computehub.spawners.registry import HubRegistry
from computehub.spawners.slurmclient import QueuedJob, SlurmClient, SlurmError

log = logging.getLogger("computehub.reconcile")

#: Ended sessions settled in one ledger transaction (a pass after an outage has thousands).
SETTLE_BATCH = 200
#: Passes in a row a hold may fail to reconcile before it is an ERROR.
ALERT_AFTER = 3
#: How long after a start gave up (sbatch did not answer: a cancel was requested) its
#: hold waits for a job to show up before it is voided, instead of the whole grace.
GAVE_UP_WAIT = timedelta(minutes=1)


def _no_gres(resource: str) -> None:
    """No GRES type: the hold's hub is no longer in the site file."""
    return None


def stalled(hold: Hold, now: datetime, grace: timedelta) -> bool:
    """Whether a hold without a job id has waited long enough for its start to record one."""
    if hold.cancel_requested_at is not None and now - hold.cancel_requested_at > GAVE_UP_WAIT:
        return True
    return now - hold.created_at > grace


@dataclass(frozen=True)
class HoldView:
    """A hold and the user who placed it (whose job it pays for)."""

    hold: Hold
    user: str


@dataclass(frozen=True)
class Settle:
    hold: Hold
    usage: JobUsage


@dataclass(frozen=True)
class SettleOverdue:
    """Charge the whole hold: its job is gone and its accounting never completed."""

    hold: Hold


@dataclass(frozen=True)
class Void:
    hold: Hold
    reason: str


@dataclass(frozen=True)
class Attach:
    """Record the job a hold pays for, found by its name (the hub never recorded it)."""

    hold: Hold
    job_id: str


@dataclass(frozen=True)
class Cancel:
    hub: str
    job_id: str
    reason: str = ""
    hold_id: int | None = None
    #: Log the cancel as an ALERT (something happened that the platform never does).
    alert: bool = False


Action = Settle | SettleOverdue | Void | Attach | Cancel


def _submitted(job: QueuedJob) -> datetime | None:
    return datetime.fromtimestamp(job.submitted, UTC) if job.submitted is not None else None


def platform_jobs(
    hub: str, jobs: Iterable[QueuedJob], holds: Mapping[int, HoldView]
) -> tuple[dict[int, list[QueuedJob]], list[QueuedJob]]:
    """The platform's jobs in ``hub``'s queue by hold id, and the others.

    A job is the platform's when its id is plain, its name names a hold of this hub
    and its user placed that hold. The job the hold recorded is then the hold's, whatever
    the clocks say; another job must also have been submitted after the hold was placed
    (give or take :data:`CLOCK_SKEW_S`).

    Args:
        hub: the hub whose queue this is.
        jobs: the queue's jobs named ``jupyterhub-*``, ids as squeue prints them.
        holds: the holds the names may refer to (open ones, and closed ones named).
    """
    mine: dict[int, list[QueuedJob]] = {}
    foreign: list[QueuedJob] = []
    for job in jobs:
        hold_id = hold_of_job_name(hub, job.name)
        view = holds.get(hold_id) if hold_id is not None else None
        if (
            not (job.job_id.isascii() and job.job_id.isdigit())
            or view is None
            or view.hold.hub != hub
            or view.user != job.user
            or (job.job_id != view.hold.job_id and not _after_hold(job, view.hold))
        ):
            foreign.append(job)
            continue
        mine.setdefault(view.hold.id, []).append(job)
    for found in mine.values():
        found.sort(key=lambda job: int(job.job_id))
    return mine, foreign


def _after_hold(job: QueuedJob, hold: Hold) -> bool:
    submitted = job.submitted
    return submitted is not None and submitted >= hold.created_at.timestamp() - CLOCK_SKEW_S


def _overdue(
    hold: Hold,
    record: JobUsage | None,
    gone: datetime | None,
    now: datetime,
    overdue_after: timedelta,
) -> bool:
    end = funded_end(record, hold.created_at, hold.hours)
    return end is not None and gone is not None and now - gone >= overdue_after and now >= end


def plan(
    holds: Sequence[HoldView],
    queued: Mapping[str, Sequence[QueuedJob]],
    usage: Mapping[int, JobUsage | None],
    now: datetime,
    grace: timedelta,
    *,
    closed: Sequence[HoldView] = (),
    gone_since: Mapping[int, datetime] | None = None,
    overdue_after: timedelta = timedelta(hours=1),
) -> list[Action]:
    """What to do, from the open holds, each hub's queue and the accounting asked for.

    Args:
        holds: the ledger's open holds, with who placed each.
        queued: per reachable hub, its queued jobs named ``jupyterhub-*`` (see
            :meth:`SlurmClient.live_jobs`); a hub missing here did not answer.
        usage: accounting of a hold's job by hold id (by its id, or by its name when the
            hold has none), None when accounting has no run of it; a hold missing here
            was not looked up (or sacct failed): nothing is decided on it.
        now: the current time (UTC).
        grace: how long a hold may wait for its job id before it is acted on.
        closed: settled or voided holds that queued jobs are named for.
        gone_since: when each hold's job was first seen gone from its queue.
        overdue_after: how long a job must have been gone, its funded end past, before
            a hold whose accounting never completes is charged in full.
    """
    gone_since = gone_since or {}
    views = {view.hold.id: view for view in [*closed, *holds]}
    jobs_of: dict[int, list[QueuedJob]] = {}
    for hub, jobs in queued.items():
        by_hold, _ = platform_jobs(hub, jobs, views)
        jobs_of.update(by_hold)
    actions: list[Action] = []
    adopted: dict[int, str] = {}
    for view in holds:
        hold = view.hold
        if hold.hub not in queued:
            continue  # that hub's controller did not answer: decide nothing
        mine = jobs_of.get(hold.id, [])
        if hold.job_id is None:
            waited = stalled(hold, now, grace)
            if mine:
                if waited or hold.cancel_requested_at is not None:
                    adopted[hold.id] = mine[0].job_id
                    actions.append(Attach(hold, mine[0].job_id))
                    actions.append(
                        Cancel(hold.hub, mine[0].job_id, "its start never completed", hold.id)
                    )
                continue
            if hold.id not in usage:
                continue
            record = usage[hold.id]
            if record is not None and record.complete:
                actions.append(Attach(hold, record.job_id))
                actions.append(Settle(hold, record))
            elif record is None and waited:
                actions.append(Void(hold, "the start never reached Slurm"))
            continue
        own = next((job for job in mine if job.job_id == hold.job_id), None)
        if own is not None:
            if own.requeued and own.state == "COMPLETING":
                continue  # cancelled only once its run is over (else accounting loses it)
            if own.requeued:
                actions.append(
                    Cancel(
                        hold.hub,
                        own.job_id,
                        f"it was requeued ({own.restarts} restarts, {own.state}): it would "
                        "run again on a fresh time limit",
                        hold.id,
                        alert=True,
                    )
                )
            elif hold.cancel_requested_at is not None:
                actions.append(
                    Cancel(hold.hub, own.job_id, "the platform asked to end it", hold.id)
                )
            continue
        record = usage.get(hold.id)
        if record is not None and record.complete:
            actions.append(Settle(hold, record))
        elif hold.id in usage and _overdue(
            hold, record, gone_since.get(hold.id), now, overdue_after
        ):
            actions.append(SettleOverdue(hold))
    for hold_id, jobs in sorted(jobs_of.items()):
        hold = views[hold_id].hold
        for job in jobs:
            if hold.status == "open" and job.job_id in (hold.job_id, adopted.get(hold_id)):
                continue
            if hold.status == "open" and hold.job_id is None and hold_id not in adopted:
                continue  # its start may still record it
            paid = hold.job_id or adopted.get(hold_id)
            why = (
                f"a second job for hold {hold_id}, which pays for job {paid}"
                if hold.status == "open"
                else f"its hold {hold_id} is {hold.status}"
            )
            actions.append(Cancel(hold.hub, job.job_id, f"no open hold pays for it ({why})"))
    return actions


@dataclass
class PassReport:
    """What one pass did."""

    actions: list[Action] = field(default_factory=list)
    #: What failed (an action, or the lookup of a hold's accounting) and why.
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: Holds something failed for in this pass.
    failed_holds: set[int] = field(default_factory=set)
    unreachable: list[str] = field(default_factory=list)
    foreign: int = 0


@dataclass
class Reconciler:
    """Reconciliation passes, remembering what one pass can't know (see :func:`plan`)."""

    registry: HubRegistry
    ledger: Ledger
    slurm: SlurmClient
    grace: timedelta = timedelta(minutes=10)
    overdue_after: timedelta = timedelta(hours=1)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: When each open hold's job was first seen gone from its queue.
    gone_since: dict[int, datetime] = field(default_factory=dict)
    #: Passes in a row each hold failed in.
    failures: Counter[int] = field(default_factory=Counter)
    #: Every action carried out since start, by kind (for the metrics file).
    done: Counter[str] = field(default_factory=Counter)
    #: How long after its settlement a session's energy is looked for in accounting.
    energy_window: timedelta = timedelta(days=1)

    def _holds(self, named: Iterable[int]) -> tuple[list[HoldView], list[HoldView]]:
        """The open holds, and the closed ones ``named``, with who placed each (one read)."""
        found = [HoldView(hold, user) for hold, user in self.ledger.holds_to_reconcile(named)]
        return (
            [view for view in found if view.hold.status == "open"],
            [view for view in found if view.hold.status != "open"],
        )

    async def pass_once(self) -> PassReport:
        """Look at every hub once and carry out the plan."""
        report = PassReport()
        now = self.now()
        queued: dict[str, list[QueuedJob]] = {}
        for hub in self.registry.names():
            try:
                queued[hub] = await self.slurm.live_jobs(hub)
            except SlurmError as err:
                report.unreachable.append(hub)
                log.warning("Hub %s not reconciled: squeue failed (%s)", hub, err)
        named = {
            hold_id
            for hub, jobs in queued.items()
            for job in jobs
            if (hold_id := hold_of_job_name(hub, job.name)) is not None
        }
        views, closed = await asyncio.to_thread(self._holds, named)
        open_ids = {view.hold.id for view in views}
        every = {view.hold.id: view for view in [*closed, *views]}
        live: dict[int, set[str]] = {}
        for hub, jobs in queued.items():
            mine, foreign = platform_jobs(hub, jobs, every)
            report.foreign += len(foreign)
            for job in foreign:
                log.debug("Hub %s: job %s (%s) is not the platform's", hub, job.job_id, job.name)
            for hold_id, found in mine.items():
                live[hold_id] = {job.job_id for job in found}
        usage: dict[int, JobUsage | None] = {}
        gone: dict[str, list[HoldView]] = {}
        for view in views:
            hold = view.hold
            if hold.hub not in queued:
                continue
            try:
                if hold.job_id is not None and hold.job_id not in live.get(hold.id, set()):
                    self.gone_since.setdefault(hold.id, now)
                    gone.setdefault(hold.hub, []).append(view)
                elif hold.job_id is None and not live.get(hold.id):
                    if stalled(hold, now, self.grace):
                        usage[hold.id] = await self.slurm.usage_by_name(
                            hold.hub, job_name(hold.hub, hold.id), hold.created_at, view.user
                        )
                else:
                    self.gone_since.pop(hold.id, None)
            except SlurmError as err:
                self._failed(report, f"accounting of hold {hold.id}", hold.id, str(err))
        for hub, ended in gone.items():
            await self._read_usage(report, hub, ended, usage)
        for hold_id in list(self.gone_since):
            if hold_id not in open_ids:
                del self.gone_since[hold_id]
        actions = plan(
            views,
            queued,
            usage,
            now,
            self.grace,
            closed=closed,
            gone_since=self.gone_since,
            overdue_after=self.overdue_after,
        )
        self._note_waiting(report, views, usage, now)
        together = [a for a in actions if isinstance(a, Settle) and a.hold.job_id is not None]
        for hub in sorted({a.hold.hub for a in together}):
            of_hub = [a for a in together if a.hold.hub == hub]
            for first in range(0, len(of_hub), SETTLE_BATCH):
                await self._settle_together(report, hub, of_hub[first : first + SETTLE_BATCH])
        for action in actions:
            if not (isinstance(action, Settle) and action.hold.job_id is not None):
                await self._carry_out_one(report, action)
        for hold_id in list(self.failures):
            if hold_id not in report.failed_holds:
                del self.failures[hold_id]
        try:
            energy = await collect_energy(
                self.ledger, self.slurm, list(queued), now - self.energy_window
            )
            self.done["Energy"] += len(energy)
        except Exception as err:  # energy never stops the money side of a pass
            log.exception("Recording sessions' energy failed")
            report.failed.append(("energy", str(err)))
        return report

    async def _read_usage(
        self,
        report: PassReport,
        hub: str,
        views: Sequence[HoldView],
        usage: dict[int, JobUsage | None],
    ) -> None:
        """Accounting of the jobs gone from ``hub``'s queue: one sacct for them all."""
        sessions = []
        for view in views:
            assert view.hold.job_id is not None
            sessions.append((view.hold.job_id, job_name(hub, view.hold.id), view.user))
        try:
            found = await self.slurm.usages(hub, sessions)
        except SlurmError as err:
            for view in views:
                self._failed(report, f"accounting of hold {view.hold.id}", view.hold.id, str(err))
            return
        for view, record in zip(views, found, strict=True):
            usage[view.hold.id] = record

    def _note_waiting(
        self,
        report: PassReport,
        views: Sequence[HoldView],
        usage: Mapping[int, JobUsage | None],
        now: datetime,
    ) -> None:
        """Count as failing a hold whose job accounting says waits, long gone from the queue.

        Such a hold is never settled on a guess (a pending job may wait for days); a
        controller that lost the job leaves it so, and operators should look.
        """
        for view in views:
            hold_id = view.hold.id
            gone = self.gone_since.get(hold_id)
            record = usage.get(hold_id)
            if (
                gone is not None
                and now - gone >= self.overdue_after
                and record is not None
                and funded_end(record, view.hold.created_at, view.hold.hours) is None
            ):
                self._failed(
                    report,
                    f"hold {hold_id}",
                    hold_id,
                    f"accounting says job {view.hold.hub}/{view.hold.job_id} waits to run, "
                    f"but the queue has not listed it since {gone:%Y-%m-%d %H:%M:%S} UTC",
                )

    def _failed(self, report: PassReport, what: str, hold_id: int | None, why: str) -> None:
        report.failed.append((what, why))
        if hold_id is None or hold_id in report.failed_holds:
            return  # a hold counts once per pass
        report.failed_holds.add(hold_id)
        self.failures[hold_id] += 1
        if self.failures[hold_id] >= ALERT_AFTER:
            log.error(
                "ALERT: hold %s has failed to reconcile in %s passes in a row: %s",
                hold_id,
                self.failures[hold_id],
                why,
            )

    async def _carry_out_one(self, report: PassReport, action: Action) -> None:
        """Carry out one action; one that fails is logged and counted, the pass goes on."""
        try:
            await self._carry_out(action)
        except Exception as err:  # one failing action must not stop the pass
            log.exception("Reconciliation failed: %s", _describe(action))
            self._failed(report, _describe(action), _hold_of(action), str(err))
            return
        report.actions.append(action)
        self.done[type(action).__name__] += 1

    async def _settle_together(self, report: PassReport, hub: str, batch: list[Settle]) -> None:
        """Settle ended sessions of ``hub`` in one ledger transaction (after an outage,
        thousands); should it fail, each is settled on its own, so only the failing ones
        fail."""
        gres_of = self.registry[hub].gres_type if hub in self.registry else _no_gres
        try:
            charges = await settle_usages(
                self.ledger,
                [(action.hold, action.usage) for action in batch],
                gres_of,
                actor="reconciler",
            )
        except Exception as err:
            log.warning(
                "Settling %s holds of hub %s together failed (%s): one by one", len(batch), hub, err
            )
            for action in batch:
                await self._carry_out_one(report, action)
            return
        for action, charge in zip(batch, charges, strict=True):
            log.info(
                "Settled hold %s (%s/%s): charged %s",
                action.hold.id,
                hub,
                action.usage.job_id,
                charge.amount,
            )
            report.actions.append(action)
        self.done["Settle"] += len(batch)

    async def _carry_out(self, action: Action) -> None:
        ledger = self.ledger
        if isinstance(action, Settle):
            hold, record = action.hold, action.usage
            gres_of = self.registry[hold.hub].gres_type if hold.hub in self.registry else _no_gres
            charge = await settle_usage(
                ledger,
                hold,
                record,
                gres_of,
                actor="reconciler",
                reconciled=True,
            )
            log.info(
                "Settled hold %s (%s/%s): charged %s",
                hold.id,
                hold.hub,
                record.job_id,
                charge.amount,
            )
        elif isinstance(action, SettleOverdue):
            hold = action.hold
            charge = await settle_in_full(ledger, hold, actor="reconciler")
            log.error(
                "ALERT: hold %s (%s/%s) settled in full (%s credits): its job is gone and its "
                "accounting never completed",
                hold.id,
                hold.hub,
                hold.job_id,
                charge.amount,
            )
        elif isinstance(action, Void):
            await void(ledger, action.hold.id, action.reason, actor="reconciler")
            log.info("Voided hold %s: %s", action.hold.id, action.reason)
        elif isinstance(action, Attach):
            await asyncio.to_thread(
                ledger.attach_job,
                action.hold.id,
                action.hold.hub,
                action.job_id,
                actor="reconciler",
            )
            log.warning(
                "Hold %s pays for job %s/%s, found by its name (its start never recorded it)",
                action.hold.id,
                action.hold.hub,
                action.job_id,
            )
        else:
            await self.slurm.cancel(action.hub, action.job_id)
            if action.alert:
                log.error(
                    "ALERT: cancelled job %s/%s: %s", action.hub, action.job_id, action.reason
                )
            else:
                log.warning("Cancelled job %s/%s: %s", action.hub, action.job_id, action.reason)

    def write_metrics(self, path: Path, report: PassReport) -> None:
        """Prometheus text-file metrics (for node_exporter's textfile collector)."""
        lines = [
            "# HELP computehub_reconcile_last_pass_seconds When the last pass ended.",
            "# TYPE computehub_reconcile_last_pass_seconds gauge",
            f"computehub_reconcile_last_pass_seconds {time.time():.0f}",
            "# HELP computehub_reconcile_actions_total Actions carried out, by kind.",
            "# TYPE computehub_reconcile_actions_total counter",
            *(
                f'computehub_reconcile_actions_total{{kind="{kind}"}} {count}'
                for kind, count in sorted(self.done.items())
            ),
            "# HELP computehub_reconcile_failing_holds Holds failing "
            f"{ALERT_AFTER} or more passes in a row.",
            "# TYPE computehub_reconcile_failing_holds gauge",
            "computehub_reconcile_failing_holds "
            f"{sum(1 for n in self.failures.values() if n >= ALERT_AFTER)}",
            "# HELP computehub_reconcile_unreachable_hubs Hubs whose squeue failed last pass.",
            "# TYPE computehub_reconcile_unreachable_hubs gauge",
            f"computehub_reconcile_unreachable_hubs {len(report.unreachable)}",
        ]
        partial = path.with_name(path.name + ".tmp")
        partial.write_text("\n".join(lines) + "\n")
        partial.replace(path)


def _hold_of(action: Action) -> int | None:
    return action.hold_id if isinstance(action, Cancel) else action.hold.id


def _describe(action: Action) -> str:
    if isinstance(action, Cancel):
        return f"cancel of job {action.hub}/{action.job_id}"
    return f"{type(action).__name__} of hold {action.hold.id}"


async def reconcile_once(
    registry: HubRegistry,
    ledger: Ledger,
    slurm: SlurmClient,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    grace: timedelta = timedelta(minutes=10),
) -> list[Action]:
    """One pass with no memory of earlier ones; returns what was done."""
    report = await Reconciler(registry, ledger, slurm, grace=grace, now=now).pass_once()
    return report.actions


async def run(
    site_path: str, interval_s: float, once: bool, metrics_file: Path | None = None
) -> None:
    """Reconcile now, then every ``interval_s`` seconds (until cancelled)."""
    site = load_site(site_path)
    registry = HubRegistry(site)
    reconciler = Reconciler(registry, ledger_for(ledger_url(site)), SlurmClient(registry))
    while True:
        try:
            report = await reconciler.pass_once()
            if report.failed:
                log.warning("Pass done with %s failures", len(report.failed))
            if metrics_file is not None:
                reconciler.write_metrics(metrics_file, report)
        except Exception:
            log.exception("Reconciliation failed; trying again in %s s", interval_s)
        if once:
            return
        await asyncio.sleep(interval_s)


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m computehub.spawners.reconcile --site FILE [--interval S] [--once]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--site", required=True, help="the site file")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between passes")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument(
        "--metrics-file",
        type=Path,
        default=None,
        help="write Prometheus metrics here after each pass (node_exporter textfile collector)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s reconcile] %(message)s"
    )
    asyncio.run(run(args.site, args.interval, args.once, args.metrics_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
