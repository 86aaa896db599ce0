"""Spawn options in three stages: parse (form → raw), validate (raw → request), apply.

``user_options`` arriving through the REST API are hostile input: only the
known keys, of the right type, with values from the operator's allow-lists get
through; everything else is refused naming the field. This module does no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from computehub.spawners.access import Entitlements, refusal
from computehub.spawners.availability import GpuAvailability, choose_hub, offers_for
from computehub.spawners.billing import units
from computehub.spawners.capacity import Capacity
from computehub.spawners.registry import HubEntry, HubRegistry

#: The keys a spawn request may carry.
KNOWN_KEYS = ("hub", "gpu_type", "gpus", "hours", "environment", "account")
#: Every string value must look like a plain token: no shell or Slurm syntax.
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
CPU_ONLY = "none"
_MIG_PROFILE = re.compile(r"^[1-9]g\.[0-9]{1,3}gb$")
#: The hub choice that places the session where the GPU is free and cheapest.
ANY_HUB = "any"


class OptionsError(ValueError):
    """A spawn option that is refused, with the field and a reason a person can act on."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class SessionRequest:
    """A validated request for one notebook session."""

    hub: str
    gpu_type: str | None
    gpus: int
    hours: Decimal
    environment: str
    account: str = ""
    #: A MIG slice of ``gpu_type`` (``gpus`` then counts slices), e.g. ``1g.10gb``.
    mig_profile: str | None = None
    #: The reserved partition the session runs in (docs/capacity.md); None: the hub's.
    partition: str | None = None

    @property
    def minutes(self) -> int:
        """The Slurm time limit in whole minutes (rounded up)."""
        return math.ceil(self.hours * 60)

    @property
    def resource(self) -> str:
        """The rated resource: ``gpu:<type>``, ``mig:<type>:<profile>`` or ``cpu``."""
        return resource_of(self.gpu_type, self.mig_profile)

    @property
    def resources(self) -> Mapping[str, int]:
        """What the session holds and is charged for: rated resource -> units."""
        return {self.resource: units(self.gpu_type, self.gpus)}


def resource_of(gpu_type: str | None, mig_profile: str | None = None) -> str:
    """The rated resource of a choice: ``gpu:<type>``, ``mig:<type>:<profile>`` or ``cpu``."""
    if gpu_type is None:
        return "cpu"
    return f"mig:{gpu_type}:{mig_profile}" if mig_profile else f"gpu:{gpu_type}"


def _gpu_choice(raw: Mapping[str, object]) -> tuple[str | None, str | None]:
    """The ``gpu_type`` option: ``none`` (CPU only), ``h100`` or a MIG slice ``h100:1g.10gb``."""
    value = raw.get("gpu_type", CPU_ONLY)
    text = CPU_ONLY if value == "" else _token("gpu_type", value)
    if text == CPU_ONLY:
        return None, None
    gpu, sep, profile = text.partition(":")
    if not sep:
        return gpu, None
    if not gpu or not _MIG_PROFILE.match(profile):
        raise OptionsError(
            "gpu_type", "must be a GPU type, or a MIG slice of one such as a100:1g.10gb"
        )
    return gpu, profile


def parse_form(formdata: Mapping[str, list[str]]) -> dict[str, str]:
    """Stage 1: the spawn form's fields (lists of strings) to single values.

    Unknown fields are kept so that validation can refuse them by name.
    """
    parsed: dict[str, str] = {}
    for key, values in formdata.items():
        if len(values) != 1:
            raise OptionsError(key, "give exactly one value")
        parsed[key] = values[0].strip()
    return parsed


