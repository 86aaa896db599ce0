"""ansible/site.yml converged into a booted Debian 12 machine (systemd-nspawn), twice.

One machine for the module: the first converge installs everything, the second
must change nothing; then the portal is checked as its users and operators meet
it (nginx over TLS, the hub's units, the ledger, the nightly dump and its
restore, a login and a session on the test bed's Lahore cluster), a broken
inventory value is shown to stop the play before any restart, and a hub killed
with SIGKILL is shown to come back with its services while the session's job
runs on and still answers through the portal.

The machine shares the host's network: the session's job runs on the bed's
slurmd on this host, so its server must reach the deployed hub and the deployed
proxy must reach the server, as on a site where the portal and the compute
nodes share a network. Every port the portal listens on (nginx, the proxy and
its API, the hub, the credits service, PostgreSQL) is an inventory value set to
a port free on the host, so nothing clashes with the bed or other tests.
"""

from __future__ import annotations

import grp
import http.cookiejar
import json
import os
import pwd
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from computehub.localbed.bed import SlurmBed
from computehub.localbed.proc import MissingComponentError, free_port
from computehub.localbed.slurm import SlurmCluster
from computehub.localbed.users import ensure_user
from tests.deploy.machine import CACHE, Machine, node_wheel, require_bed, source_archive
from tests.support.bedtools import component_missing

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / ".venv-ansible" / "bin" / "ansible-playbook"
HUBS = ("lahore", "karachi", "islamabad")
#: The hub whose Slurm is the test bed's (the others name controllers that are not there).
BED_HUB = "lahore"
#: The host's account whose uid the portal's ``computehub`` user gets: a Slurm operator
#: on the bed's Lahore cluster, as a site makes the portal's user on each cluster.
HUB_SLURM_USER = "chportal"
UNITS = (
    "computehub-hub.service",
    "computehub-proxy.service",
    "nginx.service",
    "postgresql.service",
    "computehub-ledger-backup.timer",
    *(f"computehub-munge@{hub}.service" for hub in HUBS),
)
LEDGER_URL_ENV = "COMPUTEHUB_DB_URL"
#: Every port the portal listens on (the machine shares the host's network).
PORTS = ("http", "https", "proxy", "proxy_api", "hub", "credits", "postgres")
#: The standby's nginx: both machines share the host's network here (on a site they
#: are two hosts; its other ports are the portal's, free while the portal is stopped).
STANDBY_PORTS = ("standby_http", "standby_https")


@dataclass
class Play:
    """One ansible-playbook run: exit status, output, the portal's recap counts."""

    rc: int
    output: str
    recap: dict[str, int]
    #: Every host's recap counts (the portal and the standby).
    recaps: dict[str, dict[str, int]]


@dataclass
class Deployment:
    """The converged machine and what it took."""

    machine: Machine
    #: The standby portal host: same configuration, the hub's units disabled.
    standby: Machine
    workdir: Path
    inventory: Path
    first: Play
    second: Play
    first_s: float
    second_s: float
    ports: dict[str, int]
    site: dict[str, Any]
    cluster: SlurmCluster

    @property
    def url(self) -> str:
        """The portal as users reach it (nginx, TLS)."""
        return f"https://localhost:{self.ports['https']}"

    @property
    def standby_url(self) -> str:
        """The standby's nginx (on a site: the same name, moved to it at fail-over)."""
        return f"https://localhost:{self.ports['standby_https']}"

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
    recaps = {
        host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)}
        for host, counts in re.findall(r"^(\w+)\s*:\s*(ok=.+)$", output, re.MULTILINE)
    }
    return Play(done.returncode, output, recaps.get("portal", {}), recaps)


