"""The widget: a Python-only composite of ipywidgets fed by the shared sampler.

ipywidgets ships no type information, so its classes are `Any` to mypy; subclassing them
needs the `type: ignore[misc]` comments below.

What the widget shows is sent again every `RESYNC_S` seconds, changed or not. ipywidgets
sends a trait only when it changes, and JupyterLab's widget manager can drop a change: when
a notebook connects to its kernel (a page load, a new kernel) it asks the kernel for every
widget's state and, a moment later, applies that answer over models it already has. A
change the sampler's thread sent in between (the first GPU rows, the first credits) is then
undone in the page, and nothing would send it again while the value stays the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Enum, Float, Instance, observe, validate

from .alerts import DEFAULT_WARN_MINUTES, Alert, session_alerts
from .creditsreader import CreditsError, CreditsSource, Extension
from .gpus import GpuSample
from .render import (
    BOX,
    MUTED,
    alerts_html,
    credits_html,
    format_time,
    gpu_details_html,
    gpu_title_html,
    sparkline_svg,
    status_html,
)
from .sampler import HistoryPoint, Sampler, Snapshot

Runner = Callable[[Callable[[], None]], None]

#: Seconds between two sendings of everything the widget shows (see the module docstring).
RESYNC_S = 5.0

PHASES = ("idle", "quoting", "quoted", "extending", "done", "error")


def run_in_thread(job: Callable[[], None]) -> None:
    """Run `job` in a daemon thread so that a slow hub never blocks the kernel."""
    threading.Thread(target=job, name="computehub-extend", daemon=True).start()


class GpuRow(widgets.VBox):  # type: ignore[misc]
    """One GPU: title, utilisation and memory bars, a sparkline and the figures."""

    def __init__(self, sample: GpuSample) -> None:
        self.uuid = sample.uuid
        self.title = widgets.HTML()
        bar_layout = widgets.Layout(width="190px")
        style = {"description_width": "3.5em"}
        self.utilization = widgets.FloatProgress(
            value=0, min=0, max=100, description="util", layout=bar_layout, style=style
        )
        self.memory = widgets.FloatProgress(
            value=0, min=0, max=100, description="mem", layout=bar_layout, style=style
        )
        self.sparkline = widgets.HTML()
        self.details = widgets.HTML()
        bars = widgets.HBox(
            [self.utilization, self.memory, self.sparkline],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        super().__init__([self.title, bars, self.details])
        self.add_class("computehub-gpu")

    def update(
        self, sample: GpuSample, history: Sequence[HistoryPoint], now: float, span: float
    ) -> None:
        """Show a new sample."""
        self.title.value = gpu_title_html(sample)
        if sample.utilization is None:
            self.utilization.layout.display = "none"
        else:
            self.utilization.layout.display = None
            self.utilization.value = float(sample.utilization)
        memory = sample.memory_percent
        self.memory.value = 0.0 if memory is None else memory
        self.memory.bar_style = "warning" if memory is not None and memory >= 90 else ""
        self.sparkline.value = sparkline_svg(history, now, span)
        self.details.value = gpu_details_html(sample)

    def resend(self) -> None:
        """Send what the row shows to the page again, changed or not."""
        for part in (self.title, self.sparkline, self.details):
            part.send_state("value")
        self.utilization.send_state("value")
        self.memory.send_state(["value", "bar_style"])
        self.utilization.layout.send_state("display")


class ExtendPanel(widgets.VBox):  # type: ignore[misc]
    """Buy more time: choose hours, see the cost (dry run), confirm, see the result.

    Args:
        source: Where extensions are quoted and made.
        on_extended: Called after a successful extension (to refresh the credits).
        runner: Runs the HTTP calls away from the kernel's thread.
        max_hours: The most hours offered at once.
    """

    hours = Float(1.0, help="Hours to add, clamped to [min_hours, max_hours].")
    min_hours = Float(0.5)
    max_hours = Float(24.0)
    phase = Enum(PHASES, default_value="idle", help="Where the extension flow stands.")
    quote = Instance(Extension, allow_none=True, help="The cost shown before confirming.")
    busy = Bool(False)

    def __init__(
        self,
        source: CreditsSource,
        *,
        on_extended: Callable[[Extension], None] | None = None,
        runner: Runner = run_in_thread,
        max_hours: float = 24.0,
    ) -> None:
        self._source = source
        self._on_extended = on_extended
        self._runner = runner
        self._quoted_hours: Decimal | None = None
        self.hours_input = widgets.BoundedFloatText(
            value=1.0,
            min=0.5,
            max=max_hours,
            step=0.5,
            description="Extend by (h)",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="170px"),
        )
        self.extend_button = widgets.Button(description="Extend…", tooltip="Show the cost first")
        self.confirm_button = widgets.Button(description="Confirm", button_style="warning")
        self.cancel_button = widgets.Button(description="Cancel")
        self.message = widgets.HTML()
        super().__init__(
            [
                widgets.HBox(
                    [self.hours_input, self.extend_button, self.confirm_button, self.cancel_button]
                ),
                self.message,
            ]
        )
        self.max_hours = max_hours
        # Not traitlets.link: the clamp may change the value, which a link reports as broken.
        self.hours_input.observe(self._input_changed, names="value")
        self.extend_button.on_click(lambda _button: self.request_quote())
        self.confirm_button.on_click(lambda _button: self.confirm())
        self.cancel_button.on_click(lambda _button: self.cancel())
        self._show_phase()

    @validate("hours")
    def _clamp_hours(self, proposal: Mapping[str, Any]) -> float:
        value = float(proposal["value"])
        # Half hours are the finest step offered; the hub has the final say on the maximum.
        return min(self.max_hours, max(self.min_hours, round(value * 2) / 2))

    def _input_changed(self, change: Mapping[str, Any]) -> None:
        self.hours = change["new"]

    @observe("hours")
    def _hours_changed(self, change: Mapping[str, Any]) -> None:
        self.hours_input.value = change["new"]
        if self.phase == "quoted":
            # The quote was for another number of hours.
            self.phase = "idle"

    @observe("phase")
    def _phase_changed(self, _change: Mapping[str, Any]) -> None:
        self._show_phase()

    def _show_phase(self) -> None:
        quoted = self.phase == "quoted"
        self.busy = self.phase in ("quoting", "extending")
        self.confirm_button.layout.display = None if quoted else "none"
        self.cancel_button.layout.display = None if quoted else "none"
        self.extend_button.layout.display = "none" if quoted else None
        self.extend_button.disabled = self.busy
        self.confirm_button.disabled = self.busy
        self.hours_input.disabled = self.busy
        if self.phase == "idle":
            self.quote = None
            self.message.value = ""
        elif self.phase == "quoting":
            self.message.value = _line("Asking the hub what it costs…")
        elif self.phase == "extending":
            self.message.value = _line("Extending…")

    def request_quote(self) -> None:
        """Ask for the cost of `hours` more (a dry run)."""
        if self.busy:
            return
        hours = Decimal(str(self.hours))
        self._quoted_hours = hours
        self.phase = "quoting"
        self._runner(lambda: self._quote(hours))

    def _quote(self, hours: Decimal) -> None:
        try:
            quote = self._source.extend(hours, dry_run=True)
        except CreditsError as exc:
            self._fail(exc.message)
            return
        self.quote = quote
        self.phase = "quoted"
        self.message.value = _line(
            f"{_hours(hours)} more costs {quote.cost:,.2f} credits "
            f"({quote.available:,.2f} available); "
            f"the session would run until {format_time(quote.funded_until)}. Confirm?"
        )

    def confirm(self) -> None:
        """Make the quoted extension."""
        hours = self._quoted_hours
        if self.phase != "quoted" or hours is None:
            return
        self.phase = "extending"
        self._runner(lambda: self._extend(hours))

    def _extend(self, hours: Decimal) -> None:
        try:
            result = self._source.extend(hours, dry_run=False)
        except CreditsError as exc:
            self._fail(exc.message)
            return
        self.phase = "done"
        self.message.value = _line(
            f"Extended by {_hours(hours)} for {result.cost:,.2f} credits: funded until "
            f"{format_time(result.funded_until)}, {result.available:,.2f} credits left."
        )
        if self._on_extended is not None:
            self._on_extended(result)

    def cancel(self) -> None:
        """Drop the quote."""
        if self.phase == "quoted":
            self.phase = "idle"

    def _fail(self, message: str) -> None:
        self.phase = "error"
        self.message.value = (
            f'<div style="{BOX} color: var(--jp-error-color1);">'
            f"Extension failed: {escape(message)}</div>"
        )


def _line(text: str) -> str:
    return f'<div style="{BOX}">{escape(text)}</div>'


def _hours(hours: Decimal) -> str:
    return f"{format(hours.normalize(), 'f')} h"


class ComputeHubWidget(widgets.VBox):  # type: ignore[misc]
    """Live GPU use and remaining credits of this session.

    Subscribes to `sampler` on creation and unsubscribes on `close`, so the sampler runs
    exactly while at least one widget is open.

    Args:
        sampler: The kernel's shared sampler.
        warn_minutes: Minutes before the funded end at which to warn.
        low_credits: Warn when available credits fall below this.
        max_extend_hours: The most hours the Extend panel offers at once.
        runner: Runs extension requests away from the kernel's thread.
        resync_seconds: Seconds between two sendings of everything shown, changed or not
            (see the module docstring).
    """

    is_closed = Bool(False, help="Set once the widget is closed and unsubscribed.")

    def __init__(
        self,
        sampler: Sampler,
        *,
        warn_minutes: Sequence[int] = DEFAULT_WARN_MINUTES,
        low_credits: Decimal = Decimal("5"),
        max_extend_hours: float = 24.0,
        runner: Runner = run_in_thread,
        resync_seconds: float = RESYNC_S,
    ) -> None:
        self.sampler = sampler
        self.resync_seconds = resync_seconds
        self._synced_at: float | None = None
        self.warn_minutes = tuple(warn_minutes)
        self.low_credits = low_credits
        self.header = widgets.HTML(f'<div style="{BOX}"><b>ComputeHub</b> session</div>')
        self.close_button = widgets.Button(
            icon="times",
            tooltip="Close (stops sampling when no other view is open)",
            layout=widgets.Layout(width="32px"),
        )
        self.gpu_status = widgets.HTML()
        self.gpu_box = widgets.VBox()
        self.credits = widgets.HTML(f'<div style="{BOX} {MUTED}">Credits: loading…</div>')
        self.alerts = widgets.HTML()
        self.rows: dict[str, GpuRow] = {}
        self.extend: ExtendPanel | None = None
        children: list[Any] = [
            widgets.HBox(
                [self.header, self.close_button],
                layout=widgets.Layout(justify_content="space-between", align_items="center"),
            ),
            self.gpu_status,
            self.gpu_box,
            self.credits,
            self.alerts,
        ]
        if sampler.credits is not None:
            self.extend = ExtendPanel(
                sampler.credits,
                on_extended=lambda _result: sampler.refresh_credits(),
                runner=runner,
                max_hours=max_extend_hours,
            )
            children.append(self.extend)
        super().__init__(children, layout=widgets.Layout(max_width="640px"))
        self.add_class("computehub-widget")
        self.close_button.on_click(lambda _button: self.close())
        self._lock = threading.Lock()
        sampler.subscribe(self.update)

    def update(self, snapshot: Snapshot) -> None:
        """Render a snapshot (called from the sampler's thread)."""
        with self._lock:
            if self.is_closed:
                return
            self._update_gpus(snapshot)
            self._update_credits(snapshot)
            if self._synced_at is None or snapshot.at < self._synced_at:
                self._synced_at = snapshot.at
            elif snapshot.at - self._synced_at >= self.resync_seconds:
                self._synced_at = snapshot.at
                self._resync()

    def _resync(self) -> None:
        """Send everything the widget shows to the page again, changed or not."""
        self.gpu_box.send_state("children")
        for row in self.rows.values():
            row.resend()
        for part in (self.gpu_status, self.credits, self.alerts):
            part.send_state("value")

    def _update_gpus(self, snapshot: Snapshot) -> None:
        samples = snapshot.gpus.gpus
        if [s.uuid for s in samples] != list(self.rows):
            old_rows = list(self.rows.values())
            self.rows = {s.uuid: GpuRow(s) for s in samples}
            self.gpu_box.children = tuple(self.rows.values())
            for row in old_rows:
                close_parts(row)
                row.close()
        for sample in samples:
            history = snapshot.history.get(sample.uuid, ())
            self.rows[sample.uuid].update(
                sample, history, snapshot.at, self.sampler.history_seconds
            )
        self.gpu_status.value = status_html(snapshot.gpus.status)

    def _update_credits(self, snapshot: Snapshot) -> None:
        state = snapshot.credits
        self.credits.value = credits_html(state, snapshot.now)
        alerts: tuple[Alert, ...] = ()
        if state.session is not None:
            alerts = session_alerts(
                state.session,
                snapshot.now,
                warn_minutes=self.warn_minutes,
                low_credits=self.low_credits,
            )
        self.alerts.value = alerts_html(alerts)

    def close(self) -> None:
        """Unsubscribe from the sampler (the last widget stops it) and close every part.

        ipywidgets closes only the widget it is asked to; the parts (rows, bars, layouts,
        styles) would stay open in the kernel, and every page that connects to it later
        would be sent them all again.
        """
        with self._lock:
            already = self.is_closed
            self.is_closed = True
        if not already:
            self.sampler.unsubscribe(self.update)
        if self.comm is not None:
            close_parts(self)
        super().close()


def close_parts(root: widgets.Widget) -> None:
    """Close every widget under `root` (ipywidgets' own `close` closes only the one)."""
    for part in parts_of(root):
        part.close()


def parts_of(root: widgets.Widget) -> list[widgets.Widget]:
    """Every widget under `root` (children, layouts, styles), each once, `root` excluded."""
    found: dict[int, widgets.Widget] = {}
    stack = [root]
    while stack:
        widget = stack.pop()
        for name in widget.keys:
            value = getattr(widget, name, None)
            items = value if isinstance(value, (tuple, list)) else (value,)
            for item in items:
                if isinstance(item, widgets.Widget) and item is not root and id(item) not in found:
                    found[id(item)] = item
                    stack.append(item)
    return list(found.values())
