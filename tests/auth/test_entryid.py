"""An LDAP entry's identity forms and which one a name's binding is checked by: pure cases."""

from __future__ import annotations

import pytest

from computehub.auth.entryid import DN_ISSUER, entry_forms, form_of, pair_to_check
from computehub.auth.ldap import DN_KEY, ComputeHubLDAPAuthenticator
from computehub.auth.policy import IdentityUnconfirmedError

DN = "uid=alice,ou=people,dc=university,dc=example"
UUID = "0a1b2c3d-0000-4000-8000-00000000000a"
BY_UUID = ("ldap:entryUUID", UUID)
BY_DN = (DN_ISSUER, DN)
#: A binding by DN as main made it: the server address in the issuer.
LEGACY = ("ldap://ldap-old.university.example", DN)
OTHER_DN = "uid=alice,ou=former,dc=university,dc=example"
OTHER_UUID = "0a1b2c3d-0000-4000-8000-00000000000b"


def test_an_entry_s_forms_permanent_id_first() -> None:
    assert entry_forms("entryUUID", [UUID.upper()], DN.upper()) == (BY_UUID, BY_DN)
    assert entry_forms("entryUUID", [], DN) == (BY_DN,)
    assert entry_forms(None, [UUID], DN) == (BY_DN,)
    assert entry_forms("objectGUID", [b"\x01\xff"], DN) == (("ldap:objectGUID", "01ff"), BY_DN)
    assert entry_forms("entryUUID", UUID, "") == (BY_UUID,)


@pytest.mark.parametrize("address", ["ldap-a.university.example", "ldap-b.university.example"])
def test_a_dn_identity_is_the_same_whatever_the_server(address: str) -> None:
    """Main's issuer was ldap://SERVER: a new address or a replica made everyone conflict."""
    login = ComputeHubLDAPAuthenticator(server_address=address, identity_attribute="entryUUID")
    identity = login.identity_from({"uid": ["alice"], DN_KEY: DN})
    assert (identity.issuer, identity.subject, identity.aliases) == (DN_ISSUER, DN, ())
    with_uuid = login.identity_from({"uid": ["alice"], "entryUUID": [UUID], DN_KEY: DN})
    assert (with_uuid.issuer, with_uuid.subject, with_uuid.aliases) == (*BY_UUID, (BY_DN,))


def test_forms() -> None:
    assert form_of(DN_ISSUER) == form_of(LEGACY[0]) == form_of("ldap://10.0.0.5") == "dn"
    assert form_of("ldap:entryUUID") == "ldap:entryUUID"
    assert form_of("https://sso.university.example/realms/main") is None


@pytest.mark.parametrize(
    ("forms", "bound", "checked"),
    [
        pytest.param((BY_UUID, BY_DN), None, BY_UUID, id="first login: the permanent id"),
        pytest.param((BY_DN,), None, BY_DN, id="first login without one: the DN"),
        pytest.param((BY_UUID, BY_DN), BY_UUID, BY_UUID, id="bound by uuid"),
        pytest.param((BY_DN,), BY_DN, BY_DN, id="bound by dn"),
        pytest.param((BY_DN,), LEGACY, LEGACY, id="bound by dn as main did: kept"),
        pytest.param((BY_UUID, BY_DN), LEGACY, LEGACY, id="uuid seen now, bound by old dn"),
        pytest.param((BY_UUID, BY_DN), BY_DN, BY_DN, id="uuid seen now, bound by dn"),
        # Another identity of the binding's form: handed to the ledger, which refuses it.
        pytest.param(
            (("ldap:entryUUID", OTHER_UUID), BY_DN),
            BY_UUID,
            ("ldap:entryUUID", OTHER_UUID),
            id="another uuid",
        ),
        pytest.param(((DN_ISSUER, OTHER_DN),), LEGACY, (DN_ISSUER, OTHER_DN), id="another dn"),
        pytest.param(
            ((DN_ISSUER, OTHER_DN),), BY_DN, (DN_ISSUER, OTHER_DN), id="another dn, new issuer"
        ),
        pytest.param(
            (BY_DN,),
            ("https://sso.example", "alice"),
            BY_DN,
            id="bound to no ldap identity",
        ),
    ],
)
def test_the_form_a_binding_is_checked_by(
    forms: tuple[tuple[str, str], ...], bound: tuple[str, str] | None, checked: tuple[str, str]
) -> None:
    assert pair_to_check(forms, bound) == checked


@pytest.mark.parametrize(
    ("forms", "bound"),
    [
        pytest.param((BY_DN,), BY_UUID, id="bound by uuid, the dn only now"),
        pytest.param(
            (BY_UUID,), ("ldap:objectGUID", "01ff"), id="bound by another permanent attribute"
        ),
        pytest.param((), BY_DN, id="nothing shown"),
    ],
)
def test_a_form_the_binding_can_t_be_compared_with(
    forms: tuple[tuple[str, str], ...], bound: tuple[str, str]
) -> None:
    with pytest.raises(IdentityUnconfirmedError, match=bound[0]):
        pair_to_check(forms, bound)
