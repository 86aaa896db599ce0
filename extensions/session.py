"""The kernel's one sampler, and `show()` which displays a widget fed by it."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from .creditsreader import HttpCreditsClient
from .gpus import GpuReader
from .nvml import GpuBackend, backend_from_env
from .sampler import Sampler
from .settings import ComputeHubWidgetSettings
from .simulate import SIMULATED_GPUS_ENV

_lock = threading.Lock()
_sampler: Sampler | None = None


def build_sampler(
    settings: ComputeHubWidgetSettings, environ: Mapping[str, str] | None = None
) -> Sampler:
    """Build a sampler from the settings and the single-user server's environment.

    On the demo the spawner sets `SIMULATED_GPUS_ENV` (``demo.simulated_gpus`` in the site
    file): the widget then shows simulated GPUs that follow this kernel's CPU use, labelled
    as such; otherwise NVML (or the fake layer of `COMPUTEHUB_FAKE_GPUS`).

    Raises:
        ValueError: `COMPUTEHUB_FAKE_GPUS` or `COMPUTEHUB_SIMULATED_GPUS` is set but malformed.
    """
    env = os.environ if environ is None else environ
    backend: GpuBackend
    visible = env.get("CUDA_VISIBLE_DEVICES")
    simulated = env.get(SIMULATED_GPUS_ENV, "").strip()
    if simulated:
        from .simulated import simulated_layer

        backend, visible = simulated_layer(simulated, visible)
    else:
        backend = backend_from_env(env)
    reader = GpuReader(backend, visible)
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
