"""nbgrader's part of the site file and of the hub's configuration (plain tables, no bed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from traitlets.config import Config

from computehub.extensions.formgrader import LAB_PLUGINS, SERVER_EXTENSIONS, write_config
from computehub.extensions.nbgraderauth import courses_of
from computehub.nbgraderhub import (
    COURSE_VAR,
    EXCHANGE_VAR,
    NbgraderConfigError,
    configure_nbgrader,
    formgrader_service,
)
from computehub.sitefile import SiteFileError, parse_site
from computehub.sitefile.schema import GradedCourse

EXAMPLE = Path(__file__).resolve().parents[2] / "hub_config" / "site.example.yaml"


def _site(nbgrader: dict[str, Any]) -> Any:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nbgrader"] = nbgrader
    return parse_site(data, EXAMPLE)


@pytest.mark.parametrize(
    ("nbgrader", "problem"),
    [
        ({"exchange_root": "relative/exchange"}, "absolute"),
        ({"courses": {"Intro-ML": {"grader": "g1"}}}, "Intro-ML"),
        ({"courses": {"a": {"grader": "Root!"}}}, "grader"),
        ({"courses": {"a": {"grader": "g1"}, "b": {"grader": "g1"}}}, "one grader account"),
        ({"courses": {"a": {"grader": "g1", "port": 80}}}, "port"),
        ({"environment": "nowhere"}, "nbgrader.environment"),
        ({"courses": {"a": {"grader": "g1", "extra": 1}}}, "extra"),
        ({"courses": {"credits": {"grader": "g1"}}}, "own services"),
        ({"courses": {"reconciler": {"grader": "g1"}}}, "own services"),
        ({"courses": {"formgrader-status-x": {"grader": "g1"}}}, "own services"),
    ],
)
def test_a_wrong_nbgrader_section_is_refused_by_name(nbgrader: Any, problem: str) -> None:
    with pytest.raises(SiteFileError, match=problem):
        _site(nbgrader)


def test_the_formgrader_runs_from_the_named_environment() -> None:
    site = _site({"courses": {"intro-ml": {"grader": "grader-intro-ml"}}})
    assert site.nbgrader_environment() == site.environments[site.defaults.environment or ""]
    assert site.nbgrader.exchange_root == Path("/srv/computehub/nbgrader/exchange")


def test_a_formgrader_service_as_root_and_through_sudo() -> None:
    spec = GradedCourse(grader="grader-intro-ml", port=9101)
    python = Path("/opt/env/bin/python")
    exchange = Path("/srv/x")
    as_root = formgrader_service(
        "intro-ml", spec, python=python, exchange_root=exchange, as_root=True
    )
    assert as_root["name"] == "intro-ml"
    assert as_root["url"] == "http://127.0.0.1:9101"
    assert as_root["user"] == "grader-intro-ml"
    assert as_root["command"] == [str(python), "-m", "computehub.extensions.formgrader"]
    assert as_root["environment"][COURSE_VAR] == "intro-ml"
    assert as_root["environment"][EXCHANGE_VAR] == "/srv/x"
    assert as_root["environment"]["PATH"].startswith("/opt/env/bin:")
    assert as_root["oauth_no_confirm"] is True
    # No api_token and no roles: it reads nothing of the hub's; who reaches it is the
    # course staff role's access:services!service=intro-ml.
    assert "api_token" not in as_root
    assert "roles" not in as_root
    not_root = formgrader_service(
        "intro-ml", spec, python=python, exchange_root=exchange, as_root=False, sudo="/bin/sudo"
    )
    assert "user" not in not_root
    assert not_root["command"] == [
        "/bin/sudo", "-n", "-E", "-H", "-u", "grader-intro-ml",
        str(python), "-m", "computehub.extensions.formgrader",
    ]  # fmt: skip
    # The sudoers rule names exactly the shipped environment's starter.
    rule = (EXAMPLE.parent / "sudoers.d" / "computehub").read_text()
    assert " ".join(["python", *not_root["command"][7:]]) in rule.replace(
        "/opt/computehub/envs/notebook/bin/python", "python"
    )


def test_configure_adds_one_service_per_course_and_tells_sessions(tmp_path: Path) -> None:
    exchange = tmp_path / "exchange"
    site = _site(
        {
            "exchange_root": str(exchange),
            "courses": {"a": {"grader": "nobody"}, "b": {"grader": "daemon"}},
        }
    )
    c = Config()
    c.JupyterHub.services = [{"name": "credits"}, {"name": "a", "url": "stale"}]
    c.Spawner.environment = {"KEEP": "1"}
    c.JupyterHub.load_roles = [{"name": "formgrader-status-a", "scopes": ["admin:users"]}]
    readers = configure_nbgrader(c, site)
    names = [s["name"] for s in c.JupyterHub.services]
    assert names == ["credits", "a", "formgrader-status-a", "b", "formgrader-status-b"]
    assert c.JupyterHub.services[1]["url"] != "stale"
    # Each reading token opens its own course's formgrader, and nothing else.
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    assert roles["formgrader-status-a"]["scopes"] == ["access:services!service=a"]
    assert roles["formgrader-status-b"]["services"] == ["formgrader-status-b"]
    tokens = {s["name"]: s.get("api_token") for s in c.JupyterHub.services}
    for course in ("a", "b"):
        assert readers[course]["token"] == tokens[f"formgrader-status-{course}"]
        assert readers[course]["url"].endswith(f"/services/{course}/")
    assert readers["a"]["token"] != readers["b"]["token"]
    assert c.Spawner.environment == {"KEEP": "1", EXCHANGE_VAR: str(exchange)}
    # As root (these tests are), the hub makes a missing exchange, writable by all.
    assert exchange.stat().st_mode & 0o7777 == 0o1777


def test_configure_refuses_a_grader_that_does_not_exist(tmp_path: Path) -> None:
    site = _site({"exchange_root": str(tmp_path), "courses": {"a": {"grader": "no-such-grader"}}})
    with pytest.raises(NbgraderConfigError, match="no account 'no-such-grader'"):
        configure_nbgrader(Config(), site)


def test_no_graded_course_adds_no_service(tmp_path: Path) -> None:
    site = _site({"exchange_root": str(tmp_path / "none")})
    c = Config()
    configure_nbgrader(c, site)
    assert "services" not in c.JupyterHub
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    ("groups", "courses"),
    [
        ([], []),
        (["course-intro-ml-students"], ["intro-ml"]),
        (["course-intro-ml-staff", "course-stats-students"], ["intro-ml", "stats"]),
        (["course-intro-ml-staff", "course-intro-ml-students"], ["intro-ml"]),
        (["student", "instructor", "nbgrader-intro-ml"], []),
        (["course--students", "course-~49ntro-students"], []),
        (["course-a-b-students"], ["a-b"]),
        (["course-x-studentsx"], []),
    ],
)
def test_courses_of_hub_groups(groups: list[str], courses: list[str]) -> None:
    assert courses_of(groups) == courses


def test_the_formgraders_own_config_turns_it_back_on(tmp_path: Path) -> None:
    write_config(tmp_path)
    server = json.loads((tmp_path / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"] == dict.fromkeys(SERVER_EXTENSIONS, True)
    lab = json.loads((tmp_path / "labconfig" / "page_config.json").read_text())
    assert lab["disabledExtensions"] == dict.fromkeys(LAB_PLUGINS, False)
    # ...what the sessions' environment turns off (images/notebook/jupyter).
    image = EXAMPLE.parents[1] / "images" / "notebook" / "jupyter"
    sessions = json.loads((image / "jupyter_server_config.json").read_text())
    assert sessions["ServerApp"]["jpserver_extensions"] == dict.fromkeys(SERVER_EXTENSIONS, False)
    page = json.loads((image / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"] == dict.fromkeys(LAB_PLUGINS, True)
