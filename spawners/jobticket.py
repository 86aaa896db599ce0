"""Job tickets: the portal's proof to a cluster's ``job_submit.lua`` that it submitted a job.

The hub signs what it asks Slurm for (cluster, user, job name, partition, time limit,
GRES, CPUs, memory, exclusivity) with a key that only it and that cluster's slurmctld
can read (one key per cluster), with an issue time, an expiry a few minutes later and a
one-time nonce; the ticket travels in the job's comment. The guard
(``hub_config/slurm/job_submit.lua``) recomputes the MAC from the job Slurm is about to
accept, so a user can neither forge a ticket nor reuse one for other resources or on
another cluster.

The threat model: the user can read their own job (comment, name) and, racing, the
argv and environment of their own ``sbatch`` (it runs as them through sudo). A ticket
is therefore a bearer token for one job exactly as the portal asked for it, once,
before it expires. A user who races the portal for it gets a job that the portal's own
sbatch then can't submit (the ticket was used): the spawner finds that job by its name
and records it on the session's hold (paid, then cancelled). The guard remembers used
nonces while its script is loaded, and refuses tickets issued before it was loaded, so
a ticket can't be replayed after slurmctld restarts or reloads the script. Pure
functions: no I/O but :func:`load_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

PREFIX = "computehub-ticket"
VERSION = "v2"
#: A ticket in a job's comment: ``computehub-ticket:v2:<issued>:<expires>:<nonce>:<mac>``.
TICKET_RE = re.compile(
    r"^computehub-ticket:v2:([0-9]{1,12}):([0-9]{1,12}):([0-9a-f]{16,64}):([0-9a-f]{64})$"
)
#: The shortest key accepted (characters of the key file, whitespace removed).
MIN_KEY_CHARS = 32


class TicketKeyError(RuntimeError):
    """The ticket key file can't be read or is too short; the message names the file."""


@dataclass(frozen=True)
class JobClaim:
    """What the portal asks Slurm for, as ``job_submit.lua`` sees it in the job.

    Attributes:
        cluster: the hub's name in the site file, which the cluster's guard is told
            (``cluster`` in computehub-guard.conf): a ticket is good on that cluster only.
        uid: the user's uid (the job's ``user_id``).
        name: the job's name (``jupyterhub-<hub>-<hold id>``).
        partition: the partition (``--partition``).
        minutes: the time limit (``--time``).
        gres: ``--gres`` as given (``gpu:h100:1``); empty for a CPU-only session.
        cpus: CPUs per task (``--cpus-per-task``; one task).
        memory_mb: memory per node in MB (``--mem``).
        exclusive: whether the job may have its node to itself (``--exclusive``); the
            portal never asks for it.
    """

    cluster: str
    uid: int
    name: str
    partition: str
    minutes: int
    gres: str
    cpus: int
    memory_mb: int
    exclusive: bool = False


def message(claim: JobClaim, issued: int, expires: int, nonce: str) -> bytes:
    """The signed text: one field a line, in the order the Lua guard builds it."""
    fields = [
        VERSION,
        claim.cluster,
        str(claim.uid),
        claim.name,
        claim.partition,
        str(claim.minutes),
        claim.gres,
        str(claim.cpus),
        str(claim.memory_mb),
        "1" if claim.exclusive else "0",
        str(issued),
        str(expires),
        nonce,
    ]
    return "\n".join(fields).encode()


def sign(key: bytes, claim: JobClaim, issued: int, expires: int, nonce: str) -> str:
    """The ticket for ``claim``, issued at ``issued``, valid until ``expires`` (epoch s), once."""
    if not re.fullmatch(r"[0-9a-f]{16,64}", nonce):
        raise ValueError("a nonce is 16 to 64 lower-case hex digits")
    mac = hmac.new(key, message(claim, issued, expires, nonce), hashlib.sha256).hexdigest()
    return f"{PREFIX}:{VERSION}:{issued}:{expires}:{nonce}:{mac}"


def verify(key: bytes, claim: JobClaim, ticket: str, now: int) -> bool:
    """Whether ``ticket`` is valid for ``claim`` now (what the guard checks, bar one-time use)."""
    match = TICKET_RE.match(ticket)
    if match is None or int(match.group(2)) < now:
        return False
    expected = sign(key, claim, int(match.group(1)), int(match.group(2)), match.group(3))
    return hmac.compare_digest(expected, ticket)


def load_key(path: Path) -> bytes:
    """The key in ``path``: its text with whitespace removed (e.g. 64 hex digits)."""
    try:
        text = path.read_text()
    except OSError as err:
        raise TicketKeyError(f"job ticket key {path} can't be read: {err.strerror}") from None
    key = "".join(text.split())
    if len(key) < MIN_KEY_CHARS or not key.isascii():
        raise TicketKeyError(
            f"job ticket key {path} must hold at least {MIN_KEY_CHARS} ASCII characters"
        )
    return key.encode()
