"""The demo's simulated GPUs: the pure simulation (tables), the layer, the label, the switch."""

from __future__ import annotations

from dataclasses import replace

import pytest

from computehub.extensions.fake import MIB, FakeGpuBackend
from computehub.extensions.gpus import GpuReader
from computehub.extensions.nvml import PynvmlBackend
from computehub.extensions.render import SIMULATED_LABEL, gpu_details_html, gpu_title_html
from computehub.extensions.session import build_sampler
from computehub.extensions.settings import ComputeHubWidgetSettings
from computehub.extensions.simulate import (
    MODELS,
    SimulatedFigures,
    SimulatedSession,
    model_for,
    simulate,
    utilization,
)
from computehub.extensions.simulated import SimulatedGpuBackend, simulated_layer

H100 = MODELS["h100"]
A100 = MODELS["a100"]


@pytest.mark.parametrize(
    ("cpu_s", "wall_s", "expected"),
    [
        pytest.param(0.0, 1.0, 0, id="idle"),
        pytest.param(0.005, 1.0, 0, id="the-sampler-alone-rounds-to-0"),
        pytest.param(0.25, 1.0, 25, id="a-quarter"),
        pytest.param(1.0, 1.0, 100, id="a-busy-loop"),
        pytest.param(3.7, 1.0, 100, id="several-threads-clamped"),
        pytest.param(0.5, 0.0, 0, id="empty-period"),
        pytest.param(-1.0, 1.0, 0, id="cpu-clock-went-back"),
        pytest.param(float("nan"), 1.0, 0, id="nan"),
    ],
)
def test_utilisation_is_the_share_of_the_period_on_a_cpu(
    cpu_s: float, wall_s: float, expected: int
) -> None:
    assert utilization(cpu_s, wall_s) == expected


@pytest.mark.parametrize(
    ("model", "cpu_s", "wall_s", "cpu_total_s", "expected"),
    [
        pytest.param(
            H100, 0.0, 1.0, 0.0, SimulatedFigures(0, 70_000, 512 * MIB, 32), id="h100-idle"
        ),
        pytest.param(
            H100,
            1.0,
            1.0,
            0.0,
            SimulatedFigures(100, 700_000, 512 * MIB, 68),
            id="h100-busy-from-the-start",
        ),
        pytest.param(
            H100,
            0.5,
            1.0,
            60.0,
            # 512 MiB + (0.6 x 81559 MiB - 512 MiB) x (1 - 1/e) = 31121.4 MiB
            SimulatedFigures(50, 385_000, 32_633_181_090, 50),
            id="h100-half-after-a-minute-of-cpu",
        ),
        pytest.param(
            A100,
            2.0,
            2.0,
            1e9,
            SimulatedFigures(100, 400_000, 51_539_607_552, 68),
            id="a100-memory-saturates-at-60-percent",
        ),
        pytest.param(
            A100,
            0.1,
            1.0,
            5.0,
            # 512 MiB + (49152 MiB - 512 MiB) x (1 - e^(-5/60)) = 4401.05 MiB
            SimulatedFigures(10, 89_500, 4_614_824_575, 36),
            id="a100-light",
        ),
    ],
)
def test_simulated_figures(
    model: object, cpu_s: float, wall_s: float, cpu_total_s: float, expected: SimulatedFigures
) -> None:
    assert simulate(model, cpu_s, wall_s, cpu_total_s) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("gres", "name", "memory_mib"),
    [
        ("h100", "NVIDIA H100 80GB HBM3", 81559),
        ("A100", "NVIDIA A100-SXM4-80GB", 81920),
        ("rtx6000", "NVIDIA RTX6000", 24576),
    ],
)
def test_models_by_gres_type(gres: str, name: str, memory_mib: int) -> None:
    model = model_for(gres)
    assert (model.name, model.memory_total_mib) == (name, memory_mib)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("h100", SimulatedSession("h100")),
        (" a100:1g.10gb ", SimulatedSession("a100", "1g.10gb")),
    ],
)
def test_the_switch_names_the_sessions_gpu(value: str, expected: SimulatedSession) -> None:
    assert SimulatedSession.parse(value) == expected
    assert SimulatedSession.parse(expected.env_value()) == expected


@pytest.mark.parametrize("value", ["", ":1g.10gb", "h100;rm -rf", "h100:<b>", "x" * 40])
def test_a_malformed_switch_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="COMPUTEHUB_SIMULATED_GPUS"):
        SimulatedSession.parse(value)


class Kernel:
    """The kernel's CPU seconds and the wall clock, moved by the test."""

    def __init__(self) -> None:
        self.cpu = 10.0
        self.wall = 1000.0

    def run(self, wall_s: float, busy: float) -> None:
        self.wall += wall_s
        self.cpu += wall_s * busy


