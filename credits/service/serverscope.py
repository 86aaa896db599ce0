"""Which of its user's servers a token speaks for, from the scopes JupyterHub reports for it.

JupyterHub gives each server it starts a token (``$JUPYTERHUB_API_TOKEN`` in the job) whose
``access:servers!server`` scope it resolves to that one server:
``access:servers!server=alice/gpu-run`` (``alice/`` for the default server). A person's own
login and tokens reach every server of theirs (``access:servers!user=alice``). So a token
that reaches exactly one server of its user, and not all of them, is that server's: the
widget and the status item of a server read that server's session, never the latest of any.

Pure: :func:`~computehub.credits.service.serverscope.token_server` looks only at the
caller's name and scopes. It never widens what a token sees: the ledger's lookup is still
limited to the caller's own holds.
"""

from __future__ import annotations

from computehub.credits.service.access import Caller

_ACCESS = "access:servers"


def token_server(caller: Caller) -> str | None:
    """The server ``caller``'s token belongs to (``""``: the default one), None if not one.

    None for a person's token (it reaches all their servers), a service, and a token whose
    scopes name no server of the caller or several (read as the person's: their latest
    session, as before servers were told apart).

    >>> token_server(Caller("alice", "user", frozenset({"access:servers!server=alice/gpu"})))
    'gpu'
    >>> token_server(Caller("alice", "user", frozenset({"access:servers!user=alice"}))) is None
    True
    """
    if caller.kind != "user":
        return None
    whole = {_ACCESS, f"{_ACCESS}!user", f"{_ACCESS}!user={caller.name}"}
    if whole & caller.scopes:
        return None
    prefix = f"{_ACCESS}!server={caller.name}/"
    names = {scope.removeprefix(prefix) for scope in caller.scopes if scope.startswith(prefix)}
    if len(names) != 1:
        return None
    (name,) = names
    return name