def _client_conf(cluster: SlurmCluster, hub: str) -> str:
    """The bed cluster's slurm.conf as the portal's client copy: munge is the portal's."""
    socket = f"/run/munge-{hub}/munge.socket.2"
    lines = []
    for line in cluster.conf.read_text().splitlines():
        if line.startswith("AuthInfo="):
            line = f"AuthInfo=socket={socket},cred_expire=30"
        elif line.startswith("AccountingStoragePass="):
            line = f"AccountingStoragePass={socket}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _operator_files(files: Path, bed: SlurmBed) -> None:
    """What an operator provides: certificate, Slurm configs, munge and ticket keys.

    Lahore's come from the test bed's cluster (its slurm.conf pointed at the
    portal's munged, its munge key, its guard's ticket key); the other hubs name
    controllers that nothing answers for.
    """
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
    cluster = bed.clusters[BED_HUB]
    conf = files / "slurm" / BED_HUB
    conf.mkdir(parents=True)
    (conf / "slurm.conf").write_text(_client_conf(cluster, BED_HUB))
    shutil.copyfile(bed.munge.base / "etc" / "munge.key", conf / "munge.key")
    shutil.copyfile(cluster.ticket_key, conf / "ticket.key")
    for hub in HUBS[1:]:
        port = free_port()
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


def _site(cluster: SlurmCluster, notebook_env: Path) -> dict[str, Any]:
    gpus = {
        BED_HUB: dict(cluster.gpus),
        "karachi": {"a100": 4},
        "islamabad": {"l40s": 4},
    }
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
                "partitions": {cluster.partition: {"default": True, "max_hours": 12}},
                "gpus": {gpu: {"count": count, "memory_gb": 80} for gpu, count in kinds.items()},
                "rates": {"cpu": "0.5", **{f"gpu:{gpu}": "7" for gpu in kinds}},
                "limits": {"cpus_per_session": 1, "memory_gb_per_session": 1},
            }
            for hub, kinds in gpus.items()
        },
        # The session's job runs on the bed's node (this host): its notebook environment.
        "environments": {"notebook": {"display_name": "Python 3", "prefix": str(notebook_env)}},
        "defaults": {"hub": "lahore", "environment": "notebook", "hours": 1},
        "auth": {
            "method": "dummy",
            "dummy": {"users": {"alice": "researcher"}},
            "username": {"require_posix_account": True},
        },
    }


