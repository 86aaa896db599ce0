"""Names the ledger accepts: accounts, users, hubs and resources."""

from __future__ import annotations

import re

from computehub.sitefile.schema import RESOURCE_RE

# No colon: ``issuing:`` and ``revenue:`` name the system accounts.
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,79}$")
_HUB_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_SOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Resources seen valid (a site has a few dozen): every hold checks its resources.
_GOOD_RESOURCES: set[str] = set()
_REMEMBERED = 1024


def validate_account_name(name: str) -> None:
    """Refuse names a person's account may not have."""
    if not _ACCOUNT_RE.match(name):
        raise ValueError(
            f"bad account name {name!r}: letters, digits and . _ - @, at most 64, no colon"
        )


def validate_username(name: str) -> None:
    """Refuse user names the ledger cannot store."""
    if not _USER_RE.match(name):
        raise ValueError(f"bad user name {name!r}")


def validate_hub(hub: str) -> None:
    """Refuse names that are not hub names in the site file's sense."""
    if not _HUB_RE.match(hub):
        raise ValueError(f"bad hub name {hub!r}")


def validate_resource(resource: str) -> None:
    """Refuse resources other than ``cpu``, ``gpu:<type>`` and ``mig:<type>:<profile>``."""
    if resource in _GOOD_RESOURCES:
        return
    if not isinstance(resource, str) or not RESOURCE_RE.match(resource) or len(resource) > 128:
        raise ValueError(f"bad resource {resource!r}: use cpu, gpu:TYPE or mig:TYPE:PROFILE")
    if len(_GOOD_RESOURCES) < _REMEMBERED:
        _GOOD_RESOURCES.add(resource)


def issuing_name(source: str) -> str:
    """The issuing account of a funding source."""
    if not _SOURCE_RE.match(source):
        raise ValueError(f"bad funding source {source!r}")
    return f"issuing:{source}"


def revenue_name(hub: str) -> str:
    """The revenue account of a hub."""
    validate_hub(hub)
    return f"revenue:{hub}"
