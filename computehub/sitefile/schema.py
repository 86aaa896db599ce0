"""The site file's schema: the regional hubs, their GPUs and rates, environments, login.

One file describes a deployment; every part of the platform reads it through
these models, so a mistake is caught once, at load time, with the key named.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

HubName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
GpuTypeName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")]
MigProfileName = Annotated[str, StringConstraints(pattern=r"^[1-9]g\.[0-9]{1,3}gb$")]
#: A Slurm GRES type name (``gpu:<type>``).
GresTypeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
#: An absolute path a job script names inside a container's command line (no spaces,
#: ``,`` or ``:``: the runtimes' mount separators).
ContainerPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._+@/-]{0,1000}$")]

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
    job_ticket_key_file: Path | None = Field(
        default=None,
        description="a key shared with the cluster's job_submit.lua guard "
        "(hub_config/slurm/job_submit.lua): each job then carries the portal's ticket, "
        "and the guard refuses session jobs without one",
    )
    unguarded: bool = Field(
        default=False,
        description="UNSAFE: run a hub that sells GPUs without the job_submit.lua guard (no "
        "job_ticket_key_file). Its users can then requeue their sessions' jobs (each run "
        "with a fresh time limit), change them while they wait, and submit to its GPU "
        "partitions directly; the hub refuses to start a GPU hub without a key unless "
        "this is true",
    )

    @model_validator(mode="after")
    def _one_way(self) -> SlurmAccess:
        if (self.conf is None) == (self.submit_host is None):
            raise ValueError("give exactly one of 'conf' (a SLURM_CONF path) or 'submit_host'")
        if self.unguarded and self.job_ticket_key_file is not None:
            raise ValueError("a hub with a job_ticket_key_file is guarded: drop 'unguarded'")
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
    mig_gres: dict[MigProfileName, GresTypeName] = Field(
        default_factory=dict,
        description="the Slurm GRES type of a MIG profile's slices "
        "(default: the profile name, e.g. gpu:1g.10gb, as Slurm's NVML autodetection names them)",
    )

    @model_validator(mode="after")
    def _gres_for_offered_profiles(self) -> GpuType:
        unknown = sorted(set(self.mig_gres) - set(self.mig))
        if unknown:
            raise ValueError(f"mig_gres names profiles not in 'mig': {', '.join(unknown)}")
        return self


#: The platform roles a login can carry; they decide resources, credits and admin rights.
PlatformRole = Literal["student", "instructor", "researcher", "operator", "reviewer"]


class ResourceAccess(_Strict):
    """Who may use one resource of a hub: any of these roles, or a member of these courses."""

    roles: list[PlatformRole] = Field(
        default_factory=list, description="platform roles that may use it"
    )
    courses: list[Identifier] = Field(
        default_factory=list,
        description="course accounts whose members (instructors and students) may use it",
    )

    @model_validator(mode="after")
    def _someone(self) -> ResourceAccess:
        if not self.roles and not self.courses:
            raise ValueError("name the 'roles' or 'courses' that may use it (else nobody could)")
        return self


class Limits(_Strict):
    """Per-session limits on a hub."""

    max_gpus: int = Field(default=8, ge=0, le=64)
    max_hours: Decimal = Field(default=Decimal(24), gt=0, le=720)
    cpus_per_session: int = Field(default=1, ge=1, le=256)
    memory_gb_per_session: int = Field(default=4, ge=1, le=4096)
    access: dict[str, ResourceAccess] = Field(
        default_factory=dict,
        description="resource (gpu:<type>, mig:<type>:<profile>, cpu): who may use it; "
        "a resource not listed is open to everyone who may log in",
    )


#: The account kinds a reservation can name as such (personal accounts count by role).
ReservedAccountKind = Literal["course", "project"]
#: The organisation kinds of applications for credits (credits.models.OrganisationKind).
ReservedOrganisationKind = Literal["startup", "research-group", "course", "public-body"]


class Reservation(_Strict):
    """GPUs of a hub kept for some accounts (docs/capacity.md), e.g. H100s for academia.

    An account is entitled when any of the lists matches it: a course or project
    account by kind, a project account by the organisation kind or category of the
    application that credited it, a personal account by its owner's platform role.
    Others may use only the hub's other GPUs of the type.
    """

    title: str = Field(
        min_length=1,
        max_length=80,
        description="who it is for, as pages say it: 'academic accounts'",
    )
    gpus: dict[GpuTypeName, Annotated[int, Field(ge=1)]] = Field(
        min_length=1, description="GPU type: how many whole GPUs of it are reserved"
    )
    account_kinds: list[ReservedAccountKind] = Field(
        default_factory=list, description="every account of these kinds (course, project)"
    )
    organisation_kinds: list[ReservedOrganisationKind] = Field(
        default_factory=list,
        description="project accounts whose latest approved application is from one of "
        "these kinds of organisation",
    )
    categories: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]] = (
        Field(
            default_factory=list,
            description="project accounts whose latest approved application is in one of "
            "these programme categories",
        )
    )
    personal_roles: list[PlatformRole] = Field(
        default_factory=list,
        description="personal accounts whose owner has one of these platform roles",
    )
    partition: Identifier | None = Field(
        default=None,
        description="the Slurm partition entitled sessions run in (default: the hub's "
        "default partition, '-', the reservation's name)",
    )

    @model_validator(mode="after")
    def _someone(self) -> Reservation:
        if not (
            self.account_kinds or self.organisation_kinds or self.categories or self.personal_roles
        ):
            raise ValueError(
                "name who it is for: account_kinds, organisation_kinds, categories or "
                "personal_roles (else nobody could use it)"
            )
        return self


class Containers(_Strict):
    """The cluster's container runtime, for environments that name an ``image``."""

    runtime: Literal["apptainer", "pyxis"] = Field(
        description="apptainer (apptainer exec IMAGE.sif) or pyxis (Enroot through Slurm's "
        "pyxis plugin: srun --container-image=IMAGE.sqsh)"
    )
    command: ContainerPath | None = Field(
        default=None,
        description="the runtime's program, an absolute path "
        "(default: apptainer, or srun for pyxis, from PATH)",
    )
    binds: list[ContainerPath] = Field(
        default_factory=list,
        description="host folders mounted at the same path in every session (the home always is)",
    )


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
    reservations: dict[Identifier, Reservation] = Field(
        default_factory=dict,
        description="GPUs kept for some accounts (docs/capacity.md): name -> reservation",
    )
    containers: Containers | None = Field(
        default=None, description="the container runtime that runs environments with an image"
    )

    @model_validator(mode="after")
    def _reservations_fit(self) -> Hub:
        from computehub.sitefile.capacity import reservation_problems

        problems = reservation_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class EnvironmentImage(_Strict):
    """An environment's image, one file per container runtime (the same OCI image converted)."""

    apptainer: ContainerPath | None = Field(
        default=None, description="a SIF file (apptainer build X.sif oci-archive://...)"
    )
    pyxis: ContainerPath | None = Field(
        default=None, description="an Enroot squashfs file (enroot import ...)"
    )


