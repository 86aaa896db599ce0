"""Session-wide fixtures: the real components of the local test bed.

Each component is started once per test session under one temporary directory
and stopped by pid at the end. A component that is not installed makes its
tests skip on a developer's machine, and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from computehub.credits.ledger import Ledger
from computehub.localbed.bed import SlurmBed
from computehub.localbed.hub import HubProcess
from computehub.localbed.postgres import Postgres
from computehub.localbed.proc import MissingComponentError, free_port
from computehub.localbed.sitegen import bed_site, write_site
from computehub.localbed.slapd import Slapd
from computehub.localbed.university import PEOPLE, SUPPORT, ensure_people, ldap_auth
from computehub.localbed.users import ensure_user
from tests.support.bedtools import (
    STRICT,
    assert_ledger_clean,
    component_missing,
    hub_api,
    hub_login,
)
from tests.support.sessions import stop

REPO = Path(__file__).resolve().parent.parent


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In strict runs (CI=true, scripts/test.sh) a skipped test is a failed test."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in a strict run (CI=true): {report.longrepr}"
    running = getattr(item, "funcargs", {}).get("hub")
    if report.failed and isinstance(running, RunningHub):
        # CI keeps no bed: the hub's own account of what went wrong goes in the report.
        report.sections.append(("the hub's warnings and errors", hub_trouble(running.process.log)))


def hub_trouble(log: Path, limit: int = 12_000) -> str:
    """The last warnings and errors in JupyterHub's log, with the tracebacks under them."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError as err:
        return f"(no hub log: {err})"
    kept: list[str] = []
    keeping = False
    for line in lines:
        if line.startswith("["):
            keeping = line[1:2] in ("W", "E", "C")
        if keeping:
            kept.append(line)
    return "\n".join(kept)[-limit:]


