"""The job script's server line when an environment names an image (spawners/containers.py).

Plain tables: the site file's runtime and image become quoted words of the script's
``exec`` line; a prefix environment's line is unchanged. Apptainer and Enroot are in
neither Debian 12 nor PyPI, so only the built script is tested (images/README.md).
"""

from __future__ import annotations

import copy
import shlex
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import pytest
from pydantic import ValidationError

from computehub.sitefile.schema import Site
from computehub.spawners.batch import JobPlacement, build_batch_request
from computehub.spawners.containers import ContainerLaunch, launch_for, launch_words, mountable
from computehub.spawners.options import SessionRequest

ENV = "/opt/computehub/envs/notebook"
SERVER = [f"{ENV}/bin/batchspawner-singleuser", f"{ENV}/bin/jupyterhub-singleuser"]
PLACEMENT = JobPlacement(
    username="ayesha",
    uid=1500,
    home=PurePosixPath("/home/ayesha"),
    partition="gpu",
    cpus=8,
    memory_gb=64,
    env_prefix=PurePosixPath(ENV),
    sbatch="/usr/bin/sbatch",
    sudo="/usr/bin/sudo",
)
APPTAINER = ContainerLaunch("apptainer", PurePosixPath("/shared/images/cpu.sif"), "apptainer")
PYXIS = ContainerLaunch("pyxis", PurePosixPath("/shared/images/cpu.sqsh"), "srun")
GPU = SessionRequest("lahore", "h100", 1, Decimal(1), "notebook")
CPU = SessionRequest("lahore", None, 0, Decimal(1), "notebook")


def _exec_line(req: SessionRequest, launch: ContainerLaunch | None) -> list[str]:
    where = JobPlacement(**{**PLACEMENT.__dict__, "container": launch})
    script = build_batch_request(req, where, ["JUPYTERHUB_API_TOKEN"], hold_id=7).script
    lines = [line for line in script.splitlines() if line.startswith("exec ")]
    assert len(lines) == 1, script
    return shlex.split(lines[0])[1:]


@pytest.mark.parametrize(
    ("req", "launch", "words"),
    [
        pytest.param(CPU, None, SERVER, id="prefix-unchanged"),
        pytest.param(
            CPU,
            APPTAINER,
            [
                "apptainer", "exec", "--contain", "--pwd=/home/ayesha",
                "--bind=/home/ayesha", "/shared/images/cpu.sif", *SERVER,
            ],
            id="apptainer-cpu",
        ),
        pytest.param(
            GPU,
            APPTAINER,
            [
                "apptainer", "exec", "--contain", "--pwd=/home/ayesha", "--nv",
                "--bind=/home/ayesha", "/shared/images/cpu.sif", *SERVER,
            ],
            id="apptainer-gpu-adds-nv",
        ),
        pytest.param(
            GPU,
            ContainerLaunch(
                "apptainer",
                PurePosixPath("/shared/images/gpu.sif"),
                "/opt/apptainer/bin/apptainer",
                (PurePosixPath("/datasets"), PurePosixPath("/scratch/shared")),
            ),
            [
                "/opt/apptainer/bin/apptainer", "exec", "--contain", "--pwd=/home/ayesha",
                "--nv", "--bind=/home/ayesha", "--bind=/datasets", "--bind=/scratch/shared",
                "/shared/images/gpu.sif", *SERVER,
            ],
            id="apptainer-binds-and-command",
        ),
        pytest.param(
            CPU,
            PYXIS,
            [
                "srun", "--ntasks=1", "--cpus-per-task=8",
                "--container-image=/shared/images/cpu.sqsh",
                "--container-mounts=/home/ayesha:/home/ayesha",
                "--container-workdir=/home/ayesha", "--no-container-remap-root", *SERVER,
            ],
            id="pyxis-cpu",
        ),
        pytest.param(
            GPU,
            ContainerLaunch(
                "pyxis", PurePosixPath("/shared/images/gpu.sqsh"), "srun",
                (PurePosixPath("/datasets"),),
            ),
            [
                "srun", "--ntasks=1", "--cpus-per-task=8",
                "--container-image=/shared/images/gpu.sqsh",
                "--container-mounts=/home/ayesha:/home/ayesha,/datasets:/datasets",
                "--container-workdir=/home/ayesha", "--no-container-remap-root", *SERVER,
            ],
            id="pyxis-gpu-with-a-bind",
        ),
    ],
)  # fmt: skip
def test_exec_line_runs_the_server_through_the_runtime(
    req: SessionRequest, launch: ContainerLaunch | None, words: list[str]
) -> None:
    assert _exec_line(req, launch) == words


def test_odd_operator_paths_stay_one_word() -> None:
    odd = ContainerLaunch("apptainer", PurePosixPath("/shared/my images/$(id).sif"), "apptainer")
    assert _exec_line(CPU, odd)[-3] == "/shared/my images/$(id).sif"


