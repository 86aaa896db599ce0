"""Which of a user's servers a request's token belongs to, if it is a server's own token.

JupyterHub gives each server it starts a token of its own (``$JUPYTERHUB_API_TOKEN``
in the job) and remembers it in memory as ``Spawner.api_token``. A hub restart
forgets it while the server keeps running; the same token is the server's OAuth
client secret, which the hub database keeps hashed, so it can still be recognised
there (the hash is slow on purpose: a match is remembered for the running job).
"""

from __future__ import annotations

import hashlib
import hmac
import weakref
from typing import Any

from jupyterhub.utils import compare_token

#: Spawners whose token was recognised from the hashed secret: (job id, token digest).
_RECOGNISED: weakref.WeakKeyDictionary[Any, tuple[str, bytes]] = weakref.WeakKeyDictionary()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


def _is_own(spawner: Any, token: str) -> bool:
    known: str = spawner.api_token or ""
    if known:
        return hmac.compare_digest(known.encode(), token.encode("utf-8", "replace"))
    job_id = str(getattr(spawner, "job_id", "") or "")
    remembered = _RECOGNISED.get(spawner)
    if remembered is not None and remembered[0] == job_id:
        return hmac.compare_digest(remembered[1], _digest(token))
    client = spawner.orm_spawner.oauth_client if spawner.orm_spawner is not None else None
    if client is None or not client.secret or not compare_token(client.secret, token):
        return False
    _RECOGNISED[spawner] = (job_id, _digest(token))
    return True


def own_spawner(user: Any, token: str | None) -> Any:
    """The user's active server whose own token ``token`` is, or None.

    Args:
        user: JupyterHub's ``User`` the request authenticated as.
        token: the request's token (None for a cookie login: never a server's).
    """
    if not token or getattr(user, "kind", None) != "user":
        return None
    for spawner in user.spawners.values():
        if spawner.active and _is_own(spawner, token):
            return spawner
    return None
