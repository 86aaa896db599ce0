"""The fake device layer: a `GpuBackend` that simulates GPUs, for tests and demos.

It simulates N physical GPUs, MIG instances with their own UUIDs, counters that tests change
by assigning to the `FakeGpu` / `FakeMig` fields, and injected errors (no driver at `init`, or
an NVML error from one call on one device in the middle of a session).

Besides tests it is selected by the `COMPUTEHUB_FAKE_GPUS` environment variable, so that a
browser test on a CPU machine can show GPU rows. Its value is either a count (``"2"``) or a
JSON list of devices, every field optional::

    [{"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-...", "utilization": 37,
      "memory_used_mib": 1024, "memory_total_mib": 81559, "power_w": 120,
      "power_limit_w": 700, "temperature_c": 41, "energy_j": 5000, "energy_epoch": 1796000000,
      "mig": [{"uuid": "MIG-...", "name": "NVIDIA H100 80GB HBM3 MIG 1g.10gb",
               "memory_used_mib": 0, "memory_total_mib": 9856, "gpu_instance_id": 7}]}]

With ``energy_epoch`` (Unix seconds) a GPU's energy counter advances at its ``power_w`` with
wall time, ``energy_j + power_w * (now - energy_epoch)``, so separate processes (a Slurm prolog
and epilog, the widget) read one consistent counter; without it the counter stays at ``energy_j``.

Remember that the reader shows only the GPUs named by `CUDA_VISIBLE_DEVICES`: set it too.
"""

from __future__ import annotations

import json
import threading
import time
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .nvml import GpuError, GpuErrorKind, Handle, MemoryInfo

MIB = 1024 * 1024


@dataclass(eq=False)
class FakeMig:
    """A MIG instance; utilisation, power and energy are not reported for it, as in NVML."""

    uuid: str
    name: str = "NVIDIA A100-SXM4-40GB MIG 1g.5gb"
    memory_used: int = 0
    memory_total: int = 4864 * MIB
    gpu_instance_id: int = 1
    parent: FakeGpu | None = None


@dataclass(eq=False)
class FakeGpu:
    """A physical GPU; change the counters between samples to simulate load."""

    uuid: str
    name: str = "NVIDIA A100-SXM4-40GB"
    utilization: int = 0
    memory_used: int = 0
    memory_total: int = 40960 * MIB
    power_mw: int = 60_000
    power_limit_mw: int = 400_000
    temperature_c: int = 35
    energy_mj: int = 0
    migs: list[FakeMig] = field(default_factory=list)
    #: When set (Unix seconds), the energy counter advances at `power_mw` from this moment.
    energy_epoch: float | None = None
    #: The wall clock the advancing counter reads (a seam for tests).
    clock: Callable[[], float] = time.time

    @property
    def energy_counter_mj(self) -> int:
        """The energy counter now: `energy_mj`, plus power x time since `energy_epoch`."""
        if self.energy_epoch is None:
            return self.energy_mj
        return self.energy_mj + int(self.power_mw * max(0.0, self.clock() - self.energy_epoch))

    def __post_init__(self) -> None:
        for mig in self.migs:
            mig.parent = self

    @property
    def mig_enabled(self) -> bool:
        """MIG mode is on when the GPU has instances."""
        return bool(self.migs)


@dataclass(frozen=True)
class _Injected:
    call: str
    uuid: str | None
    error: GpuError


