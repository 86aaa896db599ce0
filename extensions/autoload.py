"""Loading the widget at kernel start, in sessions computehub spawned, unless turned off.

The notebook environment's ``etc/ipython/ipython_kernel_config.py`` (installed by
scripts/install.sh from images/notebook/ipython/) names this module in
``c.InteractiveShellApp.extensions``. At kernel start it loads ``computehub.extensions``
(which registers ``%computehub``) when `widget_wanted` says so, and the JupyterLab
extension then shows the widget in its side panel.

Off switches, for the person or the operator:

- ``COMPUTEHUB_WIDGET=off`` (also ``0``, ``false``, ``no``) in the session's environment:
  nothing loads at kernel start, and the status item stays hidden;
- ``c.ComputeHubWidgetSettings.autoload = False`` in
  ``~/.ipython/profile_default/ipython_kernel_config.py``: the kernel no longer loads it,
  so the panel no longer opens by itself (the status item stays).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: Set to off, 0, false or no to turn the widget off in a session.
OFF_ENV = "COMPUTEHUB_WIDGET"
#: computehub's spawner sets it in every session it starts (the session's hub).
SESSION_ENV = "COMPUTEHUB_HUB"
OFF_VALUES = frozenset({"off", "0", "false", "no"})


def widget_wanted(env: Mapping[str, str]) -> bool:
    """Whether this process runs in a computehub session with the widget on.

    Args:
        env: The process environment (the single-user server's, which kernels inherit).
    """
    if env.get(OFF_ENV, "").strip().lower() in OFF_VALUES:
        return False
    return bool(env.get(SESSION_ENV)) and bool(env.get("JUPYTERHUB_API_TOKEN"))


def load_ipython_extension(ip: Any) -> None:
    """IPython entry point: load ``computehub.extensions`` when wanted and not turned off."""
    from .settings import ComputeHubWidgetSettings

    if not widget_wanted(os.environ):
        return
    if not ComputeHubWidgetSettings(config=ip.config).autoload:
        return
    ip.extension_manager.load_extension("computehub.extensions")
