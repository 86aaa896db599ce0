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
"""

from __future__ import annotations

import asyncio
import math
import ssl
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPBindError, LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldapauthenticator import LDAPAuthenticator  # type: ignore[import-untyped]
from ldapauthenticator.ldapauthenticator import TlsStrategy  # type: ignore[import-untyped]
from traitlets import Float, Unicode, default

from computehub.auth.base import PlatformLogin, refusal
from computehub.auth.policy import Identity, affiliations_from, groups_from
from computehub.auth.secrets import read_secret

#: A key of the attributes dict that carries the person's group names (not an LDAP attribute).
GROUPS_KEY = "computehub:groups"


def _first(values: Any) -> str:
    if isinstance(values, list):
        return str(values[0]) if values else ""
    return "" if values is None else str(values)


class ComputeHubLDAPAuthenticator(PlatformLogin, LDAPAuthenticator):  # type: ignore[misc]
    """University directory login with platform roles and first-login credits."""

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
        conn.search(
            search_base=userdn,
            search_scope=ldap3.BASE,
            search_filter="(objectClass=*)",
            attributes=wanted,
        )
        attributes: dict[str, Any] = (
            dict(conn.entries[0].entry_attributes_as_dict) if len(conn.entries) == 1 else {}
        )
        groups: list[str] = []
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
        attributes[GROUPS_KEY] = groups
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
        identity = Identity(
            login=_first(attributes.get(self.user_attribute or "uid")) or model["name"],
            display_name=_first(attributes.get(self.display_name_attribute)),
            email=_first(attributes.get(self.email_attribute)),
            groups=groups_from(attributes.get(GROUPS_KEY)),
            affiliations=affiliations_from(
                attributes.get(self.affiliation_attribute) if self.affiliation_attribute else None
            ),
        )
        admission = self.admit_identity(identity)
        state = {"ldap_groups": sorted(identity.groups)}
        return self.admitted_model(admission, state)
