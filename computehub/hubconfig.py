"""Turn a validated site file into JupyterHub configuration.

``hub_config/jupyterhub_config.py`` calls :func:`configure`; everything a
deployment varies lives in the site file or in ``COMPUTEHUB_*`` variables.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from computehub.auth.configure import AuthConfigError, configure_auth
from computehub.credits.service.jupyterhub import (
    configure_credits_service,
    credits_reads_formgraders,
)
from computehub.culling import configure_culling
from computehub.i18n.hub import template_vars as i18n_template_vars
from computehub.nbgraderhub import NbgraderConfigError, configure_nbgrader
from computehub.paths import repo_root, state_dir
from computehub.sitefile import Site
from computehub.spawners.handlers import register_api_handlers
from computehub.spawners.scopes import configure_hub_scopes


class ConfigError(RuntimeError):
    """A setting that can't be honoured; the message names it."""


__all__ = ["AuthConfigError", "ConfigError", "check_slurm", "configure"]


def _proxy_command() -> list[str]:
    local = repo_root() / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return [str(local)]
    found = shutil.which("configurable-http-proxy")
    if found is None:
        raise ConfigError("configurable-http-proxy not found: run scripts/install.sh (npm install)")
    return [found]


def configure(c: Any, site: Site, site_path: Path) -> None:
    """Apply ``site`` (loaded from ``site_path``) to the JupyterHub config object ``c``."""
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    env = os.environ
    c.JupyterHub.bind_url = env.get("COMPUTEHUB_BIND_URL", "http://127.0.0.1:8000")
    c.JupyterHub.hub_bind_url = env.get("COMPUTEHUB_HUB_BIND_URL", "http://127.0.0.1:8081")
    c.ConfigurableHTTPProxy.api_url = env.get("COMPUTEHUB_PROXY_API_URL", "http://127.0.0.1:8001")
    c.ConfigurableHTTPProxy.command = _proxy_command()
    c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
    c.JupyterHub.db_url = env.get(
        "COMPUTEHUB_HUB_DB_URL", f"sqlite:///{state / 'jupyterhub.sqlite'}"
    )
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    # Sessions are Slurm jobs paid for in advance: a hub restart must not stop them.
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.cleanup_proxy = False
    # Several sessions at once, each its own card on the home page (docs/home-page.md).
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.template_vars = {
        "computehub_platform": site.platform.name,
        "computehub_support": site.platform.support,
        # The home page's notices (hub_config/templates/home.html, docs/notices.md).
        "computehub_notices": _home_notices(site),
        # `_()` and the page's language in the templates (docs/languages.md).
        **i18n_template_vars(),
    }

    # The spawner by its entry-point name (pyproject.toml, jupyterhub.spawners).
    c.JupyterHub.spawner_class = "computehub"
    c.ComputeHubSpawner.site_file = str(site_path)
    c.Spawner.http_timeout = 120
    c.Spawner.start_timeout = 600
    c.Spawner.default_url = "/lab"
    # Where a job reaches the hub's public side (the proxy): the widget finds the
    # credits service there. Set COMPUTEHUB_PUBLIC_URL when users come in elsewhere.
    c.Spawner.environment = {
        "COMPUTEHUB_HUB_URL": env.get("COMPUTEHUB_PUBLIC_URL", c.JupyterHub.bind_url)
    }
    configure_auth(c, site)
    configure_credits_service(c, site, site_path)
    configure_hub_scopes(c)
    try:
        formgraders = configure_nbgrader(c, site)
    except NbgraderConfigError as err:
        raise ConfigError(str(err)) from None
    credits_reads_formgraders(c, formgraders)
    # The hub API's port report (in place of batchspawner's), extend, estimate and GPU
    # activity endpoints: JupyterHub builds its handler table after loading this config.
    register_api_handlers()
    # The site file is the one source of truth for prices: record them in the ledger
    # (a new row only where a rate changed, so past charges keep their prices).
    from computehub.spawners.billing import ledger_url, sync_site_rates

    try:
        sync_site_rates(site)
    except Exception as err:  # any ledger failure stops startup, in one line
        raise ConfigError(f"the credit ledger can't be opened: {err}") from None
    _configure_reconciler(c, site, site_path)
    configure_culling(c, site, ledger_url(site))