class Environment(_Strict):
    """A notebook environment: a prefix holding ``bin/jupyterhub-singleuser``."""

    display_name: str = Field(min_length=1)
    prefix: Path
    description: str = ""
    image: EnvironmentImage | None = Field(
        default=None,
        description="the environment as an image file on the clusters, per runtime; the "
        "server then runs inside it, from `prefix` inside the image (images/README.md)",
    )


#: eduPerson affiliations (eduPersonAffiliation / the ``eduperson_affiliation`` claim).
Affiliation = Literal[
    "student", "faculty", "staff", "member", "affiliate", "employee", "alum", "library-walk-in"
]
#: A group name as a directory or an identity provider reports it.
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
DomainName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$"),
]
#: The name of an environment variable that holds a secret.
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
#: A POSIX login name (what ``useradd`` accepts by default on Debian).
POSIX_USERNAME = r"^[a-z_][a-z0-9_-]{0,31}$"
#: Service and system accounts a person must never become (``auth.username.deny``).
SYSTEM_ACCOUNT_NAMES = (
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "_apt", "messagebus",
    "sshd", "munge", "slurm", "slurmdbd", "mysql", "postgres", "openldap", "nslcd", "sssd",
    "polkitd", "systemd-network", "systemd-resolve", "systemd-timesync", "jupyterhub",
    "computehub", "admin", "administrator", "toor",
)  # fmt: skip
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _is_loopback(host: str) -> bool:
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def _one_secret_source(env: str | None, file: Path | None, what: str) -> None:
    if env is not None and file is not None:
        raise ValueError(f"give the {what} in one way: either '{what}_env' or '{what}_file'")


class DummyAuth(_Strict):
    """Local demo logins: any password, listed users only. Never for production."""

    users: dict[Identifier, PlatformRole] = Field(
        min_length=1, description="login name: platform role"
    )


class LdapAttributes(_Strict):
    """Which LDAP attributes of a person's entry hold what the platform needs."""

    display_name: str = Field(default="displayName", min_length=1, description="full name")
    email: str = Field(default="mail", min_length=1, description="e-mail address")
    affiliation: str | None = Field(
        default="eduPersonAffiliation",
        description="eduPerson affiliation (student, faculty, staff, member); null: none",
    )
    identity: str | None = Field(
        default="entryUUID",
        description="operational attribute with the entry's permanent id, which each name is "
        "bound to (OpenLDAP, 389-DS: entryUUID; Active Directory: objectGUID); "
        "null, or an entry without it: the entry's DN (not an attribute: not 'dn')",
    )

    @field_validator("identity")
    @classmethod
    def _not_the_dn(cls, identity: str | None) -> str | None:
        # Bindings by DN have the issuer 'ldap:dn'; one by an attribute named so would
        # look the same (computehub.auth.entryid).
        if identity is not None and identity.lower() == "dn":
            raise ValueError("the DN is not an attribute: give null to bind names by DN")
        return identity


