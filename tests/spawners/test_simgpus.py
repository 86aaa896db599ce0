"""The demo's switch: only a site file with demo.simulated_gpus gives a job simulated GPUs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from computehub.sitefile.schema import Demo, Site
from computehub.spawners.options import SessionRequest
from computehub.spawners.simgpus import with_simulated_gpus


def _site(on: bool) -> Site:
    return Site.model_construct(demo=Demo(simulated_gpus=on))


@pytest.mark.parametrize(
    ("on", "gpu_type", "gpus", "profile", "expected"),
    [
        pytest.param(True, "h100", 2, None, {"COMPUTEHUB_SIMULATED_GPUS": "h100"}, id="demo-gpus"),
        pytest.param(
            True,
            "a100",
            1,
            "1g.10gb",
            {"COMPUTEHUB_SIMULATED_GPUS": "a100:1g.10gb"},
            id="demo-mig-slice",
        ),
        pytest.param(True, None, 0, None, {}, id="demo-cpu-only"),
        pytest.param(False, "h100", 2, None, {}, id="real-site-gpus"),
        pytest.param(False, "a100", 1, "1g.10gb", {}, id="real-site-mig"),
    ],
)
def test_the_jobs_simulation_variable(
    on: bool, gpu_type: str | None, gpus: int, profile: str | None, expected: dict[str, str]
) -> None:
    request = SessionRequest("lahore", gpu_type, gpus, Decimal(1), "notebook", mig_profile=profile)
    job = {"PATH": "/usr/bin", "COMPUTEHUB_HUB": "lahore"}
    assert with_simulated_gpus(_site(on), request, job) == {**job, **expected}
    # An extra configuration's Spawner.environment can't turn it on, nor change the type.
    planted = {**job, "COMPUTEHUB_SIMULATED_GPUS": "l4"}
    assert with_simulated_gpus(_site(on), request, planted) == {**job, **expected}


def test_a_site_file_is_real_unless_it_says_demo() -> None:
    assert Demo().simulated_gpus is False
    assert Demo.model_validate({"simulated_gpus": True}).simulated_gpus is True
    with pytest.raises(ValueError, match="simulated_gpu"):
        Demo.model_validate({"simulated_gpu": True})  # a typo is an error, not a default
