"""Horizontal bar charts as inline SVG, drawn on the server: no script, no CDN.

One group of bars per row of a table, one bar per plotted column, each series in
its own colour with a legend; the numbers are written beside the bars so the plot
reads without hovering. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Final

from computehub.i18n import _

#: Colours of the series (Bootstrap's blue, orange-ish, green, grey), readable on white.
COLOURS: Final = ("#0d6efd", "#fd7e14", "#198754", "#6c757d")
_BAR_H = 14
_GAP = 4
_GROUP_GAP = 12
_LABEL_W = 160
_PLOT_W = 360
_VALUE_W = 90
_LEGEND_H = 22


@dataclass(frozen=True)
class Series:
    """One plotted column: its title, one value per row (None: no bar) and what a None says."""

    title: str
    values: tuple[Decimal | None, ...]
    null: str = "not recorded"


def number(value: object) -> Decimal | None:
    """A table cell as a number to plot (None for null, text or a flag)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def bars(title: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    """An SVG image of ``series`` for each label, scaled to the largest value.

    A plot with no rows says so instead.
    """
    if not labels:
        return (
            '<p class="text-body-secondary small ch-plot-empty">' + _("Nothing to plot.") + "</p>"
        )
    known = [v for s in series for v in s.values if v is not None]
    top = max([v for v in known if v > 0], default=Decimal(1))
    group_h = len(series) * (_BAR_H + _GAP) + _GROUP_GAP
    height = _LEGEND_H + len(labels) * group_h
    width = _LABEL_W + _PLOT_W + _VALUE_W
    parts = [
        # Left to right on an Urdu page too (text-anchor follows the direction), and
        # its words in the page's text colour (currentColor: light in dark theme).
        f'<svg class="ch-plot" role="img" xmlns="http://www.w3.org/2000/svg" direction="ltr" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>{escape(title)}</title>",
    ]
    x = _LABEL_W
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{colour}"/>')
        parts.append(
            f'<text x="{x + 14}" y="13" font-size="11" fill="currentColor">{escape(s.title)}</text>'
        )
        x += 14 + 7 * len(s.title) + 16
    for row, label in enumerate(labels):
        y0 = _LEGEND_H + row * group_h
        parts.append(
            f'<text x="{_LABEL_W - 6}" y="{y0 + (group_h - _GROUP_GAP) / 2 + 4:.0f}" '
            f'font-size="12" text-anchor="end" fill="currentColor">{escape(label[:24])}</text>'
        )
        for i, s in enumerate(series):
            value = s.values[row]
            y = y0 + i * (_BAR_H + _GAP)
            if value is None:
                parts.append(
                    f'<text x="{_LABEL_W + 2}" y="{y + _BAR_H - 3}" font-size="11" '
                    f'fill="#6c757d">{escape(s.null)}</text>'
                )
                continue
            length = 0 if value <= 0 else float(value / top) * _PLOT_W
            parts.append(
                f'<rect class="ch-bar" x="{_LABEL_W}" y="{y}" width="{length:.1f}" '
                f'height="{_BAR_H}" fill="{COLOURS[i % len(COLOURS)]}">'
                f"<title>{escape(label)}: {escape(s.title)} {value}</title></rect>"
            )
            parts.append(
                f'<text x="{_LABEL_W + length + 4:.1f}" y="{y + _BAR_H - 3}" font-size="11" '
                f'fill="currentColor">{value}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