class LdapAuth(_Strict):
    """University directory login: direct bind, or search-then-bind, over TLS."""

    server_address: str = Field(min_length=1, description="host name or address of the server")
    server_port: int | None = Field(
        default=None, ge=1, le=65535, description="default: 636 for ldaps, else 389"
    )
    tls: Literal["starttls", "ldaps", "none"] = Field(
        default="starttls",
        description="StartTLS before the bind, TLS from connect (ldaps), or none "
        "(plaintext passwords: refused unless the server is on loopback)",
    )
    ca_certs_file: Path | None = Field(
        default=None, description="CA bundle that signed the server's certificate"
    )
    bind_dn_template: list[str] = Field(
        default_factory=list,
        description="direct bind: DN templates with {username}, e.g. uid={username},ou=people,...",
    )
    user_search_base: str | None = Field(
        default=None, description="search-then-bind: where to look the person up"
    )
    user_attribute: str = Field(
        default="uid", min_length=1, description="attribute holding the login name"
    )
    search_bind_dn: str | None = Field(
        default=None, description="search-then-bind: service account (null: anonymous search)"
    )
    search_password_env: EnvName | None = Field(
        default=None, description="environment variable holding the service account's password"
    )
    search_password_file: Path | None = Field(
        default=None, description="file holding the service account's password"
    )
    group_search_base: str | None = Field(
        default=None, description="where the groups are (null: roles come from affiliation only)"
    )
    group_search_filter: str = Field(
        default="(|(member={userdn})(uniqueMember={userdn})(memberUid={uid}))",
        description="groups a person belongs to; {userdn} and {uid} are filled in, escaped",
    )
    group_name_attribute: str = Field(
        default="cn", min_length=1, description="attribute of a group entry that names it"
    )
    attributes: LdapAttributes = Field(default_factory=LdapAttributes)
    timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="connect and response timeout per LDAP call"
    )

    @model_validator(mode="after")
    def _consistent(self) -> LdapAuth:
        if bool(self.bind_dn_template) == (self.user_search_base is not None):
            raise ValueError(
                "give exactly one of 'bind_dn_template' (direct bind) or "
                "'user_search_base' (search-then-bind)"
            )
        for template in self.bind_dn_template:
            if "{username}" not in template:
                raise ValueError(f"bind_dn_template {template!r} has no {{username}}")
        _one_secret_source(self.search_password_env, self.search_password_file, "search_password")
        has_password = (self.search_password_env or self.search_password_file) is not None
        if has_password and self.search_bind_dn is None:
            raise ValueError("a search password is given but no 'search_bind_dn'")
        if self.search_bind_dn is not None and not has_password:
            raise ValueError(
                "search_bind_dn needs 'search_password_env' or 'search_password_file' "
                "(never the password itself)"
            )
        if self.tls == "none" and not _is_loopback(self.server_address):
            raise ValueError(
                "tls 'none' would send passwords in clear text: use 'starttls' or 'ldaps' "
                "(plaintext is accepted only for a server on loopback)"
            )
        return self


class OidcClaims(_Strict):
    """Which claims of the ID token / userinfo answer carry what the platform needs."""

    username: str = Field(
        default="preferred_username", min_length=1, description="becomes the POSIX login name"
    )
    display_name: str = Field(default="name", min_length=1, description="full name")
    email: str = Field(default="email", min_length=1, description="e-mail address")
    groups: str | None = Field(default="groups", description="list of group names; null: none")
    affiliation: str | None = Field(
        default="eduperson_affiliation",
        description="eduPerson affiliation(s): a string or a list; null: none",
    )


#: Endpoint paths of the identity providers we document, from their issuer URL.
OIDC_PRESETS: dict[str, tuple[str, str, str]] = {
    "keycloak": (
        "{issuer}/protocol/openid-connect/auth",
        "{issuer}/protocol/openid-connect/token",
        "{issuer}/protocol/openid-connect/userinfo",
    ),
    "cilogon": ("{issuer}/authorize", "{issuer}/oauth2/token", "{issuer}/oauth2/userinfo"),
    "entra": (
        "{tenant}/oauth2/v2.0/authorize",
        "{tenant}/oauth2/v2.0/token",
        "https://graph.microsoft.com/oidc/userinfo",
    ),
}


class OidcAuth(_Strict):
    """University SSO through OpenID Connect (authorization code flow with PKCE)."""

    preset: Literal["generic", "keycloak", "cilogon", "entra"] = Field(
        default="generic",
        description="derive the endpoints from the issuer for a known provider; "
        "'generic' needs authorize_url, token_url and userinfo_url",
    )
    issuer: str = Field(min_length=1, description="the provider's issuer URL")
    authorize_url: str | None = Field(default=None, description="authorization endpoint")
    token_url: str | None = Field(default=None, description="token endpoint")
    userinfo_url: str | None = Field(default=None, description="userinfo endpoint")
    client_id: str = Field(min_length=1, description="this platform's client id at the provider")
    client_secret_env: EnvName | None = Field(
        default=None, description="environment variable holding the client secret"
    )
    client_secret_file: Path | None = Field(
        default=None, description="file holding the client secret"
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile", "email"],
        description="scopes to ask for (add the provider's groups/affiliation scope)",
    )
    claims: OidcClaims = Field(default_factory=OidcClaims)
    callback_url: str | None = Field(
        default=None, description="https://HOST/hub/oauth_callback (default: from the request)"
    )
    button_label: str = Field(
        default="Log in with your university account", min_length=1, description="login button"
    )

    @model_validator(mode="after")
    def _consistent(self) -> OidcAuth:
        if self.client_secret_env is None and self.client_secret_file is None:
            raise ValueError(
                "give 'client_secret_env' or 'client_secret_file' (never the secret itself)"
            )
        _one_secret_source(self.client_secret_env, self.client_secret_file, "client_secret")
        for name in ("issuer", "authorize_url", "token_url", "userinfo_url", "callback_url"):
            url = getattr(self, name)
            if url is None:
                continue
            parsed = urlsplit(url)
            if parsed.scheme not in {"https", "http"} or not parsed.hostname:
                raise ValueError(f"{name} must be an https:// URL, got {url!r}")
            if parsed.scheme == "http" and not _is_loopback(parsed.hostname):
                raise ValueError(f"{name} must use https (http only on loopback), got {url!r}")
        if self.preset == "generic":
            missing = [
                n for n in ("authorize_url", "token_url", "userinfo_url") if not getattr(self, n)
            ]
            if missing:
                raise ValueError(
                    f"preset 'generic' needs {', '.join(missing)} (from the provider's "
                    "/.well-known/openid-configuration), or choose a preset"
                )
        if self.preset == "entra" and "/v2.0" not in self.issuer:
            raise ValueError(
                "preset 'entra' wants the v2.0 issuer, "
                "https://login.microsoftonline.com/TENANT/v2.0"
            )
        return self

    def endpoints(self) -> tuple[str, str, str]:
        """The authorization, token and userinfo URLs: explicit ones win over the preset's."""
        issuer = self.issuer.rstrip("/")
        derived: tuple[str, str, str] = ("", "", "")
        if self.preset in OIDC_PRESETS:
            tenant = issuer.removesuffix("/v2.0")
            derived = tuple(  # type: ignore[assignment]
                t.format(issuer=issuer, tenant=tenant) for t in OIDC_PRESETS[self.preset]
            )
        return (
            self.authorize_url or derived[0],
            self.token_url or derived[1],
            self.userinfo_url or derived[2],
        )