@pytest.mark.parametrize("home", ["/home/a,b", "/home/a:b", "relative"])
def test_a_home_that_would_mount_something_else_is_refused(home: str) -> None:
    with pytest.raises(ValueError, match="can't mount"):
        launch_words(PYXIS, home=PurePosixPath(home), gpus=False, cpus=1)


def _site(**changes: Any) -> dict[str, Any]:
    site: dict[str, Any] = {
        "hubs": {
            name: {
                "display_name": name.title(),
                "region": "r",
                "slurm": {"conf": f"/etc/slurm/{name}/slurm.conf"},
                "partitions": {"gpu": {"default": True}},
                "gpus": {"h100": {"count": 4, "memory_gb": 80}},
                "rates": {"cpu": "1", "gpu:h100": "10"},
            }
            for name in ("lahore", "karachi")
        },
        "environments": {
            "notebook": {"display_name": "Python", "prefix": ENV},
            "course": {
                "display_name": "Course",
                "prefix": ENV,
                "image": {"apptainer": "/shared/cpu.sif", "pyxis": "/shared/cpu.sqsh"},
            },
        },
        "auth": {"method": "dummy", "dummy": {"users": {"a": "researcher"}}},
    }
    for path, value in changes.items():
        node = site
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = copy.deepcopy(value)
    return site


def test_site_file_names_image_and_runtime() -> None:
    site = Site.model_validate(
        _site(
            **{
                "hubs.lahore.containers": {"runtime": "apptainer", "binds": ["/datasets"]},
                "hubs.karachi.containers": {"runtime": "pyxis"},
            }
        )
    )
    assert launch_for(site, "lahore", "notebook") is None
    assert launch_for(site, "lahore", "course") == ContainerLaunch(
        "apptainer", PurePosixPath("/shared/cpu.sif"), "apptainer", (PurePosixPath("/datasets"),)
    )
    assert launch_for(site, "karachi", "course") == ContainerLaunch(
        "pyxis", PurePosixPath("/shared/cpu.sqsh"), "srun"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"hubs.lahore.containers": {"runtime": "apptainer"}},
            "environments.course.image: hub karachi offers it but has no container runtime "
            "(give hubs.karachi.containers.runtime, or leave course out of "
            "hubs.karachi.environments)",
            id="image-on-a-hub-without-runtime",
        ),
        pytest.param(
            {
                "hubs.lahore.containers": {"runtime": "apptainer"},
                "hubs.karachi.containers": {"runtime": "pyxis"},
                "environments.course.image": {"apptainer": "/shared/cpu.sif"},
            },
            "environments.course.image: hub karachi runs pyxis, but the environment has no "
            "image.pyxis file",
            id="no-file-for-the-hubs-runtime",
        ),
        pytest.param(
            {"hubs.lahore.containers": {"runtime": "docker"}, "hubs.karachi.environments": []},
            "hubs.lahore.containers.runtime",
            id="unknown-runtime",
        ),
        pytest.param(
            {
                "hubs.lahore.containers": {"runtime": "apptainer"},
                "hubs.karachi.containers": {"runtime": "apptainer"},
                "environments.course.image": {"apptainer": "/shared/cpu.sif; rm -rf ~"},
            },
            "environments.course.image.apptainer",
            id="image-with-shell-text",
        ),
        pytest.param(
            {
                "hubs.lahore.containers": {"runtime": "pyxis", "binds": ["/data,/etc:/x"]},
                "hubs.karachi.containers": {"runtime": "pyxis"},
            },
            "hubs.lahore.containers.binds.0",
            id="bind-with-separators",
        ),
        pytest.param(
            {
                "hubs.lahore.containers": {"runtime": "apptainer", "command": "apptainer --x"},
                "hubs.karachi.containers": {"runtime": "apptainer"},
            },
            "hubs.lahore.containers.command",
            id="command-with-an-option",
        ),
    ],
)
def test_site_file_refuses_bad_container_settings(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        Site.model_validate(_site(**changes))
    text = str(err.value).replace("\n  ", " ").replace("\n", " ")
    assert message in text, text


def test_an_image_only_on_hubs_with_a_runtime_is_accepted() -> None:
    site = Site.model_validate(
        _site(
            **{
                "hubs.lahore.containers": {"runtime": "apptainer"},
                "hubs.karachi.environments": ["notebook"],
            }
        )
    )
    assert launch_for(site, "karachi", "notebook") is None


@pytest.mark.parametrize(
    ("home", "ok"),
    [
        ("/home/ayesha", True),
        ("/home/ayesha.khan-2", True),
        ("/home/a b", True),  # one quoted word; neither runtime splits on spaces
        ("/home/a,b", False),
        ("/home/a:b", False),
        ("home/ayesha", False),
    ],
)
def test_which_homes_can_be_mounted(home: str, ok: bool) -> None:
    assert mountable(PurePosixPath(home)) is ok
