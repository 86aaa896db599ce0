"""The node's energy hook on the fake device layer: counters at a known power, MIG by share."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from computehub.extensions.energyhook import (
    CounterReading,
    EnergyNote,
    epilog,
    format_comment,
    job_wh,
    main,
    parse_comment,
    prolog,
    visible_devices,
)
from computehub.extensions.fake import FakeGpu, FakeGpuBackend, FakeMig
from computehub.extensions.gpus import mig_share
from computehub.extensions.nvml import GpuErrorKind, backend_from_env

GPU0 = "GPU-11111111-1111-1111-1111-111111111111"
GPU1 = "GPU-22222222-2222-2222-2222-222222222222"
MIG_A = "MIG-aaaaaaaa-aaaa-5aaa-aaaa-aaaaaaaaaaaa"
ENV = {"SLURM_JOB_ID": "42", "SLURM_CLUSTER_NAME": "lahore"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _node(clock: Clock) -> FakeGpuBackend:
    """GPU 0 at 400 W, GPU 1 at 350 W in MIG mode with one 1g.10gb instance (7 slots)."""
    gpus = [
        FakeGpu(uuid=GPU0, power_mw=400_000, energy_mj=5_000, energy_epoch=0.0, clock=clock),
        FakeGpu(
            uuid=GPU1,
            power_mw=350_000,
            energy_epoch=0.0,
            clock=clock,
            migs=[FakeMig(MIG_A, name="NVIDIA A100-SXM4-80GB MIG 1g.10gb")],
        ),
    ]
    return FakeGpuBackend(gpus)


def test_the_fake_counter_advances_at_its_power_with_time() -> None:
    clock = Clock()
    gpu = FakeGpu(uuid=GPU0, power_mw=250_000, energy_mj=1_000, energy_epoch=clock.now, clock=clock)
    clock.now += 10
    assert gpu.energy_counter_mj == 1_000 + 2_500_000
    spec = json.dumps([{"power_w": 300, "energy_j": 7, "energy_epoch": time.time() - 100}])
    backend = backend_from_env({"COMPUTEHUB_FAKE_GPUS": spec})
    backend.init()
    joules = backend.total_energy_mj(backend.handle_by_index(0)) / 1000
    assert 7 + 300 * 100 <= joules < 7 + 300 * 102


@pytest.mark.parametrize(
    ("name", "slots", "share"),
    [
        pytest.param("NVIDIA A100-SXM4-40GB MIG 1g.5gb", 7, Fraction(1, 7), id="1g-of-7"),
        pytest.param("NVIDIA H100 80GB HBM3 MIG 3g.40gb", 7, Fraction(3, 7), id="3g-of-7"),
        pytest.param("NVIDIA H100 80GB HBM3 MIG 7g.80gb", 7, Fraction(1), id="whole-gpu-as-mig"),
        pytest.param("NVIDIA A30 MIG 2g.12gb", 4, Fraction(1, 2), id="a30-4-slots"),
        pytest.param("NVIDIA H100 80GB HBM3", 7, None, id="no-profile"),
        pytest.param("NVIDIA H100 MIG 9g.90gb", 7, None, id="more-than-the-gpu"),
        pytest.param("NVIDIA H100 MIG 1g.10gb", 0, None, id="no-slots"),
    ],
)
def test_a_mig_instance_gets_its_share_of_slices(
    name: str, slots: int, share: Fraction | None
) -> None:
    assert mig_share(name, slots) == share


def _r(uuid: str, mj: int, share: str = "1", counter: str | None = None) -> CounterReading:
    return CounterReading(uuid, counter or uuid, mj, share)


@pytest.mark.parametrize(
    ("start", "end", "wh"),
    [
        pytest.param([_r("a", 0)], [_r("a", 3_600_000)], Decimal("1.0000"), id="one-wh"),
        pytest.param(
            [_r("a", 10), _r("b", 20)],
            [_r("a", 10 + 7_200_000), _r("b", 20 + 1_800_000)],
            Decimal("2.5000"),
            id="two-gpus-summed",
        ),
        pytest.param(
            [_r("m", 0, "1/7", "p")],
            [_r("m", 7_000_000, "1/7", "p")],
            Decimal("0.2778"),
            id="mig-by-share",
        ),
        pytest.param([_r("a", 5)], [_r("a", 4)], None, id="counter-reset-is-unknown"),
        pytest.param([_r("a", 5)], [_r("b", 9)], None, id="other-device-is-unknown"),
        pytest.param([], [], None, id="nothing-read-is-unknown"),
    ],
)
def test_a_jobs_watt_hours_come_from_its_counters(
    start: list[CounterReading], end: list[CounterReading], wh: Decimal | None
) -> None:
    assert job_wh(start, end) == wh


@pytest.mark.parametrize(
    ("text", "note"),
    [
        pytest.param(
            "computehub-energy/1 wh=12.3456 s=60 gpus=2",
            EnergyNote(Decimal("12.3456"), 60, 2),
            id="measured",
        ),
        pytest.param(
            "computehub-energy/1 wh=unknown s=0 gpus=1 why=no-start-reading",
            EnergyNote(None, 0, 1, "no-start-reading"),
            id="unknown",
        ),
        pytest.param(
            "computehub-energy/1 wh=3.5000 s=90.0 gpus=1 src=simulated",
            EnergyNote(Decimal("3.5"), 90, 1, source="simulated"),
            id="simulated",
        ),
        pytest.param(
            "computehub-energy/1 wh=unknown s=0 gpus=1 why=unreadable src=simulated",
            EnergyNote(None, 0, 1, "unreadable", "simulated"),
            id="simulated-unknown",
        ),
        pytest.param("computehub-energy/1 wh=1 s=60 gpus=2 src=nvml", None, id="src-not-ours"),
        pytest.param("checked by ops", None, id="an-operators-comment"),
        pytest.param("computehub-energy/1 wh=-1 s=60 gpus=2", None, id="negative"),
        pytest.param("computehub-energy/1 wh=1 s=60 gpus=2|x", None, id="trailing"),
    ],
)
def test_the_admin_comment_round_trips(text: str, note: EnergyNote | None) -> None:
    assert parse_comment(text) == note
    if note is not None:
        assert parse_comment(format_comment(note)) == note
        assert "|" not in format_comment(note)


@pytest.mark.parametrize(
    ("env", "device_map", "visible"),
    [
        pytest.param({"SLURM_JOB_GPUS": "0,2"}, {}, "0,2", id="gres-indices-are-nvml-indices"),
        pytest.param({"SLURM_JOB_GPUS": "4"}, {"4": MIG_A}, MIG_A, id="mig-slice-by-map"),
        pytest.param({"CUDA_VISIBLE_DEVICES": "1"}, {}, "1", id="cuda-visible-devices"),
        pytest.param({}, {}, None, id="no-gpus"),
    ],
)
def test_the_jobs_devices_come_from_slurms_environment(
    env: dict[str, str], device_map: dict[str, str], visible: str | None
) -> None:
    assert visible_devices(env, device_map) == visible


def test_a_gpu_and_a_mig_slice_over_an_hour(tmp_path: Path) -> None:
    clock = Clock()
    backend = _node(clock)
    env = {**ENV, "SLURM_JOB_GPUS": "0,1"}
    device_map = {"1": MIG_A}
    prolog(backend, env, tmp_path, device_map)
    spool = tmp_path / "lahore-42.json"
    assert spool.stat().st_mode & 0o777 == 0o600
    clock.now += 3600
    note = epilog(backend, env, tmp_path, device_map)
    # 400 W for an hour, plus a seventh of 350 W for an hour.
    assert note is not None
    assert note.wh == Decimal("450.0000")
    assert note.gpus == 2
    assert not spool.exists()


def test_the_wh_of_a_job_is_within_one_percent_of_power_times_time(tmp_path: Path) -> None:
    """Real time, separate backends (as the prolog and epilog processes are)."""
    spec = json.dumps([{"power_w": 600, "energy_epoch": time.time()}])
    env = {**ENV, "SLURM_JOB_GPUS": "0"}
    began = time.time()
    prolog(backend_from_env({"COMPUTEHUB_FAKE_GPUS": spec}), env, tmp_path, {})
    time.sleep(3)
    note = epilog(backend_from_env({"COMPUTEHUB_FAKE_GPUS": spec}), env, tmp_path, {})
    took = time.time() - began
    assert note is not None
    assert note.wh is not None
    assert float(note.wh) == pytest.approx(600 * took / 3600, rel=0.01)


def test_an_epilog_without_a_start_reading_records_unknown(tmp_path: Path) -> None:
    note = epilog(_node(Clock()), {**ENV, "SLURM_JOB_GPUS": "0"}, tmp_path, {})
    assert note == EnergyNote(None, 0, 1, "no-start-reading")


def test_an_nvml_error_at_the_end_records_unknown_not_zero(tmp_path: Path) -> None:
    clock = Clock()
    backend = _node(clock)
    env = {**ENV, "SLURM_JOB_GPUS": "0"}
    prolog(backend, env, tmp_path, {})
    backend.inject_error("total_energy_mj", GpuErrorKind.GPU_IS_LOST, "GPU is lost")
    note = epilog(backend, env, tmp_path, {})
    assert note is not None
    assert (note.wh, note.why) == (None, "unreadable")


def test_a_job_without_gpus_is_not_measured(tmp_path: Path) -> None:
    backend = _node(Clock())
    prolog(backend, ENV, tmp_path, {})
    assert list(tmp_path.iterdir()) == []
    assert epilog(backend, ENV, tmp_path, {}) is None


def test_the_hook_never_fails_the_job(tmp_path: Path) -> None:
    bad_map = tmp_path / "map.json"
    bad_map.write_text("[1, 2]")
    env = {**ENV, "SLURM_JOB_GPUS": "0", "COMPUTEHUB_FAKE_GPUS": "not json"}
    log = tmp_path / "energy.log"
    argv = ["--spool", str(tmp_path / "s"), "--device-map", str(bad_map), "--log", str(log)]
    assert main(["prolog", *argv], env) == 0
    assert main(["epilog", *argv, "--sacctmgr", "/nonexistent"], env) == 0
    assert "energy prolog of job 42 failed" in log.read_text()


@pytest.mark.parametrize(
    ("flags", "counted"),
    [
        pytest.param([], False, id="a-real-node"),
        pytest.param(["--allow-fake-gpus"], True, id="bed"),
    ],
)
def test_fake_gpus_count_only_where_the_hooks_argv_allows_them(
    tmp_path: Path, flags: list[str], counted: bool
) -> None:
    """A stray COMPUTEHUB_FAKE_GPUS on a real node must not become a job's energy."""
    fake = FakeGpuBackend.with_gpus(1).gpus[0].uuid
    spec = json.dumps([{"uuid": fake, "power_w": 300, "energy_epoch": time.time()}])
    env = {**ENV, "SLURM_JOB_GPUS": "0", "COMPUTEHUB_FAKE_GPUS": spec}
    log = tmp_path / "energy.log"
    assert main(["prolog", "--spool", str(tmp_path / "s"), "--log", str(log), *flags], env) == 0
    start = json.loads((tmp_path / "s" / "lahore-42.json").read_text())
    assert (fake in [r["uuid"] for r in start["readings"]]) is counted
    refused = "COMPUTEHUB_FAKE_GPUS is set but the hook was not started with --allow-fake-gpus"
    assert (refused in log.read_text()) is not counted