class LtiAuth(_Strict):
    """Launches from the university's LMS (Moodle, Canvas) over LTI 1.3."""

    issuer: str = Field(min_length=1, description="the LMS platform's issuer ('iss')")
    client_ids: list[str] = Field(
        min_length=1, description="this tool's client id(s) at the LMS (the id_token's 'aud')"
    )
    deployment_ids: list[str] = Field(
        min_length=1, description="the LMS deployment id(s) of this tool that may launch"
    )
    authorize_url: str = Field(description="the LMS's OIDC authentication request URL")
    jwks_url: str = Field(description="the LMS's public keys (JWKS) that sign its id_tokens")
    courses: dict[str, Identifier] = Field(
        min_length=1,
        description="LMS context id (or label) -> computehub course id; other contexts are refused",
    )
    username_claim: str = Field(
        default="custom_username",
        min_length=1,
        description="becomes the POSIX login name: an id_token claim ('email'), or "
        "'custom_NAME' for the custom parameter NAME (e.g. username=$User.username)",
    )
    lms_verifies_email: bool = Field(
        default=False,
        description="the LMS's e-mail addresses are verified by the university "
        "(needed when username_claim is 'email')",
    )
    max_age_s: int = Field(
        default=600, ge=30, le=3600, description="oldest id_token accepted (its 'iat')"
    )

    @model_validator(mode="after")
    def _consistent(self) -> LtiAuth:
        for name in ("issuer", "authorize_url", "jwks_url"):
            url = getattr(self, name)
            parsed = urlsplit(url)
            if parsed.scheme not in {"https", "http"} or not parsed.hostname:
                raise ValueError(f"{name} must be an https:// URL, got {url!r}")
            if parsed.scheme == "http" and not _is_loopback(parsed.hostname):
                raise ValueError(f"{name} must use https (http only on loopback), got {url!r}")
        if self.username_claim == "sub" or self.username_claim == "custom_":
            raise ValueError(
                "username_claim can't be 'sub' (an opaque LMS id, no POSIX name): name the "
                "claim or custom parameter that carries the university login name"
            )
        if self.username_claim == "email" and not self.lms_verifies_email:
            raise ValueError(
                "username_claim 'email' needs lms_verifies_email: true (the LMS's e-mail "
                "addresses must be the university's verified ones), or use a custom parameter"
            )
        if any(not key for key in self.courses):
            raise ValueError("courses: an LMS context id or label can't be empty")
        return self


class RoleRule(_Strict):
    """Who gets a platform role: members of any listed group, or any listed affiliation."""

    groups: list[GroupName] = Field(default_factory=list, description="directory/IdP groups")
    affiliations: list[Affiliation] = Field(
        default_factory=list, description="eduPerson affiliations"
    )

    @model_validator(mode="after")
    def _not_empty(self) -> RoleRule:
        if not self.groups and not self.affiliations:
            raise ValueError("give 'groups' or 'affiliations' (or drop the role)")
        return self


#: What a domain's names get in front (a POSIX name starts with a letter or '_').
AffixPrefix = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,15}$")]
#: What a domain's names get at the end.
AffixSuffix = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,16}$")]


class DomainRule(_Strict):
    """How names ``local@DOMAIN`` from one domain become POSIX names.

    Exactly one of: ``bare: true`` (``ali@uni-a.example`` is ``ali``; one domain at
    most), or a ``prefix`` and/or ``suffix`` that keeps the domain's people apart
    (``{suffix: -b}``: ``ali@uni-b.example`` is ``ali-b``).
    """

    bare: bool = Field(default=False, description="the local part as it is (one domain at most)")
    prefix: AffixPrefix | None = Field(default=None, description="put before the local part")
    suffix: AffixSuffix | None = Field(default=None, description="put after the local part")

    @model_validator(mode="after")
    def _one_way(self) -> DomainRule:
        affixed = self.prefix is not None or self.suffix is not None
        if self.bare == affixed:
            raise ValueError(
                "give either 'bare: true' or a 'prefix' and/or 'suffix' "
                "(a domain that is not listed is refused)"
            )
        return self

    @property
    def affixes(self) -> tuple[str, str]:
        """``(prefix, suffix)``; both empty for the bare domain."""
        return (self.prefix or "", self.suffix or "")


