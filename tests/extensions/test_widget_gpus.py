"""The GPU reader against the fake device layer."""

from __future__ import annotations

import pytest

from computehub.extensions.fake import MIB, FakeGpu, FakeGpuBackend
from computehub.extensions.gpus import (
    MIG_UTILIZATION_NOTE,
    DeviceRef,
    GpuReader,
    parse_visible_devices,
)
from computehub.extensions.nvml import GpuErrorKind, PynvmlBackend, backend_from_env

GPU0 = "GPU-11111111-1111-1111-1111-111111111111"
GPU1 = "GPU-22222222-2222-2222-2222-222222222222"
GPU2 = "GPU-33333333-3333-3333-3333-333333333333"
MIG_A = "MIG-aaaaaaaa-aaaa-5aaa-aaaa-aaaaaaaaaaaa"
MIG_B = "MIG-bbbbbbbb-bbbb-5bbb-bbbb-bbbbbbbbbbbb"


@pytest.mark.parametrize(
    ("value", "refs", "has_note"),
    [
        pytest.param(None, [], True, id="unset-means-none-not-all"),
        pytest.param("", [], True, id="empty"),
        pytest.param("NoDevFiles", [], True, id="slurm-nodevfiles"),
        pytest.param("-1", [], True, id="minus-one"),
        pytest.param("0", [DeviceRef("0", "index", index=0)], False, id="one-index"),
        pytest.param(
            " 0, 2 ",
            [DeviceRef("0", "index", index=0), DeviceRef("2", "index", index=2)],
            False,
            id="indices-with-spaces",
        ),
        pytest.param("1,1", [DeviceRef("1", "index", index=1)], False, id="duplicate-once"),
        pytest.param(
            "0,-1,2", [DeviceRef("0", "index", index=0)], True, id="stops-at-invalid-like-cuda"
        ),
        pytest.param(GPU1, [DeviceRef(GPU1, "gpu_uuid", uuid=GPU1)], False, id="gpu-uuid"),
        pytest.param(
            "GPU-2222",
            [DeviceRef("GPU-2222", "gpu_uuid", uuid="GPU-2222")],
            False,
            id="gpu-uuid-prefix",
        ),
        pytest.param(MIG_A, [DeviceRef(MIG_A, "mig_uuid", uuid=MIG_A)], False, id="mig-uuid"),
        pytest.param(
            f"MIG-{GPU2}/7/0",
            [DeviceRef(f"MIG-{GPU2}/7/0", "mig_legacy", uuid=GPU2, gpu_instance_id=7)],
            False,
            id="mig-legacy-form",
        ),
        pytest.param("gpu0", [], True, id="garbage"),
        pytest.param("0;rm -rf /", [], True, id="hostile"),
    ],
)
def test_parse_visible_devices(value: str | None, refs: list[DeviceRef], has_note: bool) -> None:
    parsed = parse_visible_devices(value)
    assert list(parsed.refs) == refs
    assert (parsed.note is not None) == has_note


def _uuids(reader: GpuReader) -> list[str]:
    return [g.uuid for g in reader.read().gpus]


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        pytest.param("0", [GPU0], id="index"),
        pytest.param("1,0", [GPU1, GPU0], id="indices-in-cuda-order"),
        pytest.param(GPU1, [GPU1], id="gpu-uuid"),
        pytest.param("GPU-2222", [GPU1], id="gpu-uuid-prefix"),
        pytest.param(MIG_B, [MIG_B], id="mig-uuid"),
        pytest.param(f"MIG-{GPU2}/7/0", [MIG_A], id="mig-legacy"),
        pytest.param(f"{GPU0},{MIG_A}", [GPU0, MIG_A], id="mixed"),
    ],
)
def test_reader_shows_only_the_sessions_gpus(
    backend: FakeGpuBackend, visible: str, expected: list[str]
) -> None:
    reader = GpuReader(backend, visible)
    assert _uuids(reader) == expected
    assert reader.read().status == ()


def test_other_gpus_hidden_and_numbered_by_cuda_ordinal(backend: FakeGpuBackend) -> None:
    reading = GpuReader(backend, "1").read()
    assert [(g.cuda_index, g.label, g.utilization) for g in reading.gpus] == [(0, "GPU 0", 99)]
    assert GPU0 not in repr(reading)
    assert GPU2 not in repr(reading)


