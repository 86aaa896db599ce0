"""What the ledger's operations return: frozen snapshots, safe to pass between threads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class Balance:
    """An account's figures: ``available = balance - held``.

    Attributes:
        account: the account's name.
        kind: personal, project, course, issuing or revenue.
        balance: credits in the account (negative only for system accounts).
        held: credits reserved by open holds.
        available: what can be spent or reserved now.
        next_expiry_at: when the next unreserved credit expires, if any does.
        expiring: credits that expire at ``next_expiry_at``.
        role: the user's role, when the balance came from
            :meth:`~computehub.credits.ledger.Ledger.accounts_for_user`.
    """

    account: str
    kind: str
    balance: Decimal
    held: Decimal
    available: Decimal
    next_expiry_at: datetime | None = None
    expiring: Decimal = Decimal(0)
    role: str | None = None


@dataclass(frozen=True)
class Grant:
    """Credits issued into an account."""

    id: int
    account: str
    source: str
    amount: Decimal
    expires_at: datetime | None
    note: str
    created_at: datetime


@dataclass(frozen=True)
class Transfer:
    """Credits moved from one account to another."""

    id: int
    from_account: str
    to_account: str
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True)
class Hold:
    """Credit reserved for one session.

    Attributes:
        resources: counts per resource, e.g. ``{"gpu:h100": 2, "cpu": 8}``.
        rates: credits per hour per unit, as they were when the hold was placed.
        per_hour: credits per hour of the whole session.
    """

    id: int
    account: str
    hub: str
    job_id: str | None
    status: str
    hours: Decimal
    amount: Decimal
    per_hour: Decimal
    resources: Mapping[str, int]
    rates: Mapping[str, Decimal]
    created_at: datetime
    #: When the platform asked Slurm to end the job (None: not asked).
    cancel_requested_at: datetime | None = None


@dataclass(frozen=True)
class Charge:
    """What a settled session cost.

    Attributes:
        amount: what was charged: ``min(cost, hold amount)``.
        cost: the usage priced at the hold's rates, before the cap.
        released: the part of the hold given back to the account.
        usage: resource-hours per resource.
    """

    id: int
    hold_id: int
    account: str
    hub: str
    amount: Decimal
    cost: Decimal
    released: Decimal
    usage: Mapping[str, Decimal]
    created_at: datetime


@dataclass(frozen=True)
class Estimate:
    """The price of a session and whether the account can pay for it."""

    account: str
    hub: str
    per_hour: Decimal
    hours: Decimal
    cost: Decimal
    available: Decimal
    #: Hours the available credit pays for at this price; ``None`` when the session is free.
    affordable_hours: Decimal | None

    @property
    def sufficient(self) -> bool:
        """Whether the account can pay for all the hours asked."""
        return self.cost <= self.available


@dataclass(frozen=True)
class Entry:
    """One row of an account's history, signed from that account's point of view."""

    id: int
    kind: str
    pending: bool
    amount: Decimal
    #: ``+`` credit into the account, ``-`` out of it (pending rows: the reservation).
    change: Decimal
    counterparty: str
    actor: str
    reason: str
    created_at: datetime
    hold_id: int | None = None


@dataclass(frozen=True)
class RateEntry:
    """A rate and when it took effect; ``rate is None`` means the resource was withdrawn."""

    hub: str
    resource: str
    rate: Decimal | None
    effective_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class ReportRow:
    """Charges summed over one account, hub or resource."""

    key: str
    credits: Decimal
    resource_hours: Decimal
    sessions: int


@dataclass(frozen=True)
class CheckReport:
    """What :meth:`~computehub.credits.ledger.Ledger.check` found; clean without differences.

    Attributes:
        accounts: accounts checked.
        entries: entries of the journal checked.
        differences: each stored figure that disagrees with the journal, holds and lots,
            and each row that breaks an invariant.
    """

    accounts: int
    entries: int
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the stored figures agree with the recomputed ones."""
        return not self.differences


@dataclass(frozen=True)
class Session:
    """A session as its account sees it: the hold, who placed it, and what it was charged.

    Attributes:
        hold: the hold (status ``open``, ``settled`` or ``voided``).
        created_by: who placed the hold (the spawner places holds as the user).
        closed_at: when the hold was settled or voided; ``None`` while it is open.
        charged: what the settlement charged; ``None`` unless settled.
        cost: the usage's price before the cap at the hold; ``None`` unless settled.
        end_note: why the session ended, when something other than its user ended it.
        energy_wh: the GPU energy its node measured, in watt-hours; ``None`` when not
            (yet) recorded or unknown (``energy_recorded`` tells which).
        energy_recorded: whether the session's energy reached the ledger.
        server_name: the JupyterHub server it runs in (``""``: the user's default server).
        energy_source: where the energy came from (``nvml``, ``simulated``); None without.
    """

    hold: Hold
    created_by: str
    closed_at: datetime | None = None
    charged: Decimal | None = None
    cost: Decimal | None = None
    end_note: str | None = None
    energy_wh: Decimal | None = None
    energy_recorded: bool = False
    server_name: str = ""
    energy_source: str | None = None


