"""LDAP login: jupyterhub-ldapauthenticator, made to fit the platform.

What the subclass changes, and why:

- ldapauthenticator calls ldap3 synchronously inside its coroutine; a slow or
  unreachable directory would freeze the hub's event loop. Here the whole
  bind-and-search runs on a worker thread, with connect and receive timeouts.
- A directory that can't be reached is a clear 503 message on the login page,
  not a 500 with a traceback.
- It checks membership of configured group DNs only; the platform maps *all* of
  a person's groups (by name) and their affiliation to roles, so the groups are
  looked up under ``group_search_base``.
- ldap3's TLS object does not verify certificates unless asked: here it must.
- The JupyterHub name is the entry's ``uid`` (the POSIX account), not what was typed.
- The person's stable identity is the entry's ``entryUUID`` (an operational
  attribute, asked for by name), or else its DN (issuer ``ldap:dn``, the same for
  every server address and replica); the login binds the name to it, and later
  logins and refreshes check it in the binding's form (:mod:`computehub.auth.entryid`).
- ``refresh_user`` looks the person up again (with the search user, if one is
  configured) so that roles, groups and admin follow the directory between logins.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPBindError, LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn
from ldapauthenticator import LDAPAuthenticator  # type: ignore[import-untyped]
from ldapauthenticator.ldapauthenticator import TlsStrategy  # type: ignore[import-untyped]
from traitlets import Float, Unicode, default

from computehub.auth.base import PlatformLogin, refusal
from computehub.auth.entryid import entry_forms, pair_to_check
from computehub.auth.policy import Identity, affiliations_from, groups_from
from computehub.auth.rostersync import normalize_dn
from computehub.auth.secrets import read_secret

#: A key of the attributes dict that carries the person's group names (not an LDAP attribute).
GROUPS_KEY = "computehub:groups"
#: A key of the attributes dict that carries the DNs of the person's groups.
GROUP_DNS_KEY = "computehub:group-dns"
#: A key of the attributes dict that carries the entry's DN.
DN_KEY = "computehub:dn"
#: LDAP result codes: success, and the entry does not exist.
_SUCCESS, _NO_SUCH_OBJECT = 0, 32


def _first(values: Any) -> str:
    if isinstance(values, list):
        return str(values[0]) if values else ""
    return "" if values is None else str(values)


class ComputeHubLDAPAuthenticator(PlatformLogin, LDAPAuthenticator):  # type: ignore[misc]
    """University directory login with platform roles and first-login credits."""

    login_method = "ldap"

    search_password_env = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Environment variable holding lookup_dn_search_user's password.",
    )
    search_password_file = Unicode(
        None,
        allow_none=True,
        config=True,
        help="File holding lookup_dn_search_user's password.",
    )
    group_search_base = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Where to look up the person's groups (None: no groups, roles by affiliation).",
    )
    group_name_attribute = Unicode(
        "cn", config=True, help="Attribute of a group entry whose value names the group."
    )
    display_name_attribute = Unicode("displayName", config=True, help="Full-name attribute.")
    email_attribute = Unicode("mail", config=True, help="E-mail attribute.")
    affiliation_attribute = Unicode(
        "eduPersonAffiliation",
        allow_none=True,
        config=True,
        help="Attribute with the eduPerson affiliation (None: no affiliation).",
    )
    identity_attribute = Unicode(
        "entryUUID",
        allow_none=True,
        config=True,
        help="Operational attribute with the entry's permanent id, asked for by name "
        "(None, or an entry without it: the entry's DN, issuer 'ldap:dn'). Not 'dn'.",
    )
    timeout_s = Float(
        5.0, min=0.1, config=True, help="Connect and receive timeout of each LDAP call."
    )
    support = Unicode(
        "the platform's operators", config=True, help="Whom to ask, named in error messages."
    )

    @default("lookup_dn_search_password")
    def _search_password(self) -> str | None:
        if self.search_password_env is None and self.search_password_file is None:
            return None
        return read_secret("auth.ldap", self.search_password_env, self.search_password_file)

    def get_connection(self, userdn: str | None, password: str | None) -> Any:
        """A connection bound as ``userdn``, or None when the bind is refused.

        The upstream method, with timeouts, no schema download and verified TLS.

        Raises:
            LDAPException: the server can't be reached or TLS fails.
        """
        strategy = self.tls_strategy
        tls = ldap3.Tls(**{"validate": ssl.CERT_REQUIRED, **self.tls_kwargs})
        server = ldap3.Server(
            self.server_address,
            port=self.server_port,
            use_ssl=strategy == TlsStrategy.on_connect,
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=self.timeout_s,
        )
        auto_bind = (
            ldap3.AUTO_BIND_TLS_BEFORE_BIND
            if strategy == TlsStrategy.before_bind
            else ldap3.AUTO_BIND_NO_TLS
        )
        try:
            return ldap3.Connection(
                server,
                user=userdn,
                password=password,
                auto_bind=auto_bind,
                # ldap3 packs this into SO_RCVTIMEO as whole seconds.
                receive_timeout=max(1, math.ceil(self.timeout_s)),
                raise_exceptions=False,
            )
        except LDAPBindError:
            self.log.debug("LDAP bind refused for %s", userdn)
            return None

    def get_user_attributes(self, conn: Any, userdn: str) -> dict[str, Any]:
        """The person's attributes and, under :data:`GROUPS_KEY`, their group names."""
        wanted = [self.user_attribute or "uid", self.display_name_attribute, self.email_attribute]
        if self.affiliation_attribute:
            wanted.append(self.affiliation_attribute)
        if self.identity_attribute:
            wanted.append(self.identity_attribute)
        conn.search(
            search_base=userdn,
            search_scope=ldap3.BASE,
            search_filter="(objectClass=*)",
            attributes=wanted,
        )
        attributes: dict[str, Any] = {}
        if len(conn.entries) == 1:
            attributes = dict(conn.entries[0].entry_attributes_as_dict)
            attributes[DN_KEY] = str(conn.entries[0].entry_dn)
        groups: list[str] = []
        group_dns: list[str] = []
        if self.group_search_base:
            uid = _first(attributes.get(self.user_attribute or "uid"))
            conn.search(
                search_base=self.group_search_base,
                search_scope=ldap3.SUBTREE,
                search_filter=self.group_search_filter.format(
                    userdn=escape_filter_chars(userdn), uid=escape_filter_chars(uid)
                ),
                attributes=[self.group_name_attribute],
            )
            for entry in conn.entries:
                names = entry.entry_attributes_as_dict.get(self.group_name_attribute) or []
                groups.extend(str(n) for n in names)
                group_dns.append(str(entry.entry_dn))
        attributes[GROUPS_KEY] = groups
        attributes[GROUP_DNS_KEY] = group_dns
        return attributes

    def _authenticate_blocking(self, data: dict[str, str]) -> dict[str, Any] | None:
        # The upstream coroutine never awaits (it calls ldap3 synchronously), so it
        # can run to completion on this worker thread's own loop.
        result: dict[str, Any] | None = asyncio.run(
            LDAPAuthenticator.authenticate(self, None, data)
        )
        return result

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        """Bind as the person, read their attributes and groups, then admit or refuse.

        Returns:
            The auth model, or None for a wrong name or password.

        Raises:
            tornado.web.HTTPError: 503 when the directory can't be reached, 403 when
                the person is refused by the platform's policy (with the reason).
        """
        try:
            model = await asyncio.to_thread(self._authenticate_blocking, data)
        except LDAPException as err:
            self.log.error(
                "LDAP server %s:%s unreachable: %s: %s",
                self.server_address,
                self.server_port,
                type(err).__name__,
                err,
            )
            raise refusal(
                503,
                "The university directory can't be reached right now, so nobody can log in "
                f"with it. Please try again in a few minutes; if it persists, tell {self.support}.",
            ) from None
        if model is None:
            return None
        attributes = model["auth_state"]["user_attributes"]
        identity = self.identity_from(attributes, fallback_login=model["name"])
        return await self.login_model(identity, {"ldap_groups": sorted(identity.groups)})

    def identity_from(self, attributes: dict[str, Any], fallback_login: str = "") -> Identity:
        """The person an entry's attributes describe, with the entry's stable identity.

        The identity is the entry's permanent id where it shows one, else its DN; the
        DN is kept beside a permanent id as an alias (:meth:`identity_to_check`).
        """
        permanent = attributes.get(self.identity_attribute) if self.identity_attribute else None
        forms = entry_forms(self.identity_attribute, permanent, str(attributes.get(DN_KEY) or ""))
        issuer, subject = forms[0] if forms else ("", "")
        return Identity(
            login=_first(attributes.get(self.user_attribute or "uid")) or fallback_login,
            display_name=_first(attributes.get(self.display_name_attribute)),
            email=_first(attributes.get(self.email_attribute)),
            groups=groups_from(attributes.get(GROUPS_KEY)),
            affiliations=affiliations_from(
                attributes.get(self.affiliation_attribute) if self.affiliation_attribute else None
            ),
            issuer=issuer,
            subject=subject,
            aliases=forms[1:],
            group_ids=frozenset(_dns(attributes.get(GROUP_DNS_KEY))),
        )

    def identity_to_check(
        self, identity: Identity, bound: tuple[str, str] | None
    ) -> tuple[str, str]:
        """The entry's identity in the form the name is bound in (entryUUID or DN).

        Raises:
            IdentityUnconfirmedError: the entry shows only the other form.
        """
        return pair_to_check(((identity.issuer, identity.subject), *identity.aliases), bound)

    async def refresh_user(self, user: Any, handler: Any = None) -> dict[str, Any] | bool:
        """Look the person up again: roles, groups and admin as the directory says now.

        Returns:
            The new auth model; False when the person is gone from the directory,
            refused now, or their entry is another identity than the name's
            (JupyterHub asks them to log in again); True (nothing changes) when the
            directory or the ledger can't be reached, when an anonymous search can't
            tell a person who left from one it can't see, or when the entry shows its
            identity only in another form than the name's binding (the search user
            can't read ``entryUUID``).
        """
        try:
            attributes = await asyncio.to_thread(self._lookup_blocking, user.name)
        except LDAPException as err:
            self.log.warning(
                "Refresh of %s postponed: the directory can't be reached: %s: %s",
                user.name,
                type(err).__name__,
                err,
            )
            return True
        if attributes is None and not self.lookup_dn_search_user:
            self.log.warning(
                "Refresh of %s: an anonymous search finds no entry; set auth.ldap."
                "search_bind_dn so that people who left the directory are logged out",
                user.name,
            )
            return True
        identity = None if attributes is None else self.identity_from(attributes)
        state = {"ldap_groups": sorted(identity.groups) if identity else []}
        answer = await self.refreshed_model(user.name, identity, state)
        return await self.unless_unchanged(user, answer)

    def _lookup_blocking(self, name: str) -> dict[str, Any] | None:
        """The attributes (and groups) of the entry named ``name``, or None if there is none.

        Raises:
            LDAPException: the directory can't be reached, refuses the search user, or fails.
        """
        search_user = self.lookup_dn_search_user or None
        password = self.lookup_dn_search_password if search_user else None
        conn = self.get_connection(search_user, password)
        if conn is None:
            raise LDAPBindError(f"the directory refused the search user {search_user}")
        try:
            userdn = self._find_dn(conn, name)
            if userdn is None:
                return None
            attributes = self.get_user_attributes(conn, userdn)
            _check(conn)
            return attributes if DN_KEY in attributes else None
        finally:
            conn.unbind()

    def _find_dn(self, conn: Any, name: str) -> str | None:
        if self.lookup_dn:
            conn.search(
                search_base=self.user_search_base,
                search_scope=ldap3.SUBTREE,
                search_filter=f"({self.user_attribute}={escape_filter_chars(name)})",
                attributes=[self.user_attribute],
            )
            _check(conn)
            return str(conn.entries[0].entry_dn) if len(conn.entries) == 1 else None
        for template in self.bind_dn_template:
            userdn = template.format(username=escape_rdn(name))
            conn.search(
                search_base=userdn,
                search_scope=ldap3.BASE,
                search_filter="(objectClass=*)",
                attributes=[],
            )
            _check(conn)
            if len(conn.entries) == 1:
                return str(conn.entries[0].entry_dn)
        return None


def _dns(values: Any) -> list[str]:
    """The normalized DNs among ``values`` (one that isn't a DN is left out)."""
    found = []
    for value in values or ():
        try:
            found.append(normalize_dn(str(value)))
        except ValueError:
            continue
    return found


def _check(conn: Any) -> None:
    """Raise for a failed search other than 'no such entry' (busy, unavailable, ...)."""
    result = conn.result or {}
    if result.get("result", _SUCCESS) not in (_SUCCESS, _NO_SUCH_OBJECT):
        raise LDAPException(
            f"LDAP search failed: {result.get('description')} ({result.get('result')})"
        )
