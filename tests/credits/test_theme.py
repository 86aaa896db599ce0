"""The credits service's pages follow the browser's dark preference, without script."""

from __future__ import annotations

import re
from pathlib import Path

from jupyterhub._data import DATA_FILES_PATH

from computehub.credits.service import theme
from computehub.credits.service.page import document

BOOTSTRAP_CSS = (
    Path(DATA_FILES_PATH) / "static" / "components" / "bootstrap" / "dist" / "css" / "bootstrap.css"
)


def _dark_blocks() -> dict[str, str]:
    """Every declaration of Bootstrap's bare ``[data-bs-theme=dark] { ... }`` blocks."""
    found: dict[str, str] = {}
    for block in re.findall(
        r"^\[data-bs-theme=dark\] \{\n(.*?)^\}", BOOTSTRAP_CSS.read_text(), re.M | re.S
    ):
        for name, value in re.findall(r"^\s*([\w-]+):\s*(.+?);$", block, re.M):
            found[name] = value
    return found


def test_the_dark_variables_are_bootstraps() -> None:
    dark = _dark_blocks()
    assert dark, "no [data-bs-theme=dark] block in JupyterHub's Bootstrap"
    # Every variable we set is Bootstrap's, with its value...
    assert {k: dark.get(k) for k in theme.DARK_VARIABLES} == theme.DARK_VARIABLES
    # ...and we set every one of the body's (carousel's aside: the pages have none).
    missing = sorted(k for k in dark if k not in theme.DARK_VARIABLES and "carousel" not in k)
    assert missing == []


def test_the_stylesheet_is_dark_only_when_the_browser_prefers_it() -> None:
    css = theme.stylesheet()
    assert css.startswith("@media (prefers-color-scheme: dark) {\n  :root {\n")
    assert "    --bs-body-bg: #212529;\n" in css
    assert css.count("{") == css.count("}") == 2


def test_every_page_asks_for_light_and_dark() -> None:
    html = document("Title", "/hub/", "<main></main>")
    head = html.split("</head>")[0]
    assert '<meta name="color-scheme" content="light dark">' in head
    assert '<link rel="stylesheet" href="/services/credits/theme.css">' in head
    # After Bootstrap's sheet, so its :root wins inside the media query.
    assert head.index("bootstrap") < head.index("theme.css")
    assert "<style" not in html
    assert "<script" not in html


def test_the_prefix_is_the_services() -> None:
    assert theme.head_lines("/x/services/credits/").endswith(
        '<link rel="stylesheet" href="/x/services/credits/theme.css">\n'
    )