def _overlapping(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Whether some name has both affix pairs (then two domains could give it)."""
    (pa, sa), (pb, sb) = a, b
    return (pa.startswith(pb) or pb.startswith(pa)) and (sa.endswith(sb) or sb.endswith(sa))


class UsernameRules(_Strict):
    """How a directory or IdP name becomes the POSIX account jobs run as."""

    pattern: str = Field(
        default=POSIX_USERNAME,
        description="allowed names after lower-casing and mapping the domain "
        "(a full-match regular expression)",
    )
    domains: dict[DomainName, DomainRule] = Field(
        default_factory=dict,
        description="domain: how 'name@DOMAIN' becomes a POSIX name ({bare: true} for one "
        "domain at most, else {prefix: ...} / {suffix: ...}); other domains are refused",
    )
    strip_domains: list[DomainName] = Field(
        default_factory=list,
        description="older form of 'domains' for one domain: 'alice@DOMAIN' becomes 'alice' "
        "(two or more would merge their people into one namespace: refused, use 'domains')",
    )
    require_posix_account: bool = Field(
        default=True,
        description="refuse a login (naming platform.support) when the name has no "
        "POSIX account on the hub host",
    )
    min_uid: int = Field(
        default=1000,
        ge=1,
        le=2**31 - 1,
        description="POSIX accounts below this uid are system accounts: refused at login "
        "and at job submission (root, munge, slurm, daemon, ...)",
    )
    deny: list[Identifier] = Field(
        default_factory=lambda: list(SYSTEM_ACCOUNT_NAMES),
        description="names never admitted and never submitted as, whatever their uid "
        "(the default lists the usual system and service accounts)",
    )

    @model_validator(mode="after")
    def _one_namespace_per_domain(self) -> UsernameRules:
        if self.strip_domains and self.domains:
            raise ValueError(
                "give 'domains' or the older 'strip_domains', not both "
                "(move the strip_domains entry into domains as {bare: true})"
            )
        if len(self.strip_domains) > 1:
            first, *others = self.strip_domains
            example = ", ".join(
                [f"{first}: {{bare: true}}"]
                + [f"{d}: {{suffix: -{d.split('.')[0]}}}" for d in others]
            )
            raise ValueError(
                f"strip_domains lists {len(self.strip_domains)} domains "
                f"({', '.join(self.strip_domains)}): their people would share one namespace, "
                f"so ali@{first} and ali@{others[0]} would become the same user. "
                "Use 'domains' instead: at most one domain bare, each other one with its own "
                f"prefix or suffix, e.g. domains: {{{example}}}"
            )
        bare = [d for d, rule in self.domains.items() if rule.bare]
        if len(bare) > 1:
            raise ValueError(
                f"domains {', '.join(bare)} are all 'bare': their people would share one "
                "namespace (ali@ each would be the same user); keep one bare and give the "
                "others a prefix or suffix"
            )
        affixed = [(d, r.affixes) for d, r in self.domains.items() if not r.bare]
        for i, (a, fa) in enumerate(affixed):
            for b, fb in affixed[i + 1 :]:
                if _overlapping(fa, fb):
                    raise ValueError(
                        f"domains {a} and {b} map onto overlapping names (prefix/suffix "
                        f"{fa} and {fb}): give each domain a prefix or suffix that is not "
                        "the start or end of another's"
                    )
        return self

    def domain_rules(self) -> dict[str, DomainRule]:
        """Every accepted domain and its rule (``strip_domains``' one domain is bare)."""
        if self.strip_domains:
            return {d: DomainRule(bare=True) for d in self.strip_domains}
        return dict(self.domains)

    @model_validator(mode="after")
    def _pattern_compiles(self) -> UsernameRules:
        try:
            compiled = re.compile(self.pattern)
        except re.error as err:
            raise ValueError(f"pattern is not a regular expression: {err}") from None
        if compiled.fullmatch("") is not None:
            raise ValueError("pattern must not accept an empty name")
        for ch in "/:@ \n":
            if compiled.fullmatch(f"a{ch}b") is not None:
                raise ValueError(f"pattern must not accept {ch!r} in a POSIX name")
        return self


class FirstLogin(_Strict):
    """Credits granted once, on a person's first login, by platform role."""

    credits: dict[PlatformRole, Decimal] = Field(
        default_factory=dict,
        description="credits by role (several roles: the largest); roles not listed get none",
    )
    expires_after_days: int | None = Field(
        default=180, ge=1, le=3650, description="days until the grant expires; null: never"
    )
    source: Identifier = Field(default="programme", description="the funding source")

    @model_validator(mode="after")
    def _amounts(self) -> FirstLogin:
        for role, amount in self.credits.items():
            if not amount.is_finite() or amount < 0:
                raise ValueError(f"credits.{role} must be a number of credits >= 0, got {amount}")
            if -amount.as_tuple().exponent > 4:  # type: ignore[operator]
                raise ValueError(f"credits.{role}: at most 4 decimal places, got {amount}")
        return self


class LoginPage(_Strict):
    """What the login page says beside the buttons."""

    note: str = Field(
        default="",
        description="a short note on the platform and where to get credits "
        "(default: built from platform.organisation and platform.support)",
    )


class CourseGroups(_Strict):
    """Where one course's roster comes from in the directory or the identity provider.

    Each names, per course role, one group; a role not named is not managed by it
    (its members stay as they are). Owners are never managed by groups.
    """

    ldap_groups: dict[Literal["instructor", "ta", "student"], str] = Field(
        default_factory=dict,
        description="course role -> the LDAP group's DN (under auth.ldap.group_search_base); "
        "synced at every login and refresh, and by 'computehub credits course sync'",
    )
    oidc_groups: dict[Literal["instructor", "ta", "student"], str] = Field(
        default_factory=dict,
        description="course role -> a value of the groups claim (auth.oidc.claims.groups); "
        "synced at every login and refresh (an IdP's groups can't be listed on demand)",
    )

    @model_validator(mode="after")
    def _groups(self) -> CourseGroups:
        from computehub.auth.rostersync import normalize_dn

        if not self.ldap_groups and not self.oidc_groups:
            raise ValueError("name 'ldap_groups' or 'oidc_groups' (a group per course role)")
        for role, dn in self.ldap_groups.items():
            try:
                normalize_dn(dn)
            except ValueError as err:
                raise ValueError(f"ldap_groups.{role}: {err}") from None
        for kind, groups in (("ldap_groups", self.ldap_groups), ("oidc_groups", self.oidc_groups)):
            if any(not g.strip() for g in groups.values()):
                raise ValueError(f"{kind}: a group can't be empty")
            values = [normalize_dn(g) if kind == "ldap_groups" else g for g in groups.values()]
            if len(set(values)) != len(values):
                raise ValueError(f"{kind}: one group gives two roles; give each role its own")
        return self


class Auth(_Strict):
    """How people log in, which roles they get, and their first credits."""

    method: Literal["dummy", "ldap", "oidc", "lti"]
    admin_users: list[Identifier] = Field(
        default_factory=list, description="always admins (operators are admins too)"
    )
    roles: dict[PlatformRole, RoleRule] = Field(
        default_factory=dict,
        description="platform role: the groups/affiliations that give it; "
        "a person with no role is refused",
    )
    username: UsernameRules = Field(default_factory=UsernameRules)
    first_login: FirstLogin = Field(default_factory=FirstLogin)
    login_page: LoginPage = Field(default_factory=LoginPage)
    refresh_age_s: int = Field(
        default=300,
        ge=1,
        le=86400,
        description="a logged-in person's roles, groups and admin right are looked up again "
        "(directory or identity provider) once they are this old, and before each start",
    )
    dummy: DummyAuth | None = None
    ldap: LdapAuth | None = None
    oidc: OidcAuth | None = None
    lti: LtiAuth | None = None
    lti_launches: bool = Field(
        default=False,
        description="also accept LTI 1.3 launches from the LMS in the 'lti' section, next "
        "to the primary method (ldap, oidc or dummy), which keeps the login page",
    )
    courses: dict[Identifier, CourseGroups] = Field(
        default_factory=dict,
        description="course id -> the LDAP groups or OIDC group claims its roster comes from",
    )

    @field_validator("roles")
    @classmethod
    def _operators_by_group(
        cls, roles: dict[PlatformRole, RoleRule]
    ) -> dict[PlatformRole, RoleRule]:
        operator = roles.get("operator")
        if operator is not None and operator.affiliations:
            raise ValueError(
                "operator can't be given by affiliation "
                f"({', '.join(operator.affiliations)}): an affiliation is held by whole "
                "categories of people and operators are hub admins. Remove "
                "auth.roles.operator.affiliations; name a directory/IdP group in "
                "auth.roles.operator.groups, or list people in auth.admin_users"
            )
        reviewer = roles.get("reviewer")
        if reviewer is not None and reviewer.affiliations:
            raise ValueError(
                "reviewer can't be given by affiliation "
                f"({', '.join(reviewer.affiliations)}): an affiliation is held by whole "
                "categories of people and reviewers read every application for credits. "
                "Remove auth.roles.reviewer.affiliations; name a directory/IdP group in "
                "auth.roles.reviewer.groups"
            )
        return roles

    @model_validator(mode="after")
    def _section_for_method(self) -> Auth:
        if getattr(self, self.method) is None:
            raise ValueError(f"method is {self.method!r} but there is no '{self.method}' section")
        self._lti_next_to_method()
        if self.method != "dummy" and not self.roles:
            raise ValueError(
                f"method {self.method!r} needs 'roles' (which groups or affiliations may log "
                "in, as which platform role): without them nobody could"
            )
        deny = {name.lower() for name in self.username.deny}
        named = set(self.admin_users) | set(self.dummy.users if self.dummy else ())
        system = sorted(name for name in named if name.lower() in deny)
        if system:
            raise ValueError(
                f"{', '.join(system)} {'is' if len(system) == 1 else 'are'} on "
                "auth.username.deny (system accounts): nobody may log in as "
                f"{'it' if len(system) == 1 else 'them'}; use a person's own account"
            )
        self._course_groups()
        return self

    def _lti_next_to_method(self) -> None:
        """LMS launches beside another method: only when asked for, with the LMS named."""
        if self.method == "lti":
            if self.lti_launches:
                raise ValueError(
                    "lti_launches is for a hub whose method is ldap, oidc or dummy; with "
                    "method 'lti' every login is a launch already: remove lti_launches"
                )
            return
        if self.lti_launches and self.lti is None:
            raise ValueError(
                "lti_launches: true needs an 'lti' section naming the LMS whose launches "
                "are accepted (issuer, client_ids, deployment_ids, authorize_url, "
                "jwks_url, courses)"
            )
        if self.lti is not None and not self.lti_launches:
            raise ValueError(
                f"there is an 'lti' section but method is {self.method!r}: launches from the "
                f"LMS are accepted next to {self.method!r} logins only with "
                "lti_launches: true. Set it, or remove the 'lti' section"
            )

    def _course_groups(self) -> None:
        from computehub.auth.rostersync import normalize_dn

        for course, spec in self.courses.items():
            where = f"courses.{course}"
            if spec.ldap_groups:
                if self.ldap is None or self.ldap.group_search_base is None:
                    raise ValueError(
                        f"{where}.ldap_groups needs auth.ldap with a group_search_base "
                        "(the directory whose groups logins look up)"
                    )
                base = normalize_dn(self.ldap.group_search_base)
                for role, dn in spec.ldap_groups.items():
                    if not ("," + normalize_dn(dn)).endswith("," + base):
                        raise ValueError(
                            f"{where}.ldap_groups.{role}: {dn} is not under "
                            f"auth.ldap.group_search_base ({self.ldap.group_search_base}), "
                            "so logins would never find it"
                        )
            if spec.oidc_groups and (self.oidc is None or self.oidc.claims.groups is None):
                raise ValueError(
                    f"{where}.oidc_groups needs auth.oidc with a groups claim "
                    "(auth.oidc.claims.groups)"
                )


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


class Culling(_Strict):
    """Stopping sessions nobody uses, so that their credits and GPUs go back.

    Two rules: ``jupyterhub-idle-culler`` stops servers with no activity (no open
    notebook, no kernel work) for ``idle_timeout_s``; the GPU rule stops servers
    whose GPUs have been below ``gpu_busy_percent`` for ``gpu_idle_s`` even while
    a notebook is open, and tells the user how many credits that saved.
    """

    idle_timeout_s: int | None = Field(
        default=3600, ge=60, le=30 * 86400, description="no activity for this long: stop; null: off"
    )
    idle_check_every_s: int = Field(default=300, ge=10, le=86400)
    gpu_idle_s: int | None = Field(
        default=1800,
        ge=60,
        le=30 * 86400,
        description="GPUs below gpu_busy_percent for this long: stop; null: off",
    )
    gpu_busy_percent: int = Field(default=5, ge=1, le=100, description="busiest GPU's use")
    gpu_check_every_s: int = Field(default=60, ge=5, le=3600)


class Ledger(_Strict):
    """Where the credit ledger lives (default: ``$COMPUTEHUB_DB_URL`` or embedded SQLite)."""

    db_url: str | None = None


#: The platform's own JupyterHub services: no graded course may take their names.
RESERVED_SERVICE_NAMES = frozenset({"credits", "reconciler", "idle-culler", "gpu-idle"})

#: A JupyterHub service name that is also an nbgrader course id and a course account.
CourseId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class GradedCourse(_Strict):
    """One course whose assignments nbgrader releases, collects and grades."""

    grader: Annotated[str, StringConstraints(pattern=POSIX_USERNAME)] = Field(
        description="the system account that runs the course's formgrader and owns its "
        "gradebook (~/COURSE) and its exchange folder; one per course"
    )
    port: int | None = Field(
        default=None,
        ge=1024,
        le=65535,
        description="the loopback port of its formgrader service (default: a free one "
        "at each start)",
    )


class Nbgrader(_Strict):
    """Assignments with nbgrader: one formgrader service per course, one shared exchange.

    Each course named here gets a JupyterHub service of the same name, run as its
    grader account; its staff (owners, instructors, TAs) reach it at
    ``/services/COURSE/formgrader``, its students fetch and submit from JupyterLab.
    """

    exchange_root: Path = Field(
        default=Path("/srv/computehub/nbgrader/exchange"),
        description="the exchange every session and formgrader sees at the same path "
        "(a shared file system on a real cluster); mode 1777",
    )
    environment: Identifier | None = Field(
        default=None,
        description="the environment (environments.*) the formgrader services run from; "
        "default: defaults.environment, else the first",
    )
    courses: dict[CourseId, GradedCourse] = Field(default_factory=dict)

    @field_validator("exchange_root")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("exchange_root must be an absolute path")
        return value

    @model_validator(mode="after")
    def _one_grader_per_course(self) -> Nbgrader:
        seen: dict[str, str] = {}
        for course, spec in self.courses.items():
            if course in RESERVED_SERVICE_NAMES or course.startswith("formgrader-status-"):
                raise ValueError(
                    f"courses.{course}: the platform's own services use that name "
                    f"({', '.join(sorted(RESERVED_SERVICE_NAMES))}, formgrader-status-*); "
                    "a graded course's formgrader is a service named after the course"
                )
            if spec.grader in seen:
                raise ValueError(
                    f"courses.{course}.grader: {spec.grader} already grades "
                    f"{seen[spec.grader]} (nbgrader needs one grader account per course)"
                )
            seen[spec.grader] = course
        return self


#: A category of applications for credits, as the site file names it.
CATEGORY_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_CATEGORY_ID = re.compile(CATEGORY_ID_PATTERN)
CategoryId = Annotated[str, StringConstraints(pattern=CATEGORY_ID_PATTERN)]


class Category(_Strict):
    """One category of projects the programme funds."""

    title: str = Field(min_length=1, max_length=200, description="what the page calls it")
    priority: bool = Field(
        default=False,
        description="applications in it come first in the reviewers' queue (a local "
        "challenge the programme puts first, such as flood prediction)",
    )


class Programme(_Strict):
    """Applications for credits: the categories applicants choose from, the funding source."""

    categories: dict[CategoryId, Category] = Field(
        default_factory=dict,
        description="category id -> its title and whether it has priority; applications "
        "are open when at least one is listed",
    )
    source: Identifier = Field(
        default="programme", description="the funding source approved applications are granted from"
    )

    @field_validator("categories", mode="before")
    @classmethod
    def _categories_are_a_mapping(cls, value: object) -> object:
        if isinstance(value, list):
            raise ValueError(
                "categories is a mapping of category id to its settings, for example "
                "'flood-prediction: {title: Flood prediction, priority: true}', not a list"
            )
        if isinstance(value, dict):
            bad = sorted(str(k) for k in value if not _CATEGORY_ID.fullmatch(str(k)))
            if bad:
                raise ValueError(
                    f"category id {', '.join(bad)}: use lowercase letters, digits, '-' and "
                    "'_' (at most 64), as in flood-prediction; the title says the rest"
                )
        return value


#: ``notices.low_balance``: warn when the available credit is below one typical session.
TYPICAL_SESSION: Final = "typical-session"


class Notices(_Strict):
    """What people are told before it bites: credits about to expire, a low balance.

    Shown on the spawn form, the hub's home page, the credits page and the notebook
    widget (docs/notices.md).
    """

    expiring_within_days: int = Field(
        default=30,
        ge=0,
        le=366,
        description="tell people about credits that expire within this many days (0: never)",
    )
    low_balance: Literal["typical-session"] | Annotated[Decimal, Field(gt=0)] | None = Field(
        default=TYPICAL_SESSION,
        description="tell people when an account's available credit is below this: "
        "'typical-session' (what one of its typical sessions costs, docs/notices.md), "
        "an amount of credits, or null (never)",
    )


class Demo(_Strict):
    """The demo on a machine without GPUs (``./scripts/up.sh``): never a real deployment."""

    simulated_gpus: bool = Field(
        default=False,
        description="DEMO ONLY: sessions' widgets show simulated GPUs of the session's type, "
        "labelled 'simulated GPU', whose figures follow the kernel's CPU use (docs/widget.md). "
        "The platform's records (energy, GPU-idle) never read them",
    )


class Site(_Strict):
    """The whole site file."""

    platform: Platform = Field(default_factory=Platform)
    hubs: dict[HubName, Hub] = Field(min_length=1)
    environments: dict[Identifier, Environment] = Field(min_length=1)
    defaults: Defaults = Field(default_factory=Defaults)
    auth: Auth
    ledger: Ledger = Field(default_factory=Ledger)
    culling: Culling = Field(default_factory=Culling)
    nbgrader: Nbgrader = Field(default_factory=Nbgrader)
    programme: Programme = Field(default_factory=Programme)
    notices: Notices = Field(default_factory=Notices)
    demo: Demo = Field(default_factory=Demo)

    @model_validator(mode="after")
    def _reserved_categories(self) -> Site:
        for name, hub in self.hubs.items():
            for rid, spec in hub.reservations.items():
                unknown = sorted(set(spec.categories) - set(self.programme.categories))
                if unknown:
                    raise ValueError(
                        f"hubs.{name}.reservations.{rid}.categories: {', '.join(unknown)} "
                        "not in programme.categories"
                    )
        return self

    @model_validator(mode="after")
    def _images_have_a_runtime(self) -> Site:
        for name, hub in self.hubs.items():
            for env in hub.environments or list(self.environments):
                spec = self.environments.get(env)
                if spec is None or spec.image is None:
                    continue
                if hub.containers is None:
                    raise ValueError(
                        f"environments.{env}.image: hub {name} offers it but has no "
                        f"container runtime (give hubs.{name}.containers.runtime, or leave "
                        f"{env} out of hubs.{name}.environments)"
                    )
                runtime = hub.containers.runtime
                if getattr(spec.image, runtime) is None:
                    raise ValueError(
                        f"environments.{env}.image: hub {name} runs {runtime}, but the "
                        f"environment has no image.{runtime} file"
                    )
        return self

    @model_validator(mode="after")
    def _nbgrader_environment(self) -> Site:
        wanted = self.nbgrader.environment
        if wanted is not None and wanted not in self.environments:
            raise ValueError(
                f"nbgrader.environment: {wanted!r} is not one of environments "
                f"({', '.join(sorted(self.environments))})"
            )
        return self

    def nbgrader_environment(self) -> Environment:
        """The environment the formgrader services run from."""
        name = self.nbgrader.environment or self.defaults.environment
        if name is None or name not in self.environments:
            name = next(iter(self.environments))
        return self.environments[name]
