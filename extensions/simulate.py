"""The demo's simulated GPU figures: pure functions of the kernel's CPU use.

A machine without GPUs (``./scripts/up.sh``) can still show the widget moving: each
simulated GPU's utilisation is the share of wall time the kernel spent on the CPU since the
last sample, so a cell running a loop raises it; power follows utilisation between the
model's idle and maximum draw, and memory grows with the CPU work the kernel has done so far.
Nothing here reads a clock or a process: the caller passes the times, tests pass tables.

Every figure this module makes is labelled *simulated GPU* wherever it is shown; it is never
an input to the platform's records (energy, GPU-idle), see docs/widget.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

#: The spawner's switch to the kernel: the session's GPU (``h100``, or ``a100:1g.10gb`` for a
#: MIG slice). Set only when the site file says ``demo.simulated_gpus: true``.
SIMULATED_GPUS_ENV = "COMPUTEHUB_SIMULATED_GPUS"

MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuModel:
    """What the simulation needs to know of a GPU model.

    Attributes:
        name: The product name NVML would report.
        memory_total_mib: Memory in MiB.
        idle_w: Power drawn with nothing running, in watts.
        max_w: Power drawn at 100 % utilisation, in watts (also the power limit shown).
        idle_c: Temperature at idle, °C.
        max_c: Temperature at full load, °C.
    """

    name: str
    memory_total_mib: int
    idle_w: float
    max_w: float
    idle_c: int = 32
    max_c: int = 68


#: Simulated models by Slurm GRES type; others get `GENERIC` under their own name.
MODELS: Mapping[str, GpuModel] = {
    "h100": GpuModel("NVIDIA H100 80GB HBM3", 81559, idle_w=70, max_w=700),
    "a100": GpuModel("NVIDIA A100-SXM4-80GB", 81920, idle_w=55, max_w=400),
    "l40s": GpuModel("NVIDIA L40S", 46068, idle_w=35, max_w=350),
    "l4": GpuModel("NVIDIA L4", 23034, idle_w=16, max_w=72),
}
GENERIC = GpuModel("NVIDIA GPU", 24576, idle_w=30, max_w=300)

#: Memory a CUDA context holds as soon as a framework touches the GPU.
BASE_MEMORY_MIB = 512
#: The most of its memory a simulated GPU fills.
MAX_MEMORY_SHARE = 0.6
#: CPU seconds over which memory use approaches its ceiling (1 - 1/e of it after this).
MEMORY_CPU_SCALE_S = 60.0


def model_for(gres_type: str) -> GpuModel:
    """The simulated model of a GRES type: a known one, or a generic one named after it."""
    known = MODELS.get(gres_type.lower())
    if known is not None:
        return known
    return GpuModel(
        f"NVIDIA {gres_type.upper()}", GENERIC.memory_total_mib, GENERIC.idle_w, GENERIC.max_w
    )


@dataclass(frozen=True)
class SimulatedFigures:
    """One simulated GPU at one moment, in NVML's units.

    Attributes:
        utilization: Percent of the period a kernel "ran".
        power_mw: Power draw, milliwatts.
        memory_used: Bytes.
        temperature_c: Degrees Celsius.
    """

    utilization: int
    power_mw: int
    memory_used: int
    temperature_c: int


def utilization(cpu_s: float, wall_s: float) -> int:
    """Percent of the period the kernel was on a CPU, 0 to 100 (0 for an empty period).

    >>> utilization(0.5, 1.0)
    50
    """
    if wall_s <= 0 or cpu_s <= 0 or math.isnan(cpu_s) or math.isnan(wall_s):
        return 0
    return max(0, min(100, round(100 * cpu_s / wall_s)))


def simulate(model: GpuModel, cpu_s: float, wall_s: float, cpu_total_s: float) -> SimulatedFigures:
    """A simulated GPU's figures from the kernel's CPU use.

    Args:
        model: The GPU model.
        cpu_s: CPU seconds the kernel used over the last period.
        wall_s: The period's length in wall seconds.
        cpu_total_s: CPU seconds the kernel used since the simulation started.

    Returns:
        Utilisation, power, memory and temperature.
    """
    util = utilization(cpu_s, wall_s)
    power_w = model.idle_w + (model.max_w - model.idle_w) * util / 100
    total = model.memory_total_mib * MIB
    ceiling = MAX_MEMORY_SHARE * total - BASE_MEMORY_MIB * MIB
    work = max(0.0, cpu_total_s)
    memory = BASE_MEMORY_MIB * MIB + ceiling * (1 - math.exp(-work / MEMORY_CPU_SCALE_S))
    temperature = model.idle_c + (model.max_c - model.idle_c) * util / 100
    return SimulatedFigures(
        utilization=util,
        power_mw=round(power_w * 1000),
        memory_used=int(memory),
        temperature_c=round(temperature),
    )


@dataclass(frozen=True)
class SimulatedSession:
    """The session's GPU as the spawner names it in `SIMULATED_GPUS_ENV`.

    Attributes:
        gpu_type: The GRES type, e.g. ``h100``.
        mig_profile: The MIG profile of a slice session, e.g. ``1g.10gb``; None for whole GPUs.
    """

    gpu_type: str
    mig_profile: str | None = None

    def env_value(self) -> str:
        """The variable's value: ``h100`` or ``a100:1g.10gb``."""
        return self.gpu_type if self.mig_profile is None else f"{self.gpu_type}:{self.mig_profile}"

    @classmethod
    def parse(cls, value: str) -> SimulatedSession:
        """Read the variable's value back.

        Raises:
            ValueError: Not ``TYPE`` or ``TYPE:PROFILE`` of plain names.
        """
        gpu_type, _, profile = value.strip().partition(":")
        for part in (gpu_type, profile):
            if len(part) > 32 or not all(c.isalnum() or c in "._-" for c in part):
                raise ValueError(f"{SIMULATED_GPUS_ENV}: {value!r} is not TYPE or TYPE:PROFILE")
        if not gpu_type:
            raise ValueError(f"{SIMULATED_GPUS_ENV}: {value!r} names no GPU type")
        return cls(gpu_type, profile or None)
