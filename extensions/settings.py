"""Operator settings of the widget, as traitlets configuration.

Set them in the notebook image's IPython kernel configuration, for example
``/etc/ipython/ipython_kernel_config.py``::

    c.ComputeHubWidgetSettings.sample_interval = 2.0
    c.ComputeHubWidgetSettings.low_credits = 20.0
"""

from __future__ import annotations

from decimal import Decimal

from traitlets import Bool, Float, Integer, List, Unicode
from traitlets.config import Configurable

from .alerts import DEFAULT_WARN_MINUTES


class ComputeHubWidgetSettings(Configurable):
    """Settings of the notebook widget; every one has a safe default."""

    sample_interval = Float(
        1.0,
        min=0.05,
        max=60.0,
        config=True,
        help="Seconds between GPU samples. The sampler costs well under 1% of a core at 1 s.",
    )
    credits_interval = Float(
        15.0,
        min=1.0,
        max=3600.0,
        config=True,
        help="Seconds between polls of the credits service.",
    )
    history_seconds = Float(
        300.0,
        min=10.0,
        max=3600.0,
        config=True,
        help="How many seconds of history the sparkline shows.",
    )
    warn_minutes = List(
        Integer(min=1),
        default_value=list(DEFAULT_WARN_MINUTES),
        minlen=1,
        config=True,
        help="Minutes before the funded end at which the widget warns; the smallest is critical.",
    )
    low_credits = Float(
        5.0,
        min=0.0,
        config=True,
        help="Warn when the account's available credits fall below this amount.",
    )
    hub_base_url = Unicode(
        "",
        config=True,
        help="Base URL of the hub for the credits service, e.g. https://hub.example.org. "
        "Derived from JUPYTERHUB_API_URL when empty.",
    )
    http_timeout = Float(
        5.0,
        min=0.5,
        max=60.0,
        config=True,
        help="Seconds to wait for the credits service and the extension API.",
    )
    max_extend_hours = Float(
        24.0,
        min=0.5,
        config=True,
        help="The most hours the Extend button offers at once (the hub enforces its own limit).",
    )

    autoload = Bool(
        True,
        config=True,
        help="Load the widget at kernel start in computehub sessions (the JupyterLab panel "
        "then opens with the first notebook). Set it to False in "
        "~/.ipython/profile_default/ipython_kernel_config.py to load it only with "
        "%load_ext computehub.",
    )

    @property
    def low_credits_amount(self) -> Decimal:
        """`low_credits` as a Decimal, as the credit amounts are."""
        return Decimal(str(self.low_credits))
