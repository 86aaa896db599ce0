"""ansible/roles/computehub_notebook_env converged into a booted Debian 12 compute node.

The node is a systemd-nspawn machine (tests/deploy/machine.py: no network, so the
role installs only from the notebook wheelhouse that scripts/build-images.sh made,
the one the CPU image is built from). site.yml's compute-node play runs twice; the
prefix then holds the lock file's versions (images/notebook/requirements.txt, the
same pins as the image: tests/images) and runs ``jupyterhub-singleuser`` as a user.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from computehub.localbed.proc import MissingComponentError
from tests.deploy.machine import CACHE, Machine, require_bed, source_archive
from tests.support.bedtools import component_missing

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / ".venv-ansible" / "bin" / "ansible-playbook"
WHEELHOUSE = CACHE / "wheels-notebook.tar"
LOCK = REPO / "images" / "notebook" / "requirements.txt"
PREFIX = "/opt/computehub/envs/notebook"


@dataclass
class Converged:
    """The node after two converges, and each run's output and recap."""

    machine: Machine
    outputs: list[str]
    recaps: list[dict[str, int]]


def _play(inventory: Path, workdir: Path) -> tuple[int, str, dict[str, int]]:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible" / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
        "ANSIBLE_HOME": str(workdir / "ansible-home"),
    }
    done = subprocess.run(
        [str(PLAYBOOK), "-i", str(inventory), str(REPO / "ansible" / "site.yml")],
        env=env,
        cwd=REPO / "ansible",
        capture_output=True,
        text=True,
        timeout=1800,
    )
    output = done.stdout + done.stderr
    (workdir / f"play-node-{time.monotonic_ns()}.log").write_text(output)
    found = re.search(r"^node\s*:\s*(.+)$", output, re.MULTILINE)
    recap = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", found.group(1))} if found else {}
    return done.returncode, output, recap


@pytest.fixture(scope="module")
def node() -> Iterator[Converged]:
    """A Debian 12 compute node with the notebook environment, converged twice."""
    try:
        require_bed()
        for path in (PLAYBOOK, WHEELHOUSE):
            if not path.exists():
                raise MissingComponentError(f"{path} missing: run scripts/install-deploy.sh")
    except MissingComponentError as err:
        component_missing(err)
    workdir = Path(tempfile.mkdtemp(prefix="computehub-node-"))
    machine = Machine(workdir, name="computehub-node")
    try:
        machine.boot()
        machine.run(["useradd", "--create-home", "alice"])
        host = {
            "ansible_connection": "community.docker.nsenter",
            "ansible_nsenter_pid": machine.pid,
            "ansible_python_interpreter": "/usr/bin/python3",
            "computehub_notebook_env_source_archive": str(source_archive(workdir)),
            "computehub_notebook_env_wheelhouse_archive": str(WHEELHOUSE),
            "computehub_notebook_env_prefix": PREFIX,
        }
        inventory = workdir / "hosts.yml"
        inventory.write_text(
            yaml.safe_dump(
                {
                    "all": {
                        "children": {
                            "computehub_ledger": {"hosts": {}},
                            "computehub_portal": {"hosts": {}},
                            "computehub_compute": {"hosts": {"node": host}},
                        }
                    }
                }
            )
        )
        outputs, recaps = [], []
        for _ in range(2):
            rc, output, recap = _play(inventory, workdir)
            assert rc == 0, output[-6000:]
            outputs.append(output)
            recaps.append(recap)
        yield Converged(machine, outputs, recaps)
    finally:
        machine.stop()
        logs = REPO / "test-output" / "deploy"
        logs.mkdir(parents=True, exist_ok=True)
        for log in workdir.glob("play-node-*.log"):
            shutil.copy(log, logs / log.name)
        shutil.rmtree(workdir, ignore_errors=True)


def _lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if found:
            pins[found.group(1)] = found.group(2)
    return pins


def test_second_converge_changes_nothing(node: Converged) -> None:
    assert node.recaps[0].get("changed", 0) > 0
    changed = re.findall(r"^changed: \[node\].*$|^TASK \[(.+)\]", node.outputs[1])
    assert node.recaps[1].get("changed") == 0, changed


def test_prefix_holds_the_lock_files_versions(node: Converged) -> None:
    pins = _lock()
    code = (
        "import importlib.metadata as md, json, sys\n"
        "print(json.dumps({n: md.version(n) for n in sys.argv[1:]}))\n"
    )
    done = node.machine.run([f"{PREFIX}/bin/python", "-c", code, *pins])
    assert json.loads(done.stdout) == pins
    # computehub's notebook side, with its JupyterLab extension, as in the image.
    labext = f"{PREFIX}/share/jupyter/labextensions/@computehub/labextension/package.json"
    node.machine.run(["test", "-f", labext])
    node.machine.run(["test", "-f", f"{PREFIX}/etc/ipython/ipython_kernel_config.py"])


def test_a_user_runs_singleuser_from_the_prefix(node: Converged) -> None:
    done = node.machine.run(
        ["runuser", "-u", "alice", "--", f"{PREFIX}/bin/jupyterhub-singleuser", "--version"]
    )
    assert done.stdout.strip() == _lock()["jupyterhub"]
    imports = node.machine.run(
        [
            "runuser", "-u", "alice", "--", f"{PREFIX}/bin/python", "-c",
            "import computehub.extensions, nbgrader, nbgitpuller; print('ok')",
        ]
    )  # fmt: skip
    assert imports.stdout.strip() == "ok"
