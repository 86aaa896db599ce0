"""Read a course's LDAP groups on demand (``computehub credits course sync``).

The connection is the login's own (:class:`~computehub.auth.ldap.ComputeHubLDAPAuthenticator`
configured from the site file: verified TLS, timeouts), bound as the site's search
user (``auth.ldap.search_bind_dn``; anonymous without one). Each group entry is read
by its DN (a base search, no filter built from data); its members are the
``memberUid`` values as they are, and the ``member``/``uniqueMember`` DNs read each
for the login-name attribute (``auth.ldap.user_attribute``), the name a login gets.
"""

from __future__ import annotations

from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPBindError, LDAPException
from traitlets.config import Config

from computehub.sitefile import Site

#: Group attributes that list members by DN, and by login name.
DN_MEMBERS = ("member", "uniqueMember")
UID_MEMBERS = "memberUid"


class DirectoryError(RuntimeError):
    """The directory can't be read now (the message is one sentence)."""


class GroupMissingError(DirectoryError):
    """A course's group is not in the directory: a sync would take everyone off."""


def _authenticator(site: Site) -> Any:
    from computehub.auth.configure import _ldap
    from computehub.auth.ldap import ComputeHubLDAPAuthenticator

    if site.auth.ldap is None:
        raise DirectoryError("the site file has no auth.ldap section to read groups from")
    config = Config()
    _ldap(config.ComputeHubLDAPAuthenticator, site.auth.ldap, site.platform.support)
    return ComputeHubLDAPAuthenticator(config=config)


def _values(entry: Any, attribute: str) -> list[str]:
    values = entry.entry_attributes_as_dict.get(attribute) or []
    return [str(v) for v in values]


def group_members(site: Site, group_dns: list[str]) -> dict[str, set[str]]:
    """The login names of each group's members, ``{group DN: {name, ...}}``.

    A group that does not exist is an error (a mistyped DN must not empty a roster).

    Raises:
        DirectoryError: the directory can't be reached, refuses the search user, or fails.
    """
    auth = _authenticator(site)
    user_attribute = auth.user_attribute or "uid"
    try:
        conn = auth.get_connection(
            auth.lookup_dn_search_user or None,
            auth.lookup_dn_search_password if auth.lookup_dn_search_user else None,
        )
        if conn is None:
            raise LDAPBindError("the directory refused the search user")
        try:
            found: dict[str, set[str]] = {}
            for dn in group_dns:
                conn.search(
                    search_base=dn,
                    search_scope=ldap3.BASE,
                    search_filter="(objectClass=*)",
                    attributes=[*DN_MEMBERS, UID_MEMBERS],
                )
                _raise_for(conn)
                if not conn.entries:
                    raise GroupMissingError(
                        f"the group {dn} is not in the directory (or the search user can't "
                        "read it): nothing changed"
                    )
                names: set[str] = set()
                for entry in list(conn.entries):
                    names.update(_values(entry, UID_MEMBERS))
                    for attribute in DN_MEMBERS:
                        for member in _values(entry, attribute):
                            names.update(_name_of(conn, member, user_attribute))
                found[dn] = names
            return found
        finally:
            conn.unbind()
    except LDAPException as err:
        raise DirectoryError(
            f"the directory {site.auth.ldap.server_address if site.auth.ldap else ''} "
            f"can't be read now ({type(err).__name__}: {err})"
        ) from None


def _name_of(conn: Any, dn: str, attribute: str) -> list[str]:
    conn.search(
        search_base=dn,
        search_scope=ldap3.BASE,
        search_filter="(objectClass=*)",
        attributes=[attribute],
    )
    _raise_for(conn)
    entries = list(conn.entries)
    return _values(entries[0], attribute)[:1] if entries else []


def _raise_for(conn: Any) -> None:
    from computehub.auth.ldap import _check

    _check(conn)
