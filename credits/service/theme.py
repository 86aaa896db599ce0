"""The service's pages in dark theme when the browser prefers it, without script.

The hub's own pages switch Bootstrap 5.3's theme with a line of script
(``data-bs-theme``); the credits service's pages run under a policy that allows no
script and no inline style (``style-src 'self'``). They follow the browser's
``prefers-color-scheme`` instead:
:func:`~computehub.credits.service.theme.head_lines` adds ``<meta name="color-scheme"
content="light dark">`` (the browser's own parts, scroll bars and form controls,
follow) and a stylesheet of the service's own
(:data:`~computehub.credits.service.theme.PATH`, served by
:class:`~computehub.credits.service.theme.ThemeHandler`) that, inside ``@media
(prefers-color-scheme: dark)``, sets the CSS variables Bootstrap 5.3's
``[data-bs-theme=dark]`` sets (:data:`~computehub.credits.service.theme.DARK_VARIABLES`,
copied from JupyterHub's Bootstrap; ``tests/credits/test_theme.py`` compares them with
the installed sheet).
"""

from __future__ import annotations

import os
from html import escape
from typing import Final

from tornado import web

#: The stylesheet's path under the service's prefix.
PATH: Final = "theme.css"
#: Where the service lives when JupyterHub did not say (its ``JUPYTERHUB_SERVICE_PREFIX``).
DEFAULT_PREFIX: Final = "/services/credits/"

#: Bootstrap 5.3's ``[data-bs-theme=dark]`` variables (its dist/css/bootstrap.css).
DARK_VARIABLES: Final[dict[str, str]] = {
    "color-scheme": "dark",
    "--bs-body-color": "#dee2e6",
    "--bs-body-color-rgb": "222, 226, 230",
    "--bs-body-bg": "#212529",
    "--bs-body-bg-rgb": "33, 37, 41",
    "--bs-emphasis-color": "#fff",
    "--bs-emphasis-color-rgb": "255, 255, 255",
    "--bs-secondary-color": "rgba(222, 226, 230, 0.75)",
    "--bs-secondary-color-rgb": "222, 226, 230",
    "--bs-secondary-bg": "#343a40",
    "--bs-secondary-bg-rgb": "52, 58, 64",
    "--bs-tertiary-color": "rgba(222, 226, 230, 0.5)",
    "--bs-tertiary-color-rgb": "222, 226, 230",
    "--bs-tertiary-bg": "#2b3035",
    "--bs-tertiary-bg-rgb": "43, 48, 53",
    "--bs-primary-text-emphasis": "#6ea8fe",
    "--bs-secondary-text-emphasis": "#a7acb1",
    "--bs-success-text-emphasis": "#75b798",
    "--bs-info-text-emphasis": "#6edff6",
    "--bs-warning-text-emphasis": "#ffda6a",
    "--bs-danger-text-emphasis": "#ea868f",
    "--bs-light-text-emphasis": "#f8f9fa",
    "--bs-dark-text-emphasis": "#dee2e6",
    "--bs-primary-bg-subtle": "#031633",
    "--bs-secondary-bg-subtle": "#161719",
    "--bs-success-bg-subtle": "#051b11",
    "--bs-info-bg-subtle": "#032830",
    "--bs-warning-bg-subtle": "#332701",
    "--bs-danger-bg-subtle": "#2c0b0e",
    "--bs-light-bg-subtle": "#343a40",
    "--bs-dark-bg-subtle": "#1a1d20",
    "--bs-primary-border-subtle": "#084298",
    "--bs-secondary-border-subtle": "#41464b",
    "--bs-success-border-subtle": "#0f5132",
    "--bs-info-border-subtle": "#087990",
    "--bs-warning-border-subtle": "#997404",
    "--bs-danger-border-subtle": "#842029",
    "--bs-light-border-subtle": "#495057",
    "--bs-dark-border-subtle": "#343a40",
    "--bs-heading-color": "inherit",
    "--bs-link-color": "#6ea8fe",
    "--bs-link-hover-color": "#8bb9fe",
    "--bs-link-color-rgb": "110, 168, 254",
    "--bs-link-hover-color-rgb": "139, 185, 254",
    "--bs-code-color": "#e685b5",
    "--bs-highlight-color": "#dee2e6",
    "--bs-highlight-bg": "#664d03",
    "--bs-border-color": "#495057",
    "--bs-border-color-translucent": "rgba(255, 255, 255, 0.15)",
    "--bs-form-valid-color": "#75b798",
    "--bs-form-valid-border-color": "#75b798",
    "--bs-form-invalid-color": "#ea868f",
    "--bs-form-invalid-border-color": "#ea868f",
    "--bs-btn-close-filter": "invert(1) grayscale(100%) brightness(200%)",
}


def stylesheet() -> str:
    """The sheet: Bootstrap's dark variables on the page's root when the browser prefers dark.

    ``:root`` here comes after Bootstrap's ``:root, [data-bs-theme=light]`` (same
    specificity, later sheet), so it wins only inside the media query.
    """
    lines = "".join(f"    {name}: {value};\n" for name, value in DARK_VARIABLES.items())
    return f"@media (prefers-color-scheme: dark) {{\n  :root {{\n{lines}  }}\n}}\n"


def service_prefix() -> str:
    """The service's prefix, as JupyterHub gave it (``/services/credits/`` by default)."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or DEFAULT_PREFIX
    return prefix if prefix.endswith("/") else prefix + "/"


def head_lines(prefix: str | None = None) -> str:
    """What a page's ``<head>`` needs to follow the browser's light or dark preference."""
    href = escape((prefix or service_prefix()) + PATH)
    return (
        f'<meta name="color-scheme" content="light dark">\n<link rel="stylesheet" href="{href}">\n'
    )


class ThemeHandler(web.RequestHandler):
    """``GET /services/credits/theme.css``: the same few lines for everyone (no login).

    It holds no one's data, and a stylesheet that needed a login would leave the
    login's own error pages unstyled.
    """

    def get(self) -> None:
        """The stylesheet, cached by the browser for an hour."""
        self.set_header("Content-Type", "text/css; charset=utf-8")
        self.set_header("Cache-Control", "public, max-age=3600")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(stylesheet())
