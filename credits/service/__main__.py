"""``python -m computehub.credits.service``: run the service as JupyterHub starts it.

JupyterHub passes ``JUPYTERHUB_SERVICE_URL`` (where to listen), ``JUPYTERHUB_SERVICE_PREFIX``,
``JUPYTERHUB_API_URL``, ``JUPYTERHUB_API_TOKEN`` and ``JUPYTERHUB_CLIENT_ID``; the hub
config adds ``COMPUTEHUB_DB_URL`` (the ledger; rates are recorded there by the hub at
start-up from the site file), ``COMPUTEHUB_SITE`` and, with graded courses,
``COMPUTEHUB_FORMGRADERS``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from computehub.credits.ledger import Ledger
from computehub.credits.service.jupyterhub import FORMGRADERS_ENV
from computehub.paths import DB_URL_ENV, SITE_FILE_ENV, default_ledger_url

log = logging.getLogger("computehub.credits.service")

#: Seconds the service trusts the hub's answer about a token before asking again.
AUTH_CACHE_S = 60


def listen_address(service_url: str) -> tuple[str, int]:
    """Host and port from ``JUPYTERHUB_SERVICE_URL``.

    Raises:
        ValueError: not an http URL with a port.
    """
    parts = urlsplit(service_url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(f"JUPYTERHUB_SERVICE_URL must be http://HOST:PORT, not {service_url!r}")
    return parts.hostname, parts.port


async def serve(env: Mapping[str, str]) -> None:
    """Open the ledger, build the app and serve until SIGTERM or SIGINT."""
    from jupyterhub.services.auth import HubOAuth

    from computehub.credits.service.app import make_app
    from computehub.credits.service.context import ServiceContext

    host, port = listen_address(env.get("JUPYTERHUB_SERVICE_URL", ""))
    url = env.get(DB_URL_ENV) or default_ledger_url()
    ledger = await asyncio.to_thread(Ledger, url)
    hub_auth = HubOAuth(api_token=env.get("JUPYTERHUB_API_TOKEN", ""), cache_max_age=AUTH_CACHE_S)
    context = ServiceContext(ledger=ledger, hub_auth=hub_auth)
    if env.get("JUPYTERHUB_API_URL"):
        from computehub.credits.service.hubmaintenance import HubMaintenance
        from computehub.credits.service.hubs import HubStatusReader

        context.hub_status = HubStatusReader(
            env["JUPYTERHUB_API_URL"], env.get("JUPYTERHUB_API_TOKEN", "")
        )
        context.hub_maintenance = HubMaintenance(
            env["JUPYTERHUB_API_URL"], env.get("JUPYTERHUB_API_TOKEN", "")
        )
    site_path = env.get(SITE_FILE_ENV)
    if site_path:
        from computehub.credits.service.courses import site_course_resources
        from computehub.sitefile import SiteFileError, load_site

        try:
            site = load_site(Path(site_path))
        except SiteFileError as err:
            raise ValueError(err.one_line()) from None
        context.course_resources = site_course_resources(site)
        context.programme = site.programme
        from computehub.credits.notices import Rules

        context.notice_rules = Rules.from_site(site)
        context.expiring_soon = context.notice_rules.expiring_within
    formgraders = env.get(FORMGRADERS_ENV)
    if formgraders:
        from computehub.credits.service.formgraders import FormgraderReader

        context.formgraders = FormgraderReader.from_json(formgraders)
    app = make_app(context)
    server = app.listen(port, address=host, xheaders=True)
    log.info("credits service at http://%s:%d%s", host, port, hub_auth.base_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    ledger.close()


def main() -> int:
    """Entry point; a bad setting is one line on stderr and exit status 1."""
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s %(name)s] %(message)s")
    try:
        asyncio.run(serve(os.environ))
    except ValueError as err:
        print(f"computehub credits service: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
