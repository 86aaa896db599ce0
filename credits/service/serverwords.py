"""The JupyterHub server a session ran in, in words, for the credits page and statements.

The ledger keeps the name the spawner gave (``""``: the user's default server, and every
session recorded before migration 0012); it is a label, shown escaped and isolated
(``<bdi>``) since a person chose it.
"""

from __future__ import annotations

from html import escape

from computehub.i18n import _


def server_words(name: str) -> str:
    """The server as its user knows it: ``named server “gpu-run”`` or the default server."""
    return _("named server “{name}”").format(name=name) if name else _("your default server")


def server_cell(name: str) -> str:
    """A line under the hub in the sessions table for a named server (nothing otherwise)."""
    if not name:
        return ""
    return (
        '<div class="small text-body-secondary ch-server">'
        f"<bdi>{escape(server_words(name))}</bdi></div>"
    )


def server_after_title(name: str) -> str:
    """A named server after a statement's title (nothing for the default server)."""
    if not name:
        return ""
    return f' <span class="ch-st-named">(<bdi>{escape(server_words(name))}</bdi>)</span>'
