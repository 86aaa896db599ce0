"""The demo's site file: the bed's hubs with simulated GPUs, which only the demo turns on."""

from __future__ import annotations

from pathlib import Path

from computehub.localbed.bed import SlurmBed
from computehub.localbed.demo import demo_site
from computehub.localbed.sitegen import bed_site, write_site
from computehub.sitefile import load_site


def test_the_demo_and_only_the_demo_simulates_gpus(tmp_path: Path) -> None:
    bed = SlurmBed(tmp_path / "slurm")  # not started: the site file names its paths only
    env = tmp_path / "notebook"
    demo = load_site(write_site(tmp_path / "demo.yaml", demo_site(bed, env)))
    tests = load_site(write_site(tmp_path / "bed.yaml", bed_site(bed, env, {"alice": "student"})))
    assert demo.demo.simulated_gpus is True
    assert tests.demo.simulated_gpus is False
