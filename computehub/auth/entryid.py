"""An LDAP entry's stable identity, in its two forms, and which one a name's binding is checked by.

A directory entry names its person for good in two ways: a permanent id (an
operational attribute such as ``entryUUID``, asked for by name) and its DN. A login
binds the name to the first form it sees (:meth:`Ledger.bind_identity`):

- ``ldap:<attribute>`` and the id's value (lower-case), where the entry shows it;
- else ``ldap:dn`` (:data:`DN_ISSUER`) and the DN (lower-case). The issuer is the same
  for every server, so a new server address or a replica changes nobody's identity.
  Bindings made before by DN have the issuer ``ldap://SERVER_ADDRESS``
  (:func:`form_of` reads it as the same form): they are accepted as they are, not
  rewritten, and checked by their DN like ``ldap:dn`` ones.

A later login or refresh checks the binding with the form the name is bound in
(:func:`pair_to_check`). The entry may come back in the other form only, e.g. when
ACLs hide ``entryUUID`` from the search user that refreshes read the entry with:
that can't be compared (:class:`~computehub.auth.policy.IdentityUnconfirmedError`).
A different identity of the same form is never accepted: the ledger refuses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from computehub.auth.policy import IdentityUnconfirmedError

#: The issuer of an identity bound by the entry's DN, whatever the server.
DN_ISSUER = "ldap:dn"
#: The form of DN identities (:func:`form_of`).
DN_FORM = "dn"
#: How bindings by DN began before :data:`DN_ISSUER`: ``ldap://SERVER_ADDRESS``.
LEGACY_DN_ISSUER_PREFIX = "ldap://"

#: An identity as the ledger binds it: ``(issuer, subject)``.
Pair = tuple[str, str]


def permanent_issuer(attribute: str) -> str:
    """The issuer of identities bound by the entry's permanent id in ``attribute``."""
    return f"ldap:{attribute}"


def entry_forms(attribute: str | None, permanent: Any, dn: str) -> tuple[Pair, ...]:
    """An entry's identity in each form it showed, the permanent id first.

    Args:
        attribute: the permanent id's attribute (None: not asked for).
        permanent: its value(s) as ldap3 read them (a list, bytes for a binary id, ...).
        dn: the entry's DN ('' when unknown).
    """
    forms: list[Pair] = []
    value = permanent[0] if isinstance(permanent, list) and permanent else permanent
    if isinstance(value, bytes):
        # A binary id (Active Directory's objectGUID without schema): its hex form.
        value = value.hex()
    if attribute and value:
        forms.append((permanent_issuer(attribute), str(value).lower()))
    if dn:
        forms.append((DN_ISSUER, dn.lower()))
    return tuple(forms)


def form_of(issuer: str) -> str | None:
    """Which form of an LDAP identity an issuer names (None: not an LDAP identity).

    :data:`DN_FORM` for ``ldap:dn`` and the ``ldap://SERVER`` issuers of earlier DN
    bindings; the issuer itself for a permanent id (``ldap:entryUUID``).
    """
    if issuer == DN_ISSUER or issuer.startswith(LEGACY_DN_ISSUER_PREFIX):
        return DN_FORM
    if issuer.startswith("ldap:"):
        return issuer
    return None


def pair_to_check(forms: Sequence[Pair], bound: Pair | None) -> Pair:
    """The ``(issuer, subject)`` to bind a name to, or to check its binding with.

    Args:
        forms: the entry's identity in each form it showed (:func:`entry_forms`).
        bound: the name's binding in the ledger (None: not bound yet).

    Returns:
        The first form for a name not bound yet; the binding itself where the entry
        shows the same identity in the binding's form (an earlier DN binding keeps its
        issuer); the entry's identity of the binding's form where it differs (the
        ledger then refuses it), or its first form where the name is bound to no
        LDAP identity.

    Raises:
        IdentityUnconfirmedError: the entry shows none of its forms, or not the
            binding's form, so the binding can't be checked.
    """
    if not forms:
        raise IdentityUnconfirmedError(bound, "the entry shows no identity")
    if bound is None:
        return forms[0]
    wanted = form_of(bound[0])
    if wanted is None:
        return forms[0]
    for issuer, subject in forms:
        if form_of(issuer) == wanted:
            return bound if subject == bound[1] else (issuer, subject)
    shown = ", ".join(issuer for issuer, _ in forms)
    raise IdentityUnconfirmedError(
        bound,
        f"the entry shows only {shown}; if ACLs hide the permanent id from whoever "
        "reads the entry (the search user at refreshes), let it read that attribute",
    )
