"""Cost of the notebook widget's sampler, and how fast a GPU change reaches the widget.

Runs on any machine: the GPUs are the fake device layer, the widget is a real ipywidgets
composite (outside a kernel its comm is a no-op, so sending to the browser is not counted).

    .venv/bin/python benchmarks/widget.py [--seconds 10] [--gpus 2]

Prints, for 1 Hz and 10 Hz: the process CPU time per second with the sampler running minus an
idle baseline measured in the same run (target at 1 Hz: at most 1% of one core), and the time
from a change of the fake NVML counters to the widget's state.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable

from computehub.extensions.fake import FakeGpuBackend
from computehub.extensions.gpus import GpuReader
from computehub.extensions.sampler import Sampler, Snapshot
from computehub.extensions.widget import ComputeHubWidget

TARGET_AT_1HZ = 0.01


def cpu_per_second(seconds: float, during: Callable[[], None] | None = None) -> float:
    """Process CPU seconds per wall second while the main thread sleeps."""
    if during is not None:
        during()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


def build(gpus: int, hz: float) -> tuple[FakeGpuBackend, Sampler]:
    backend = FakeGpuBackend.with_gpus(gpus)
    visible = ",".join(str(i) for i in range(gpus))
    return backend, Sampler(GpuReader(backend, visible), None, interval=1.0 / hz)


def moving_counters(backend: FakeGpuBackend) -> Callable[[Snapshot], None]:
    """A subscriber that changes the counters after each sample, as a busy GPU would."""

    def move(_snapshot: Snapshot) -> None:
        for gpu in backend.gpus:
            gpu.utilization = (gpu.utilization + 7) % 101
            gpu.memory_used = (gpu.memory_used + 123 * 2**20) % gpu.memory_total
            gpu.power_mw = 60_000 + gpu.utilization * 3_000
            gpu.energy_mj += gpu.power_mw // 10

    return move


def measure_cpu(hz: float, seconds: float, gpus: int, idle: float) -> float:
    backend, sampler = build(gpus, hz)
    sampler.subscribe(moving_counters(backend))
    widget = ComputeHubWidget(sampler)
    try:
        busy = cpu_per_second(seconds)
    finally:
        widget.close()
    return busy - idle


def measure_latency(hz: float, samples: int, gpus: int) -> list[float]:
    backend, sampler = build(gpus, hz)
    widget = ComputeHubWidget(sampler)
    try:
        while not widget.rows:
            time.sleep(0.01)
        row = next(iter(widget.rows.values()))
        changed = threading.Event()
        seen_at: list[float] = []

        def on_value(change: object) -> None:
            seen_at.append(time.perf_counter())
            changed.set()

        row.utilization.observe(on_value, names="value")
        latencies = []
        for i in range(samples):
            changed.clear()
            # Change at a random phase of the sampling period, as a real workload would.
            time.sleep((i * 0.37 % 1.0) / hz)
            target = 1 + (i * 13) % 99
            if target == row.utilization.value:
                target += 1
            started = time.perf_counter()
            backend.gpus[0].utilization = target
            if not changed.wait(5.0 / hz + 1.0):
                raise SystemExit("the widget did not follow the counter")
            latencies.append(seen_at[-1] - started)
        return latencies
    finally:
        widget.close()


def measure_tick(gpus: int, samples: int = 200) -> list[float]:
    """Seconds for one sample: read every GPU, then render the widget."""
    backend, sampler = build(gpus, 1.0 / 3600)
    sampler.subscribe(moving_counters(backend))
    widget = ComputeHubWidget(sampler)
    try:
        durations = []
        for _ in range(samples):
            started = time.perf_counter()
            sampler.tick()
            durations.append(time.perf_counter() - started)
        return durations
    finally:
        widget.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per case")
    parser.add_argument("--gpus", type=int, default=2, help="fake GPUs shown")
    args = parser.parse_args()

    idle = cpu_per_second(args.seconds)
    print(f"idle baseline: {idle * 100:.3f} % of a core ({args.seconds:.0f} s)")
    results = {}
    for hz in (1.0, 10.0):
        cost = measure_cpu(hz, args.seconds, args.gpus, idle)
        results[hz] = cost
        print(f"sampler at {hz:4.0f} Hz, {args.gpus} GPUs: {cost * 100:.3f} % of a core")
    for hz, samples in ((1.0, 5), (10.0, 20)):
        lat = [s * 1e3 for s in measure_latency(hz, samples, args.gpus)]
        print(
            f"NVML change -> widget state at {hz:4.0f} Hz: median {statistics.median(lat):.1f}"
            f" ms, max {max(lat):.1f} ms ({samples} changes)"
        )
    ticks = [s * 1e3 for s in measure_tick(args.gpus)]
    print(f"one sample, read + render: median {statistics.median(ticks):.2f} ms")
    verdict = "meets" if results[1.0] <= TARGET_AT_1HZ else "MISSES"
    print(f"1 Hz cost {verdict} the target of {TARGET_AT_1HZ * 100:.0f} % of a core")


if __name__ == "__main__":
    main()
