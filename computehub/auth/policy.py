"""Who may log in, under which POSIX name, with which platform roles: pure logic, no I/O.

The authenticators (LDAP, OIDC, the demo's) reduce what they learned to an
:class:`Identity` and ask :func:`admit`; a refusal is a :class:`LoginRefusedError` whose
message is written for the person at the login page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from computehub.auth.system import SystemAccounts, UidLookup, posix_uid
from computehub.sitefile.schema import SYSTEM_ACCOUNT_NAMES, Auth, PlatformRole

#: Platform roles, most privileged last (the order JupyterHub groups are listed in).
PLATFORM_ROLES: tuple[PlatformRole, ...] = get_args(PlatformRole)
#: Roles given by directory or IdP groups only, never by an affiliation.
_GROUPS_ONLY: frozenset[PlatformRole] = frozenset({"operator", "reviewer"})

RefusalReason = Literal[
    "bad-username",
    "unverified-email",
    "no-identity",
    "system-account",
    "no-role",
    "no-posix-account",
    "identity-conflict",
    "identity-unconfirmed",
    "unknown-person",
]


class LoginRefusedError(Exception):
    """A login that is authenticated but not admitted; ``message`` is for the person."""

    def __init__(self, reason: RefusalReason, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        #: What only the log gets (e.g. the uid of a system account).
        self.detail = detail


class IdentityUnconfirmedError(Exception):
    """A person's identity came in no form the name's binding can be compared with.

    For example an LDAP entry showing only its DN where the name is bound to its
    ``entryUUID`` (ACLs may hide that from the search user). Neither the same person
    nor another: a login is refused, a refresh keeps the person as they are.
    """

    def __init__(self, bound: tuple[str, str] | None, why: str) -> None:
        issuer = bound[0] if bound else "nothing"
        super().__init__(f"the name is bound to an identity of issuer {issuer}; {why}")
        self.bound = bound


@dataclass(frozen=True)
class Identity:
    """What an identity provider or directory says about a person.

    ``issuer`` and ``subject`` name the person for good (OIDC ``iss`` and ``sub``;
    an LDAP entry's ``entryUUID``, or its DN): a user name is bound to the first
    identity that used it, and no other identity gets it afterwards.
    """

    login: str
    display_name: str = ""
    email: str = ""
    groups: frozenset[str] = frozenset()
    affiliations: frozenset[str] = frozenset()
    issuer: str = ""
    subject: str = ""
    #: The same identity in other forms the source showed, as ``(issuer, subject)``
    #: (an LDAP entry's DN beside its entryUUID): a binding made in one of those
    #: forms is checked with it (:meth:`PlatformLogin.identity_to_check`).
    aliases: tuple[tuple[str, str], ...] = ()
    #: The login name is the e-mail address (then the provider must have verified it).
    login_is_email: bool = False
    email_verified: bool = False
    #: The person's groups as the site file's ``auth.courses`` names them (LDAP: the
    #: groups' normalized DNs; OIDC: the groups claim), for course rosters.
    group_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RoleRule:
    """Members of any of ``groups``, or anyone with one of ``affiliations``, get the role."""

    groups: frozenset[str] = frozenset()
    affiliations: frozenset[str] = frozenset()


#: A domain's names become ``prefix + local part + suffix`` (both empty: the bare domain).
Affixes = tuple[str, str]


@dataclass(frozen=True)
class LoginPolicy:
    """The login rules of a site, as plain values (built by :meth:`from_site`)."""

    roles: Mapping[PlatformRole, RoleRule]
    username_pattern: str = r"^[a-z_][a-z0-9_-]{0,31}$"
    #: Accepted domains and how their names become POSIX names; other domains are refused.
    domains: Mapping[str, Affixes] = field(default_factory=dict)
    require_posix_account: bool = True
    #: Names nobody may log in as (deny-list and uid floor).
    system_accounts: SystemAccounts = field(
        default_factory=lambda: SystemAccounts.of(1000, SYSTEM_ACCOUNT_NAMES)
    )
    #: Logins must carry a stable identity (issuer and subject) to bind the name to.
    require_identity: bool = False
    admin_users: frozenset[str] = frozenset()
    support: str = "the platform's operators"
    platform: str = "computehub"
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.username_pattern))

    @classmethod
    def from_site(cls, auth: Auth, *, platform: str, support: str) -> LoginPolicy:
        """The policy of a validated site file's ``auth`` section (a university login)."""
        return cls(
            roles={
                role: RoleRule(frozenset(rule.groups), frozenset(rule.affiliations))
                for role, rule in auth.roles.items()
            },
            username_pattern=auth.username.pattern,
            domains={d: rule.affixes for d, rule in auth.username.domain_rules().items()},
            require_posix_account=auth.username.require_posix_account,
            system_accounts=SystemAccounts.of(auth.username.min_uid, auth.username.deny),
            require_identity=True,
            admin_users=frozenset(auth.admin_users),
            support=support or "the platform's operators",
            platform=platform,
        )

    @classmethod
    def for_demo(cls, auth: Auth, *, platform: str, support: str) -> LoginPolicy:
        """The policy of the demo's listed logins: each is in a group named after its role.

        The list is the allow-list; the POSIX-account check does not apply (the
        demo's people may exist in the ledger only), the system-account check does.
        """
        return cls(
            roles={role: RoleRule(groups=frozenset({role})) for role in PLATFORM_ROLES},
            username_pattern=auth.username.pattern,
            require_posix_account=False,
            system_accounts=SystemAccounts.of(auth.username.min_uid, auth.username.deny),
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

    Anything outside ASCII is refused before any folding (``str.lower`` turns the
    Kelvin sign into ``k``); ``name@DOMAIN`` gets the domain's prefix or suffix, or
    none for the one bare domain; a name without a domain, or from the bare domain,
    that has another domain's prefix and suffix is refused (it is kept for them).

    Raises:
        LoginRefusedError: a domain that is not accepted, characters not allowed, or
            a name kept for another domain's people.
    """
    if not login.isascii():
        raise LoginRefusedError(
            "bad-username",
            f"Your account name {login!r} has characters other than plain letters, digits "
            "and punctuation, so it can't be used as a cluster account name. "
            f"Ask {policy.support}.",
        )
    name = login.strip().lower()
    affixes: Affixes = ("", "")
    if "@" in name:
        local, _, domain = name.rpartition("@")
        if domain not in policy.domains or not local:
            raise LoginRefusedError(
                "bad-username",
                f"Your account name {login!r} is from a domain this platform does not accept. "
                f"Ask {policy.support}.",
            )
        affixes = policy.domains[domain]
        name = f"{affixes[0]}{local}{affixes[1]}"
    if not policy.matches(name):
        raise LoginRefusedError(
            "bad-username",
            f"Your account name {login!r} can't be used as a cluster account name "
            f"(allowed: {policy.username_pattern}). Ask {policy.support}.",
        )
    if affixes == ("", ""):
        for domain, (prefix, suffix) in policy.domains.items():
            kept = (prefix or suffix) and len(name) > len(prefix) + len(suffix)
            if kept and name.startswith(prefix) and name.endswith(suffix):
                raise LoginRefusedError(
                    "bad-username",
                    f"Your account name {login!r} would be the cluster account {name!r}, "
                    f"a name kept for people of {domain}. Ask {policy.support}.",
                )
    return name


def roles_for(
    rules: Mapping[PlatformRole, RoleRule], groups: Iterable[str], affiliations: Iterable[str]
) -> tuple[PlatformRole, ...]:
    """The platform roles that ``groups`` and ``affiliations`` give, in canonical order.

    ``operator`` and ``reviewer`` come from groups only: an affiliation (``staff``) is
    held by whole categories of people, operators are hub admins and reviewers read
    every application for credits. The site file refuses such a rule with
    affiliations; this ignores one given anyway.
    """
    groups = frozenset(groups)
    affiliations = frozenset(a.lower() for a in affiliations)
    found: list[PlatformRole] = []
    for role in PLATFORM_ROLES:
        rule = rules.get(role)
        if rule is None:
            continue
        by_affiliation = (
            rule.affiliations & affiliations if role not in _GROUPS_ONLY else frozenset()
        )
        if rule.groups & groups or by_affiliation:
            found.append(role)
    return tuple(found)


def admit(
    policy: LoginPolicy,
    identity: Identity,
    has_posix_account: Callable[[str], bool],
    uid_of: UidLookup = posix_uid,
) -> Admission:
    """Decide a login: the POSIX name, the roles, admin; or refuse it.

    Args:
        policy: the site's login rules.
        identity: what the directory or identity provider said.
        has_posix_account: whether a name has an account on the clusters (a seam).
        uid_of: a POSIX account's uid by name, KeyError for none (a seam).

    Raises:
        LoginRefusedError: with a message for the person.
    """
    name = normalise_username(policy, identity.login)
    if identity.login_is_email and not identity.email_verified:
        raise LoginRefusedError(
            "unverified-email",
            f"Your identity provider has not verified your e-mail address {identity.email!r}, "
            f"and {policy.platform} uses it as your account name. Verify it with your "
            f"university account and log in again, or ask {policy.support}.",
        )
    if policy.require_identity and not (identity.issuer and identity.subject):
        raise LoginRefusedError(
            "no-identity",
            f"Your identity provider did not say who you are in a way {policy.platform} can "
            f"keep (no stable identifier), so you can't log in. Ask {policy.support}.",
        )
    system = policy.system_accounts.refusal(name, uid_of)
    if system is not None:
        raise LoginRefusedError(
            "system-account",
            f"You signed in as {name}, which is a system account of the clusters: nobody "
            f"may use {policy.platform} as it. Ask {policy.support}.",
            detail=system,
        )
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
