"""The hub's home page, as data: one card per session, balances, the last sessions.

``GET /hub/api/computehub/home`` (:mod:`computehub.spawners.homeapi`) reads the
user's servers, the ledger and Slurm, and this module turns what they said into what
the page shows: every sentence and amount is made here, so the page's script only
places text. Amounts use :func:`~computehub.credits.display.credits_text` (2
decimals), with the exact value beside each for programs. The cost so far and the
funded end follow the widget's session view
(:func:`~computehub.credits.service.views.current_session`): the hold's rate times the
time since it was placed, never more than the hold; the funded end is the hold's
placing plus its hours. Times are UTC, as on the credits page.

Every sentence is in the current language (:mod:`computehub.i18n`): the endpoint
renders the cards in the language of its request, and numbers and times go through
:mod:`computehub.i18n.formats`; in Urdu, Latin names (a hub, ``1 x H100``) are
isolated so they keep their order in right-to-left text.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any, Final

from computehub.credits import records as r
from computehub.credits.display import credits_text
from computehub.credits.money import round_credits
from computehub.i18n import _, ngettext
from computehub.i18n.catalog import N_, isolate
from computehub.i18n.formats import long_date_text, short_time_text
from computehub.spawners.reasons import waiting_reason

#: The card's state: what the session is doing now.
RUNNING: Final = "running"
STARTING: Final = "starting"
PENDING: Final = "pending"
SUBMITTING: Final = "submitting"
STOPPING: Final = "stopping"

#: How many ended sessions the page lists.
PAST_LIMIT: Final = 8
#: Between a count and a GPU, the multiplication sign (as on the credits page).
TIMES: Final = "\N{MULTIPLICATION SIGN}"
_SECONDS_PER_HOUR = Decimal(3600)
_KIND_WORDS = {"personal": N_("personal"), "project": N_("project"), "course": N_("course")}
_STATUS_WORDS = {"settled": N_("ended"), "voided": N_("never started"), "open": N_("running")}


@dataclass(frozen=True)
class Server:
    """One of the user's servers as JupyterHub knows it.

    Attributes:
        name: the server's name ("" for the default server).
        url: where the user opens it (the hub's ``/user/NAME/SERVER/``).
        ready: the notebook server answers.
        pending: JupyterHub's pending action (``spawn``, ``stop``) or None.
        hub: the hub its job runs on ("" before the spawner chose one).
        job_id: its Slurm job ("" before sbatch answered).
        hold_id: the ledger hold paying for it (0 before one is placed).
    """

    name: str
    url: str
    ready: bool
    pending: str | None
    hub: str = ""
    job_id: str = ""
    hold_id: int = 0


@dataclass(frozen=True)
class SlurmView:
    """What Slurm said of a session's job just now (``answered`` False: nothing).

    Attributes:
        state: squeue's state (``RUNNING``, ``PENDING``...).
        start: when it started, or for a pending job when Slurm expects it to
            (``squeue --start``); None when Slurm can't tell.
        limit_minutes: its time limit.
        reason: squeue's reason code (a pending job's; never shown as is).
        position: a pending job's place in its partition's queue (1 = next).
    """

    answered: bool
    state: str = ""
    start: datetime | None = None
    limit_minutes: int | None = None
    reason: str = ""
    position: int | None = None


@dataclass(frozen=True)
class HubWords:
    """How people call a hub."""

    display_name: str
    region: str


def utc(value: datetime) -> datetime:
    """Aware times in UTC; naive ones (SQLite) are UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def clock_text(value: datetime, now: datetime) -> str:
    """A time as people read it: ``14:05 UTC`` today, ``3 Dec 14:05 UTC`` another day."""
    when, today = utc(value), utc(now)
    return _("{time} UTC").format(time=short_time_text(when, when.date() != today.date()))


def duration_text(span: timedelta) -> str:
    """A span as people read it: ``2 h 05 min``, ``45 min``, ``under a minute``, ``3 days 4 h``."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return _("under a minute")
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return ngettext("{days} day {hours} h", "{days} days {hours} h", days).format(
            days=days, hours=hours
        )
    if hours:
        return ngettext("{hours} h {minutes} min", "{hours} h {minutes} min", hours).format(
            hours=hours, minutes=f"{mins:02d}"
        )
    return _("{minutes} min").format(minutes=mins)


def resources_text(resources: Mapping[str, int]) -> str:
    """A session's resources: ``2 x H100``, ``1 x A100 1g.10gb MIG slice``, ``CPU only``.

    The sign between a count and its GPU is :data:`TIMES`; in Urdu each part is
    isolated (:func:`~computehub.i18n.catalog.isolate`) so it keeps its order.
    """
    parts = []
    for name, count in sorted(resources.items()):
        kind, _sep, rest = name.partition(":")
        if kind == "gpu" and rest:
            parts.append(isolate(f"{count} {TIMES} {rest.upper()}"))
        elif kind == "mig" and rest:
            gpu, _sep, profile = rest.partition(":")
            slices = ngettext(
                "{count} \N{MULTIPLICATION SIGN} {gpu} {profile} MIG slice",
                "{count} \N{MULTIPLICATION SIGN} {gpu} {profile} MIG slices",
                count,
            )
            parts.append(isolate(slices.format(count=count, gpu=gpu.upper(), profile=profile)))
    return _(", ").join(parts) or _("CPU only")


def server_label(name: str) -> str:
    """What a server is called on its card."""
    return _("Server \u201c{name}\u201d").format(name=name) if name else _("Default server")


def spawn_heading(name: str) -> str:
    """The spawn form's first line for a named server ("" for the default one)."""
    if not name:
        return ""
    sentence = _(
        "Starting {server}: a session of its own, with its own hold, job and card on your "
        "home page."
    ).format(server=server_label(name))
    return f'<p class="lead" id="ch-server-name">{escape(sentence)}</p>'