def _inventory(
    workdir: Path,
    machines: tuple[Machine, Machine],
    bed: SlurmBed,
    site: dict[str, Any],
    ports: dict[str, int],
    hub_uid: int,
) -> Path:
    files = workdir / "files"
    _operator_files(files, bed)
    source = source_archive(workdir)
    password = secrets.token_hex(16)
    host_vars: dict[str, Any] = {
        "ansible_connection": "community.docker.nsenter",
        "ansible_nsenter_pid": machines[0].pid,
        "ansible_python_interpreter": "/usr/bin/python3",
        "computehub_hub_uid": hub_uid,
        "computehub_hub_source_archive": str(source),
        "computehub_hub_wheelhouse_archive": str(CACHE / "wheels-hub.tar"),
        "computehub_hub_proxy_archive": str(CACHE / "configurable-http-proxy.tar.gz"),
        "computehub_hub_node_wheel": str(node_wheel()),
        "computehub_ledger_db_password": password,
        "computehub_hub_db_password": password,
        "computehub_hub_cookie_secret": secrets.token_hex(32),
        "computehub_hub_proxy_auth_token": secrets.token_hex(32),
        "computehub_hub_crypt_key": secrets.token_hex(32),
        "computehub_hub_public_url": f"https://localhost:{ports['https']}",
        "computehub_hub_site": site,
        "computehub_hub_proxy_port": ports["proxy"],
        "computehub_hub_proxy_api_port": ports["proxy_api"],
        "computehub_hub_hub_port": ports["hub"],
        "computehub_hub_db_port": ports["postgres"],
        "computehub_ledger_db_port": ports["postgres"],
        "computehub_hub_environment": {"COMPUTEHUB_CREDITS_PORT": ports["credits"]},
        "computehub_proxy_http_port": ports["http"],
        "computehub_proxy_https_port": ports["https"],
        "computehub_proxy_upstream": f"127.0.0.1:{ports['proxy']}",
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
    standby_vars = {
        **host_vars,
        "ansible_nsenter_pid": machines[1].pid,
        "computehub_hub_standby": True,
        "computehub_proxy_http_port": ports["standby_http"],
        "computehub_proxy_https_port": ports["standby_https"],
    }
    inventory = {
        "all": {
            "children": {
                "computehub_portal": {"hosts": {"portal": host_vars, "standby": standby_vars}},
                "computehub_ledger": {"hosts": {"portal": {}}},
                "computehub_compute": {"hosts": {}},
            }
        }
    }
    path = workdir / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def _same_account(machine: Machine, name: str) -> None:
    """The host's account ``name`` in the machine, same uid and gid (as a directory gives).

    Jobs run as the person on the bed's node: munge vouches for the uid the portal
    submits as, so it must be the same person there.
    """
    entry = pwd.getpwnam(name)
    group = grp.getgrgid(entry.pw_gid).gr_name
    machine.run(["groupadd", "--gid", str(entry.pw_gid), group])
    machine.run(
        ["useradd", "--create-home", "--uid", str(entry.pw_uid), "--gid", str(entry.pw_gid),
         "--groups", "computehub-users", name]
    )  # fmt: skip


def _slurm_operator(cluster: SlurmCluster) -> int:
    """The host account the portal's hub runs Slurm commands as, a Slurm operator; its uid.

    The controller knows a caller by the uid munge vouches for: the portal's
    ``computehub`` user gets this account's uid (``computehub_hub_uid``), as a site
    gives it the uid its clusters know it by (docs/security.md).
    """
    uid = ensure_user(HUB_SLURM_USER).pw_uid
    subprocess.run(
        ["sacctmgr", "-i", "add", "user", HUB_SLURM_USER, "account=root",
         f"cluster={cluster.name}", "adminlevel=Operator"],
        env=cluster.env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return uid


@pytest.fixture(scope="module")
def deployment(
    slurm_bed: SlurmBed, test_users: dict[str, str], notebook_env: Path
) -> Iterator[Deployment]:
    """A Debian 12 machine converged twice with ansible/site.yml."""
    try:
        require_bed()
        if not PLAYBOOK.exists():
            raise MissingComponentError(f"{PLAYBOOK} missing: run scripts/install-deploy.sh")
    except MissingComponentError as err:
        component_missing(err)
    workdir = Path(tempfile.mkdtemp(prefix="computehub-deploy-"))
    workdir.chmod(0o755)
    machine = Machine(workdir, private_network=False)
    standby = Machine(workdir / "standby", "computehub-standby", private_network=False)
    ports = {name: free_port() for name in (*PORTS, *STANDBY_PORTS)}
    cluster = slurm_bed.clusters[BED_HUB]
    site = _site(cluster, notebook_env)
    try:
        for each in (machine, standby):
            each.boot()
            # The site's dummy login needs the POSIX account jobs run as; sudoers lets the
            # hub submit as members of computehub-users (a directory's group on a site).
            each.run(["groupadd", "computehub-users"])
            _same_account(each, "alice")
        hub_uid = _slurm_operator(cluster)
        inventory = _inventory(workdir, (machine, standby), slurm_bed, site, ports, hub_uid)
        started = time.monotonic()
        first = run_playbook(inventory, workdir)
        first_s = time.monotonic() - started
        assert first.rc == 0, first.output[-6000:]
        started = time.monotonic()
        second = run_playbook(inventory, workdir)
        second_s = time.monotonic() - started
        print(f"converge: first {first_s:.0f} s, second {second_s:.0f} s")
        yield Deployment(
            machine=machine,
            standby=standby,
            workdir=workdir,
            inventory=inventory,
            first=first,
            second=second,
            first_s=first_s,
            second_s=second_s,
            ports=ports,
            site=site,
            cluster=cluster,
        )
    finally:
        standby.stop()
        machine.stop()
        # The plays' output stays for reading (test-output/ is ignored by git).
        logs = REPO / "test-output" / "deploy"
        logs.mkdir(parents=True, exist_ok=True)
        for log in [*workdir.glob("play-*.log"), workdir / "nspawn.log"]:
            if log.exists():
                shutil.copy(log, logs / log.name)
        if (workdir / "standby" / "nspawn.log").exists():
            shutil.copy(workdir / "standby" / "nspawn.log", logs / "nspawn-standby.log")
        shutil.rmtree(workdir, ignore_errors=True)


def _in_portal(deployment: Deployment, code: str, *args: str) -> Any:
    """Run a Python snippet in the machine; it prints one JSON value."""
    done = deployment.machine.run(["python3", "-c", code, *args], timeout=180)
    return json.loads(done.stdout)


#: A browser's first visit: the login page over TLS (verified against the site's
#: certificate), the HTTP redirect, then a dummy login and the hub's home page.
_BROWSER = r"""
import http.cookiejar, json, re, ssl, sys, urllib.error, urllib.parse, urllib.request
http_port, https_port = sys.argv[1:3]
ctx = ssl.create_default_context(cafile="/etc/ssl/computehub/fullchain.pem")
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(
    urllib.request.HTTPSHandler(context=ctx), urllib.request.HTTPCookieProcessor(jar))
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
plain = urllib.request.build_opener(NoRedirect)
try:
    plain.open(f"http://localhost:{http_port}/hub/login", timeout=30)
    redirect = None
except urllib.error.HTTPError as err:
    redirect = [err.code, err.headers.get("Location")]
page = opener.open(f"https://localhost:{https_port}/hub/login", timeout=60)
body = page.read().decode()
xsrf = re.search(r'name="_xsrf" value="([^"]+)"', body).group(1)
form = urllib.parse.urlencode({"username": "alice", "password": "x", "_xsrf": xsrf}).encode()
home = opener.open(
    f"https://localhost:{https_port}/hub/login?next=%2Fhub%2Fhome", data=form, timeout=120)
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


def _browse(deployment: Deployment) -> Any:
    ports = deployment.ports
    return _in_portal(deployment, _BROWSER, str(ports["http"]), str(ports["https"]))


def test_second_converge_changes_nothing(deployment: Deployment) -> None:
    assert deployment.first.recap.get("changed", 0) > 0
    assert deployment.second.rc == 0, deployment.second.output[-6000:]
    assert deployment.second.recap.get("failed") == 0
    changed = re.findall(r"^changed: \[portal\].*$|^TASK \[(.+)\]", deployment.second.output)
    assert deployment.second.recap.get("changed") == 0, changed
    # The standby too.
    assert deployment.second.recaps["standby"].get("failed") == 0
    assert deployment.second.recaps["standby"].get("changed") == 0


def test_units_are_active(deployment: Deployment) -> None:
    states = {unit: deployment.machine.unit_property(unit, "ActiveState") for unit in UNITS}
    assert states == dict.fromkeys(UNITS, "active")
    for unit in UNITS:
        assert deployment.machine.unit_property(unit, "UnitFileState") == "enabled", unit


#: The running proxy's node version and configurable-http-proxy's declared engines.
_PROXY_NODE = r"""
import json, os, subprocess, sys
exe = os.readlink(f"/proc/{sys.argv[1]}/exe")
version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
package = "/opt/computehub/src/node_modules/configurable-http-proxy/package.json"
print(json.dumps({"exe": exe, "version": version,
                  "engines": json.load(open(package))["engines"]["node"]}))
"""


def test_proxy_runs_on_a_node_its_engines_accept(deployment: Deployment) -> None:
    pid = deployment.machine.unit_property("computehub-proxy.service", "MainPID")
    seen = _in_portal(deployment, _PROXY_NODE, pid)
    assert seen["engines"] == ">= 20"
    major = int(seen["version"].lstrip("v").split(".")[0])
    assert major >= 20, seen
    # Node.js from the wheel in the hub's venv, not Debian 12's nodejs 18.
    assert seen["exe"].startswith("/opt/computehub/venv/"), seen


def test_portal_answers_through_nginx_over_tls(deployment: Deployment) -> None:
    seen = _browse(deployment)
    assert seen["redirect"] == [301, f"{deployment.url}/hub/login"]
    assert seen["login_status"] == 200
    assert seen["hsts"] == "max-age=31536000"
    assert seen["nosniff"] == "nosniff"
    # The dummy login went through the deployed hub and landed on the home page.
    assert seen["home_status"] == 200
    assert seen["home_url"] == f"{deployment.url}/hub/home"
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


class Browser:
    """A person's browser on the portal: TLS checked against the site's certificate."""

    def __init__(self, deployment: Deployment) -> None:
        """A browser with no cookies yet."""
        tls = ssl.create_default_context(cafile=str(deployment.workdir / "files/tls/fullchain.pem"))
        self.jar = http.cookiejar.CookieJar()
        self.url = deployment.url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=tls), urllib.request.HTTPCookieProcessor(self.jar)
        )

    def _xsrf(self) -> str:
        return next((c.value or "" for c in self.jar if c.name == "_xsrf"), "")

    def login(self, user: str) -> None:
        """The login form, as a person fills it in; lands on the home page."""
        with self.opener.open(f"{self.url}/hub/login", timeout=60) as page:
            page.read()
        form = urllib.parse.urlencode({"username": user, "password": "x", "_xsrf": self._xsrf()})
        with self.opener.open(
            f"{self.url}/hub/login?next=%2Fhub%2Fhome", data=form.encode(), timeout=120
        ) as home:
            home.read()
            assert home.geturl() == f"{self.url}/hub/home"

    def open(self, path: str, body: object = None, method: str = "GET") -> tuple[int, bytes]:
        """A request as the home page's scripts make it (cookie and XSRF header)."""
        request = urllib.request.Request(  # noqa: S310 (the test's own portal)
            f"{self.url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"X-XSRFToken": self._xsrf(), "Content-Type": "application/json"},
        )
        try:
            with self.opener.open(request, timeout=120) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()


@dataclass
class Session:
    """Alice's session on the bed's Lahore cluster, started through the portal."""

    browser: Browser
    job: str
    started: str


def _running_jobs(cluster: SlurmCluster, user: str) -> set[str]:
    """The ids of ``user``'s running jobs, read from the bed's controller on this host."""
    done = subprocess.run(
        ["squeue", "-h", "-u", user, "-t", "RUNNING", "-o", "%i"],
        env=cluster.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(done.stdout.split())


def _server_status(browser: Browser, user: str) -> dict[str, Any]:
    """The notebook server's own status, fetched through nginx, the proxy and its login."""
    status, body = browser.open(f"/user/{user}/api/status")
    assert status == 200, body[-2000:]
    return dict(json.loads(body))


def _wait_ready(browser: Browser, user: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    model: Any = None
    while time.monotonic() < deadline:
        status, body = browser.open(f"/hub/api/users/{user}")
        model = json.loads(body) if status == 200 else body
        server = model["servers"].get("") if status == 200 else None
        if server and server["ready"]:
            return dict(server)
        time.sleep(1)
    raise AssertionError(f"{user}'s server not ready in {timeout:.0f} s: {model}")


@pytest.fixture(scope="module")
def session(deployment: Deployment) -> Iterator[Session]:
    """Alice logs in on the portal and starts a session on the bed's Lahore cluster."""
    browser = Browser(deployment)
    browser.login("alice")
    before = _running_jobs(deployment.cluster, "alice")
    status, body = browser.open(
        "/hub/api/users/alice/server",
        {"hub": BED_HUB, "gpu_type": "none", "hours": "1"},
        method="POST",
    )
    assert status in (201, 202), body
    jobs: set[str] = set()
    try:
        _wait_ready(browser, "alice")
        jobs = _running_jobs(deployment.cluster, "alice") - before
        assert len(jobs) == 1, jobs
        # The server's own page through nginx, the proxy and the hub's OAuth login.
        with browser.opener.open(f"{browser.url}/user/alice/lab", timeout=120) as lab:
            assert lab.status == 200
            assert lab.geturl() == f"{browser.url}/user/alice/lab"
        started = str(_server_status(browser, "alice")["started"])
        yield Session(browser, jobs.pop(), started)
    finally:
        # Whatever a test left running (the last test stops it through the portal).
        for job in jobs or _running_jobs(deployment.cluster, "alice") - before:
            subprocess.run(["scancel", job], env=deployment.cluster.env, check=False, timeout=60)


def test_a_login_and_a_session_on_a_bed_cluster_through_the_portal(
    deployment: Deployment, session: Session
) -> None:
    # The job runs on the bed's node, as alice, from the portal's submission.
    done = subprocess.run(
        ["squeue", "-h", "-j", session.job, "-o", "%u %P %N %T"],
        env=deployment.cluster.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    cluster = deployment.cluster
    assert done.stdout.split() == ["alice", cluster.partition, cluster.node, "RUNNING"]
    status = _server_status(session.browser, "alice")
    assert status["started"] == session.started


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            {"hubs": {"islamabad": {"rates": {"gpu:v100": "9"}}}},
            "hubs.islamabad.rates.gpu:v100: unknown GPU type 'v100' (hub islamabad has: l40s)",
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
    broken = json.loads(json.dumps(deployment.site))
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


def _credits_answers(deployment: Deployment) -> bool:
    url = f"http://127.0.0.1:{deployment.ports['credits']}/services/credits/"
    code = (
        "import urllib.request, urllib.error\n"
        "try:\n"
        f"    urllib.request.urlopen({url!r}, timeout=5)\n"
        "    print('true')\n"
        "except urllib.error.HTTPError:\n"
        "    print('true')\n"
        "except OSError:\n"
        "    print('false')\n"
    )
    return deployment.machine.run(["python3", "-c", code]).stdout.strip() == "true"


def test_killed_hub_comes_back_with_its_services_and_the_session_survives(
    deployment: Deployment, session: Session
) -> None:
    machine = deployment.machine
    unit = "computehub-hub.service"
    hub_pid = int(machine.unit_property(unit, "MainPID"))
    before = _unit_pids(deployment, unit)
    assert len(before) >= 3, before  # the hub, the credits service, the reconciler, ...
    assert _credits_answers(deployment)
    proxy_pid = machine.unit_property("computehub-proxy.service", "MainPID")
    restarts = int(machine.unit_property(unit, "NRestarts"))
    # kill -9 (minbase has no /bin/kill).
    machine.run(["python3", "-c", f"import os; os.kill({hub_pid}, 9)"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pid = int(machine.unit_property(unit, "MainPID") or 0)
        if pid not in (0, hub_pid) and machine.unit_property(unit, "ActiveState") == "active":
            after = _unit_pids(deployment, unit)
            if len(after) >= len(before) and _credits_answers(deployment):
                break
        time.sleep(1)
    else:
        pytest.fail("the hub did not come back with its services in 180 s")
    # Nothing of the killed hub is left: every process of the unit is new.
    assert not (before & _unit_pids(deployment, unit))
    assert int(machine.unit_property(unit, "NRestarts")) == restarts + 1
    # The proxy (and with it users' open connections) was not touched.
    assert machine.unit_property("computehub-proxy.service", "MainPID") == proxy_pid
    seen = _browse(deployment)
    assert seen["home_status"] == 200
    # The session lived through it: the same job runs, the hub (its state in
    # PostgreSQL) still lists the server, and the same server answers through the portal.
    assert session.job in _running_jobs(deployment.cluster, "alice")
    _wait_ready(session.browser, "alice", timeout=120)
    assert _server_status(session.browser, "alice")["started"] == session.started


def test_standby_has_the_same_configuration_with_the_units_disabled(
    deployment: Deployment,
) -> None:
    portal, standby = deployment.machine, deployment.standby
    for unit in ("computehub-hub.service", "computehub-proxy.service"):
        assert standby.unit_property(unit, "UnitFileState") == "disabled", unit
        assert standby.unit_property(unit, "ActiveState") == "inactive", unit
        assert (
            standby.run(["cat", f"/etc/systemd/system/{unit}"]).stdout
            == portal.run(["cat", f"/etc/systemd/system/{unit}"]).stdout
        )
    for config in ("/etc/computehub/site.yaml", "/etc/computehub/hub.env"):
        assert standby.run(["cat", config]).stdout == portal.run(["cat", config]).stdout, config
    done = standby.run(
        ["/opt/computehub/venv/bin/computehub", "check-config", "/etc/computehub/site.yaml"]
    )
    assert done.stdout.startswith("site file /etc/computehub/site.yaml: OK (3 hubs")
    # Its own munged per hub, ready to sign the same clusters' credentials.
    for hub in HUBS:
        assert standby.unit_property(f"computehub-munge@{hub}.service", "ActiveState") == "active"


def test_fail_over_to_the_standby_keeps_the_session(
    deployment: Deployment, session: Session
) -> None:
    portal, standby = deployment.machine, deployment.standby
    units = ["computehub-hub.service", "computehub-proxy.service"]
    # docs/operations.md "Fail over to the standby portal", steps 1 and 3 (step 2,
    # moving the name, is the standby's own nginx port here).
    portal.run(["systemctl", "disable", "--now", *units], timeout=180)
    standby.run(["systemctl", "enable", "--now", *units], timeout=180)
    browser = session.browser
    browser.url = deployment.standby_url
    _wait_ready(browser, "alice", timeout=300)
    assert session.job in _running_jobs(deployment.cluster, "alice")
    assert _server_status(browser, "alice")["started"] == session.started
    for unit in units:
        assert portal.unit_property(unit, "ActiveState") == "inactive", unit
        assert standby.unit_property(unit, "ActiveState") == "active", unit


def test_a_stop_through_the_portal_ends_the_job_and_charges_the_session(
    deployment: Deployment, session: Session
) -> None:
    """Alice presses Stop on whichever portal is serving (the standby, after fail-over)."""
    browser = session.browser
    status, body = browser.open("/hub/api/users/alice/server", method="DELETE")
    assert status in (202, 204), body
    deadline = time.monotonic() + 180
    while True:
        status, body = browser.open("/hub/api/users/alice")
        assert status == 200, body
        if not json.loads(body)["servers"]:
            break
        assert time.monotonic() < deadline, f"alice's server is still listed: {body!r}"
        time.sleep(1)
    # The hub's own scancel (as its computehub user, a Slurm operator by its uid) ended it.
    assert session.job not in _running_jobs(deployment.cluster, "alice")
    done = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", session.job, "-o", "State"],
        env=deployment.cluster.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.split()[0].startswith("CANCELLED"), done.stdout
    # The ledger (PostgreSQL on the portal) charged the session and holds nothing for it.
    cli = [*deployment.ledger_env(), "/opt/computehub/venv/bin/computehub", "credits"]
    deadline = time.monotonic() + 120
    while True:
        done = deployment.machine.run([*cli, "balance", "alice", "--json"], timeout=120)
        balance = json.loads(done.stdout)
        if Decimal(str(balance["held"])) == 0:
            break
        assert time.monotonic() < deadline, f"alice's session is still held: {balance}"
        time.sleep(2)
    history = deployment.machine.run([*cli, "history", "alice", "--json"], timeout=120).stdout
    assert any(entry["kind"] == "charge" for entry in json.loads(history)), history
    assert json.loads(deployment.machine.run([*cli, "check", "--json"], timeout=120).stdout)["ok"]
