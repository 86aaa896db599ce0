"""ansible/site.yml converged into a booted Debian 12 machine (systemd-nspawn), twice.

One machine for the module: the first converge installs everything, the second
must change nothing; then the portal is checked as its users and operators meet
it (nginx over TLS, the hub's units, the ledger, the nightly dump and its
restore), a broken inventory value is shown to stop the play before any
restart, and a hub killed with SIGKILL is shown to come back with its services.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from computehub.localbed.proc import MissingComponentError
from tests.deploy.machine import CACHE, Machine, require_bed
from tests.support.bedtools import component_missing

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / ".venv-ansible" / "bin" / "ansible-playbook"
HUBS = ("lahore", "karachi", "islamabad")
UNITS = (
    "computehub-hub.service",
    "computehub-proxy.service",
    "nginx.service",
    "postgresql.service",
    "computehub-ledger-backup.timer",
    *(f"computehub-munge@{hub}.service" for hub in HUBS),
)
CREDITS_URL = "http://127.0.0.1:10101/services/credits/"
LEDGER_URL_ENV = "COMPUTEHUB_DB_URL"


@dataclass
class Play:
    """One ansible-playbook run: exit status, output, the host's recap counts."""

    rc: int
    output: str
    recap: dict[str, int]


@dataclass
class Deployment:
    """The converged machine and what it took."""

    machine: Machine
    workdir: Path
    inventory: Path
    first: Play
    second: Play
    first_s: float
    second_s: float

    def play(self, *extra_vars: Path) -> Play:
        """Converge again (with extra variable files on top of the inventory)."""
        return run_playbook(self.inventory, self.workdir, extra_vars)

    def ledger_env(self) -> list[str]:
        """``env VAR=...`` argv prefix with the deployed ledger's URL (from hub.env)."""
        env = self.machine.run(["cat", "/etc/computehub/hub.env"]).stdout
        url = re.search(rf"^{LEDGER_URL_ENV}=(.+)$", env, re.MULTILINE)
        assert url, "hub.env names no ledger"
        return ["env", f"{LEDGER_URL_ENV}={url.group(1)}"]


