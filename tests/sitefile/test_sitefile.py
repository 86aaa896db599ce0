"""The site file: valid files load, each kind of mistake is one line naming the key."""

from __future__ import annotations

import copy
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from computehub.cli import main
from computehub.sitefile import SiteFileError, load_site, parse_site

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "hub_config" / "site.example.yaml"


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def test_example_site_file_loads() -> None:
    site = load_site(EXAMPLE)
    assert list(site.hubs) == ["lahore", "karachi"]
    assert site.hubs["lahore"].rates["mig:h100:1g.10gb"] == Decimal("1.5")
    assert site.hubs["lahore"].gpus["h100"].mig["3g.40gb"] == 8
    assert site.hubs["karachi"].slurm.conf == Path("/etc/slurm/karachi/slurm.conf")


def test_example_site_file_programme() -> None:
    programme = load_site(EXAMPLE).programme
    assert programme.categories["flood-prediction"].priority
    assert not programme.categories["language"].priority
    assert programme.source == "programme"


def test_example_site_file_login_rules() -> None:
    auth = load_site(EXAMPLE).auth
    assert auth.username.domain_rules()["university.example"].bare is True
    assert (auth.username.min_uid, auth.refresh_age_s) == (1000, 300)
    assert "root" in auth.username.deny
    assert not auth.roles["operator"].affiliations


def test_rates_are_exact_decimals(tmp_path: Path) -> None:
    data = example()
    data["hubs"]["lahore"]["rates"]["cpu"] = 0.1
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_site(path).hubs["lahore"].rates["cpu"] == Decimal("0.1")


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    """Set (or delete) the value at a ``/``-separated path."""
    *parents, last = path.split("/")
    node = data
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

BROKEN = [
    # (id, dotted key to change, new value, key expected in the message, words expected)
    ("no hubs at all", "hubs", _DELETE, "hubs", "required key is missing"),
    ("empty hubs", "hubs", {}, "hubs", "at least 1"),
    ("default hub missing", "defaults/hub", "islamabad", "defaults.hub", "unknown hub 'islamabad'"),
    (
        "unknown gpu in rate",
        "hubs/karachi/rates/gpu:h200",
        12,
        "hubs.karachi.rates.gpu:h200",
        "unknown GPU type 'h200'",
    ),
    (
        "unknown mig profile",
        "hubs/karachi/rates/mig:a100:7g.80gb",
        5,
        "hubs.karachi.rates.mig:a100:7g.80gb",
        "unknown MIG profile",
    ),
    (
        "negative rate",
        "hubs/lahore/rates/gpu:h100",
        -3,
        "hubs.lahore.rates.gpu:h100",
        "must not be negative",
    ),
    (
        "too many decimals",
        "hubs/lahore/rates/cpu",
        "0.123456",
        "hubs.lahore.rates.cpu",
        "decimal places",
    ),
    ("rate not a number", "hubs/lahore/rates/cpu", "cheap", "hubs.lahore.rates.cpu", "decimal"),
    ("not a resource", "hubs/lahore/rates/tpu", 3, "hubs.lahore.rates.tpu", "not a resource"),
    (
        "gpu without rate",
        "hubs/lahore/rates/gpu:l40s",
        _DELETE,
        "hubs.lahore.rates",
        "no rate for gpu:l40s",
    ),
    ("typo key", "hubs/lahore/gpu", {}, "hubs.lahore.gpu", "unknown key"),
    (
        "zero gpus",
        "hubs/lahore/gpus/h100/count",
        0,
        "hubs.lahore.gpus.h100.count",
        "greater than or equal to 1",
    ),
    ("bad hub name", "hubs/Lahore Hub", {}, "hubs", "Lahore Hub"),
    ("no slurm access", "hubs/lahore/slurm", {}, "hubs.lahore.slurm", "exactly one of"),
    (
        "unknown environment",
        "defaults/environment",
        "tensorflow",
        "defaults.environment",
        "unknown environment",
    ),
    ("auth section missing", "auth/oidc", _DELETE, "auth", "no 'oidc' section"),
    (
        "two bare domains",
        "auth/username/domains/partner.example",
        {"bare": True},
        "auth.username",
        "would share one namespace",
    ),
    (
        "operator by affiliation",
        "auth/roles/operator/affiliations",
        ["staff"],
        "auth.roles",
        "operator can't be given by affiliation",
    ),
    (
        "reviewer by affiliation",
        "auth/roles/reviewer",
        {"affiliations": ["staff"]},
        "auth.roles",
        "reviewer can't be given by affiliation (staff)",
    ),
    (
        "unknown partition",
        "hubs/lahore/gpus/l40s/partition",
        "big",
        "hubs.lahore.gpus.l40s.partition",
        "unknown partition",
    ),
    (
        "access to an unrated resource",
        "hubs/karachi/limits/access",
        {"gpu:h100": {"roles": ["researcher"]}},
        "hubs.karachi.limits.access.gpu:h100",
        "has no rate on this hub",
    ),
    (
        "access open to nobody",
        "hubs/karachi/limits/access",
        {"gpu:a100": {"roles": [], "courses": []}},
        "hubs.karachi.limits.access.gpu:a100",
        "name the 'roles' or 'courses'",
    ),
    (
        "access for an unknown role",
        "hubs/karachi/limits/access",
        {"gpu:a100": {"roles": ["professor"]}},
        "hubs.karachi.limits.access.gpu:a100.roles.0",
        "professor",
    ),
    (
        "categories as a list",
        "programme/categories",
        ["flood-prediction", "health"],
        "programme.categories",
        "a mapping of category id to its settings",
    ),
    (
        "a category without a title",
        "programme/categories",
        {"flood-prediction": {"priority": True}},
        "programme.categories.flood-prediction.title",
        "required key is missing",
    ),
    (
        "a category id with capitals",
        "programme/categories",
        {"Flood": {"title": "Flood"}},
        "programme.categories",
        "category id Flood: use lowercase letters",
    ),
    (
        "priority that is not yes or no",
        "programme/categories/health",
        {"title": "Health", "priority": "maybe"},
        "programme.categories.health.priority",
        "valid boolean",
    ),
]