class FakeGpuBackend:
    """A `GpuBackend` over `FakeGpu` objects.

    Args:
        gpus: The physical GPUs, in NVML index order.
        init_error: When set, `init` fails with this kind (e.g. `DRIVER_NOT_LOADED`), as on a
            node without the NVIDIA driver.
        max_mig_slots: MIG device slots per GPU, as NVML's `nvmlDeviceGetMaxMigDeviceCount`.
    """

    #: Its figures are never a real GPU's: the widget labels them "simulated GPU".
    simulated = True

    def __init__(
        self,
        gpus: list[FakeGpu],
        *,
        init_error: GpuErrorKind | None = None,
        max_mig_slots: int = 7,
    ) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.max_mig_slots = max_mig_slots
        self.initialized = False
        self.init_calls = 0
        self.shutdown_calls = 0
        self._injected: list[_Injected] = []
        self._lock = threading.Lock()

    @classmethod
    def with_gpus(cls, count: int) -> FakeGpuBackend:
        """Build a backend with `count` idle GPUs with stable UUIDs."""
        return cls([FakeGpu(uuid=_fake_uuid("GPU", i)) for i in range(count)])

    @classmethod
    def from_json(cls, spec: str) -> FakeGpuBackend:
        """Build a backend from the `COMPUTEHUB_FAKE_GPUS` format (see the module docstring).

        Raises:
            ValueError: The text is neither a count nor a list of device objects.
        """
        try:
            data: Any = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise ValueError(f"COMPUTEHUB_FAKE_GPUS is not JSON: {exc}") from exc
        if isinstance(data, int) and not isinstance(data, bool) and 0 <= data <= 64:
            return cls.with_gpus(data)
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise ValueError("COMPUTEHUB_FAKE_GPUS must be a count or a list of objects")
        return cls([_gpu_from_json(i, d) for i, d in enumerate(data)])

    def inject_error(
        self,
        call: str,
        kind: GpuErrorKind = GpuErrorKind.OTHER,
        message: str = "Unknown Error",
        *,
        uuid: str | None = None,
    ) -> None:
        """Make `call` (a `GpuBackend` method name) fail until `clear_errors`.

        Args:
            call: Method name, e.g. ``"power_usage_mw"``.
            kind: The error kind raised.
            message: The error text, as NVML's error string.
            uuid: Only fail for the device with this UUID; every device when omitted.
        """
        with self._lock:
            self._injected.append(_Injected(call, uuid, GpuError(kind, message)))

    def clear_errors(self) -> None:
        """Remove every injected error."""
        with self._lock:
            self._injected.clear()

    def _check(self, call: str, handle: Handle | None = None) -> None:
        if not self.initialized:
            raise GpuError(GpuErrorKind.UNINITIALIZED, "Uninitialized")
        device_uuid = handle.uuid if isinstance(handle, FakeGpu | FakeMig) else None
        with self._lock:
            for injected in self._injected:
                if injected.call == call and injected.uuid in (None, device_uuid):
                    raise injected.error

    def init(self) -> None:
        """See `GpuBackend.init`."""
        self.init_calls += 1
        if self.init_error is not None:
            raise GpuError(self.init_error, _INIT_MESSAGES.get(self.init_error, "Unknown Error"))
        self.initialized = True
        self._check("init")

    def shutdown(self) -> None:
        """See `GpuBackend.shutdown`."""
        self._check("shutdown")
        self.shutdown_calls += 1
        self.initialized = False

    def device_count(self) -> int:
        """See `GpuBackend.device_count`."""
        self._check("device_count")
        return len(self.gpus)

    def handle_by_index(self, index: int) -> Handle:
        """See `GpuBackend.handle_by_index`."""
        self._check("handle_by_index")
        if not 0 <= index < len(self.gpus):
            raise GpuError(GpuErrorKind.OTHER, "Invalid Argument")
        return self.gpus[index]

    def handle_by_uuid(self, uuid: str) -> Handle:
        """See `GpuBackend.handle_by_uuid`."""
        self._check("handle_by_uuid")
        for gpu in self.gpus:
            if gpu.uuid == uuid:
                return gpu
            for mig in gpu.migs:
                if mig.uuid == uuid:
                    return mig
        raise GpuError(GpuErrorKind.NOT_FOUND, "Not Found")

    def mig_enabled(self, handle: Handle) -> bool:
        """See `GpuBackend.mig_enabled`."""
        self._check("mig_enabled", handle)
        return _gpu(handle).mig_enabled

    def max_mig_devices(self, handle: Handle) -> int:
        """See `GpuBackend.max_mig_devices`."""
        self._check("max_mig_devices", handle)
        return self.max_mig_slots if _gpu(handle).mig_enabled else 0

    def mig_device(self, handle: Handle, index: int) -> Handle:
        """See `GpuBackend.mig_device`."""
        self._check("mig_device", handle)
        migs = _gpu(handle).migs
        if not 0 <= index < len(migs):
            raise GpuError(GpuErrorKind.NOT_FOUND, "Not Found")
        return migs[index]

    def parent_of_mig(self, handle: Handle) -> Handle:
        """See `GpuBackend.parent_of_mig`."""
        self._check("parent_of_mig", handle)
        parent = _mig(handle).parent
        if parent is None:
            raise GpuError(GpuErrorKind.NOT_FOUND, "Not Found")
        return parent

    def gpu_instance_id(self, handle: Handle) -> int:
        """See `GpuBackend.gpu_instance_id`."""
        self._check("gpu_instance_id", handle)
        return _mig(handle).gpu_instance_id

    def name(self, handle: Handle) -> str:
        """See `GpuBackend.name`."""
        self._check("name", handle)
        return _any(handle).name

    def uuid(self, handle: Handle) -> str:
        """See `GpuBackend.uuid`."""
        self._check("uuid", handle)
        return _any(handle).uuid

    def utilization(self, handle: Handle) -> int:
        """See `GpuBackend.utilization`; not supported for MIG devices or MIG-enabled GPUs."""
        self._check("utilization", handle)
        gpu = _any(handle)
        if isinstance(gpu, FakeMig) or gpu.mig_enabled:
            raise GpuError(GpuErrorKind.NOT_SUPPORTED, "Not Supported")
        return gpu.utilization

    def memory(self, handle: Handle) -> MemoryInfo:
        """See `GpuBackend.memory`."""
        self._check("memory", handle)
        device = _any(handle)
        return MemoryInfo(used=device.memory_used, total=device.memory_total)

    def power_usage_mw(self, handle: Handle) -> int:
        """See `GpuBackend.power_usage_mw`; not supported for MIG devices."""
        self._check("power_usage_mw", handle)
        return _gpu(handle).power_mw

    def power_limit_mw(self, handle: Handle) -> int:
        """See `GpuBackend.power_limit_mw`; not supported for MIG devices."""
        self._check("power_limit_mw", handle)
        return _gpu(handle).power_limit_mw

    def temperature_c(self, handle: Handle) -> int:
        """See `GpuBackend.temperature_c`; not supported for MIG devices."""
        self._check("temperature_c", handle)
        return _gpu(handle).temperature_c

    def total_energy_mj(self, handle: Handle) -> int:
        """See `GpuBackend.total_energy_mj`; not supported for MIG devices."""
        self._check("total_energy_mj", handle)
        return _gpu(handle).energy_counter_mj


