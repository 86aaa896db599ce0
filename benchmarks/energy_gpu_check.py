"""Check the energy hook's NVML counter against nvidia-smi on a real NVIDIA GPU.

    python benchmarks/energy_gpu_check.py [SECONDS]

A sibling of ``widget_gpu_check.py``. For every GPU of the node it reads NVML's
total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, through the same
``GpuBackend`` the hook and the widget use) just before and just after
``nvidia-smi --query-gpu=energy.consumption`` (millijoules since the driver loaded), and
checks that nvidia-smi's figure lies between the two readings. Then it runs the hook's
prolog and epilog around SECONDS (default 10) of wall time on every GPU and checks that
the job's watt-hours equal nvidia-smi's energy difference over the same window (within
2 %, or 0.01 Wh for an idle GPU). Exits 0 when everything matches, 1 on a mismatch, 2 when
there is no GPU or no driver (it never passes on a CPU machine).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from computehub.extensions.energyhook import MJ_PER_WH, epilog, prolog
from computehub.extensions.nvml import GpuError, PynvmlBackend

QUERY = "index,uuid,energy.consumption"


def smi_energy() -> dict[int, int]:
    """nvidia-smi's energy counter of each GPU, mJ; exit 2 without nvidia-smi or a GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        print("no GPU: nvidia-smi not found (this check needs a real NVIDIA GPU)")
        sys.exit(2)
    result = subprocess.run(
        [smi, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        print(f"no GPU: nvidia-smi failed: {result.stderr.strip() or result.stdout.strip()}")
        sys.exit(2)
    found = {}
    for line in result.stdout.strip().splitlines():
        index, _uuid, energy = (part.strip() for part in line.split(","))
        try:
            found[int(index)] = round(float(energy))
        except ValueError:
            print(f"GPU {index}: nvidia-smi reports no energy counter ({energy!r})")
            sys.exit(1)
    if not found:
        print("no GPU: nvidia-smi lists none")
        sys.exit(2)
    return found


def nvml_energy(backend: PynvmlBackend, count: int) -> dict[int, int]:
    """NVML's energy counter of each GPU, mJ."""
    return {i: backend.total_energy_mj(backend.handle_by_index(i)) for i in range(count)}


def main() -> int:
    """Run the two checks; see the module docstring for the exit codes."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    backend = PynvmlBackend()
    try:
        backend.init()
    except GpuError as exc:
        print(f"no GPU: NVML did not start ({exc.message})")
        return 2
    failures = 0
    try:
        count = backend.device_count()
        before = nvml_energy(backend, count)
        smi = smi_energy()
        after = nvml_energy(backend, count)
    finally:
        backend.shutdown()
    for index in range(count):
        low, high = before[index], after[index]
        ok = index in smi and low - 1 <= smi[index] <= high + 1
        failures += not ok
        print(
            f"GPU {index}: NVML {low}..{high} mJ, nvidia-smi {smi.get(index)} mJ: "
            f"{'ok' if ok else 'MISMATCH'}"
        )
    env = {
        "SLURM_JOB_ID": "1",
        "SLURM_CLUSTER_NAME": "check",
        "SLURM_JOB_GPUS": ",".join(str(i) for i in range(count)),
    }
    with tempfile.TemporaryDirectory() as spool:
        start_smi = smi_energy()
        prolog(PynvmlBackend(), env, Path(spool), {})
        time.sleep(seconds)
        note = epilog(PynvmlBackend(), env, Path(spool), {})
        end_smi = smi_energy()
    smi_wh = sum(end_smi[i] - start_smi[i] for i in range(count)) / MJ_PER_WH
    if note is None or note.wh is None:
        print(f"hook: no energy measured ({note})")
        return 1
    hook_wh = float(note.wh)
    ok = abs(hook_wh - smi_wh) <= max(0.02 * smi_wh, 0.01)
    failures += not ok
    print(
        f"hook over {note.seconds} s on {count} GPUs: {hook_wh:.4f} Wh, nvidia-smi "
        f"{smi_wh:.4f} Wh: {'ok' if ok else 'MISMATCH'}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
