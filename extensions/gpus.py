"""The GPU reader: the session's GPUs only, as frozen samples with units.

`parse_visible_devices` turns `CUDA_VISIBLE_DEVICES` into device references (a pure function);
`GpuReader` resolves them to handles through a `GpuBackend` and samples them. Errors never
leave the reader: they become status lines and paused rows.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Literal

from .nvml import GpuBackend, GpuError, GpuErrorKind, Handle

RefKind = Literal["index", "gpu_uuid", "mig_uuid", "mig_legacy"]

MIG_UTILIZATION_NOTE = "utilisation: NVML reports none per MIG instance"
MIG_POWER_NOTE = "power: measured only for the whole GPU, shared with other instances"
MIG_ENERGY_NOTE = "energy: the whole GPU's, by this instance's share of its slices ({share})"
MIG_NO_ENERGY_NOTE = "energy: measured only for the whole GPU, shared with other instances"
_PROFILE = re.compile(r"\b(\d{1,2})g\.\d+gb\b")

_INDEX = re.compile(r"\d{1,3}")
_GPU_UUID = re.compile(r"GPU-[0-9a-fA-F-]{1,36}")
_MIG_UUID = re.compile(r"MIG-[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}")
_MIG_LEGACY = re.compile(r"MIG-(GPU-[0-9a-fA-F-]{36})/(\d+)/(\d+)")


def mig_share(name: str, slices: int) -> Fraction | None:
    """A MIG instance's share of its GPU: its profile's compute slices over the GPU's.

    NVML reports no power or energy per MIG instance, only the whole GPU's: an instance is
    attributed its parent's energy by this share (the platform's energy records do the same).

    >>> mig_share("NVIDIA A100-SXM4-40GB MIG 1g.5gb", 7)
    Fraction(1, 7)

    Args:
        name: The instance's product name, which ends with its profile (``3g.40gb``).
        slices: The GPU's MIG slots (``nvmlDeviceGetMaxMigDeviceCount``: 7 on A100/H100).

    Returns:
        The share, or None when the name has no profile or the figures make no sense.
    """
    match = _PROFILE.search(name)
    if match is None or slices <= 0:
        return None
    used = int(match.group(1))
    return Fraction(used, slices) if 0 < used <= slices else None


@dataclass(frozen=True)
class DeviceRef:
    """One entry of `CUDA_VISIBLE_DEVICES`.

    Attributes:
        text: The entry as written.
        kind: Its form.
        index: The NVML index (``index`` form).
        uuid: The GPU or MIG UUID, or a GPU UUID prefix (``gpu_uuid``); the parent GPU's UUID
            for the legacy ``MIG-GPU-<uuid>/<gi>/<ci>`` form.
        gpu_instance_id: The GPU instance id (legacy MIG form).
    """

    text: str
    kind: RefKind
    index: int | None = None
    uuid: str | None = None
    gpu_instance_id: int | None = None


@dataclass(frozen=True)
class VisibleDevices:
    """The parsed `CUDA_VISIBLE_DEVICES`.

    Attributes:
        refs: The devices, in CUDA ordinal order (the first is ``cuda:0``).
        note: Why there are none, or which entries were ignored; None when all is well.
    """

    refs: tuple[DeviceRef, ...]
    note: str | None = None


def parse_visible_devices(value: str | None) -> VisibleDevices:
    """Parse `CUDA_VISIBLE_DEVICES` the way the CUDA runtime does.

    Unset, empty, ``NoDevFiles`` (what Slurm writes when a job has no GPU files) and ``-1``
    all mean no GPU. Unlike CUDA, unset does not mean every GPU: on a shared node that would
    show other users' GPUs. As in CUDA, parsing stops at the first invalid entry, and a
    repeated device counts once.

    Args:
        value: The variable's value, or None when unset.

    Returns:
        The references in order, with a note for the user when relevant.
    """
    if value is None:
        return VisibleDevices((), "no GPU allocated to this session (CUDA_VISIBLE_DEVICES unset)")
    text = value.strip()
    if text in ("", "NoDevFiles", "-1"):
        return VisibleDevices((), "no GPU allocated to this session")
    refs: list[DeviceRef] = []
    seen: set[str] = set()
    entries = [entry.strip() for entry in text.split(",")]
    for position, entry in enumerate(entries):
        ref = _parse_entry(entry)
        if ref is None:
            ignored = ",".join(entries[position:])
            note = f"CUDA_VISIBLE_DEVICES: ignored {ignored!r} (not a GPU index or UUID)"
            return VisibleDevices(tuple(refs), note)
        if ref.text not in seen:
            seen.add(ref.text)
            refs.append(ref)
    return VisibleDevices(tuple(refs))


def _parse_entry(entry: str) -> DeviceRef | None:
    if _INDEX.fullmatch(entry):
        return DeviceRef(entry, "index", index=int(entry))
    legacy = _MIG_LEGACY.fullmatch(entry)
    if legacy:
        return DeviceRef(entry, "mig_legacy", uuid=legacy[1], gpu_instance_id=int(legacy[2]))
    if _MIG_UUID.fullmatch(entry):
        return DeviceRef(entry, "mig_uuid", uuid=entry)
    if _GPU_UUID.fullmatch(entry):
        return DeviceRef(entry, "gpu_uuid", uuid=entry)
    return None


@dataclass(frozen=True)
class GpuSample:
    """One reading of one of the session's GPUs or MIG instances.

    A figure is None when the device does not report it; `notes` says why.

    Attributes:
        cuda_index: The CUDA ordinal (``cuda:N`` in frameworks).
        uuid: The device UUID.
        name: The product name (with the MIG profile for an instance).
        is_mig: Whether this is a MIG instance.
        utilization: Percent of time a kernel ran.
        memory_used: Bytes.
        memory_total: Bytes.
        power_w: Power draw in watts.
        power_limit_w: Enforced power limit in watts.
        temperature_c: Degrees Celsius.
        energy_j: Energy used since the reader first saw the device, in joules.
        notes: Why figures are missing.
        error: Set when the last reading failed; the figures are then the last good ones.
        simulated: The figures are not a real GPU's (the fake layer, the demo's simulation).
    """

    cuda_index: int
    uuid: str
    name: str
    is_mig: bool
    utilization: int | None
    memory_used: int | None
    memory_total: int | None
    power_w: float | None
    power_limit_w: float | None
    temperature_c: int | None
    energy_j: float | None
    notes: tuple[str, ...] = ()
    error: str | None = None
    simulated: bool = False

    @property
    def label(self) -> str:
        """Short name for the user, e.g. ``GPU 0`` or ``MIG 0``, by CUDA ordinal."""
        return f"{'MIG' if self.is_mig else 'GPU'} {self.cuda_index}"

    @property
    def energy_wh(self) -> float | None:
        """Energy used, in watt-hours."""
        return None if self.energy_j is None else self.energy_j / 3600.0

    @property
    def memory_percent(self) -> float | None:
        """Memory used as a percentage of total."""
        if self.memory_used is None or not self.memory_total:
            return None
        return 100.0 * self.memory_used / self.memory_total


@dataclass(frozen=True)
class GpuReading:
    """All of the session's GPUs at one moment.

    Attributes:
        gpus: One sample per visible device, in CUDA order.
        status: Lines for the user: no driver, no GPU, ignored entries, errors.
    """

    gpus: tuple[GpuSample, ...]
    status: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResolvedDevice:
    """A visible device resolved to its NVML handle.

    Attributes:
        cuda_index: Its position in `CUDA_VISIBLE_DEVICES`.
        handle: The device (a GPU or a MIG instance).
        parent: The physical GPU of a MIG instance; None for a whole GPU.
        uuid: The device UUID.
        name: The product name (with the MIG profile for an instance).
    """

    cuda_index: int
    handle: Handle
    parent: Handle | None
    uuid: str
    name: str


_NO_DRIVER = {
    GpuErrorKind.LIBRARY_NOT_FOUND: "NVIDIA driver not found (no NVML library): no GPU readings",
    GpuErrorKind.DRIVER_NOT_LOADED: "NVIDIA driver not loaded: no GPU readings",
}


class GpuReader:
    """Samples the GPUs named by `CUDA_VISIBLE_DEVICES`, and no others.

    Not thread-safe: one thread (the sampler's) opens, reads and closes it. Energy figures
    accumulate across `close`/`open`, keyed by UUID, so they count from the reader's creation.

    Args:
        backend: The device layer.
        visible_devices: The value of `CUDA_VISIBLE_DEVICES` (None when unset).
    """

    def __init__(self, backend: GpuBackend, visible_devices: str | None) -> None:
        self._backend = backend
        self._visible = parse_visible_devices(visible_devices)
        self._devices: list[ResolvedDevice] = []
        self._status: list[str] = []
        self._open = False
        self._failed_for_good = False
        self._last: dict[str, GpuSample] = {}
        self._energy_last_mj: dict[str, int] = {}
        self._energy_total_mj: dict[str, int] = {}

    @property
    def visible(self) -> VisibleDevices:
        """The parsed `CUDA_VISIBLE_DEVICES`."""
        return self._visible

    @property
    def devices(self) -> tuple[ResolvedDevice, ...]:
        """The visible devices resolved by the last `open` (status lines say what was not)."""
        return tuple(self._devices)

    @property
    def status(self) -> tuple[str, ...]:
        """What `open` could not do, as lines for a person or a log."""
        return tuple(self._status)

    def open(self) -> None:
        """Initialise NVML and resolve the visible devices; failures become status lines."""
        if self._open or self._failed_for_good:
            return
        self._status = [self._visible.note] if self._visible.note else []
        self._devices = []
        if not self._visible.refs:
            self._open = True
            return
        try:
            self._backend.init()
        except GpuError as exc:
            self._failed_for_good = exc.kind in _NO_DRIVER
            self._status.append(_NO_DRIVER.get(exc.kind, f"NVML error: {exc.message}"))
            return
        self._open = True
        for cuda_index, ref in enumerate(self._visible.refs):
            try:
                device = self._resolve(cuda_index, ref)
            except GpuError as exc:
                self._status.append(f"{ref.text}: NVML error: {exc.message}")
                continue
            if device is None:
                self._status.append(f"{ref.text}: no such device on this node")
            else:
                self._devices.append(device)

    def close(self) -> None:
        """Shut NVML down; `read` opens it again."""
        if not self._open:
            return
        self._open = False
        if self._visible.refs:
            # Nothing useful to tell the user when a shutdown fails.
            with contextlib.suppress(GpuError):
                self._backend.shutdown()

    def read(self) -> GpuReading:
        """Sample every visible device; opens the reader first when needed."""
        self.open()
        if not self._open:
            return GpuReading((), tuple(self._status))
        samples = tuple(self._sample(device) for device in self._devices)
        status = list(self._status)
        status.extend(s.error for s in samples if s.error is not None)
        return GpuReading(samples, tuple(status))

    def _resolve(self, cuda_index: int, ref: DeviceRef) -> ResolvedDevice | None:
        backend = self._backend
        handle: Handle | None
        parent: Handle | None = None
        if ref.kind == "index" and ref.index is not None:
            if ref.index >= backend.device_count():
                return None
            handle = backend.handle_by_index(ref.index)
        elif ref.kind == "gpu_uuid" and ref.uuid is not None:
            handle = self._gpu_by_uuid_prefix(ref.uuid)
        elif ref.kind == "mig_uuid" and ref.uuid is not None:
            handle = self._by_uuid(ref.uuid)
            if handle is not None:
                parent = backend.parent_of_mig(handle)
        elif ref.kind == "mig_legacy" and ref.uuid is not None:
            parent = self._by_uuid(ref.uuid)
            handle = None
            if parent is not None:
                handle = self._mig_by_instance(parent, ref.gpu_instance_id)
        else:  # pragma: no cover - parse_visible_devices only builds the forms above
            return None
        if handle is None:
            return None
        return ResolvedDevice(
            cuda_index, handle, parent, backend.uuid(handle), backend.name(handle)
        )

    def _by_uuid(self, uuid: str) -> Handle | None:
        try:
            return self._backend.handle_by_uuid(uuid)
        except GpuError as exc:
            if exc.kind is GpuErrorKind.NOT_FOUND:
                return None
            raise

    def _gpu_by_uuid_prefix(self, text: str) -> Handle | None:
        handle = self._by_uuid(text)
        if handle is not None:
            return handle
        # CUDA accepts any unambiguous UUID prefix; NVML only the full UUID.
        backend = self._backend
        matches = []
        for index in range(backend.device_count()):
            candidate = backend.handle_by_index(index)
            if backend.uuid(candidate).lower().startswith(text.lower()):
                matches.append(candidate)
        return matches[0] if len(matches) == 1 else None

    def _mig_by_instance(self, parent: Handle, gpu_instance_id: int | None) -> Handle | None:
        backend = self._backend
        if not backend.mig_enabled(parent):
            return None
        for slot in range(backend.max_mig_devices(parent)):
            try:
                mig = backend.mig_device(parent, slot)
            except GpuError as exc:
                if exc.kind is GpuErrorKind.NOT_FOUND:
                    continue
                raise
            if backend.gpu_instance_id(mig) == gpu_instance_id:
                return mig
        return None

    def _sample(self, device: ResolvedDevice) -> GpuSample:
        try:
            sample = self._measure(device)
        except GpuError as exc:
            label = f"{'MIG' if device.parent is not None else 'GPU'} {device.cuda_index}"
            error = f"{label}: NVML error: {exc.message} (readings paused)"
            last = self._last.get(device.uuid)
            if last is None:
                return GpuSample(
                    cuda_index=device.cuda_index,
                    uuid=device.uuid,
                    name=device.name,
                    is_mig=device.parent is not None,
                    utilization=None,
                    memory_used=None,
                    memory_total=None,
                    power_w=None,
                    power_limit_w=None,
                    temperature_c=None,
                    energy_j=None,
                    error=error,
                    simulated=self._backend.simulated,
                )
            return replace(last, error=error)
        self._last[device.uuid] = sample
        return sample

    def _measure(self, device: ResolvedDevice) -> GpuSample:
        backend = self._backend
        handle = device.handle
        notes: list[str] = []
        memory = backend.memory(handle)
        parent = device.parent
        if parent is not None:
            utilization = None
            power = limit = energy = None
            notes += [MIG_UTILIZATION_NOTE, MIG_POWER_NOTE]
            # The die temperature is physical and harmless to show, unlike shared power.
            temperature = _optional(lambda: backend.temperature_c(parent), "temperature", notes)
            share = mig_share(device.name, backend.max_mig_devices(parent))
            parent_mj = _optional(lambda: backend.total_energy_mj(parent), "energy", notes)
            if share is None or parent_mj is None:
                notes.append(MIG_NO_ENERGY_NOTE)
            else:
                energy = self._energy_since_start(device, parent_mj) * float(share)
                notes.append(MIG_ENERGY_NOTE.format(share=share))
        else:
            utilization = _optional(lambda: backend.utilization(handle), "utilisation", notes)
            power_mw = _optional(lambda: backend.power_usage_mw(handle), "power", notes)
            limit_mw = _optional(lambda: backend.power_limit_mw(handle), "power limit", notes)
            temperature = _optional(lambda: backend.temperature_c(handle), "temperature", notes)
            energy_mj = _optional(lambda: backend.total_energy_mj(handle), "energy", notes)
            power = None if power_mw is None else power_mw / 1000.0
            limit = None if limit_mw is None else limit_mw / 1000.0
            energy = None if energy_mj is None else self._energy_since_start(device, energy_mj)
        return GpuSample(
            cuda_index=device.cuda_index,
            uuid=device.uuid,
            name=device.name,
            is_mig=device.parent is not None,
            utilization=utilization,
            memory_used=memory.used,
            memory_total=memory.total,
            power_w=power,
            power_limit_w=limit,
            temperature_c=temperature,
            energy_j=energy,
            notes=tuple(notes),
            simulated=backend.simulated,
        )

    def _energy_since_start(self, device: ResolvedDevice, counter_mj: int) -> float:
        last = self._energy_last_mj.get(device.uuid)
        total = self._energy_total_mj.get(device.uuid, 0)
        # A counter that went backwards was reset (driver reload): count from its new value.
        if last is not None and counter_mj >= last:
            total += counter_mj - last
        self._energy_last_mj[device.uuid] = counter_mj
        self._energy_total_mj[device.uuid] = total
        return total / 1000.0


def _optional(read: Callable[[], int], what: str, notes: list[str]) -> int | None:
    """Return the figure, or None with a note when the device does not support it."""
    try:
        return read()
    except GpuError as exc:
        if exc.kind is not GpuErrorKind.NOT_SUPPORTED:
            raise
        notes.append(f"{what}: not reported by this GPU")
        return None