def test_ambiguous_uuid_prefix_resolves_to_nothing() -> None:
    backend = FakeGpuBackend(
        [
            FakeGpu(uuid="GPU-abcd0000-0000-0000-0000-000000000000"),
            FakeGpu(uuid="GPU-abcd1111-1111-1111-1111-111111111111"),
        ]
    )
    reading = GpuReader(backend, "GPU-abcd").read()
    assert reading.gpus == ()
    assert reading.status == ("GPU-abcd: no such device on this node",)


def test_index_past_the_node_is_a_status_line(backend: FakeGpuBackend) -> None:
    reading = GpuReader(backend, "0,5").read()
    assert [g.uuid for g in reading.gpus] == [GPU0]
    assert reading.status == ("5: no such device on this node",)


def test_whole_gpu_sample_has_units(backend: FakeGpuBackend) -> None:
    (gpu,) = GpuReader(backend, "0").read().gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.utilization == 37
    assert (gpu.memory_used, gpu.memory_total) == (20 * 1024 * MIB, 80 * 1024 * MIB)
    assert gpu.memory_percent == pytest.approx(25.0)
    assert (gpu.power_w, gpu.power_limit_w, gpu.temperature_c) == (250.0, 700.0, 51)
    assert gpu.energy_j == 0.0
    assert gpu.notes == ()
    assert gpu.error is None


def test_mig_sample_says_why_utilisation_is_missing(backend: FakeGpuBackend) -> None:
    (mig,) = GpuReader(backend, MIG_A).read().gpus
    assert mig.is_mig
    assert mig.label == "MIG 0"
    assert mig.name == "NVIDIA A100-SXM4-40GB MIG 1g.5gb"
    assert mig.utilization is None
    assert MIG_UTILIZATION_NOTE in mig.notes
    assert (mig.power_w, mig.energy_j) == (None, 0.0)  # energy: the GPU's, by share
    assert mig.memory_used == 1024 * MIB
    assert mig.temperature_c == 44  # the parent die's


def test_energy_is_the_difference_since_the_reader_started(backend: FakeGpuBackend) -> None:
    reader = GpuReader(backend, "0")
    assert reader.read().gpus[0].energy_j == 0.0
    backend.gpus[0].energy_mj += 3_600_000  # 3600 J = 1 Wh
    gpu = reader.read().gpus[0]
    assert gpu.energy_j == pytest.approx(3600.0)
    assert gpu.energy_wh == pytest.approx(1.0)


def test_energy_survives_close_and_a_counter_reset(backend: FakeGpuBackend) -> None:
    reader = GpuReader(backend, "0")
    reader.read()
    backend.gpus[0].energy_mj += 1000
    reader.read()
    reader.close()
    backend.gpus[0].energy_mj = 500  # driver reloaded: the counter starts again
    assert reader.read().gpus[0].energy_j == pytest.approx(1.0)
    backend.gpus[0].energy_mj = 2500
    assert reader.read().gpus[0].energy_j == pytest.approx(3.0)


def test_nvml_error_mid_session_pauses_the_row_then_recovers(backend: FakeGpuBackend) -> None:
    reader = GpuReader(backend, "0,1")
    reader.read()
    backend.gpus[0].utilization = 80
    backend.inject_error("power_usage_mw", GpuErrorKind.GPU_IS_LOST, "GPU is lost", uuid=GPU0)
    paused = reader.read()
    first, second = paused.gpus
    assert first.error == "GPU 0: NVML error: GPU is lost (readings paused)"
    assert first.utilization == 37  # the last good figures, not half a new reading
    assert second.error is None
    assert second.utilization == 99
    assert paused.status == ("GPU 0: NVML error: GPU is lost (readings paused)",)
    backend.clear_errors()
    recovered = reader.read()
    assert recovered.gpus[0].error is None
    assert recovered.gpus[0].utilization == 80
    assert recovered.status == ()