@dataclass(frozen=True)
class Totals:
    """Ledger-wide figures for monitoring, computed from the tables when asked.

    Attributes:
        granted: credits ever granted, by funding source.
        held: credits reserved by open holds, by ``(hub, resource)`` (each resource's
            share: rate * count * hours, before the hold's rounding).
        open_holds: open holds by hub.
        charged: credits charged (capped at each hold), by hub.
        usage_cost: price of the resource-hours used, by ``(hub, resource)``, before the cap.
        usage_hours: resource-hours used, by ``(hub, resource)``.
    """

    granted: Mapping[str, Decimal]
    held: Mapping[tuple[str, str], Decimal]
    open_holds: Mapping[str, int]
    charged: Mapping[str, Decimal]
    usage_cost: Mapping[tuple[str, str], Decimal]
    usage_hours: Mapping[tuple[str, str], Decimal]


@dataclass(frozen=True)
class Course:
    """A course: its id (its account's name), title, term, roster and credit pool.

    Attributes:
        id: the course's id, the name of its account (the credit pool).
        title: what people call it.
        starts_on: the term's first day.
        ends_on: the term's last day.
        archived_at: when it was archived (nothing more is spent from it), or ``None``.
        archived_by: who archived it.
        created_at: when it was made a course.
        created_by: who did.
        members: the roster, ``{username: role}``: owners, instructors, TAs, students.
        pool: the pool's figures.
        sharing: how the pool is shared among its students.
        repository: the git repository of its materials (nbgitpuller), or ``None``.
        branch: the branch students pull; ``None``: the repository's default branch.
    """

    id: str
    title: str
    starts_on: date
    ends_on: date
    archived_at: datetime | None
    archived_by: str | None
    created_at: datetime
    created_by: str
    members: Mapping[str, str]
    pool: Balance
    sharing: Sharing = field(default_factory=lambda: Sharing())
    repository: str | None = None
    branch: str | None = None

    def with_role(self, role: str) -> list[str]:
        """The members who have ``role``, sorted."""
        return sorted(user for user, held in self.members.items() if held == role)

    @property
    def archived(self) -> bool:
        """Whether the course was archived."""
        return self.archived_at is not None


@dataclass(frozen=True)
class Sharing:
    """How a course's pool is shared among its students.

    Attributes:
        share: ``equal`` (the pool shared equally among the students enrolled now),
            ``fixed`` (``allowance`` each for the term) or ``None`` (no term limit).
        allowance: each student's allowance for the term, when ``share`` is ``fixed``.
        weekly_cap: the most credits a student may spend from the pool in a week
            (Monday 00:00 UTC to the next), or ``None``.
        students: students with their own allowance (it replaces the share for them).
    """

    share: str | None = None
    allowance: Decimal | None = None
    weekly_cap: Decimal | None = None
    students: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def limited(self) -> bool:
        """Whether any limit applies to some student."""
        return bool(self.share or self.weekly_cap is not None or self.students)


@dataclass(frozen=True)
class CourseLimit:
    """One limit on what a student may still spend from a course's pool.

    Attributes:
        kind: ``equal share``, ``allowance`` (the course's or the student's own) or
            ``weekly cap``.
        limit: the credits the limit allows.
        used: what the student spent under it (settled charges in its window) and
            holds now (their running sessions).
        left: ``limit - used``, never below 0.
        resets_at: when the window starts again (the weekly cap), else ``None`` (a term
            limit lasts the term).
    """

    kind: str
    limit: Decimal
    used: Decimal
    left: Decimal
    resets_at: datetime | None


@dataclass(frozen=True)
class CourseShare:
    """A student's limits on a course's pool, as the ledger counts them now.

    Attributes:
        course: the course's id.
        username: the student.
        limits: the limits that apply (the term's first, then the week's); empty when none.
        ends_on: the term's last day.
    """

    course: str
    username: str
    limits: tuple[CourseLimit, ...]
    ends_on: date

    @property
    def left(self) -> Decimal | None:
        """What the student may still spend under every limit, or ``None`` with no limit."""
        return min((limit.left for limit in self.limits), default=None)

    @property
    def binding(self) -> CourseLimit | None:
        """The limit that leaves the least, or ``None``."""
        return min(self.limits, key=lambda limit: limit.left, default=None)