def test_readings_follow_the_kernels_cpu_use_on_the_jobs_gpus_only() -> None:
    kernel = Kernel()
    backend, visible = simulated_layer(
        "h100", "2,3", cpu_seconds=lambda: kernel.cpu, clock=lambda: kernel.wall
    )
    reader = GpuReader(backend, visible)
    first = reader.read()
    assert [g.cuda_index for g in first.gpus] == [0, 1]
    assert all(g.simulated and g.name == "NVIDIA H100 80GB HBM3" for g in first.gpus)
    assert [g.utilization for g in first.gpus] == [0, 0]
    kernel.run(2.0, busy=0.02)
    idle = reader.read().gpus[0]
    kernel.run(2.0, busy=1.0)  # a cell running a loop
    busy = reader.read().gpus[0]
    assert idle.utilization == 2
    assert busy.utilization == 100
    assert busy.power_w == 700.0
    assert idle.power_w is not None
    assert idle.power_w < 100
    assert busy.memory_used is not None
    assert idle.memory_used is not None
    assert busy.memory_used > idle.memory_used
    # Energy: the simulated power of each period over it (82.6 W for 2 s, then 700 W).
    assert busy.energy_j == pytest.approx(2 * 82.6 + 2 * 700.0)
    kernel.run(2.0, busy=0.0)
    assert reader.read().gpus[1].utilization == 0


def test_one_reader_pass_is_one_simulated_moment() -> None:
    kernel = Kernel()
    backend, visible = simulated_layer(
        "h100", "0", cpu_seconds=lambda: kernel.cpu, clock=lambda: kernel.wall
    )
    reader = GpuReader(backend, visible)
    reader.read()
    kernel.run(1.0, busy=0.5)
    sample = reader.read().gpus[0]
    # Every figure of the pass comes from the same period: 50 % and its power.
    assert (sample.utilization, sample.power_w) == (50, 385.0)


def test_a_mig_session_shows_its_slices_memory_and_a_share_of_the_energy() -> None:
    kernel = Kernel()
    backend, visible = simulated_layer(
        "a100:1g.10gb", "4", cpu_seconds=lambda: kernel.cpu, clock=lambda: kernel.wall
    )
    reader = GpuReader(backend, visible)
    reader.read()
    kernel.run(10.0, busy=1.0)
    (mig,) = reader.read().gpus
    assert mig.is_mig
    assert mig.simulated
    assert mig.name == "NVIDIA A100-SXM4-80GB MIG 1g.10gb"
    assert mig.utilization is None  # as NVML: none per MIG instance
    assert mig.memory_total == 10_000 * MIB
    assert mig.memory_used is not None
    assert mig.memory_used > 512 * MIB
    assert mig.energy_j == pytest.approx(10 * 400.0 / 7)


@pytest.mark.parametrize("visible", [None, "", "NoDevFiles"])
def test_a_session_without_gpus_shows_none(visible: str | None) -> None:
    backend, reader_visible = simulated_layer("h100", visible)
    reading = GpuReader(backend, reader_visible).read()
    assert reading.gpus == ()
    assert reading.status[0].startswith("no GPU allocated to this session")


def test_the_label_says_simulated_gpu_and_the_energy_is_the_simulations() -> None:
    backend, visible = simulated_layer("h100", "0")
    sample = GpuReader(backend, visible).read().gpus[0]
    assert SIMULATED_LABEL == "simulated GPU"
    assert ">simulated GPU</span>" in gpu_title_html(sample)
    assert "simulated, since this kernel started" in gpu_details_html(sample)
    assert "NVML reading" not in gpu_details_html(sample)


def test_the_fake_layer_is_labelled_too_and_nvml_is_not() -> None:
    assert FakeGpuBackend.simulated is True
    assert SimulatedGpuBackend.simulated is True
    assert PynvmlBackend.simulated is False
    sample = GpuReader(FakeGpuBackend.with_gpus(1), "0").read().gpus[0]
    assert "simulated GPU" in gpu_title_html(sample)
    real = replace(sample, simulated=False)
    assert "simulated" not in gpu_title_html(real)
    assert "NVML reading of the GPU" in gpu_details_html(real)


def test_the_widget_simulates_only_when_the_spawner_says_so() -> None:
    settings = ComputeHubWidgetSettings()
    base = {"CUDA_VISIBLE_DEVICES": "1"}
    on = build_sampler(settings, {**base, "COMPUTEHUB_SIMULATED_GPUS": "a100"})
    assert isinstance(on.reader._backend, SimulatedGpuBackend)
    reading = on.reader.read()
    assert [(g.name, g.simulated) for g in reading.gpus] == [("NVIDIA A100-SXM4-80GB", True)]
    off = build_sampler(settings, base)
    assert isinstance(off.reader._backend, PynvmlBackend)