def cost_so_far(hold: r.Hold, since: datetime, now: datetime) -> Decimal:
    """The hold's rate times the time since ``since``, never more than the hold.

    ``since`` is when the job started (Slurm's start: settlement charges the time the
    job ran, never its wait), or when the hold was placed where Slurm did not say.
    """
    elapsed = max(Decimal(0), Decimal((utc(now) - utc(since)).total_seconds()))
    return min(round_credits(hold.per_hour * elapsed / _SECONDS_PER_HOUR), hold.amount)


def funded_until(hold: r.Hold, since: datetime) -> datetime:
    """When the session's funded time ends: ``since`` (as above) plus the hold's hours."""
    return utc(since) + timedelta(seconds=float(hold.hours * _SECONDS_PER_HOUR))


def run_start(hold: r.Hold, state: str, slurm: SlurmView | None) -> datetime:
    """When the session's paid time began: the job's start as Slurm says, else the hold's."""
    if (
        state in (RUNNING, STARTING, STOPPING)
        and slurm is not None
        and slurm.answered
        and slurm.state != "PENDING"
        and slurm.start is not None
    ):
        return utc(slurm.start)
    return utc(hold.created_at)


def _state(server: Server, slurm: SlurmView | None) -> str:
    if server.pending == "stop":
        return STOPPING
    if server.ready:
        return RUNNING
    if slurm is not None and slurm.answered and slurm.state == "PENDING":
        return PENDING
    if not server.job_id:
        return SUBMITTING
    return STARTING


def estimate_text(slurm: SlurmView, now: datetime) -> str:
    """The estimated-start line of a pending session, saying so when Slurm can't tell."""
    if not slurm.answered:
        return _("The scheduler is not answering, so there is no estimate of when it starts.")
    if slurm.start is None:
        return _(
            "Slurm can't estimate when it starts yet (it depends on when the sessions "
            "before it end)."
        )
    if utc(slurm.start) <= utc(now):
        return _("Slurm expects it to start any moment now.")
    return _(
        "Slurm expects it to start around {time} (in about {wait}); it may start sooner."
    ).format(time=clock_text(slurm.start, now), wait=duration_text(utc(slurm.start) - utc(now)))


def queue_text(position: int | None) -> str:
    """A pending session's place in its queue."""
    if position is None:
        return _("Its place in the queue is not known right now.")
    if position == 1:
        return _("It is next in the queue.")
    return _("It is number {position} in the queue.").format(position=position)


def session_card(
    server: Server,
    session: r.Session | None,
    hub: HubWords | None,
    slurm: SlurmView | None,
    now: datetime,
) -> dict[str, Any]:
    """One card of the home page: a server that runs, starts, waits or stops.

    ``session`` is the ledger's record of the server's hold (None before one is
    placed); ``slurm`` what squeue said of its job (None when not asked).
    """
    state = _state(server, slurm)
    card: dict[str, Any] = {
        "server": server.name,
        "label": server_label(server.name),
        "state": state,
        "url": server.url,
        "hub": server.hub,
        "hub_text": "",
        "job_id": server.job_id,
    }
    if hub is not None:
        card["hub_text"] = isolate(
            f"{hub.display_name} ({hub.region})" if hub.region else hub.display_name
        )
    if session is not None:
        hold = session.hold
        since = run_start(hold, state, slurm)
        until = funded_until(hold, since)
        cost = cost_so_far(hold, since, now)
        card.update(
            account=hold.account,
            resources_text=resources_text(hold.resources),
            rate=str(hold.per_hour),
            rate_text=_("{amount} credits an hour").format(amount=credits_text(hold.per_hour)),
            hold=str(hold.amount),
            hold_text=credits_text(hold.amount),
            placed_at=utc(hold.created_at).isoformat(),
            funded_until=until.isoformat(),
            funded_until_text=clock_text(until, now),
        )
        if state in (RUNNING, STARTING, STOPPING):
            left = max(timedelta(0), until - utc(now))
            card.update(
                cost_so_far=str(cost),
                cost_so_far_text=credits_text(cost),
                started_at=since.isoformat(),
                started_text=clock_text(since, now),
                time_left_s=int(left.total_seconds()),
                time_left_text=duration_text(left) if left else _("none: it ends now"),
            )
    if (
        slurm is not None
        and slurm.answered
        and state == RUNNING
        and slurm.start is not None
        and slurm.limit_minutes is not None
    ):
        ends = utc(slurm.start) + timedelta(minutes=slurm.limit_minutes)
        card["slurm_ends_at"] = ends.isoformat()
    if state == PENDING and slurm is not None:
        card.update(
            queue_position=slurm.position,
            queue_text=queue_text(slurm.position),
            reason_text=_reason_sentence(slurm.reason),
            estimated_start=None if slurm.start is None else utc(slurm.start).isoformat(),
            estimate_text=estimate_text(slurm, now),
            waiting_text=_("Waiting costs nothing: the charge starts with the session."),
        )
    elif state == STARTING and slurm is not None and not slurm.answered:
        card["note_text"] = _("The scheduler is not answering; the session is kept as it is.")
    card["actions"] = _actions(state, session is not None)
    return card


