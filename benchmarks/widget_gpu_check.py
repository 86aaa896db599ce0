"""Check the widget's GPU reader against nvidia-smi on a real NVIDIA GPU.

    python benchmarks/widget_gpu_check.py

For each GPU the reader shows (all of the node's GPUs when CUDA_VISIBLE_DEVICES is unset), it
compares name, UUID, memory, power, temperature and utilisation with
``nvidia-smi --query-gpu=...``; moving values get tolerances. It also checks that the reader
hides the GPUs CUDA_VISIBLE_DEVICES leaves out. Exits 0 when everything matches, 1 on a
mismatch, 2 when there is no GPU or no driver (it never passes on a CPU machine).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from computehub.extensions.gpus import GpuReader, GpuSample
from computehub.extensions.nvml import PynvmlBackend

QUERY = (
    "index,uuid,name,memory.used,memory.total,power.draw,power.limit,"
    "temperature.gpu,utilization.gpu"
)
MIB = 2**20


@dataclass(frozen=True)
class SmiRow:
    """One GPU as nvidia-smi reports it (None where it says N/A)."""

    index: int
    uuid: str
    name: str
    memory_used_mib: float | None
    memory_total_mib: float | None
    power_w: float | None
    power_limit_w: float | None
    temperature_c: float | None
    utilization: float | None


def _number(text: str) -> float | None:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def nvidia_smi() -> list[SmiRow]:
    """Query nvidia-smi; exit 2 when it is missing or fails."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        print("no GPU: nvidia-smi not found (this check needs a real NVIDIA GPU)")
        sys.exit(2)
    result = subprocess.run(
        [smi, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        print(f"no GPU: nvidia-smi failed: {result.stderr.strip() or result.stdout.strip()}")
        sys.exit(2)
    rows = []
    for line in result.stdout.strip().splitlines():
        f = [part.strip() for part in line.split(",")]
        rows.append(
            SmiRow(
                index=int(f[0]),
                uuid=f[1],
                name=f[2],
                memory_used_mib=_number(f[3]),
                memory_total_mib=_number(f[4]),
                power_w=_number(f[5]),
                power_limit_w=_number(f[6]),
                temperature_c=_number(f[7]),
                utilization=_number(f[8]),
            )
        )
    if not rows:
        print("no GPU: nvidia-smi lists no GPU")
        sys.exit(2)
    return rows


def _close(
    what: str, ours: float | None, theirs: float | None, tolerance: float, errors: list[str]
) -> None:
    if theirs is None:
        return  # nvidia-smi has no figure to compare with
    if ours is None:
        errors.append(f"{what}: reader has none, nvidia-smi says {theirs}")
    elif abs(ours - theirs) > tolerance:
        errors.append(f"{what}: reader {ours:.1f}, nvidia-smi {theirs:.1f} (±{tolerance:.1f})")


def compare(sample: GpuSample, row: SmiRow) -> list[str]:
    """The mismatches between one reader sample and the matching nvidia-smi row."""
    errors: list[str] = []
    label = f"GPU {row.index} ({row.uuid})"
    if sample.name != row.name:
        errors.append(f"{label} name: reader {sample.name!r}, nvidia-smi {row.name!r}")
    used = None if sample.memory_used is None else sample.memory_used / MIB
    total = None if sample.memory_total is None else sample.memory_total / MIB
    # Totals are fixed; used memory, power, temperature and utilisation move between reads.
    _close(f"{label} memory.total MiB", total, row.memory_total_mib, 1.0, errors)
    used_tol = max(64.0, 0.05 * (row.memory_total_mib or 0))
    _close(f"{label} memory.used MiB", used, row.memory_used_mib, used_tol, errors)
    _close(f"{label} power.limit W", sample.power_limit_w, row.power_limit_w, 1.0, errors)
    power_tol = max(15.0, 0.15 * (row.power_w or 0.0))
    _close(f"{label} power.draw W", sample.power_w, row.power_w, power_tol, errors)
    temperature = None if sample.temperature_c is None else float(sample.temperature_c)
    _close(f"{label} temperature C", temperature, row.temperature_c, 3.0, errors)
    utilization = None if sample.utilization is None else float(sample.utilization)
    _close(f"{label} utilization %", utilization, row.utilization, 25.0, errors)
    if sample.error is not None:
        errors.append(f"{label}: reader error {sample.error}")
    return errors


def main() -> int:
    """Run the comparison; the exit status says whether it matched."""
    rows = nvidia_smi()
    by_uuid = {row.uuid: row for row in rows}
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        visible = ",".join(row.uuid for row in rows)
        print(f"CUDA_VISIBLE_DEVICES unset: checking all {len(rows)} GPUs by UUID")
    reader = GpuReader(PynvmlBackend(), visible)
    try:
        reading = reader.read()
    finally:
        reader.close()
    for line in reading.status:
        print(f"reader status: {line}")
    if not reading.gpus:
        print("no GPU: the reader found none (driver missing or no GPU visible)")
        return 2
    errors: list[str] = []
    checked = 0
    for sample in reading.gpus:
        if sample.is_mig:
            print(f"{sample.label} {sample.uuid}: MIG instance, not in nvidia-smi --query-gpu")
            continue
        row = by_uuid.get(sample.uuid)
        if row is None:
            errors.append(f"{sample.label}: reader shows {sample.uuid}, unknown to nvidia-smi")
            continue
        checked += 1
        found = compare(sample, row)
        errors += found
        state = "ok" if not found else "MISMATCH"
        print(
            f"{sample.label} = nvidia-smi GPU {row.index} {row.name}: {state} "
            f"(reader {sample.utilization} %, {sample.power_w} W, {sample.temperature_c} C; "
            f"nvidia-smi {row.utilization} %, {row.power_w} W, {row.temperature_c} C)"
        )
    # Only the session's GPUs: naming one GPU must hide all the others.
    first = rows[0]
    for form in (str(first.index), first.uuid):
        single = GpuReader(PynvmlBackend(), form)
        try:
            shown = [g.uuid for g in single.read().gpus]
        finally:
            single.close()
        if shown != [first.uuid]:
            errors.append(f"CUDA_VISIBLE_DEVICES={form}: reader shows {shown}")
    for error in errors:
        print(f"MISMATCH {error}")
    print(f"{checked} GPU(s) compared, {len(errors)} mismatch(es)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