_INIT_MESSAGES = {
    GpuErrorKind.DRIVER_NOT_LOADED: "Driver Not Loaded",
    GpuErrorKind.LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
}


def _any(handle: Handle) -> FakeGpu | FakeMig:
    if isinstance(handle, FakeGpu | FakeMig):
        return handle
    raise GpuError(GpuErrorKind.OTHER, "Invalid Argument")


def _gpu(handle: Handle) -> FakeGpu:
    if isinstance(handle, FakeGpu):
        return handle
    if isinstance(handle, FakeMig):
        raise GpuError(GpuErrorKind.NOT_SUPPORTED, "Not Supported")
    raise GpuError(GpuErrorKind.OTHER, "Invalid Argument")


def _mig(handle: Handle) -> FakeMig:
    if isinstance(handle, FakeMig):
        return handle
    raise GpuError(GpuErrorKind.OTHER, "Invalid Argument")


def _fake_uuid(prefix: str, index: int, sub: int = 0) -> str:
    # Stable across runs so that a test or a demo can name the devices.
    value = uuid_module.uuid5(uuid_module.NAMESPACE_URL, f"computehub-fake/{index}/{sub}")
    return f"{prefix}-{value}"


def _int(data: dict[str, Any], key: str, default: int, scale: float = 1) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"COMPUTEHUB_FAKE_GPUS: {key} must be a non-negative number")
    return int(value * scale)


def _str(data: dict[str, Any], key: str, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"COMPUTEHUB_FAKE_GPUS: {key} must be a string")
    return value


def _gpu_from_json(index: int, data: dict[str, Any]) -> FakeGpu:
    migs_data = data.get("mig", [])
    if not isinstance(migs_data, list) or not all(isinstance(m, dict) for m in migs_data):
        raise ValueError("COMPUTEHUB_FAKE_GPUS: mig must be a list of objects")
    migs = [
        FakeMig(
            uuid=_str(m, "uuid", _fake_uuid("MIG", index, j + 1)),
            name=_str(m, "name", "NVIDIA A100-SXM4-40GB MIG 1g.5gb"),
            memory_used=_int(m, "memory_used_mib", 0, MIB),
            memory_total=_int(m, "memory_total_mib", 4864, MIB),
            gpu_instance_id=_int(m, "gpu_instance_id", j + 1),
        )
        for j, m in enumerate(migs_data)
    ]
    return FakeGpu(
        uuid=_str(data, "uuid", _fake_uuid("GPU", index)),
        name=_str(data, "name", "NVIDIA A100-SXM4-40GB"),
        utilization=min(100, _int(data, "utilization", 0)),
        memory_used=_int(data, "memory_used_mib", 0, MIB),
        memory_total=_int(data, "memory_total_mib", 40960, MIB),
        power_mw=_int(data, "power_w", 60, 1000),
        power_limit_mw=_int(data, "power_limit_w", 400, 1000),
        temperature_c=_int(data, "temperature_c", 35),
        energy_mj=_int(data, "energy_j", 0, 1000),
        migs=migs,
        energy_epoch=_epoch(data),
    )


def _epoch(data: dict[str, Any]) -> float | None:
    value = data.get("energy_epoch")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError("COMPUTEHUB_FAKE_GPUS: energy_epoch must be Unix seconds")
    return float(value)