@pytest.fixture(scope="session")
def bed_root(request: pytest.FixtureRequest) -> Iterator[Path]:
    """One directory for every daemon of this session, traversable by their users."""
    if "not integration" in (request.config.getoption("markexpr") or ""):
        pytest.fail(
            "a test without the integration marker asked for the test bed "
            "(mark it, or its parameter, pytest.mark.integration)",
            pytrace=False,
        )
    root = Path(tempfile.mkdtemp(prefix="computehub-bed-"))
    root.chmod(0o755)
    yield root
    if not os.environ.get("COMPUTEHUB_KEEP_BED"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(bed_root: Path) -> Iterator[Postgres]:
    """A real PostgreSQL 15 on 127.0.0.1, for the whole session."""
    server = Postgres(bed_root / "postgres")
    try:
        server.start()
    except MissingComponentError as err:
        component_missing(err)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> str:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database."""
    return postgres_server.create_database()


# --- the Slurm hubs, the people, the hub ------------------------------------------------

#: Test people: POSIX users on this machine (jobs run as them) and their platform roles.
TEST_USERS = {"alice": "researcher", "bob": "student", "carol": "operator"}
#: Their directory passwords (computehub.localbed.university).
PASSWORDS = {person.uid: person.password for person in PEOPLE}


@pytest.fixture(scope="session")
def test_users() -> dict[str, str]:
    """Local POSIX accounts for the test people."""
    try:
        for name in TEST_USERS:
            ensure_user(name)
    except MissingComponentError as err:
        component_missing(err)
    return dict(TEST_USERS)


@pytest.fixture(scope="session")
def slurm_bed(bed_root: Path) -> Iterator[SlurmBed]:
    """munge, MariaDB + slurmdbd and two Slurm clusters (lahore: 4 h100, karachi: 4 a100)."""
    bed = SlurmBed(bed_root / "slurm")
    try:
        bed.start()
    except MissingComponentError as err:
        component_missing(err)
    yield bed
    for cluster in bed.clusters.values():
        cluster.cancel_all()
    bed.stop()


@pytest.fixture(scope="session")
def notebook_env() -> Path:
    """The notebook environment jobs run (built by scripts/install.sh)."""
    env = Path(os.environ.get("COMPUTEHUB_NOTEBOOK_ENV", "/opt/computehub/envs/notebook"))
    if not (env / "bin" / "batchspawner-singleuser").exists():
        component_missing(MissingComponentError(f"no notebook environment at {env}"))
    return env


@pytest.fixture(scope="session")
def site_file(
    bed_root: Path,
    slurm_bed: SlurmBed,
    notebook_env: Path,
    test_users: dict[str, str],
    slapd: Slapd,
) -> Path:
    """A site file describing the bed's two hubs; people log in with the test directory."""
    ensure_people(slapd)
    data = bed_site(slurm_bed, notebook_env, test_users)
    data["auth"] = ldap_auth("127.0.0.1", slapd.port)
    data["platform"]["support"] = SUPPORT
    return write_site(bed_root / "site.yaml", data)


@dataclass
class RunningHub:
    """A JupyterHub process and a REST client with a test-driver service token."""

    process: HubProcess
    token: str
    #: Tokens of services holding exactly the scopes of the idle culler and of the
    #: GPU-idle rule (computehub.culling), by service name.
    probe_tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def ledger_url(self) -> str:
        """The hub's credit ledger (the embedded SQLite default in its state dir)."""
        return f"sqlite:///{self.process.base / 'ledger.sqlite'}"

    def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """Call the hub's REST API as the test driver; returns (status, JSON or None)."""
        return hub_api(self.url, self.token, method, path, body)


@pytest.fixture(scope="session")
def hub(bed_root: Path, site_file: Path) -> Iterator[RunningHub]:
    """JupyterHub from hub_config/ with its configurable-http-proxy, on the bed's hubs."""
    token = secrets.token_hex(24)
    probes = {name: secrets.token_hex(24) for name in ("idle-culler", "gpu-idle")}
    extra = bed_root / "test_extra_config.py"
    # A test driver is a service with a role, as JupyterHub recommends over api_tokens.
    extra.write_text(
        # appended: the hub config already defines the credits service and platform roles
        f"c.JupyterHub.services.append({{'name': 'test-driver', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-driver', 'services': ['test-driver'],\n"
        "    'scopes': ['admin:users', 'admin:servers', 'access:servers', 'list:users',\n"
        "               'tokens']})\n"
        "c.JupyterHub.log_level = 'DEBUG'\n"
        # Poll sessions often, so tests see what the hub makes of a job quickly.
        "c.Spawner.poll_interval = 3\n"
        "c.ComputeHubSpawner.free_gpus_cache_s = 0.5\n"
        "c.JupyterHub.allow_named_servers = True\n"
        "c.JupyterHub.named_server_limit_per_user = 25\n"
        # No GPUs here: the widget reads the fake device layer in the jobs (4 devices,
        # of which a job sees the ones Slurm gives it in CUDA_VISIBLE_DEVICES).
        "c.Spawner.environment.update({'COMPUTEHUB_FAKE_GPUS': '4'})\n"
        # The notebook servers sample their GPUs every second and report them to the
        # hub every second (the GPU-idle rule's input).
        "c.Spawner.environment.update({'COMPUTEHUB_GPU_SAMPLE_S': '1',\n"
        "                              'COMPUTEHUB_GPU_REPORT_S': '1'})\n"
        # Probes that hold exactly the culling services' roles, so that tests can run
        # one pass of each with a short limit, with the scopes the services have.
        "from computehub.culling import GPU_IDLE_SCOPES, IDLE_CULLER_SCOPES\n"
        f"_probes = {probes!r}\n"
        "_scopes = {'idle-culler': IDLE_CULLER_SCOPES, 'gpu-idle': GPU_IDLE_SCOPES}\n"
        "for _name, _token in _probes.items():\n"
        "    c.JupyterHub.services.append({'name': _name + '-probe', 'api_token': _token})\n"
        "    _role = {'name': _name + '-probe', 'scopes': _scopes[_name]}\n"
        "    c.JupyterHub.load_roles.append({**_role, 'services': [_name + '-probe']})\n"
    )
    extra.chmod(0o600)
    # The reconciler service passes often, as the safety net it is: a session whose
    # accounting record is late is settled by it rather than by the stop.
    process = HubProcess(
        bed_root / "hub",
        site_file,
        extra_config=extra,
        extra_env={
            "COMPUTEHUB_RECONCILE_INTERVAL": "10",
            "COMPUTEHUB_CREDITS_PORT": str(free_port()),
        },
    )
    try:
        process.start()
    except MissingComponentError as err:
        component_missing(err)
    try:
        running = RunningHub(process, token, probes)
        # A real login through the directory: it sets each person's platform roles
        # (JupyterHub groups, which the spawner's allow-lists read) and first-login grant.
        for user in TEST_USERS:
            hub_login(running.url, user, PASSWORDS[user])
        with Ledger(running.ledger_url) as ledger:
            for user in TEST_USERS:
                ledger.ensure_personal_account(user, actor="test-bed")
                ledger.grant(user, "1000", actor="test-bed", idempotency_key=f"test-bed:{user}")
        yield running
    finally:
        process.stop()
    assert_ledger_clean(running.ledger_url)


@pytest.fixture(scope="session")
def slapd(bed_root: Path) -> Iterator[Slapd]:
    """A real OpenLDAP server with an empty university directory."""
    server = Slapd(bed_root / "slapd")
    try:
        server.start()
    except MissingComponentError as err:
        component_missing(err)
    yield server
    server.stop()


# --- the browser ------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no browser download).

    Module-scoped: Playwright's sync API keeps an event loop running on the main
    thread while it is open, which would stop the asyncio tests of other modules.
    """
    if not Path(CHROMIUM).exists():
        component_missing(MissingComponentError("chromium not installed (Debian package)"))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """This test's output folder (screenshots): test-output/<test name>/."""
    root = Path(os.environ.get("COMPUTEHUB_TEST_OUTPUT", REPO / "test-output"))
    name: str = request.node.name
    path = root / name.replace("/", "_")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture
def clean(hub: Any, slurm_bed: SlurmBed, test_users: dict[str, str]) -> Iterator[None]:
    """Every test starts and ends with no servers (named ones too) and no jobs."""

    def reset() -> None:
        for user in test_users:
            _, model = hub.api("GET", f"/users/{user}")
            for name in list(model["servers"]):
                hub.api(
                    "DELETE", f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
                )
            stop(hub, user)
        for cluster in slurm_bed.clusters.values():
            cluster.cancel_all()

    reset()
    yield
    reset()


#: Fixtures behind which a real component runs: everything the bed starts lives under
#: ``bed_root``, and the browser is Chromium.
_DAEMON_FIXTURES = frozenset({"bed_root", "browser"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a test that needs a daemon of the bed without the ``integration`` marker.

    ``pytest -m "not integration"`` is the fast loop that needs no Slurm, LDAP, PostgreSQL
    or browser: the marker must be on every test that would start one.
    """
    unmarked = [
        item.nodeid
        for item in items
        if _DAEMON_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("integration") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests start parts of the test bed but are not marked integration:\n  "
            + "\n  ".join(unmarked)
        )
