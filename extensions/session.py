"""The kernel's one sampler, and `show()` which displays a widget fed by it."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from .creditsreader import HttpCreditsClient
from .gpus import GpuReader
from .nvml import backend_from_env
from .sampler import Sampler
from .settings import ComputeHubWidgetSettings

_lock = threading.Lock()
_sampler: Sampler | None = None


def build_sampler(
    settings: ComputeHubWidgetSettings, environ: Mapping[str, str] | None = None
) -> Sampler:
    """Build a sampler from the settings and the single-user server's environment.

    Raises:
        ValueError: `COMPUTEHUB_FAKE_GPUS` is set but malformed.
    """
    env = os.environ if environ is None else environ
    reader = GpuReader(backend_from_env(env), env.get("CUDA_VISIBLE_DEVICES"))
    credits = HttpCreditsClient.from_env(
        env, hub_base_url=settings.hub_base_url, timeout=settings.http_timeout
    )
    return Sampler(
        reader,
        credits,
        interval=settings.sample_interval,
        credits_interval=settings.credits_interval,
        history_seconds=settings.history_seconds,
    )


def shared_sampler(settings: ComputeHubWidgetSettings) -> Sampler:
    """The kernel's sampler, built on first use; later calls return the same one."""
    global _sampler
    with _lock:
        if _sampler is None:
            _sampler = build_sampler(settings)
        return _sampler


def stop_shared_sampler() -> None:
    """Stop the kernel's sampler, if any (used when the extension is unloaded)."""
    with _lock:
        sampler = _sampler
    if sampler is not None:
        sampler.stop()
