"""Idempotency keys: clients' keys can't take the platform's, and a replay must repeat.

Finding 6: a key a client chose (a transfer's, a grant's) lives in that client's
namespace, so it can never be the key of a first-login grant, a settlement or a void.
Finding 13: a key repeated with other parameters is a ConflictError for every verb.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from computehub.credits.errors import ConflictError
from computehub.credits.keys import CLIENT_KEY_MAX, ClientKey, stored_key
from computehub.credits.ledger import Ledger
from tests.support.ledgers import START, FakeClock

CPU = {"cpu": 2}


def _course(ledger: Ledger) -> None:
    ledger.create_account("c1", "course", actor="op", owner="prof")
    ledger.create_account("bob", "personal", actor="op", owner="bob")
    ledger.grant("c1", "100", actor="op")


def test_a_clients_key_never_takes_a_first_login_grants(ledger: Ledger) -> None:
    _course(ledger)
    moved = ledger.transfer(
        "c1", "bob", "1", actor="prof", idempotency_key=ClientKey("prof", "first-login:bob")
    )
    # The platform's first-login grant for bob, with its own key, still happens once.
    first = ledger.grant("bob", "50", actor="login", idempotency_key="first-login:bob")
    assert ledger.grant("bob", "50", actor="login", idempotency_key="first-login:bob") == first
    assert ledger.balance("bob").balance == Decimal(51)
    # And the instructor's retry is still theirs.
    assert (
        ledger.transfer(
            "c1", "bob", "1", actor="prof", idempotency_key=ClientKey("prof", "first-login:bob")
        )
        == moved
    )
    assert ledger.check().differences == []


@pytest.mark.parametrize("verb", ["settle", "void"])
def test_an_operators_key_never_takes_a_settlement_or_a_void(ledger: Ledger, verb: str) -> None:
    _course(ledger)
    hold = ledger.place_hold("c1", "north", CPU, "2", actor="sam")
    ledger.attach_job(hold.id, "north", "7")
    internal = "settle:north:7" if verb == "settle" else f"void:{hold.id}"
    ledger.grant("bob", "5", actor="opal", idempotency_key=ClientKey("opal", internal))
    if verb == "settle":
        charge = ledger.settle(hold.id, {"cpu": "1"}, actor="spawner", idempotency_key=internal)
        assert charge.amount == Decimal("0.5")
    else:
        voided = ledger.void_hold(hold.id, "never ran", actor="spawner", idempotency_key=internal)
        assert voided.status == "voided"
    assert ledger.check().differences == []


def test_client_namespaces_are_apart_and_unambiguous(ledger: Ledger) -> None:
    _course(ledger)
    ledger.create_account("p2", "project", actor="op")
    # The same key from two callers: two operations.
    ledger.transfer("c1", "bob", "1", actor="a", idempotency_key=ClientKey("a", "k"))
    ledger.transfer("c1", "bob", "1", actor="b", idempotency_key=ClientKey("b", "k"))
    # "a:b" + "c" and "a" + "b:c" would both read "a:b:c" unescaped.
    ledger.transfer("c1", "bob", "1", actor="x", idempotency_key=ClientKey("a:b", "c"))
    ledger.transfer("c1", "p2", "2", actor="x", idempotency_key=ClientKey("a", "b:c"))
    assert ledger.balance("bob").balance == Decimal(3)
    assert ledger.balance("p2").balance == Decimal(2)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("client:prof:first-login:bob", id="the-clients-namespace"),
        pytest.param("", id="empty"),
        pytest.param("x" * 201, id="too-long"),
        pytest.param("a key", id="space"),
        pytest.param("schlüssel", id="not-ascii"),
        pytest.param("line\nbreak", id="control"),
    ],
)
def test_internal_keys_are_bounded_and_outside_the_clients_namespace(
    ledger: Ledger, key: str
) -> None:
    _course(ledger)
    with pytest.raises(ValueError, match="idempotency key"):
        ledger.grant("bob", "1", actor="op", idempotency_key=key)
    with pytest.raises(ValueError, match="idempotency key"):
        ledger.place_hold("c1", "north", CPU, "1", actor="sam", idempotency_key=key)
    assert ledger.balance("bob").balance == Decimal(0)


@pytest.mark.parametrize(
    "key", ["", "x" * (CLIENT_KEY_MAX + 1), "a key", "ключ", "tab\tkey"], ids=repr
)
def test_client_keys_are_bounded(key: str) -> None:
    with pytest.raises(ValueError, match="idempotency key"):
        ClientKey("prof", key)


def test_a_client_key_is_stored_in_its_callers_namespace() -> None:
    assert stored_key(ClientKey("prof", "first-login:bob")) == "client:prof:first-login:bob"
    assert stored_key(ClientKey("cli:root", "k")) == "client:cli%3Aroot:k"
    assert stored_key(ClientKey("p", "x" * CLIENT_KEY_MAX)) == "client:p:" + "x" * 100
    assert stored_key("settle:north:7") == "settle:north:7"
    assert stored_key(None) is None


def test_void_checks_its_key_like_the_other_verbs(ledger: Ledger) -> None:
    _course(ledger)
    first = ledger.place_hold("c1", "north", CPU, "2", actor="sam")
    second = ledger.place_hold("c1", "north", CPU, "2", actor="sam")
    ledger.grant("bob", "1", actor="op", idempotency_key="g-1")
    with pytest.raises(ConflictError, match="used for a grant"):
        ledger.void_hold(first.id, "never ran", actor="spawner", idempotency_key="g-1")
    voided = ledger.void_hold(first.id, "never ran", actor="spawner", idempotency_key="v")
    assert ledger.void_hold(first.id, "never ran", actor="spawner", idempotency_key="v") == voided
    with pytest.raises(ConflictError, match="another void"):
        ledger.void_hold(second.id, "never ran", actor="spawner", idempotency_key="v")
    assert ledger.hold(second.id).status == "open"
    assert ledger.check().differences == []


def test_a_replay_with_other_parameters_is_a_conflict_for_every_verb(
    ledger: Ledger, clock: FakeClock
) -> None:
    _course(ledger)
    later = START + timedelta(days=30)
    grant = {"actor": "op", "idempotency_key": "g", "expires_at": later, "note": "n"}
    ledger.grant("bob", "5", **grant)  # type: ignore[arg-type]
    assert ledger.grant("bob", "5", **grant).amount == Decimal(5)  # type: ignore[arg-type]
    for other in (
        {"expires_at": later + timedelta(days=1)},
        {"expires_at": None},
        {"note": "other"},
        {"source": "startup-fund"},
    ):
        with pytest.raises(ConflictError, match="another grant"):
            ledger.grant("bob", "5", **{**grant, **other})  # type: ignore[arg-type]
    ledger.transfer("c1", "bob", "1", actor="prof", reason="wk1", idempotency_key="t")
    with pytest.raises(ConflictError, match="another transfer"):
        ledger.transfer("c1", "bob", "1", actor="prof", reason="wk2", idempotency_key="t")
    hold = ledger.place_hold("c1", "north", CPU, "2", actor="sam", idempotency_key="h")
    with pytest.raises(ConflictError, match="another hold"):
        ledger.place_hold("c1", "north", CPU, "3", actor="sam", idempotency_key="h")
    ledger.attach_job(hold.id, "north", "7")
    assert ledger.place_hold("c1", "north", CPU, "2", actor="sam", idempotency_key="h").id == (
        hold.id
    )
    with pytest.raises(ConflictError, match="another hold"):
        ledger.place_hold("c1", "north", CPU, "2", actor="sam", idempotency_key="h", job_id="8")
    ledger.extend_hold(hold.id, "1", actor="sam", idempotency_key="e")
    # A replay of the placing after an extension is still the same placing.
    assert ledger.place_hold("c1", "north", CPU, "2", actor="sam", idempotency_key="h").hours == 3
    with pytest.raises(ConflictError, match="another extension"):
        ledger.extend_hold(hold.id, "2", actor="sam", idempotency_key="e")
    ledger.settle(hold.id, {"cpu": "1"}, actor="spawner", idempotency_key="s")
    with pytest.raises(ConflictError, match="another settlement"):
        ledger.settle(hold.id, {"cpu": "2"}, actor="spawner", idempotency_key="s")
    with pytest.raises(ConflictError, match="another settlement"):
        ledger.settle(hold.id, {"cpu": "1", "gpu:h100": "0"}, actor="spawner", idempotency_key="s")
    assert ledger.balance("bob").balance == Decimal(6)
    assert ledger.balance("c1").balance == Decimal("98.5")
    assert ledger.check().differences == []
