"""HTML fragments for the widget (pure functions).

Colours come only from JupyterLab's theme variables, which Notebook 7 shares, so the widget
reads well in light and dark themes. Every text that comes from outside (device names, the
credits service) is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from html import escape

from computehub.i18n import _, language
from computehub.i18n.choice import direction

from .alerts import Alert, format_duration
from .creditsreader import SessionCredits
from .gpus import GpuSample
from .noticeline import notices_html
from .sampler import CreditsState, HistoryPoint

BOX = (
    "font-family: var(--jp-ui-font-family); font-size: var(--jp-ui-font-size1);"
    " color: var(--jp-ui-font-color1); line-height: 1.4;"
)
MUTED = "color: var(--jp-ui-font-color2);"
UNKNOWN = "\N{EN DASH}"


def format_bytes(value: int | None) -> str:
    """Bytes in binary units: ``512 MiB``, ``39.6 GiB``; a dash when unknown."""
    if value is None:
        return UNKNOWN
    gib = value / 2**30
    if gib >= 1:
        return f"{gib:.1f} GiB"
    return f"{value / 2**20:.0f} MiB"


#: Whose figure the widget's energy is: NVML's counter as this kernel reads it, not the
#: ledger's (which the node's epilog measures for the whole session when it ends).
ENERGY_LABEL = "NVML reading of the GPU since this kernel started"
#: The same for a simulated GPU, whose energy is the simulation's.
SIMULATED_ENERGY_LABEL = "simulated, since this kernel started"
#: The label of a simulated GPU's row, and what its tooltip says.
SIMULATED_LABEL = "simulated GPU"
SIMULATED_TITLE = (
    "Not a real GPU: this machine has none, and the figures are simulated (on the demo, "
    "from this kernel's CPU use)."
)


def format_energy(joules: float | None) -> str:
    """Energy in watt-hours (kWh from 1000 Wh); a dash when unknown."""
    if joules is None:
        return UNKNOWN
    wh = joules / 3600.0
    if wh >= 1000:
        return f"{wh / 1000:.2f} kWh"
    return f"{wh:.2f} Wh"


def format_time(instant: datetime) -> str:
    """A clock time with its zone, e.g. ``02:00 UTC``."""
    return instant.strftime("%H:%M %Z").strip() or instant.strftime("%H:%M%z")


def gpu_title_html(sample: GpuSample) -> str:
    """The row title: label, product name and a tooltip with the UUID; "simulated GPU"."""
    simulated = ""
    if sample.simulated:
        simulated = (
            f' <span class="computehub-simulated" title="{escape(SIMULATED_TITLE)}"'
            ' style="padding: 0 4px; border: 1px solid var(--jp-warn-color1);'
            f' color: var(--jp-ui-font-color0);">{escape(SIMULATED_LABEL)}</span>'
        )
    return (
        f'<div style="{BOX}" title="{escape(sample.uuid)}"><b>{escape(sample.label)}</b> '
        f'<span style="{MUTED}">{escape(sample.name)}</span>{simulated}</div>'
    )


def gpu_details_html(sample: GpuSample) -> str:
    """The figures of one GPU with units, notes on missing figures, and a paused marker."""
    parts = []
    if sample.utilization is not None:
        parts.append(f"{sample.utilization} %")
    parts.append(f"{format_bytes(sample.memory_used)} / {format_bytes(sample.memory_total)}")
    if sample.power_w is not None:
        limit = "" if sample.power_limit_w is None else f" / {sample.power_limit_w:.0f}"
        parts.append(f"{sample.power_w:.0f}{limit} W")
    if sample.temperature_c is not None:
        parts.append(f"{sample.temperature_c} °C")
    if sample.energy_j is not None:
        label = SIMULATED_ENERGY_LABEL if sample.simulated else ENERGY_LABEL
        parts.append(f"{format_energy(sample.energy_j)} used ({label})")
    lines = [" · ".join(escape(p) for p in parts)]
    lines.extend(f'<span style="{MUTED}">{escape(note)}</span>' for note in sample.notes)
    if sample.error is not None:
        lines.append(f'<span style="color: var(--jp-warn-color0);">{escape(sample.error)}</span>')
    return f'<div style="{BOX}">' + "<br>".join(lines) + "</div>"


def sparkline_svg(
    points: Sequence[HistoryPoint], now: float, span: float, width: int = 140, height: int = 28
) -> str:
    """Utilisation (solid) and memory (dashed) over the last `span` seconds, as inline SVG."""

    def polyline(values: list[tuple[float, float]], style: str) -> str:
        if len(values) < 2:
            return ""
        coords = " ".join(
            f"{width * (1 - min(span, now - at) / span):.1f},"
            f"{height - 1 - (height - 2) * max(0.0, min(100.0, v)) / 100:.1f}"
            for at, v in values
        )
        return f'<polyline points="{coords}" style="fill: none; {style}"/>'

    util = [(p.at, float(p.utilization)) for p in points if p.utilization is not None]
    memory = [(p.at, p.memory_percent) for p in points if p.memory_percent is not None]
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        ' role="img" aria-label="recent utilisation and memory">'
        f'<rect x="0" y="0" width="{width}" height="{height}"'
        ' style="fill: var(--jp-layout-color2); stroke: none;"/>'
        + polyline(util, "stroke: var(--jp-brand-color1); stroke-width: 1.5;")
        + polyline(
            memory, "stroke: var(--jp-ui-font-color2); stroke-width: 1; stroke-dasharray: 3 2;"
        )
        + "</svg>"
    )


def status_html(lines: Sequence[str]) -> str:
    """GPU status lines (no driver, no GPU, errors); empty when there are none."""
    if not lines:
        return ""
    body = "<br>".join(escape(line) for line in lines)
    return f'<div style="{BOX} {MUTED}">{body}</div>'


def credits_html(state: CreditsState, now: datetime) -> str:
    """Account, available credits, this session's cost, burn rate and time left."""
    session = state.session
    rows: list[tuple[str, str]] = []
    if session is not None:
        left = session.time_left(now)
        rows = [
            (
                _("Account"),
                f"{escape(session.account)} · {escape(session.hub)} · "
                + _("job {id}").format(id=escape(session.job_id)),
            ),
            (
                _("Available"),
                _("{amount} credits (hold {hold})").format(
                    amount=_amount(session.available), hold=_amount(session.hold)
                ),
            ),
            (
                _("This session"),
                _("{cost} so far · {rate} credits/h").format(
                    cost=_amount(session.cost_so_far), rate=_amount(session.burn_rate_per_hour)
                ),
            ),
            (
                _("Time left"),
                _("{left} · funded until {until}").format(
                    left=format_duration(left), until=escape(format_time(session.funded_until))
                ),
            ),
        ]
        limit = session.course_limit
        if limit is not None:
            resets = (
                f" · resets {escape(limit.resets_at.strftime('%a %d %b %H:%M %Z').strip())}"
                if limit.resets_at is not None
                else ""
            )
            rows.append((_("Course"), f"{escape(limit.line())}{resets}"))
    cells = "".join(
        f'<tr><td style="{MUTED} padding-inline-end: 1em;">{k}</td><td>{v}</td></tr>'
        for k, v in rows
    )
    error = ""
    if state.error is not None:
        stale = " " + _("(figures above may be out of date)") if session is not None else ""
        error = (
            '<div style="color: var(--jp-warn-color0);">'
            + _("Credits: {error}").format(error=escape(state.error))
            + f"{stale}</div>"
        )
    side = f' dir="{direction(language())}"'
    if not cells and not error:
        return f'<div{side} style="{BOX} {MUTED}">' + _("Credits: loading…") + "</div>"
    notices = notices_html(session.notices if session is not None else ())
    return (
        f'<div{side} style="{BOX}">{_hub_notice(session)}{notices}'
        f"<table>{cells}</table>{error}</div>"
    )


def alerts_html(alerts: Sequence[Alert]) -> str:
    """The warnings, critical ones in the theme's error colours."""
    blocks = []
    for alert in alerts:
        colour = "error" if alert.level == "critical" else "warn"
        blocks.append(
            f'<div data-level="{alert.level}" style="{BOX} padding: 2px 6px; margin: 2px 0;'
            f" border-left: 3px solid var(--jp-{colour}-color1);"
            f' background: var(--jp-{colour}-color3); color: var(--jp-ui-font-color0);">'
            f"{escape(alert.text)}</div>"
        )
    return "".join(blocks)


def _amount(value: Decimal) -> str:
    return escape(f"{value:,.2f}")


def _hub_notice(session: SessionCredits | None) -> str:
    """The banner for a session whose hub is in maintenance (its operator's message)."""
    if session is None or not session.hub_notice:
        return ""
    return (
        f'<div data-hub-notice="1" style="padding: 2px 6px; margin: 2px 0;'
        " border-left: 3px solid var(--jp-warn-color1); background: var(--jp-warn-color3);"
        f' color: var(--jp-ui-font-color0);">{escape(session.hub_notice)}</div>'
    )
