"""The notebook widget: live GPU use and remaining credits.

Importing this package is cheap and imports neither ipywidgets nor NVML: the hub-side
package re-exports `load_ipython_extension` from here, and the hub has no notebook extras.

Load it with ``%load_ext computehub.extensions`` (or ``%load_ext computehub``), or call
`show()`. Loaded at kernel start (``c.InteractiveShellApp.extensions``), it only registers the
``%computehub`` magic, since there is no cell to show the widget in yet.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "panel", "show", "unload_ipython_extension"]

#: The names the extension is loaded under (`%load_ext computehub` re-exports this one).
_NAMES = frozenset({"computehub", "computehub.extensions"})
#: The widget the JupyterLab panel shows, closed when the panel shows a new one.
_panel_widget: Any = None


def show(**settings: Any) -> None:
    """Display a widget for this session; every widget shares the kernel's one sampler.

    Args:
        **settings: Overrides of `ComputeHubWidgetSettings` traits, e.g.
            ``show(sample_interval=2.0)``. Sampling settings apply when the kernel's sampler
            is first built.
    """
    from IPython.display import display

    display(_new_widget(**settings))  # type: ignore[no-untyped-call]  # display() is untyped


def panel(*, only_if_loaded: bool = False) -> None:
    """Display the widget for the JupyterLab side panel, closing the one it showed before.

    The panel runs this in the notebook's kernel; one panel widget per kernel is open at a
    time, so re-opening the panel does not pile up subscribers of the sampler.

    Args:
        only_if_loaded: Display nothing unless the kernel loaded the extension (at start,
            see `computehub.extensions.autoload`, or with ``%load_ext``).
    """
    global _panel_widget
    from IPython import get_ipython
    from IPython.display import display

    ip = get_ipython()
    if only_if_loaded and (ip is None or not _NAMES & ip.extension_manager.loaded):
        return
    # The new one subscribes first, so the sampler keeps running through the swap.
    previous, _panel_widget = _panel_widget, _new_widget()
    if previous is not None:
        previous.close()
    display(_panel_widget)  # type: ignore[no-untyped-call]  # display() is untyped


def _new_widget(**settings: Any) -> Any:
    from .session import shared_sampler
    from .settings import ComputeHubWidgetSettings
    from .widget import ComputeHubWidget

    config = _shell_config()
    options = ComputeHubWidgetSettings(config=config, **settings)
    return ComputeHubWidget(
        shared_sampler(options),
        warn_minutes=options.warn_minutes,
        low_credits=options.low_credits_amount,
        max_extend_hours=options.max_extend_hours,
    )


def load_ipython_extension(ip: Any) -> None:
    """IPython entry point: register ``%computehub`` and show the widget when in a cell."""
    ip.register_magic_function(_magic, magic_kind="line", magic_name="computehub")
    if _in_cell(ip):
        show()


def unload_ipython_extension(ip: Any) -> None:
    """IPython entry point for ``%unload_ext``: stop the sampler."""
    from .session import stop_shared_sampler

    stop_shared_sampler()


def _magic(line: str) -> None:
    """Show the ComputeHub widget: GPU use and remaining credits of this session."""
    show()


def _shell_config() -> Any:
    from IPython import get_ipython

    ip = get_ipython()
    return None if ip is None else ip.config


def _in_cell(ip: Any) -> bool:
    # At kernel start-up there is no request yet, hence no parent message to attach to.
    get_parent = getattr(getattr(ip, "kernel", None), "get_parent", None)
    if get_parent is None:
        return True
    parent = get_parent()
    return bool(parent and parent.get("header"))
