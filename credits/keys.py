"""Idempotency keys: one namespace per client, and one for the platform's own operations.

A key makes a retried operation happen once. Keys are unique across the whole
ledger, so a key one party chooses must never be able to take the place of another's:
an instructor who sends a transfer with the key ``first-login:bob`` must not block
Bob's first-login grant, nor ``settle:lahore:7`` make a future session unsettleable.

- A **client key** is a key a caller of the credits service or an operator at the
  CLI chose. It is given to the ledger as :class:`~computehub.credits.keys.ClientKey`
  (caller and key) and stored as ``client:<caller>:<key>``, the caller percent-encoded
  so that no caller's keys can be another's.
- An **internal key** is one the platform makes for its own operations
  (``first-login:<user>``, ``settle:<hub>:<job>``, ``void:<hold>``, ...): a plain
  ``str``. It may not begin with ``client:``, so no client key can ever be one.

The ledger enforces both (:func:`~computehub.credits.keys.stored_key`, run by every
operation that takes a key); callers only say which kind of key they pass. Keys are
printable ASCII without spaces, of bounded length (the column holds 200 characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

#: How every client key is stored: ``client:<caller>:<key>``.
CLIENT_PREFIX = "client:"
#: The longest key a client may choose.
CLIENT_KEY_MAX = 100
#: The longest key stored (the column's size).
STORED_KEY_MAX = 200
#: A key's characters: printable ASCII, no space (``[!-~]``).
KEY_PATTERN = r"^[\x21-\x7e]+$"
_KEY_RE = re.compile(KEY_PATTERN)


def _check(key: str, limit: int) -> None:
    if not isinstance(key, str) or not 1 <= len(key) <= limit or not _KEY_RE.fullmatch(key):
        raise ValueError(
            f"an idempotency key has 1 to {limit} printable ASCII characters without spaces"
        )


@dataclass(frozen=True)
class ClientKey:
    """A key a client chose, in that client's namespace.

    Attributes:
        caller: who chose it: the service's caller (a user or service name) or the
            CLI's actor.
        key: the key as the client sent it.

    Raises:
        ValueError: an empty caller, or a key that is empty, too long or not
            printable ASCII.
    """

    caller: str
    key: str

    def __post_init__(self) -> None:
        if not self.caller:
            raise ValueError("a client's idempotency key needs the caller's name")
        _check(self.key, CLIENT_KEY_MAX)
        if len(self.stored()) > STORED_KEY_MAX:
            raise ValueError(f"caller {self.caller!r} has too long a name for idempotency keys")

    def stored(self) -> str:
        """The key as the ledger stores it."""
        return f"{CLIENT_PREFIX}{quote(self.caller, safe='')}:{self.key}"


#: What the ledger's operations take as ``idempotency_key``.
Key = str | ClientKey | None


def stored_key(key: Key) -> str | None:
    """The key as stored: a client's in its namespace, an internal one as it is.

    Raises:
        ValueError: an internal key in the clients' namespace (``client:...``), or
            one that is empty, too long or not printable ASCII.
    """
    if key is None:
        return None
    if isinstance(key, ClientKey):
        return key.stored()
    _check(key, STORED_KEY_MAX)
    if key.startswith(CLIENT_PREFIX):
        raise ValueError(
            f"idempotency keys beginning with {CLIENT_PREFIX!r} are clients' keys: pass a ClientKey"
        )
    return key
