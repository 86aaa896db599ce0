"""The site file's reservations and what they mean for Slurm (docs/capacity.md). Plain tables."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from computehub.cli import main
from computehub.sitefile import SiteFileError, load_site
from computehub.sitefile.capacity import slurm_capacity
from tests.sitefile.test_sitefile import EXAMPLE, example


def test_the_example_reserves_8_of_lahores_h100s_for_academia() -> None:
    site = load_site(EXAMPLE)
    academic = site.hubs["lahore"].reservations["academic"]
    assert academic.gpus == {"h100": 8}
    plan = slurm_capacity("lahore", site.hubs["lahore"])
    assert plan is not None
    # 32 H100 + 16 L40S + 36 MIG slices of H100 = 84 GPU GRES, 8 reserved.
    assert plan.grp_tres == "gres/gpu=76,gres/gpu:h100=24"
    assert plan.qos == "lahore-unreserved"
    assert dict(plan.partitions) == {"academic": "gpu-academic"}
    assert plan.sacctmgr_qos() == [
        "-i", "add", "qos", "lahore-unreserved", "GrpTRES=gres/gpu=76,gres/gpu:h100=24",
    ]  # fmt: skip
    assert slurm_capacity("karachi", site.hubs["karachi"]) is None


RESERVED = "hubs/lahore/reservations/academic"
KEY = RESERVED.replace("/", ".")
BROKEN: list[tuple[str, str, Any, str, str]] = [
    ("a GPU type the hub lacks", f"{RESERVED}/gpus", {"b200": 2}, "hubs.lahore", "no 'b200' GPUs"),
    (
        "more than the hub has",
        f"{RESERVED}/gpus",
        {"h100": 33},
        "hubs.lahore",
        "33 h100 GPUs reserved but the hub has 32",
    ),
    (
        "nobody entitled",
        RESERVED,
        {"title": "nobody", "gpus": {"h100": 1}},
        KEY,
        "name who it is for",
    ),
    (
        "a personal kind",
        f"{RESERVED}/account_kinds",
        ["personal"],
        f"{KEY}.account_kinds",
        "'course' or 'project'",
    ),
    (
        "the hub's own partition",
        f"{RESERVED}/partition",
        "gpu",
        "hubs.lahore",
        "partition 'gpu' is one of the hub's partitions",
    ),
    (
        "an unknown category",
        f"{RESERVED}/categories",
        ["astrology"],
        "",
        "astrology not in programme.categories",
    ),
    ("no count", f"{RESERVED}/gpus", {"h100": 0}, f"{KEY}.gpus.h100", "greater than or equal to 1"),
]


@pytest.mark.parametrize(
    ("change", "value", "key", "words"),
    [pytest.param(k, v, key, w, id=i) for i, k, v, key, w in BROKEN],
)
def test_a_broken_reservation_names_the_key(
    tmp_path: Path, change: str, value: Any, key: str, words: str
) -> None:
    data = copy.deepcopy(example())
    *parents, last = change.split("/")
    node = data
    for part in parents:
        node = node[part]
    node[last] = value
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SiteFileError) as caught:
        load_site(path)
    line = caught.value.one_line()
    assert line.startswith(f"site file {path}: {key}")
    assert words in line


def test_a_type_in_two_reservations_is_refused(tmp_path: Path) -> None:
    data = copy.deepcopy(example())
    reservations = data["hubs"]["lahore"]["reservations"]
    reservations["health"] = {
        "title": "health projects",
        "gpus": {"h100": 2},
        "categories": ["health"],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SiteFileError) as caught:
        load_site(path)
    assert "h100 GPUs are already reserved by academic" in caught.value.one_line()


def test_capacity_plan_prints_what_each_cluster_needs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity-plan", str(EXAMPLE)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "sacctmgr -i add qos lahore-unreserved GrpTRES=gres/gpu=76,gres/gpu:h100=24" in lines
    assert "AccountingStorageEnforce=associations,limits,qos" in lines
    assert "PartitionName=gpu-academic Nodes=<the hub's nodes> Default=NO State=UP" in lines
    assert "portal_partitions = gpu, gpu-academic" in lines
    assert not [line for line in lines if "karachi" in line]  # it reserves nothing