def test_error_before_any_good_reading_shows_an_empty_paused_row(
    backend: FakeGpuBackend,
) -> None:
    backend.inject_error("memory", message="Unknown Error")
    (gpu,) = GpuReader(backend, "1").read().gpus
    assert gpu.error == "GPU 0: NVML error: Unknown Error (readings paused)"
    assert gpu.memory_used is None
    assert gpu.uuid == GPU1


def test_unsupported_figure_is_none_with_a_note(backend: FakeGpuBackend) -> None:
    backend.inject_error("total_energy_mj", GpuErrorKind.NOT_SUPPORTED, "Not Supported")
    (gpu,) = GpuReader(backend, "0").read().gpus
    assert gpu.energy_j is None
    assert gpu.error is None
    assert gpu.notes == ("energy: not reported by this GPU",)


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        pytest.param(
            GpuErrorKind.LIBRARY_NOT_FOUND,
            "NVIDIA driver not found (no NVML library): no GPU readings",
            id="no-library",
        ),
        pytest.param(
            GpuErrorKind.DRIVER_NOT_LOADED,
            "NVIDIA driver not loaded: no GPU readings",
            id="driver-not-loaded",
        ),
    ],
)
def test_no_driver_is_a_status_line_and_not_retried(
    backend: FakeGpuBackend, kind: GpuErrorKind, line: str
) -> None:
    backend.init_error = kind
    reader = GpuReader(backend, "0")
    assert reader.read().status == (line,)
    assert reader.read().gpus == ()
    assert backend.init_calls == 1


@pytest.mark.parametrize("visible", [None, "", "NoDevFiles"])
def test_no_gpu_at_all_never_touches_nvml(backend: FakeGpuBackend, visible: str | None) -> None:
    backend.init_error = GpuErrorKind.LIBRARY_NOT_FOUND
    reading = GpuReader(backend, visible).read()
    assert reading.gpus == ()
    assert len(reading.status) == 1
    assert "no GPU allocated" in reading.status[0]
    assert backend.init_calls == 0


def test_close_shuts_nvml_down_and_read_reopens(backend: FakeGpuBackend) -> None:
    reader = GpuReader(backend, "0")
    reader.read()
    reader.close()
    assert (backend.initialized, backend.shutdown_calls) == (False, 1)
    assert reader.read().gpus[0].uuid == GPU0
    assert backend.init_calls == 2


def test_real_backend_without_init_reports_instead_of_crashing() -> None:
    with pytest.raises(Exception, match="not initialised"):
        PynvmlBackend().device_count()


def test_fake_gpus_from_the_environment() -> None:
    spec = '[{"name": "NVIDIA L4", "utilization": 12, "memory_total_mib": 23034}]'
    backend = backend_from_env({"COMPUTEHUB_FAKE_GPUS": spec})
    (gpu,) = GpuReader(backend, "0").read().gpus
    assert (gpu.name, gpu.utilization, gpu.memory_total) == ("NVIDIA L4", 12, 23034 * MIB)
    assert gpu.power_limit_w == 400.0


def test_fake_gpu_count_from_the_environment() -> None:
    backend = backend_from_env({"COMPUTEHUB_FAKE_GPUS": "2"})
    assert len(GpuReader(backend, "0,1").read().gpus) == 2


@pytest.mark.parametrize("spec", ["{", '{"a": 1}', '[{"utilization": -1}]', "true"])
def test_bad_fake_spec_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="COMPUTEHUB_FAKE_GPUS"):
        backend_from_env({"COMPUTEHUB_FAKE_GPUS": spec})


def test_real_backend_is_the_default() -> None:
    assert isinstance(backend_from_env({}), PynvmlBackend)


def test_a_mig_instance_shows_its_share_of_the_gpus_energy(backend: FakeGpuBackend) -> None:
    reader = GpuReader(backend, MIG_A)
    reader.read()
    parent = next(gpu for gpu in backend.gpus if gpu.migs)
    parent.energy_mj += 7 * 3_600_000  # the whole GPU used 7 Wh
    (sample,) = reader.read().gpus
    assert sample.energy_wh == pytest.approx(1.0)  # 1g of the GPU's 7 slices
    assert "energy: the whole GPU's, by this instance's share of its slices (1/7)" in sample.notes
