"""Names the ledger accepts: accounts, users, hubs, funding sources and resources.

Each name is matched whole (``fullmatch``: a trailing newline is not part of a name).
The patterns are public so that the credits service's OpenAPI description declares
the same ones.
"""

from __future__ import annotations

import re

from computehub.sitefile.schema import RESOURCE_RE

#: A person's account (no colon: ``issuing:`` and ``revenue:`` name the system accounts).
ACCOUNT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
#: A platform user name.
USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,79}$"
#: A hub, as the site file names it.
HUB_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
#: A funding source (its issuing account is ``issuing:<source>``).
SOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: The funding source of a grant that names none.
DEFAULT_SOURCE = "programme"
#: The longest resource name kept (the column's size).
RESOURCE_MAX = 128
_ACCOUNT_RE = re.compile(ACCOUNT_PATTERN)
_USER_RE = re.compile(USER_PATTERN)
_HUB_RE = re.compile(HUB_PATTERN)
_SOURCE_RE = re.compile(SOURCE_PATTERN)
# Resources seen valid (a site has a few dozen): every hold checks its resources.
_GOOD_RESOURCES: set[str] = set()
_REMEMBERED = 1024


def validate_account_name(name: str) -> None:
    """Refuse names a person's account may not have."""
    if not _ACCOUNT_RE.fullmatch(name):
        raise ValueError(
            f"bad account name {name!r}: letters, digits and . _ - @, at most 64, no colon"
        )


def validate_username(name: str) -> None:
    """Refuse user names the ledger cannot store."""
    if not _USER_RE.fullmatch(name):
        raise ValueError(f"bad user name {name!r}")


def validate_hub(hub: str) -> None:
    """Refuse names that are not hub names in the site file's sense."""
    if not _HUB_RE.fullmatch(hub):
        raise ValueError(f"bad hub name {hub!r}")


#: The longest JupyterHub server name kept (the column's size).
SERVER_NAME_MAX = 255


def check_server_name(name: str) -> None:
    """Refuse server names the ledger does not keep (``""`` is the default server).

    A label only: at most 255 printable characters without ``/`` (JupyterHub's own
    server names are at most that).
    """
    if (
        not isinstance(name, str)
        or len(name) > SERVER_NAME_MAX
        or "/" in name
        or not (name == "" or name.isprintable())
    ):
        raise ValueError(f"bad server name {name!r}: at most 255 printable characters, no /")


def validate_resource(resource: str) -> None:
    """Refuse resources other than ``cpu``, ``gpu:<type>`` and ``mig:<type>:<profile>``."""
    if resource in _GOOD_RESOURCES:
        return
    if (
        not isinstance(resource, str)
        or not RESOURCE_RE.fullmatch(resource)
        or len(resource) > RESOURCE_MAX
    ):
        raise ValueError(f"bad resource {resource!r}: use cpu, gpu:TYPE or mig:TYPE:PROFILE")
    if len(_GOOD_RESOURCES) < _REMEMBERED:
        _GOOD_RESOURCES.add(resource)


def issuing_name(source: str) -> str:
    """The issuing account of a funding source."""
    if not _SOURCE_RE.fullmatch(source):
        raise ValueError(f"bad funding source {source!r}")
    return f"issuing:{source}"


def revenue_name(hub: str) -> str:
    """The revenue account of a hub."""
    validate_hub(hub)
    return f"revenue:{hub}"
