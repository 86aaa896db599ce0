"""Simulated GPUs for the demo: the fake device layer, driven by the kernel's CPU use.

`SimulatedGpuBackend` is a `FakeGpuBackend` whose counters `computehub.extensions.simulate`
moves on every reading, from the kernel process's CPU time (its own and its waited-for
children's) and the wall time between readings. `simulated_layer` builds one for the GPUs
the job was given (``CUDA_VISIBLE_DEVICES``) from the spawner's `SIMULATED_GPUS_ENV`.

Only the widget uses it (`computehub.extensions.session`): the energy hook and the GPU
activity report choose their device layer with `backend_from_env`, which never simulates.
"""

from __future__ import annotations

import os
import re
import time
import uuid as uuid_module
from collections.abc import Callable

from .fake import MIB, FakeGpu, FakeGpuBackend, FakeMig
from .gpus import parse_visible_devices
from .nvml import Handle, MemoryInfo
from .simulate import GpuModel, SimulatedSession, model_for, simulate

#: MIG slots of a simulated GPU in MIG mode (an A100's or H100's 7 compute slices).
MIG_SLOTS = 7
#: Readings closer together than this (one reader pass asks each figure separately) share
#: one simulated moment.
MIN_PERIOD_S = 0.2
_PROFILE_MEMORY = re.compile(r"^\d{1,2}g\.(\d{1,4})gb$")


def kernel_cpu_seconds() -> float:
    """CPU seconds this process and its finished children have used (user + system)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class SimulatedGpuBackend(FakeGpuBackend):
    """Fake GPUs whose figures follow the kernel's CPU use (see `simulate.simulate`).

    Args:
        gpus: The node's simulated GPUs, in index order.
        model: The model every whole GPU simulates.
        cpu_seconds: The kernel's CPU seconds so far (a seam for tests).
        clock: Monotonic wall seconds (a seam for tests).
    """

    simulated = True

    def __init__(
        self,
        gpus: list[FakeGpu],
        model: GpuModel,
        *,
        cpu_seconds: Callable[[], float] = kernel_cpu_seconds,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(gpus, max_mig_slots=MIG_SLOTS)
        self.model = model
        self._cpu_seconds = cpu_seconds
        self._clock = clock
        self._first_cpu: float | None = None
        self._last: tuple[float, float] | None = None

    def advance(self) -> None:
        """Move every counter to now: one simulated moment per reader pass."""
        wall, cpu = self._clock(), self._cpu_seconds()
        if self._last is None or self._first_cpu is None:
            self._first_cpu = cpu
            self._last = (wall, cpu)
            self._apply(0.0, 0.0, 0.0, 0.0)
            return
        last_wall, last_cpu = self._last
        period = wall - last_wall
        if period < MIN_PERIOD_S:
            return
        self._last = (wall, cpu)
        self._apply(cpu - last_cpu, period, cpu - self._first_cpu, period)

    def _apply(self, cpu_s: float, wall_s: float, cpu_total_s: float, elapsed: float) -> None:
        figures = simulate(self.model, cpu_s, wall_s, cpu_total_s)
        share = figures.memory_used / (self.model.memory_total_mib * MIB)
        for gpu in self.gpus:
            gpu.utilization = figures.utilization
            gpu.power_mw = figures.power_mw
            gpu.temperature_c = figures.temperature_c
            # The power of the period just ended, over that period.
            gpu.energy_mj += round(figures.power_mw * elapsed)
            if gpu.migs:
                for mig in gpu.migs:
                    mig.memory_used = int(share * mig.memory_total)
            else:
                gpu.memory_used = figures.memory_used

    def utilization(self, handle: Handle) -> int:
        """See `GpuBackend.utilization`; the simulation moves first."""
        self.advance()
        return super().utilization(handle)

    def memory(self, handle: Handle) -> MemoryInfo:
        """See `GpuBackend.memory`; the simulation moves first."""
        self.advance()
        return super().memory(handle)

    def power_usage_mw(self, handle: Handle) -> int:
        """See `GpuBackend.power_usage_mw`; the simulation moves first."""
        self.advance()
        return super().power_usage_mw(handle)

    def temperature_c(self, handle: Handle) -> int:
        """See `GpuBackend.temperature_c`; the simulation moves first."""
        self.advance()
        return super().temperature_c(handle)

    def total_energy_mj(self, handle: Handle) -> int:
        """See `GpuBackend.total_energy_mj`; the simulation moves first."""
        self.advance()
        return super().total_energy_mj(handle)


def _uuid(kind: str, index: int) -> str:
    value = uuid_module.uuid5(uuid_module.NAMESPACE_URL, f"computehub-simulated/{kind}/{index}")
    return f"{kind}-{value}"


def simulated_layer(
    spec: str,
    visible_devices: str | None,
    *,
    cpu_seconds: Callable[[], float] = kernel_cpu_seconds,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[SimulatedGpuBackend, str | None]:
    """Simulated GPUs for the devices the job was given, and what the reader should look for.

    Whole GPUs: a node with enough simulated GPUs of the session's model for every index in
    ``CUDA_VISIBLE_DEVICES`` (Slurm gives the node's indices), so the reader shows exactly
    the job's. A MIG session: one simulated GPU in MIG mode with an instance of the profile
    for each index, and the reader is pointed at the instances' UUIDs.

    Args:
        spec: The value of `SIMULATED_GPUS_ENV` (``h100``, ``a100:1g.10gb``).
        visible_devices: ``CUDA_VISIBLE_DEVICES``, None when unset (no GPU: nothing shown).
        cpu_seconds: The kernel's CPU seconds (a seam for tests).
        clock: Monotonic wall seconds (a seam for tests).

    Returns:
        The backend, and the ``CUDA_VISIBLE_DEVICES`` the reader is to resolve.

    Raises:
        ValueError: ``spec`` is malformed.
    """
    session = SimulatedSession.parse(spec)
    model = model_for(session.gpu_type)
    refs = parse_visible_devices(visible_devices).refs
    indices = [ref.index for ref in refs if ref.index is not None]
    if session.mig_profile is None:
        count = max(indices) + 1 if indices else 0
        gpus = [_gpu(model, index) for index in range(min(count, 64))]
        return SimulatedGpuBackend(gpus, model, cpu_seconds=cpu_seconds, clock=clock), (
            visible_devices
        )
    memory = _PROFILE_MEMORY.match(session.mig_profile)
    memory_mib = int(memory.group(1)) * 1000 if memory else 4864
    migs = [
        FakeMig(
            uuid=_uuid("MIG", index),
            name=f"{model.name} MIG {session.mig_profile}",
            memory_total=memory_mib * MIB,
            gpu_instance_id=slot + 1,
        )
        for slot, index in enumerate(indices[:MIG_SLOTS])
    ]
    parent = _gpu(model, 0)
    parent.migs = migs
    parent.__post_init__()
    backend = SimulatedGpuBackend([parent], model, cpu_seconds=cpu_seconds, clock=clock)
    return backend, ",".join(mig.uuid for mig in migs) or visible_devices


def _gpu(model: GpuModel, index: int) -> FakeGpu:
    return FakeGpu(
        uuid=_uuid("GPU", index),
        name=model.name,
        memory_total=model.memory_total_mib * MIB,
        power_mw=round(model.idle_w * 1000),
        power_limit_mw=round(model.max_w * 1000),
        temperature_c=model.idle_c,
    )
