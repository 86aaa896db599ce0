"""System accounts: names a person must never log in as, nor have jobs submitted as.

A hub that runs as root submits each job with ``sudo -u NAME``; a login that becomes
``root``, ``munge`` or ``slurm`` would run code as that account (a job as ``munge``
reads the munge key and can forge any uid on the cluster). A name is a system
account when it is on the site file's deny-list, or when its POSIX account's uid is
below the floor. Pure logic over an account lookup seam, checked at login
(:mod:`computehub.auth.policy`) and again at submission (the spawner).
"""

from __future__ import annotations

import pwd
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: Looks up a POSIX account's uid by name; KeyError when there is none.
UidLookup = Callable[[str], int]


def posix_uid(name: str) -> int:
    """The uid of the POSIX account ``name`` on this machine (KeyError: none)."""
    return pwd.getpwnam(name).pw_uid


@dataclass(frozen=True)
class SystemAccounts:
    """Which names are system accounts: a uid floor and a deny-list."""

    min_uid: int = 1000
    deny: frozenset[str] = frozenset()

    @classmethod
    def of(cls, min_uid: int, deny: Iterable[str]) -> SystemAccounts:
        """From the site file's ``auth.username.min_uid`` and ``deny``."""
        return cls(min_uid=min_uid, deny=frozenset(name.lower() for name in deny))

    def refusal(self, name: str, uid_of: UidLookup = posix_uid) -> str | None:
        """Why ``name`` must not be used (a sentence for the log), or None when it may.

        A name without a POSIX account is not a system account; whether it may log
        in without one is another rule (``require_posix_account``).
        """
        if name.lower() in self.deny:
            return f"{name!r} is on the deny-list of system accounts"
        try:
            uid = uid_of(name)
        except KeyError:
            return None
        if uid < self.min_uid:
            return f"{name!r} has uid {uid}, below the floor of {self.min_uid} (a system account)"
        return None