@pytest.mark.parametrize(
    ("flags", "source"),
    [
        pytest.param([], "nvml", id="a-real-node"),
        pytest.param(["--allow-fake-gpus"], "simulated", id="bed"),
    ],
)
def test_the_epilog_says_when_its_figure_is_simulated(
    tmp_path: Path, flags: list[str], source: str
) -> None:
    """The bed's fake counters are recorded as ``src=simulated``; a real node's never are."""
    fake = FakeGpuBackend.with_gpus(1).gpus[0].uuid
    spec = json.dumps([{"uuid": fake, "power_w": 300, "energy_epoch": time.time()}])
    env = {**ENV, "SLURM_JOB_GPUS": "0", "COMPUTEHUB_FAKE_GPUS": spec}
    sacctmgr = tmp_path / "sacctmgr"
    said = tmp_path / "said"
    sacctmgr.write_text(f'#!/bin/sh\necho "$@" >> {said}\necho " Modified job"\n')
    sacctmgr.chmod(0o755)
    log = tmp_path / "energy.log"
    argv = ["--spool", str(tmp_path / "s"), "--log", str(log), "--sacctmgr", str(sacctmgr)]
    assert main(["prolog", *argv, *flags], env) == 0
    assert main(["epilog", *argv, *flags], env) == 0
    [line] = said.read_text().splitlines()
    note = parse_comment(line.split("AdminComment=", 1)[1])
    assert note is not None
    assert note.source == source
