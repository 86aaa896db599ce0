"""The widget's notices line: credit of the session's account that expires soon, a low balance.

The credits service computes the notices (``notices`` in ``GET /sessions/current``,
the same ones its ``GET /notices``, the credits page, the hub's home page and the spawn
form show: docs/notices.md); the widget shows their sentences on one compact line
(:func:`~computehub.extensions.creditsreader.parse_notices` validates them). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def notices_html(texts: Sequence[str]) -> str:
    """One compact line with the notices' sentences; empty without notices."""
    if not texts:
        return ""
    return (
        '<div data-notices="1" style="padding: 2px 6px; margin: 2px 0;'
        " border-left: 3px solid var(--jp-warn-color1); background: var(--jp-warn-color3);"
        f' color: var(--jp-ui-font-color0);">{escape(" ".join(texts))}</div>'
    )