def run_playbook(inventory: Path, workdir: Path, extra_vars: tuple[Path, ...] = ()) -> Play:
    """Run ansible/site.yml against ``inventory``; the host's PLAY RECAP counts."""
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible" / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
        "ANSIBLE_HOME": str(workdir / "ansible-home"),
    }
    argv = [str(PLAYBOOK), "-i", str(inventory), str(REPO / "ansible" / "site.yml")]
    for path in extra_vars:
        argv += ["-e", f"@{path}"]
    done = subprocess.run(
        argv, env=env, cwd=REPO / "ansible", capture_output=True, text=True, timeout=1800
    )
    output = done.stdout + done.stderr
    (workdir / f"play-{time.monotonic_ns()}.log").write_text(output)
    found = re.search(r"^portal\s*:\s*(.+)$", output, re.MULTILINE)
    recap = (
        {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", found.group(1))}
        if found
        else {}
    )
    return Play(done.returncode, output, recap)


def _operator_files(files: Path) -> None:
    """What an operator provides: certificate, Slurm configs, munge and ticket keys."""
    tls = files / "tls"
    tls.mkdir(parents=True)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(tls / "privkey.pem"), "-out", str(tls / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    for port, hub in enumerate(HUBS, start=6817):
        conf = files / "slurm" / hub
        conf.mkdir(parents=True)
        # A controller that is not there: the hub starts, warns, and checks that hub
        # again before its first session (computehub.hubconfig.check_slurm).
        (conf / "slurm.conf").write_text(
            f"ClusterName={hub}\nSlurmctldHost=localhost\nSlurmctldPort={port}\n"
            f"AuthType=auth/munge\nAuthInfo=socket=/run/munge-{hub}/munge.socket.2\n"
            f"NodeName={hub}-node01 CPUs=2 State=UNKNOWN\n"
            f"PartitionName=gpu Nodes={hub}-node01 Default=YES\n"
        )
        (conf / "munge.key").write_bytes(secrets.token_bytes(1024))
        (conf / "ticket.key").write_text(secrets.token_hex(32) + "\n")


def _site() -> dict[str, Any]:
    gpus = {"lahore": "h100", "karachi": "a100", "islamabad": "l40s"}
    return {
        "platform": {"name": "Deployment test", "organisation": "computehub tests"},
        "hubs": {
            hub: {
                "display_name": f"{hub.title()} AI Hub",
                "region": "test",
                "slurm": {
                    "conf": f"/etc/slurm/{hub}/slurm.conf",
                    "job_ticket_key_file": f"/etc/computehub/{hub}-ticket.key",
                },
                "partitions": {"gpu": {"default": True, "max_hours": 12}},
                "gpus": {gpu: {"count": 4, "memory_gb": 80}},
                "rates": {"cpu": "0.5", f"gpu:{gpu}": "7"},
            }
            for hub, gpu in gpus.items()
        },
        "environments": {
            "notebook": {
                "display_name": "Python 3",
                "prefix": "/opt/computehub/envs/notebook",
            }
        },
        "defaults": {"hub": "lahore", "environment": "notebook", "hours": 1},
        "auth": {
            "method": "dummy",
            "dummy": {"users": {"alice": "researcher"}},
            "username": {"require_posix_account": True},
        },
    }


def _inventory(workdir: Path, machine: Machine) -> Path:
    files = workdir / "files"
    _operator_files(files)
    source = workdir / "computehub-src.tar.gz"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    existing = b"\0".join(p for p in listed.split(b"\0") if p and (REPO / p.decode()).exists())
    subprocess.run(
        ["tar", "-C", str(REPO), "--null", "-T", "-", "-czf", str(source)],
        input=existing,
        check=True,
        timeout=120,
    )
    password = secrets.token_hex(16)
    host_vars: dict[str, Any] = {
        "ansible_connection": "community.docker.nsenter",
        "ansible_nsenter_pid": machine.pid,
        "ansible_python_interpreter": "/usr/bin/python3",
        "computehub_hub_source_archive": str(source),
        "computehub_hub_wheelhouse_archive": str(CACHE / "wheels-hub.tar"),
        "computehub_hub_proxy_archive": str(CACHE / "configurable-http-proxy.tar.gz"),
        "computehub_ledger_db_password": password,
        "computehub_hub_db_password": password,
        "computehub_hub_cookie_secret": secrets.token_hex(32),
        "computehub_hub_proxy_auth_token": secrets.token_hex(32),
        "computehub_hub_crypt_key": secrets.token_hex(32),
        "computehub_hub_public_url": "https://localhost",
        "computehub_hub_site": _site(),
        "computehub_hub_ticket_key_files": {
            h: str(files / "slurm" / h / "ticket.key") for h in HUBS
        },
        "computehub_proxy_server_name": "localhost",
        "computehub_proxy_tls_cert_file": str(files / "tls" / "fullchain.pem"),
        "computehub_proxy_tls_key_file": str(files / "tls" / "privkey.pem"),
        "computehub_slurm_client_hubs": {
            hub: {
                "conf": str(files / "slurm" / hub / "slurm.conf"),
                "munge_key": str(files / "slurm" / hub / "munge.key"),
            }
            for hub in HUBS
        },
    }
    inventory = {
        "all": {
            "children": {
                "computehub_portal": {"hosts": {"portal": host_vars}},
                "computehub_ledger": {"hosts": {"portal": {}}},
                "computehub_compute": {"hosts": {}},
            }
        }
    }
    path = workdir / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    """A Debian 12 machine converged twice with ansible/site.yml."""
    try:
        require_bed()
        if not PLAYBOOK.exists():
            raise MissingComponentError(f"{PLAYBOOK} missing: run scripts/install-deploy.sh")
    except MissingComponentError as err:
        component_missing(err)
    workdir = Path(tempfile.mkdtemp(prefix="computehub-deploy-"))
    machine = Machine(workdir)
    try:
        machine.boot()
        # The site's dummy login needs the POSIX account jobs would run as.
        machine.run(["useradd", "--create-home", "alice"])
        inventory = _inventory(workdir, machine)
        started = time.monotonic()
        first = run_playbook(inventory, workdir)
        first_s = time.monotonic() - started
        assert first.rc == 0, first.output[-6000:]
        started = time.monotonic()
        second = run_playbook(inventory, workdir)
        second_s = time.monotonic() - started
        print(f"converge: first {first_s:.0f} s, second {second_s:.0f} s")
        yield Deployment(machine, workdir, inventory, first, second, first_s, second_s)
    finally:
        machine.stop()
        # The plays' output stays for reading (test-output/ is ignored by git).
        logs = REPO / "test-output" / "deploy"
        logs.mkdir(parents=True, exist_ok=True)
        for log in [*workdir.glob("play-*.log"), workdir / "nspawn.log"]:
            if log.exists():
                shutil.copy(log, logs / log.name)
        shutil.rmtree(workdir, ignore_errors=True)


def _in_portal(deployment: Deployment, code: str, *args: str) -> Any:
    """Run a Python snippet in the machine; it prints one JSON value."""
    done = deployment.machine.run(["python3", "-c", code, *args], timeout=180)
    return json.loads(done.stdout)


#: A browser's first visit: the login page over TLS (verified against the site's
#: certificate), the HTTP redirect, then a dummy login and the hub's home page.
_BROWSER = r"""
import http.cookiejar, json, re, ssl, sys, urllib.error, urllib.parse, urllib.request
ctx = ssl.create_default_context(cafile="/etc/ssl/computehub/fullchain.pem")
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(
    urllib.request.HTTPSHandler(context=ctx), urllib.request.HTTPCookieProcessor(jar))
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
plain = urllib.request.build_opener(NoRedirect)
try:
    plain.open("http://localhost/hub/login", timeout=30)
    redirect = None
except urllib.error.HTTPError as err:
    redirect = [err.code, err.headers.get("Location")]
page = opener.open("https://localhost/hub/login", timeout=60)
body = page.read().decode()
xsrf = re.search(r'name="_xsrf" value="([^"]+)"', body).group(1)
form = urllib.parse.urlencode({"username": "alice", "password": "x", "_xsrf": xsrf}).encode()
home = opener.open("https://localhost/hub/login?next=%2Fhub%2Fhome", data=form, timeout=120)
print(json.dumps({
    "login_status": page.status,
    "hsts": page.headers.get("Strict-Transport-Security"),
    "nosniff": page.headers.get("X-Content-Type-Options"),
    "redirect": redirect,
    "home_url": home.geturl(),
    "home_status": home.status,
    "cookies": [[c.name, c.secure] for c in jar],
}))
"""


def test_second_converge_changes_nothing(deployment: Deployment) -> None:
    assert deployment.first.recap.get("changed", 0) > 0
    assert deployment.second.rc == 0, deployment.second.output[-6000:]
    assert deployment.second.recap.get("failed") == 0
    changed = re.findall(r"^changed: \[portal\].*$|^TASK \[(.+)\]", deployment.second.output)
    assert deployment.second.recap.get("changed") == 0, changed


def test_units_are_active(deployment: Deployment) -> None:
    states = {unit: deployment.machine.unit_property(unit, "ActiveState") for unit in UNITS}
    assert states == dict.fromkeys(UNITS, "active")
    for unit in UNITS:
        assert deployment.machine.unit_property(unit, "UnitFileState") == "enabled", unit


def test_portal_answers_through_nginx_over_tls(deployment: Deployment) -> None:
    seen = _in_portal(deployment, _BROWSER)
    assert seen["redirect"] == [301, "https://localhost/hub/login"]
    assert seen["login_status"] == 200
    assert seen["hsts"] == "max-age=31536000"
    assert seen["nosniff"] == "nosniff"
    # The dummy login went through the deployed hub and landed on the home page.
    assert seen["home_status"] == 200
    assert seen["home_url"] == "https://localhost/hub/home"
    assert seen["cookies"], "no session cookie"
    assert all(secure for _name, secure in seen["cookies"]), seen["cookies"]


def test_site_file_passes_check_config(deployment: Deployment) -> None:
    done = deployment.machine.run(
        ["/opt/computehub/venv/bin/computehub", "check-config", "/etc/computehub/site.yaml"]
    )
    assert done.stdout.startswith("site file /etc/computehub/site.yaml: OK (3 hubs")


def test_ledger_is_migrated_on_postgresql(deployment: Deployment) -> None:
    env = deployment.ledger_env()
    assert "postgresql+psycopg://" in env[1]
    done = deployment.machine.run(
        [*env, "/opt/computehub/venv/bin/python", "-m", "computehub.credits.schemaupgrade"]
    )
    assert "nothing to do" in done.stdout
    # `credits check` refuses a ledger at another revision than the code's.
    deployment.machine.run([*env, "/opt/computehub/venv/bin/computehub", "credits", "check"])


def test_nightly_dump_restores_into_an_empty_database(deployment: Deployment) -> None:
    machine = deployment.machine
    env = deployment.ledger_env()
    cli = [*env, "/opt/computehub/venv/bin/computehub", "credits"]
    machine.run([*cli, "accounts", "create", "alice", "--kind", "personal"])
    machine.run([*cli, "grant", "alice", "25", "--note", "before the dump"])
    machine.run(["systemctl", "start", "computehub-ledger-backup.service"], timeout=300)
    dumps = machine.run(["ls", "/var/backups/computehub"]).stdout.split()
    ledger_dump = [name for name in dumps if name.startswith("computehub-")]
    assert ledger_dump, dumps
    assert any(name.startswith("jupyterhub-") for name in dumps), dumps
    # docs/operations.md "Back up and restore", into an empty database.
    machine.run(["runuser", "-u", "postgres", "--", "createdb", "-O", "computehub", "restored"])
    machine.run(
        [
            "runuser", "-u", "postgres", "--", "pg_restore", "--no-owner",
            "--role=computehub", "-d", "restored", f"/var/backups/computehub/{ledger_dump[0]}",
        ]
    )  # fmt: skip
    restored = [env[0], env[1].rsplit("/", 1)[0] + "/restored"]
    check = machine.run([*restored, "/opt/computehub/venv/bin/computehub", "credits", "check"])
    assert check.returncode == 0
    balance = machine.run(
        [*restored, "/opt/computehub/venv/bin/computehub", "credits", "balance", "alice", "--json"]
    )
    assert json.loads(balance.stdout)["balance"] in ("25", "25.00", "25.0000")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            {"hubs": {"lahore": {"rates": {"gpu:v100": "9"}}}},
            "hubs.lahore.rates.gpu:v100: unknown GPU type 'v100' (hub lahore has: h100)",
            id="unknown-gpu-type-in-a-rate",
        ),
        pytest.param(
            {"hubs": {"karachi": {"slurm": {"conf": None}}}},
            "hubs.karachi.slurm: give exactly one of 'conf' (a SLURM_CONF path) or 'submit_host'",
            id="hub-without-slurm-conf",
        ),
    ],
)
def test_broken_inventory_value_stops_before_any_restart(
    deployment: Deployment, override: dict[str, Any], message: str
) -> None:
    machine = deployment.machine
    hub_pid = machine.unit_property("computehub-hub.service", "MainPID")
    site_before = machine.run(["cat", "/etc/computehub/site.yaml"]).stdout
    broken = _site()
    for hub, change in override["hubs"].items():
        for key, value in change.items():
            broken["hubs"][hub][key] = {**broken["hubs"][hub][key], **value}
    extra = deployment.workdir / "broken.yml"
    extra.write_text(yaml.safe_dump({"computehub_hub_site": broken}))
    play = deployment.play(extra)
    assert play.rc != 0
    assert "TASK [computehub_hub : Render the site file]" in play.output
    assert message in play.output
    assert "RUNNING HANDLER" not in play.output
    assert machine.run(["cat", "/etc/computehub/site.yaml"]).stdout == site_before
    assert machine.unit_property("computehub-hub.service", "MainPID") == hub_pid


