"""Who may log in, under which POSIX name, with which platform roles: pure logic, no I/O.

Both authenticators (LDAP and OIDC) reduce what they learned to an
:class:`Identity` and ask :func:`admit`; a refusal is a :class:`LoginRefusedError` whose
message is written for the person at the login page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from computehub.sitefile.schema import Auth, PlatformRole

#: Platform roles, most privileged last (the order JupyterHub groups are listed in).
PLATFORM_ROLES: tuple[PlatformRole, ...] = get_args(PlatformRole)

RefusalReason = Literal["bad-username", "no-role", "no-posix-account"]


class LoginRefusedError(Exception):
    """A login that is authenticated but not admitted; ``message`` is for the person."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Identity:
    """What an identity provider or directory says about a person."""

    login: str
    display_name: str = ""
    email: str = ""
    groups: frozenset[str] = frozenset()
    affiliations: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RoleRule:
    """Members of any of ``groups``, or anyone with one of ``affiliations``, get the role."""

    groups: frozenset[str] = frozenset()
    affiliations: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LoginPolicy:
    """The login rules of a site, as plain values (built by :meth:`from_site`)."""

    roles: Mapping[PlatformRole, RoleRule]
    username_pattern: str = r"^[a-z_][a-z0-9_-]{0,31}$"
    strip_domains: frozenset[str] = frozenset()
    require_posix_account: bool = True
    admin_users: frozenset[str] = frozenset()
    support: str = "the platform's operators"
    platform: str = "computehub"
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.username_pattern))

    @classmethod
    def from_site(cls, auth: Auth, *, platform: str, support: str) -> LoginPolicy:
        """The policy of a validated site file's ``auth`` section."""
        return cls(
            roles={
                role: RoleRule(frozenset(rule.groups), frozenset(rule.affiliations))
                for role, rule in auth.roles.items()
            },
            username_pattern=auth.username.pattern,
            strip_domains=frozenset(auth.username.strip_domains),
            require_posix_account=auth.username.require_posix_account,
            admin_users=frozenset(auth.admin_users),
            support=support or "the platform's operators",
            platform=platform,
        )

    def matches(self, name: str) -> bool:
        """Whether ``name`` is an allowed POSIX login name."""
        return self._compiled.fullmatch(name) is not None


@dataclass(frozen=True)
class Admission:
    """An admitted person: the JupyterHub (= POSIX) name, platform roles, admin flag."""

    name: str
    roles: tuple[PlatformRole, ...]
    admin: bool
    identity: Identity


def normalise_username(policy: LoginPolicy, login: str) -> str:
    """The POSIX name for ``login`` under ``policy``.

    Raises:
        LoginRefusedError: the name has a domain that is not stripped, or characters not allowed.
    """
    # JupyterHub lower-cases every name it is given, so the POSIX name is lower-case too.
    name = login.strip().lower()
    if "@" in name:
        local, _, domain = name.rpartition("@")
        if domain.lower() not in policy.strip_domains:
            raise LoginRefusedError(
                "bad-username",
                f"Your account name {login!r} is from a domain this platform does not accept. "
                f"Ask {policy.support}.",
            )
        name = local
    if not policy.matches(name):
        raise LoginRefusedError(
            "bad-username",
            f"Your account name {login!r} can't be used as a cluster account name "
            f"(allowed: {policy.username_pattern}). Ask {policy.support}.",
        )
    return name


def roles_for(
    rules: Mapping[PlatformRole, RoleRule], groups: Iterable[str], affiliations: Iterable[str]
) -> tuple[PlatformRole, ...]:
    """The platform roles that ``groups`` and ``affiliations`` give, in canonical order."""
    groups = frozenset(groups)
    affiliations = frozenset(a.lower() for a in affiliations)
    return tuple(
        role
        for role in PLATFORM_ROLES
        if role in rules
        and (rules[role].groups & groups or rules[role].affiliations & affiliations)
    )


def admit(
    policy: LoginPolicy, identity: Identity, has_posix_account: Callable[[str], bool]
) -> Admission:
    """Decide a login: the POSIX name, the roles, admin; or refuse it.

    Args:
        policy: the site's login rules.
        identity: what the directory or identity provider said.
        has_posix_account: whether a name has an account on the clusters (a seam).

    Raises:
        LoginRefusedError: with a message for the person.
    """
    name = normalise_username(policy, identity.login)
    roles = roles_for(policy.roles, identity.groups, identity.affiliations)
    if not roles:
        raise LoginRefusedError(
            "no-role",
            f"You signed in as {name}, but your account is in none of the groups or "
            f"affiliations allowed to use {policy.platform}. Ask {policy.support}.",
        )
    if policy.require_posix_account and not has_posix_account(name):
        raise LoginRefusedError(
            "no-posix-account",
            f"You signed in as {name}, but there is no cluster account named {name!r} yet, "
            f"so no notebook could start for you. Ask {policy.support} to create it.",
        )
    admin = "operator" in roles or name in policy.admin_users
    return Admission(name=name, roles=roles, admin=admin, identity=identity)


def affiliations_from(value: object) -> frozenset[str]:
    """Affiliations from a claim or attribute: one string, a list, or scoped ``a@domain``."""
    if value is None:
        return frozenset()
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    # eduPersonScopedAffiliation ("student@university.example") carries the same value.
    return frozenset(str(v).split("@", 1)[0].strip().lower() for v in items if str(v).strip())


def groups_from(value: object) -> frozenset[str]:
    """Group names from a claim or attribute: one string or a list of strings."""
    if value is None:
        return frozenset()
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return frozenset(str(v) for v in items if str(v))
