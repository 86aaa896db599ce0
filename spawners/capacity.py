"""Reserved capacity at spawn: who is entitled, what an account may use now, why not. Pure.

A hub's site file may keep GPUs of a type for some accounts (``hubs.NAME.reservations``,
docs/capacity.md). An entitled account's sessions run in the reservation's partition
and may use any free GPU of the type; any other account's run in the hub's partition,
whose QOS caps them together at the type's GPUs minus the reserved ones. The spawner
refuses, before anything is held, a request that only the reserved GPUs could serve
now, and "any hub" counts for each hub only what the account may use there.

The caller brings what was read: each account's kind (and for a project account its
latest approved application's organisation kind and category), the person's platform
roles, and per hub with reservations sinfo's free GPUs and the GPUs that jobs in its
reserved partitions hold (squeue).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from computehub.sitefile.capacity import reserved_partition
from computehub.sitefile.schema import Reservation, Site
from computehub.spawners.availability import GpuAvailability


@dataclass(frozen=True)
class AccountProfile:
    """What a reservation looks at in an account.

    Attributes:
        name: the account's name.
        kind: ``personal``, ``project`` or ``course``.
        organisation_kind: a project account's latest approved application's
            organisation kind (``startup``, ``research-group``...); None without one.
        category: that application's programme category; None without one.
    """

    name: str
    kind: str
    organisation_kind: str | None = None
    category: str | None = None

    def label(self) -> str:
        """The account as a sentence names it: ``the account 'acme' (a startup's project)``."""
        if self.kind == "project" and self.organisation_kind:
            article = "an" if self.organisation_kind[0] in "aeiou" else "a"
            what = f"{article} {self.organisation_kind}'s project"
        elif self.kind == "personal":
            what = "a personal account"
        else:
            what = f"a {self.kind} account"
        return f"the account '{self.name}' ({what})"


def entitled(spec: Reservation, account: AccountProfile, roles: frozenset[str]) -> bool:
    """Whether ``account`` may use the GPUs ``spec`` reserves (any of its lists matches).

    A personal account counts by its owner's platform roles (``roles``: the person
    starting the session owns their personal account; they may charge no one else's).
    """
    if account.kind in spec.account_kinds:
        return True
    if account.kind == "project":
        if account.organisation_kind is not None and (
            account.organisation_kind in spec.organisation_kinds
        ):
            return True
        return account.category is not None and account.category in spec.categories
    if account.kind == "personal":
        return bool(roles & set(spec.personal_roles))
    return False


@dataclass(frozen=True)
class HubLoad:
    """What a hub with reservations has in use now.

    Attributes:
        free: sinfo's GPUs per GRES type (total, free, out of service).
        reserved_busy: GPUs per GRES type held by jobs in the reserved partitions.
    """

    free: Mapping[str, GpuAvailability]
    reserved_busy: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Share:
    """What one account may use of one reserved GPU type on one hub.

    Attributes:
        reservation: the reservation of the type.
        title: who it is for (``academic accounts``).
        total: GPUs of the type on the hub (site file).
        reserved: how many of them it reserves.
        entitled: whether the account may use them.
        most: the most the account may hold at once (all, or the unreserved ones).
        free: how many it may start on now; None when the hub's load is not known.
        partition: where its sessions run: the reservation's partition when entitled,
            else None (the hub's own).
    """

    reservation: str
    title: str
    total: int
    reserved: int
    entitled: bool
    most: int
    free: int | None
    partition: str | None


def share(
    site: Site,
    hub: str,
    gpu: str,
    account: AccountProfile,
    roles: frozenset[str],
    load: HubLoad | None,
) -> Share | None:
    """What ``account`` may use of ``hub``'s ``gpu`` GPUs; None when none are reserved."""
    spec = site.hubs[hub]
    found = [(n, r) for n, r in spec.reservations.items() if gpu in r.gpus]
    if not found:
        return None
    name, reservation = found[0]
    total = spec.gpus[gpu].count
    reserved = reservation.gpus[gpu]
    mine = entitled(reservation, account, roles)
    seen = None if load is None else load.free.get(gpu)
    free: int | None = None
    if seen is not None:
        if mine:
            free = seen.free
        else:
            used = seen.total - seen.out_of_service - seen.free
            unreserved_used = max(used - load.reserved_busy.get(gpu, 0), 0) if load else used
            free = max(min(seen.free, total - reserved - unreserved_used), 0)
    return Share(
        reservation=name,
        title=reservation.title,
        total=total,
        reserved=reserved,
        entitled=mine,
        most=total if mine else total - reserved,
        free=free,
        partition=reserved_partition(spec, name) if mine else None,
    )


#: ``squeue -O`` format of the jobs holding reserved partitions' GPUs (``tres-alloc``).
BUSY_FORMAT = "tres-alloc:|"
_TYPED_GPUS = re.compile(r"(?:^|,)gres/gpu:([^=,]+)=([0-9]{1,9})(?=,|$)")


def parse_busy(output: str) -> dict[str, int]:
    """GPUs per GRES type that squeue's ``tres-alloc`` lines hold (``gres/gpu:h100=2``)."""
    busy: dict[str, int] = {}
    for line in output.splitlines():
        for gres, count in _TYPED_GPUS.findall(line.strip().rstrip("|")):
            busy[gres] = busy.get(gres, 0) + int(count)
    return busy


def _gpus(count: int, gpu: str) -> str:
    return f"{count} {gpu.upper()} GPU{'' if count == 1 else 's'}"


def refusal(
    site: Site,
    hub: str,
    gpu: str,
    count: int,
    account: AccountProfile,
    roles: frozenset[str],
    load: HubLoad | None,
) -> str | None:
    """Why ``account`` can't have ``count`` of ``hub``'s ``gpu`` GPUs, or None.

    Refused: more than the unreserved GPUs of the type, ever; or more than the
    unreserved ones free now while the hub has that many free (only the reserved
    GPUs could serve it). A request nothing could serve now waits in the queue as
    any other does.
    """
    found = share(site, hub, gpu, account, roles, load)
    if found is None or found.entitled:
        return None
    seen = None if load is None else load.free.get(gpu)
    display = site.hubs[hub].display_name
    head = (
        f"{found.reserved} of {display}'s {_gpus(found.total, gpu)} are reserved for "
        f"{found.title}; {account.label()}"
    )
    if count > found.most:
        if found.most == 0:
            return f"{head} may use none of them."
        return f"{head} may use the other {found.most}, so at most {found.most} at once."
    if found.free is None or seen is None or count <= found.free or count > seen.free:
        return None
    if found.free == 0:
        return f"{head} may use the other {found.most}, all busy now. Try again later."
    verb = "is" if found.free == 1 else "are"
    return (
        f"{head} may use the other {found.most}, of which {found.free} {verb} free now: "
        f"ask for {found.free} or fewer, or try again later."
    )


def account_note(
    site: Site,
    hub: str,
    gpu: str,
    account: AccountProfile,
    roles: frozenset[str],
    load: HubLoad | None,
) -> str | None:
    """What a reservation means for ``account``'s session (the spawn form's estimate)."""
    found = share(site, hub, gpu, account, roles, load)
    if found is None:
        return None
    display = site.hubs[hub].display_name
    if found.entitled:
        return (
            f"{account.label().capitalize()} may use any of {display}'s "
            f"{_gpus(found.total, gpu)}, the {found.reserved} reserved for {found.title} "
            "included."
        )
    free = "" if found.free is None else f" ({found.free} free now)"
    return (
        f"{found.reserved} of {display}'s {_gpus(found.total, gpu)} are reserved for "
        f"{found.title}; {account.label()} may use the other {found.most}{free}."
    )


def reserved_note(site: Site, hub: str, gpu: str) -> str | None:
    """What the spawn form says of a reserved type: ``8 reserved for academic accounts``."""
    for reservation in site.hubs[hub].reservations.values():
        if gpu in reservation.gpus:
            return f"{reservation.gpus[gpu]} reserved for {reservation.title}"
    return None


@dataclass(frozen=True)
class Capacity:
    """Everything the options check needs about reserved capacity, for one person.

    Attributes:
        site: the site file.
        accounts: the accounts the person may charge, by name.
        roles: their platform roles.
        load: per hub with reservations whose controller answered, what is in use.
    """

    site: Site
    accounts: Mapping[str, AccountProfile]
    roles: frozenset[str] = frozenset()
    load: Mapping[str, HubLoad] = field(default_factory=dict)

    def _profile(self, account: str) -> AccountProfile:
        return self.accounts.get(account) or AccountProfile(account, "unknown")

    def share(self, hub: str, gpu: str, account: str) -> Share | None:
        """What ``account`` may use of ``hub``'s ``gpu`` GPUs (None: none reserved)."""
        return share(self.site, hub, gpu, self._profile(account), self.roles, self.load.get(hub))

    def free_for(self, hub: str, gpu: str, account: str, free: int) -> int:
        """``free`` (sinfo's free GPUs of the type) less what is reserved for others."""
        found = self.share(hub, gpu, account)
        if found is None or found.free is None:
            return free
        return min(free, found.free)

    def refusal(self, hub: str, gpu: str, count: int, account: str) -> str | None:
        """Why ``account`` can't start ``count`` such GPUs there now, or None."""
        return refusal(
            self.site, hub, gpu, count, self._profile(account), self.roles, self.load.get(hub)
        )

    def note(self, hub: str, gpu: str | None, account: str) -> str | None:
        """What a reservation means for a session of ``account`` (None: nothing reserved)."""
        if gpu is None:
            return None
        return account_note(
            self.site, hub, gpu, self._profile(account), self.roles, self.load.get(hub)
        )

    def partition(self, hub: str, gpu: str | None, account: str) -> str | None:
        """The reserved partition the session runs in, or None for the hub's own."""
        if gpu is None:
            return None
        found = self.share(hub, gpu, account)
        return None if found is None else found.partition