def _token(field: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise OptionsError(field, f"must be a string, not {type(value).__name__}")
    text = str(value)
    if not _TOKEN.match(text):
        raise OptionsError(field, "contains characters that are not allowed")
    return text


def _count(field: str, value: object) -> int:
    if isinstance(value, bool):
        raise OptionsError(field, "must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,3}", value):
        return int(value)
    raise OptionsError(field, "must be a whole number")


def _hours(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise OptionsError("hours", "must be a number of hours such as 1 or 2.5")
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,4}(\.[0-9]{1,2})?", value):
        raise OptionsError("hours", "must be a number of hours such as 1 or 2.5")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise OptionsError("hours", "must be a number of hours such as 1 or 2.5") from None


def _place_anywhere(
    raw: Mapping[str, object],
    registry: HubRegistry,
    free: Mapping[str, Mapping[str, GpuAvailability]] | None,
    who: Entitlements,
    closed: Collection[str] = (),
    accounts: Sequence[str] | None = None,
    capacity: Capacity | None = None,
) -> str:
    """The hub for an "any hub" request: where the GPU is free now and cheapest.

    Only hubs where the person may use the resource are considered, and none that
    takes no new sessions (``closed``: down or in maintenance). On a hub that reserves
    GPUs of the type for others, only those the account may use count as free.
    """
    gpu_type, profile = _gpu_choice(raw)
    resource = resource_of(gpu_type, profile)
    offering = [
        h
        for h in registry.names()
        if resource in registry[h].rates
        and (resource == "cpu" or registry[h].gres_type(resource) is not None)
    ]
    allowed = [h for h in offering if refusal(registry[h], resource, who) is None]
    if offering and not allowed:
        raise OptionsError("gpu_type", str(refusal(registry[offering[0]], resource, who)))
    if allowed and all(h in closed for h in allowed):
        raise OptionsError(
            "hub", "no hub that offers this is taking new sessions right now; try again later"
        )
    allowed = [h for h in allowed if h not in closed]
    if gpu_type is None:
        if not allowed:
            raise OptionsError("hub", "no hub offers CPU-only sessions")
        return min(allowed, key=lambda h: (registry[h].rates["cpu"], h))
    if not allowed:
        what = f"{profile} slices of {gpu_type!r} GPUs" if profile else f"{gpu_type!r} GPUs"
        raise OptionsError("gpu_type", f"no hub has {what}")
    if free is None:
        raise OptionsError("hub", "free GPUs are not known right now; choose a hub")
    count = _count("gpus", raw.get("gpus", 1))
    sellers = {
        h: (registry[h].rates[resource], str(registry[h].gres_type(resource))) for h in allowed
    }
    offers = offers_for(resource, sellers, free)
    if capacity is not None and accounts and profile is None:
        offers = [
            replace(
                o,
                free=capacity.free_for(
                    o.hub, gpu_type, _payer(raw, registry[o.hub], resource, accounts), o.free
                ),
            )
            for o in offers
        ]
    best = choose_hub(offers, count)
    if best is None:
        whole = capacity if profile is None else None  # MIG slices are not reserved
        seen = ", ".join(
            _offer_words(o.hub, o.free, raw, registry, whole, accounts, gpu_type) for o in offers
        )
        seen = seen or "no hub answered"
        label = f"{gpu_type.upper()} {profile} slices" if profile else f"{gpu_type.upper()} GPUs"
        raise OptionsError("hub", f"no hub has {count} free {label} right now ({seen})")
    return best.hub


def _offer_words(
    hub: str,
    free: int,
    raw: Mapping[str, object],
    registry: HubRegistry,
    capacity: Capacity | None,
    accounts: Sequence[str] | None,
    gpu_type: str,
) -> str:
    """``lahore: 2 free``, or ``… free to this account (8 reserved for academic accounts)``."""
    found = None
    if capacity is not None and accounts:
        payer = _payer(raw, registry[hub], resource_of(gpu_type), accounts)
        found = capacity.share(hub, gpu_type, payer)
    if found is None or found.entitled:
        return f"{hub}: {free} free"
    return f"{hub}: {free} free to this account ({found.reserved} reserved for {found.title})"


def _payer(raw: Mapping[str, object], hub: HubEntry, resource: str, accounts: Sequence[str]) -> str:
    """The account a request would charge on ``hub`` (checked later, once the hub is chosen)."""
    named = raw.get("account")
    return named if isinstance(named, str) else default_account(hub, resource, accounts)


def validate(
    raw: Mapping[str, object],
    registry: HubRegistry,
    free: Mapping[str, Mapping[str, GpuAvailability]] | None = None,
    accounts: Sequence[str] | None = None,
    who: Entitlements | None = None,
    closed: Collection[str] = (),
    capacity: Capacity | None = None,
) -> SessionRequest:
    """Stage 2: check raw options against the site's allow-lists and limits.

    Args:
        raw: the options as received (form or REST).
        registry: the hubs of the site file.
        free: free GPUs per hub and type, needed only for the "any hub" choice.
        accounts: the credit accounts this user may charge, the default first; None
            when no ledger is involved (the request then names no account).
        who: the person's platform roles and courses, for the resources a hub
            restricts (``limits.access``); default: none, so only open resources.
        closed: hubs that take no new sessions now (down, in maintenance): the "any
            hub" choice skips them. A start named for one is refused by the spawner,
            with the hub's own message.
        capacity: the GPUs hubs reserve for some accounts and what is in use
            (docs/capacity.md): a request only the GPUs reserved for others could serve
            is refused, and "any hub" counts only what the account may use.
    """
    who = who or Entitlements()
    if not isinstance(raw, Mapping):
        raise OptionsError("user_options", "must be a JSON object")
    for key in raw:
        if key not in KNOWN_KEYS:
            shown = key if isinstance(key, str) and _TOKEN.match(key) else "(a key)"
            raise OptionsError(shown, f"unknown option; allowed: {', '.join(KNOWN_KEYS)}")
    site = registry.site

    hub_name = _token("hub", raw.get("hub", site.defaults.hub or registry.names()[0]))
    if hub_name == ANY_HUB:
        hub_name = _place_anywhere(raw, registry, free, who, closed, accounts, capacity)
    if hub_name not in registry:
        raise OptionsError("hub", f"no hub {hub_name!r}; hubs: {', '.join(registry.names())}")
    hub = registry[hub_name]

    gpu_type, profile = _gpu_choice(raw)
    if gpu_type is not None and gpu_type not in hub.gpus:
        have = ", ".join(hub.gpus) or "none"
        raise OptionsError(
            "gpu_type", f"{hub.display_name} has no {gpu_type!r} GPUs (it has: {have})"
        )
    if gpu_type is not None and profile is not None and profile not in hub.mig.get(gpu_type, {}):
        have = ", ".join(hub.mig.get(gpu_type, {})) or "none"
        raise OptionsError(
            "gpu_type",
            f"{hub.display_name} has no {profile} slices of its {gpu_type.upper()} GPUs "
            f"(slices: {have})",
        )
    resource = resource_of(gpu_type, profile)
    if resource not in hub.rates:
        if gpu_type is None:
            raise OptionsError("gpu_type", f"{hub.display_name} offers no CPU-only sessions")
        raise OptionsError("gpu_type", f"{hub.display_name} has no price for {resource}")
    reason = refusal(hub, resource, who)
    if reason is not None:
        raise OptionsError("gpu_type", reason)

    if gpu_type is None:
        gpus = _count("gpus", raw.get("gpus", 0))
        if gpus != 0:
            raise OptionsError("gpus", "a CPU-only session has 0 GPUs; choose a GPU type")
    else:
        gpus = _count("gpus", raw.get("gpus", 1))
        stock = hub.mig[gpu_type][profile] if profile else hub.gpus[gpu_type]
        most = min(hub.limits.max_gpus, stock)
        if not 1 <= gpus <= most:
            raise OptionsError("gpus", f"must be between 1 and {most} on {hub.display_name}")

    hours = _hours(raw.get("hours", str(site.defaults.hours)))
    if hours <= 0:
        raise OptionsError("hours", "must be more than 0")
    most_hours = hub.max_hours(resource)
    if hours > most_hours:
        raise OptionsError("hours", f"at most {most_hours} h per session on {hub.display_name}")

    default_env = site.defaults.environment or hub.environments[0]
    if default_env not in hub.environments:
        default_env = hub.environments[0]
    environment = _token("environment", raw.get("environment", default_env))
    if environment not in hub.environments:
        raise OptionsError(
            "environment",
            f"{environment!r} is not offered on {hub.display_name} "
            f"(offered: {', '.join(hub.environments)})",
        )
    account = ""
    if accounts is not None:
        if not accounts:
            raise OptionsError("account", "you have no credit account to charge")
        account = _token("account", raw.get("account", default_account(hub, resource, accounts)))
        if account not in accounts:
            raise OptionsError(
                "account", f"you can't charge {account!r} (yours: {', '.join(accounts)})"
            )
    elif "account" in raw:
        raise OptionsError("account", "this platform has no credit accounts")
    partition = None
    if capacity is not None and gpu_type is not None and profile is None:
        reason = capacity.refusal(hub_name, gpu_type, gpus, account)
        if reason is not None:
            raise OptionsError("gpus", reason)
        partition = capacity.partition(hub_name, gpu_type, account)
    return SessionRequest(hub_name, gpu_type, gpus, hours, environment, account, profile, partition)


def default_account(hub: HubEntry, resource: str, accounts: Sequence[str]) -> str:
    """The account a session charges when none is named (the spawn form selects it too).

    A resource a hub keeps for courses is paid from the first of those courses the
    person may charge (a student's course pays for its course's resources); anything
    else from the first account (their personal one).

    Args:
        hub: the hub the session runs on.
        resource: what it uses (``cpu``, ``gpu:h100``, ``mig:h100:3g.40gb``).
        accounts: the accounts the person may charge, the first their default; not empty.

    Returns:
        The account's name.
    """
    rule = hub.limits.access.get(resource)
    if rule is not None:
        for account in accounts:
            if account in rule.courses:
                return account
    return accounts[0]
