"""The site file's schema: the regional hubs, their GPUs and rates, environments, login.

One file describes a deployment; every part of the platform reads it through
these models, so a mistake is caught once, at load time, with the key named.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

HubName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
GpuTypeName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")]
MigProfileName = Annotated[str, StringConstraints(pattern=r"^[1-9]g\.[0-9]{1,3}gb$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

#: A resource that has a rate: ``cpu``, ``gpu:<type>`` or ``mig:<type>:<profile>``.
RESOURCE_RE = re.compile(
    r"^(?:cpu|gpu:(?P<gpu>[a-z0-9][a-z0-9_.-]*)|mig:(?P<mgpu>[a-z0-9][a-z0-9_.-]*):(?P<profile>[^:]+))$"
)


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SlurmAccess(_Strict):
    """How the hub's JupyterHub reaches the cluster's Slurm controller."""

    conf: Path | None = Field(
        default=None, description="SLURM_CONF for this cluster's client commands"
    )
    submit_host: str | None = Field(
        default=None, description="a host that runs the Slurm client commands (over ssh)"
    )
    timeout_s: float = Field(default=20.0, gt=0, le=600, description="per command")

    @model_validator(mode="after")
    def _one_way(self) -> SlurmAccess:
        if (self.conf is None) == (self.submit_host is None):
            raise ValueError("give exactly one of 'conf' (a SLURM_CONF path) or 'submit_host'")
        return self


class Partition(_Strict):
    """A Slurm partition users may start sessions in."""

    default: bool = False
    max_hours: Decimal = Field(default=Decimal(24), gt=0, le=720)


class GpuType(_Strict):
    """A GPU model on a hub, as declared in Slurm's GRES (``gpu:<type>``)."""

    count: int = Field(ge=1, le=100000, description="GPUs of this type on the hub")
    memory_gb: int | None = Field(default=None, ge=1)
    display_name: str | None = None
    partition: str | None = None
    #: MIG profiles offered on this type, e.g. ``1g.10gb: 14`` (slices on the hub).
    mig: dict[MigProfileName, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)


class Limits(_Strict):
    """Per-session limits on a hub."""

    max_gpus: int = Field(default=8, ge=0, le=64)
    max_hours: Decimal = Field(default=Decimal(24), gt=0, le=720)
    cpus_per_session: int = Field(default=1, ge=1, le=256)
    memory_gb_per_session: int = Field(default=4, ge=1, le=4096)


class Hub(_Strict):
    """One regional AI hub: a Slurm cluster with GPUs and its own prices."""

    display_name: str = Field(min_length=1)
    region: str = Field(min_length=1)
    slurm: SlurmAccess
    partitions: dict[Identifier, Partition] = Field(min_length=1)
    gpus: dict[GpuTypeName, GpuType] = Field(default_factory=dict)
    #: Credits per hour per resource unit, e.g. ``cpu: 1``, ``gpu:h100: 10``.
    rates: dict[str, Decimal] = Field(min_length=1)
    limits: Limits = Field(default_factory=Limits)
    environments: list[Identifier] | None = Field(
        default=None, description="environments offered here (default: all)"
    )


class Environment(_Strict):
    """A notebook environment: a prefix holding ``bin/jupyterhub-singleuser``."""

    display_name: str = Field(min_length=1)
    prefix: Path
    description: str = ""


class DummyAuth(_Strict):
    """Local demo logins: any password, listed users only. Never for production."""

    users: dict[Identifier, Literal["student", "instructor", "researcher", "operator"]] = Field(
        min_length=1
    )


class LdapAuth(_Strict):
    """University directory login (expanded by the login issue)."""

    server_address: str = Field(min_length=1)
    server_port: int = Field(default=389, ge=1, le=65535)
    use_ssl: bool = False
    bind_dn_template: list[str] = Field(default_factory=list)
    user_search_base: str | None = None


class OidcAuth(_Strict):
    """University SSO through OpenID Connect (expanded by the login issue)."""

    issuer: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret_env: str | None = "COMPUTEHUB_OIDC_CLIENT_SECRET"  # noqa: S105 (a name)
    client_secret_file: Path | None = None


class Auth(_Strict):
    """How people log in."""

    method: Literal["dummy", "ldap", "oidc"]
    admin_users: list[Identifier] = Field(default_factory=list)
    dummy: DummyAuth | None = None
    ldap: LdapAuth | None = None
    oidc: OidcAuth | None = None

    @model_validator(mode="after")
    def _section_for_method(self) -> Auth:
        if getattr(self, self.method) is None:
            raise ValueError(f"method is {self.method!r} but there is no '{self.method}' section")
        return self


class Platform(_Strict):
    """What the login and spawn pages call the platform."""

    name: str = "computehub"
    organisation: str = ""
    logo: Path | None = None
    support: str = Field(default="", description="where users ask for credits or help")


class Defaults(_Strict):
    """Preselected choices on the spawn form."""

    hub: HubName | None = None
    environment: Identifier | None = None
    hours: Decimal = Field(default=Decimal(1), gt=0)


class Ledger(_Strict):
    """Where the credit ledger lives (default: ``$COMPUTEHUB_DB_URL`` or embedded SQLite)."""

    db_url: str | None = None


class Site(_Strict):
    """The whole site file."""

    platform: Platform = Field(default_factory=Platform)
    hubs: dict[HubName, Hub] = Field(min_length=1)
    environments: dict[Identifier, Environment] = Field(min_length=1)
    defaults: Defaults = Field(default_factory=Defaults)
    auth: Auth
    ledger: Ledger = Field(default_factory=Ledger)
