"""Session fixtures of the login tests: a hub on LDAP and a hub on a real OIDC provider.

Each hub is a real ``jupyterhub`` process from hub_config/ with its own ports,
state folder and ledger under the bed's folder; neither needs Slurm.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from authbed import (
    HubClient,
    LdapHub,
    OidcHub,
    OidcProviderProcess,
    TcpGate,
    ensure_people,
    extra_config,
    ldap_auth,
    oidc_auth,
    site_data,
)
from bedtools import component_missing

from computehub.localbed.hub import HubProcess
from computehub.localbed.proc import MissingComponentError, free_port
from computehub.localbed.sitegen import write_site
from computehub.localbed.slapd import Slapd


def _start(process: HubProcess) -> None:
    try:
        process.start()
    except MissingComponentError as err:
        component_missing(err)


@pytest.fixture(scope="session")
def ldap_hub(bed_root: Path, slapd: Slapd, test_users: dict[str, str]) -> Iterator[LdapHub]:
    """JupyterHub on LDAP (direct bind, groups → roles, first-login credits)."""
    ensure_people(slapd)
    gate = TcpGate(slapd.port)
    gate.open()
    base = bed_root / "auth-ldap"
    ledger_url = f"sqlite:///{base / 'ledger.sqlite'}"
    site = write_site(
        base / "site.yaml", site_data(ldap_auth("127.0.0.1", gate.port), ledger_url, base)
    )
    token = secrets.token_hex(24)
    process = HubProcess(
        base / "hub", site, extra_config=extra_config(base / "extra_config.py", token)
    )
    base.mkdir(parents=True, exist_ok=True)
    _start(process)
    yield LdapHub(HubClient(process, token), gate, ledger_url)
    process.stop()
    gate.close()


@pytest.fixture(scope="session")
def oidc_hub(bed_root: Path, test_users: dict[str, str]) -> Iterator[OidcHub]:
    """JupyterHub on OpenID Connect against oidc-provider on loopback."""
    base = bed_root / "auth-oidc"
    base.mkdir(parents=True, exist_ok=True)
    client_secret = "cs-" + secrets.token_urlsafe(24)
    hub_port = free_port()
    callback = f"http://127.0.0.1:{hub_port}/hub/oauth_callback"
    idp = OidcProviderProcess(base / "idp", client_secret, callback)
    try:
        idp.start()
    except MissingComponentError as err:
        component_missing(err)
    ledger_url = f"sqlite:///{base / 'ledger.sqlite'}"
    site = write_site(
        base / "site.yaml", site_data(oidc_auth(idp.issuer, callback), ledger_url, base)
    )
    token = secrets.token_hex(24)
    process = HubProcess(
        base / "hub",
        site,
        port=hub_port,
        extra_config=extra_config(base / "extra_config.py", token),
        extra_env={"COMPUTEHUB_TEST_OIDC_SECRET": client_secret},
    )
    _start(process)
    yield OidcHub(HubClient(process, token), idp, client_secret, ledger_url, site)
    process.stop()
    idp.stop()
