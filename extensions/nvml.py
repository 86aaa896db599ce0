"""The device seam: the few NVML calls the widget needs, behind one protocol.

`GpuBackend` is the only way the reader talks to GPUs. `PynvmlBackend` implements it on
`pynvml` (the `nvidia-ml-py` package); `computehub.extensions.fake.FakeGpuBackend` implements it
for tests and for demos on machines without a GPU. Both raise `GpuError`, never `pynvml`'s own
exception types, so the reader does not depend on `pynvml` at all.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol, TypeVar

# Opaque device handle: a ctypes pointer for NVML, a plain object for the fake backend.
Handle = object

FAKE_GPUS_ENV = "COMPUTEHUB_FAKE_GPUS"


class GpuErrorKind(enum.Enum):
    """What went wrong in a device call, independent of the backend."""

    LIBRARY_NOT_FOUND = "library_not_found"
    DRIVER_NOT_LOADED = "driver_not_loaded"
    NOT_SUPPORTED = "not_supported"
    NOT_FOUND = "not_found"
    NO_PERMISSION = "no_permission"
    GPU_IS_LOST = "gpu_is_lost"
    UNINITIALIZED = "uninitialized"
    OTHER = "other"


class GpuError(Exception):
    """A device call failed.

    Attributes:
        kind: The category, used to choose the line shown to the user.
        message: The backend's own description (NVML's error string).
    """

    def __init__(self, kind: GpuErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class MemoryInfo(NamedTuple):
    """Device memory in bytes."""

    used: int
    total: int


class GpuBackend(Protocol):
    """The NVML calls the reader uses; everything else about a GPU is out of scope.

    Power figures are in milliwatts and energy in millijoules, as NVML reports them; the
    reader converts to watts and joules.

    Attributes:
        simulated: True when the figures are not a real GPU's (the fake layer, the demo's
            simulation); the widget labels them "simulated GPU".
    """

    simulated: bool

    def init(self) -> None:
        """Start a session with the driver; raises `GpuError` when there is none."""

    def shutdown(self) -> None:
        """End the session started by `init`."""

    def device_count(self) -> int:
        """Number of physical GPUs the process can see."""

    def handle_by_index(self, index: int) -> Handle:
        """Handle of the physical GPU at NVML index `index`."""

    def handle_by_uuid(self, uuid: str) -> Handle:
        """Handle of a GPU or MIG device by its full UUID."""

    def mig_enabled(self, handle: Handle) -> bool:
        """Whether MIG mode is currently enabled on a physical GPU."""

    def max_mig_devices(self, handle: Handle) -> int:
        """Number of MIG device slots on a physical GPU."""

    def mig_device(self, handle: Handle, index: int) -> Handle:
        """Handle of the MIG device in slot `index`; `GpuError(NOT_FOUND)` for an empty slot."""

    def parent_of_mig(self, handle: Handle) -> Handle:
        """Handle of the physical GPU a MIG device belongs to."""

    def gpu_instance_id(self, handle: Handle) -> int:
        """GPU instance id of a MIG device (used by the legacy MIG-GPU-uuid/gi/ci form)."""

    def name(self, handle: Handle) -> str:
        """Product name."""

    def uuid(self, handle: Handle) -> str:
        """UUID, `GPU-...` or `MIG-...`."""

    def utilization(self, handle: Handle) -> int:
        """Percent of time a kernel ran over the last sample period."""

    def memory(self, handle: Handle) -> MemoryInfo:
        """Memory used and total."""

    def power_usage_mw(self, handle: Handle) -> int:
        """Current power draw in milliwatts."""

    def power_limit_mw(self, handle: Handle) -> int:
        """Enforced power limit in milliwatts."""

    def temperature_c(self, handle: Handle) -> int:
        """Core temperature in degrees Celsius."""

    def total_energy_mj(self, handle: Handle) -> int:
        """Energy used since the driver was loaded, in millijoules."""


_T = TypeVar("_T")


class PynvmlBackend:
    """`GpuBackend` on the real NVML library through `pynvml`.

    The module is imported on `init`, so that a notebook image without `nvidia-ml-py` still
    imports the widget and reports the missing library as a status line.
    """

    simulated = False

    def __init__(self) -> None:
        self._nvml: Any = None

    def _call(self, fn: Callable[..., _T], *args: object) -> _T:
        nvml = self._nvml
        if nvml is None:
            raise GpuError(GpuErrorKind.UNINITIALIZED, "NVML is not initialised")
        try:
            return fn(*args)
        except nvml.NVMLError as exc:
            raise GpuError(_kind_of(nvml, exc), str(exc)) from exc

    def init(self) -> None:
        """Import `pynvml` and initialise NVML."""
        try:
            import pynvml
        except ImportError as exc:
            raise GpuError(GpuErrorKind.LIBRARY_NOT_FOUND, "nvidia-ml-py is not installed") from exc
        self._nvml = pynvml
        try:
            self._call(pynvml.nvmlInit)
        except GpuError:
            self._nvml = None
            raise

    def shutdown(self) -> None:
        """Shut NVML down; later calls raise `GpuError(UNINITIALIZED)`."""
        if self._nvml is not None:
            try:
                self._call(self._nvml.nvmlShutdown)
            finally:
                self._nvml = None

    def device_count(self) -> int:
        """See `GpuBackend.device_count`."""
        return int(self._call(self._nvml_attr("nvmlDeviceGetCount")))

    def handle_by_index(self, index: int) -> Handle:
        """See `GpuBackend.handle_by_index`."""
        return self._call(self._nvml_attr("nvmlDeviceGetHandleByIndex"), index)

    def handle_by_uuid(self, uuid: str) -> Handle:
        """See `GpuBackend.handle_by_uuid`."""
        return self._call(self._nvml_attr("nvmlDeviceGetHandleByUUID"), uuid.encode())

    def mig_enabled(self, handle: Handle) -> bool:
        """See `GpuBackend.mig_enabled`."""
        current, _pending = self._call(self._nvml_attr("nvmlDeviceGetMigMode"), handle)
        return bool(current == self._nvml.NVML_DEVICE_MIG_ENABLE)

    def max_mig_devices(self, handle: Handle) -> int:
        """See `GpuBackend.max_mig_devices`."""
        return int(self._call(self._nvml_attr("nvmlDeviceGetMaxMigDeviceCount"), handle))

    def mig_device(self, handle: Handle, index: int) -> Handle:
        """See `GpuBackend.mig_device`."""
        return self._call(self._nvml_attr("nvmlDeviceGetMigDeviceHandleByIndex"), handle, index)

    def parent_of_mig(self, handle: Handle) -> Handle:
        """See `GpuBackend.parent_of_mig`."""
        fn = self._nvml_attr("nvmlDeviceGetDeviceHandleFromMigDeviceHandle")
        return self._call(fn, handle)

    def gpu_instance_id(self, handle: Handle) -> int:
        """See `GpuBackend.gpu_instance_id`."""
        return int(self._call(self._nvml_attr("nvmlDeviceGetGpuInstanceId"), handle))

    def name(self, handle: Handle) -> str:
        """See `GpuBackend.name`."""
        return _text(self._call(self._nvml_attr("nvmlDeviceGetName"), handle))

    def uuid(self, handle: Handle) -> str:
        """See `GpuBackend.uuid`."""
        return _text(self._call(self._nvml_attr("nvmlDeviceGetUUID"), handle))

    def utilization(self, handle: Handle) -> int:
        """See `GpuBackend.utilization`."""
        rates = self._call(self._nvml_attr("nvmlDeviceGetUtilizationRates"), handle)
        return int(rates.gpu)

    def memory(self, handle: Handle) -> MemoryInfo:
        """See `GpuBackend.memory`.

        Uses the v2 structure where the driver has it: its `used` excludes the memory the
        driver reserves, which is what `nvidia-smi` shows as used.
        """
        fn = self._nvml_attr("nvmlDeviceGetMemoryInfo")
        try:
            info = self._call(fn, handle, self._nvml.nvmlMemory_v2)
        except GpuError as exc:
            if exc.kind not in (GpuErrorKind.NOT_SUPPORTED, GpuErrorKind.OTHER):
                raise
            info = self._call(fn, handle)
        return MemoryInfo(used=int(info.used), total=int(info.total))

    def power_usage_mw(self, handle: Handle) -> int:
        """See `GpuBackend.power_usage_mw`."""
        return int(self._call(self._nvml_attr("nvmlDeviceGetPowerUsage"), handle))

    def power_limit_mw(self, handle: Handle) -> int:
        """See `GpuBackend.power_limit_mw`."""
        return int(self._call(self._nvml_attr("nvmlDeviceGetEnforcedPowerLimit"), handle))

    def temperature_c(self, handle: Handle) -> int:
        """See `GpuBackend.temperature_c`."""
        fn = self._nvml_attr("nvmlDeviceGetTemperature")
        return int(self._call(fn, handle, self._nvml.NVML_TEMPERATURE_GPU))

    def total_energy_mj(self, handle: Handle) -> int:
        """See `GpuBackend.total_energy_mj`."""
        return int(self._call(self._nvml_attr("nvmlDeviceGetTotalEnergyConsumption"), handle))

    def _nvml_attr(self, name: str) -> Callable[..., Any]:
        if self._nvml is None:
            raise GpuError(GpuErrorKind.UNINITIALIZED, "NVML is not initialised")
        fn: Callable[..., Any] = getattr(self._nvml, name)
        return fn


def _text(value: object) -> str:
    # pynvml returns str in recent releases and bytes in old ones.
    return value.decode() if isinstance(value, bytes) else str(value)


def _kind_of(nvml: Any, exc: Exception) -> GpuErrorKind:
    value = getattr(exc, "value", None)
    table = {
        nvml.NVML_ERROR_LIBRARY_NOT_FOUND: GpuErrorKind.LIBRARY_NOT_FOUND,
        nvml.NVML_ERROR_DRIVER_NOT_LOADED: GpuErrorKind.DRIVER_NOT_LOADED,
        nvml.NVML_ERROR_NOT_SUPPORTED: GpuErrorKind.NOT_SUPPORTED,
        nvml.NVML_ERROR_NOT_FOUND: GpuErrorKind.NOT_FOUND,
        nvml.NVML_ERROR_NO_PERMISSION: GpuErrorKind.NO_PERMISSION,
        nvml.NVML_ERROR_GPU_IS_LOST: GpuErrorKind.GPU_IS_LOST,
        nvml.NVML_ERROR_UNINITIALIZED: GpuErrorKind.UNINITIALIZED,
    }
    return table.get(value, GpuErrorKind.OTHER)


def backend_from_env(environ: Mapping[str, str] | None = None) -> GpuBackend:
    """Choose the device layer: the fake one when `COMPUTEHUB_FAKE_GPUS` is set, else NVML.

    Args:
        environ: The environment to read; the process environment when omitted.

    Returns:
        A backend, not yet initialised.

    Raises:
        ValueError: `COMPUTEHUB_FAKE_GPUS` is set but does not describe devices.
    """
    env = os.environ if environ is None else environ
    spec = env.get(FAKE_GPUS_ENV, "").strip()
    if spec:
        from .fake import FakeGpuBackend

        return FakeGpuBackend.from_json(spec)
    return PynvmlBackend()