def _reason_sentence(reason: str) -> str:
    sentence = waiting_reason(reason)
    if sentence is None:
        return _("It waits for the scheduler to place it.")
    return _("It waits because {reason}.").format(reason=_(sentence))


def _actions(state: str, funded: bool) -> list[str]:
    """The buttons a card offers: open a ready server, extend a funded one, stop any."""
    if state == STOPPING:
        return []
    actions = []
    if state == RUNNING:
        actions.append("open")
    if funded and state in (RUNNING, STARTING):
        actions.append("extend")
    actions.append("stop" if state in (RUNNING, STARTING) else "cancel")
    return actions


def balance_rows(
    balances: Iterable[r.Balance], soon: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Each account the user may use: available, held, and what expires before ``soon``."""
    rows = []
    for row in balances:
        expiring = (
            row.next_expiry_at is not None
            and utc(row.next_expiry_at) <= utc(soon)
            and row.expiring > 0
        )
        rows.append(
            {
                "account": row.account,
                "kind": row.kind,
                "kind_text": _(_KIND_WORDS[row.kind]) if row.kind in _KIND_WORDS else row.kind,
                "role": row.role,
                "available": str(row.available),
                "available_text": credits_text(row.available),
                "held": str(row.held),
                "held_text": credits_text(row.held),
                "balance": str(row.balance),
                "balance_text": credits_text(row.balance),
                "expiring": str(row.expiring) if expiring else None,
                "expiring_text": (
                    _expiry_text(row.expiring, row.next_expiry_at, now)
                    if expiring and row.next_expiry_at is not None
                    else ""
                ),
            }
        )
    return rows


def _expiry_text(amount: Decimal, value: datetime, now: datetime) -> str:
    when = utc(value)
    hour = short_time_text(when, with_day=False)
    if when.date() == utc(now).date():
        return _("{amount} expire today at {time} UTC").format(
            amount=credits_text(amount), time=hour
        )
    return _("{amount} expire on {day} at {time} UTC").format(
        amount=credits_text(amount), day=long_date_text(when), time=hour
    )


def past_rows(
    sessions: Sequence[r.Session],
    now: datetime,
    hubs: Mapping[str, HubWords] | None = None,
    limit: int = PAST_LIMIT,
) -> list[dict[str, Any]]:
    """The last ended sessions (newest first, as given), each with what it was charged.

    A named server's session says which (``server_text``; empty for the default server).
    ``hubs``: how people call each hub (a hub no longer in the site file keeps its id).
    """
    rows = []
    for row in sessions:
        hold = row.hold
        if hold.status == "open":
            continue
        charged = (row.charged or Decimal(0)) if hold.status == "settled" else Decimal(0)
        rows.append(
            {
                "hold_id": hold.id,
                "account": hold.account,
                "hub": hold.hub,
                "hub_text": isolate(
                    hubs[hold.hub].display_name if hubs and hold.hub in hubs else hold.hub
                ),
                "job_id": hold.job_id or "",
                "server_name": row.server_name,
                "server_text": (
                    isolate(_("named server “{name}”").format(name=row.server_name))
                    if row.server_name
                    else ""
                ),
                "resources_text": resources_text(hold.resources),
                "started_text": clock_text(hold.created_at, now),
                "ended_text": "" if row.closed_at is None else clock_text(row.closed_at, now),
                "status_text": (
                    _("ended before it started")
                    if hold.status == "settled" and row.cost is not None and row.cost.is_zero()
                    else _(_STATUS_WORDS.get(hold.status, hold.status))
                ),
                "charged": str(charged),
                "charged_text": credits_text(charged),
                "end_note": row.end_note or "",
            }
        )
        if len(rows) == limit:
            break
    return rows