def _home_notices(site: Site) -> Any:
    from computehub.credits.notices import Rules
    from computehub.spawners.billing import ledger_for, ledger_url
    from computehub.spawners.usernotices import home_notices

    return home_notices(lambda: ledger_for(ledger_url(site)), Rules.from_site(site))


def check_slurm(c: Any, site: Site) -> None:
    """Refuse to start when a hub's Slurm can't keep its sessions honest.

    Called once the whole configuration is loaded (the Slurm commands are the spawner's,
    from ``ComputeHubSpawner.slurm_bin_dir`` when it is set). For each hub: its job
    ticket key must be readable; a hub that sells GPUs needs a key (its cluster's
    job_submit.lua guard) unless the site file says ``slurm.unguarded: true``; its
    controller must account the TRES its GPU rates charge for and, with a key, run
    ``JobSubmitPlugins=lua``. A controller that does not answer (or whose SLURM_CONF is
    missing here) is reported; the spawner checks that hub before its first session.

    Raises:
        ConfigError: one line for all the problems found.
    """
    from computehub.spawners.jobticket import TicketKeyError, load_key
    from computehub.spawners.registry import HubRegistry
    from computehub.spawners.slurmclient import SlurmClient
    from computehub.spawners.tres import check_hubs

    registry = HubRegistry(site)
    for name in registry.names():
        hub = registry[name]
        if hub.ticket_key_file is not None:
            try:
                load_key(hub.ticket_key_file)
            except TicketKeyError as err:
                raise ConfigError(f"hubs.{name}.slurm.job_ticket_key_file: {err}") from None
        elif hub.unguarded:
            print(
                f"computehub: warning: hub {name} runs without the job_submit.lua guard "
                "(slurm.unguarded: true): its users can requeue and change their sessions' "
                "jobs and submit to its partitions directly",
                file=sys.stderr,
            )
    spawner = c.ComputeHubSpawner
    bin_dir = spawner.slurm_bin_dir if "slurm_bin_dir" in spawner else ""
    client = SlurmClient(registry, bin_dir or None)
    # JupyterHub loads its configuration inside its running event loop: the checks run
    # on a loop of their own, in a worker thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        problems, unreachable = pool.submit(asyncio.run, check_hubs(registry, client)).result()
    for line in unreachable:
        print(
            f"computehub: warning: {line}; its sessions are checked before they start",
            file=sys.stderr,
        )
    if problems:
        raise ConfigError("; ".join(problems))


def _configure_reconciler(c: Any, site: Site, site_path: Path) -> None:
    """Run the hold/job reconciliation beside the hub, as a managed service.

    It needs no hub API access (no url, no scopes): it talks to Slurm and the ledger.
    """
    from computehub.spawners.billing import ledger_url

    interval = os.environ.get("COMPUTEHUB_RECONCILE_INTERVAL", "60")
    metrics = os.environ.get("COMPUTEHUB_RECONCILE_METRICS_FILE")
    services = list(c.JupyterHub.services) if "services" in c.JupyterHub else []
    services = [spec for spec in services if spec.get("name") != "reconciler"]
    services.append(
        {
            "name": "reconciler",
            "command": [
                sys.executable,
                "-m",
                "computehub.spawners.reconcile",
                "--site",
                str(site_path),
                "--interval",
                interval,
                *(["--metrics-file", metrics] if metrics else []),
            ],
            "environment": {
                "COMPUTEHUB_DB_URL": ledger_url(site),
                "COMPUTEHUB_STATE_DIR": str(state_dir()),
            },
        }
    )
    c.JupyterHub.services = services