@pytest.mark.parametrize(
    ("change", "value", "key", "words"),
    [pytest.param(k, v, key, w, id=i) for i, k, v, key, w in BROKEN],
)
def test_broken_site_file_names_the_key(
    tmp_path: Path, change: str, value: Any, key: str, words: str
) -> None:
    data = copy.deepcopy(example())
    _set(data, change, value)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SiteFileError) as caught:
        load_site(path)
    line = caught.value.one_line()
    assert "\n" not in line
    assert line.startswith(f"site file {path}: {key}")
    assert words in line


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param("hubs: [lahore\n", "line 2", id="unclosed list"),
        pytest.param("hubs:\n  lahore: {\n  karachi: x: y\n", "not valid YAML", id="bad mapping"),
        pytest.param("\tplatform: x\n", "not valid YAML", id="tab indent"),
        pytest.param("", "must be a mapping", id="empty file"),
        pytest.param("- a\n- b\n", "must be a mapping", id="a list"),
    ],
)
def test_bad_yaml_is_one_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(SiteFileError) as caught:
        load_site(path)
    assert "\n" not in caught.value.one_line()
    assert words in caught.value.one_line()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError, match="can't read it"):
        load_site(tmp_path / "nope.yaml")


def test_counts_further_problems(tmp_path: Path) -> None:
    data = example()
    data["hubs"]["lahore"]["rates"]["gpu:h100"] = -1
    data["hubs"]["karachi"]["rates"]["gpu:a100"] = -2
    with pytest.raises(SiteFileError) as caught:
        parse_site(data, tmp_path / "x.yaml")
    assert len(caught.value.problems) == 2
    assert caught.value.one_line().endswith("(and 1 more problem)")


def test_check_config_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert "OK (2 hubs: lahore, karachi" in capsys.readouterr().out


def test_check_config_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = example()
    data["hubs"]["lahore"]["rates"]["gpu:h100"] = -1
    data["defaults"]["hub"] = "quetta"
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"site file {path}: hubs.lahore.rates.gpu:h100: must not be negative, got -1",
        f"site file {path}: defaults.hub: unknown hub 'quetta' (hubs: karachi, lahore)",
    ]


def test_jupyterhub_refuses_a_broken_site_file_in_one_line(tmp_path: Path) -> None:
    """The real jupyterhub command with our config: exit 1, one line, no traceback."""
    data = example()
    data["hubs"]["karachi"]["rates"]["gpu:v100"] = 3
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    jupyterhub = Path(sys.executable).parent / "jupyterhub"
    proc = subprocess.run(
        [str(jupyterhub), "-f", str(REPO / "hub_config" / "jupyterhub_config.py")],
        env={
            "COMPUTEHUB_SITE": str(path),
            "COMPUTEHUB_STATE_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"computehub: site file {path}: hubs.karachi.rates.gpu:v100: "
        "unknown GPU type 'v100' (hub karachi has: a100)"
    )