#: Prints the pids whose cgroup is the given unit's (any cgroup layout: the path
#: seen from outside the container's cgroup namespace ends with the unit's name).
_UNIT_PIDS = r"""
import json, os, sys
unit = "/" + sys.argv[1]
pids = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        groups = open(f"/proc/{pid}/cgroup").read().split()
    except OSError:
        continue
    if any(line.endswith(unit) for line in groups):
        pids.append(int(pid))
print(json.dumps(pids))
"""


def _unit_pids(deployment: Deployment, unit: str) -> set[int]:
    return set(_in_portal(deployment, _UNIT_PIDS, unit))


def _credits_answers(machine: Machine) -> bool:
    code = (
        "import urllib.request, urllib.error\n"
        "try:\n"
        f"    urllib.request.urlopen({CREDITS_URL!r}, timeout=5)\n"
        "    print('true')\n"
        "except urllib.error.HTTPError:\n"
        "    print('true')\n"
        "except OSError:\n"
        "    print('false')\n"
    )
    return machine.run(["python3", "-c", code]).stdout.strip() == "true"


def test_killed_hub_comes_back_with_its_services(deployment: Deployment) -> None:
    machine = deployment.machine
    unit = "computehub-hub.service"
    hub_pid = int(machine.unit_property(unit, "MainPID"))
    before = _unit_pids(deployment, unit)
    assert len(before) >= 3, before  # the hub, the credits service, the reconciler, ...
    assert _credits_answers(machine)
    proxy_pid = machine.unit_property("computehub-proxy.service", "MainPID")
    restarts = int(machine.unit_property(unit, "NRestarts"))
    # kill -9 (minbase has no /bin/kill).
    machine.run(["python3", "-c", f"import os; os.kill({hub_pid}, 9)"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pid = int(machine.unit_property(unit, "MainPID") or 0)
        if pid not in (0, hub_pid) and machine.unit_property(unit, "ActiveState") == "active":
            after = _unit_pids(deployment, unit)
            if len(after) >= len(before) and _credits_answers(machine):
                break
        time.sleep(1)
    else:
        pytest.fail("the hub did not come back with its services in 180 s")
    # Nothing of the killed hub is left: every process of the unit is new.
    assert not (before & _unit_pids(deployment, unit))
    assert int(machine.unit_property(unit, "NRestarts")) == restarts + 1
    # The proxy (and with it users' open connections) was not touched.
    assert machine.unit_property("computehub-proxy.service", "MainPID") == proxy_pid
    seen = _in_portal(deployment, _BROWSER)
    assert seen["home_status"] == 200
