"""Idempotency keys through the real service: a caller's keys are the caller's only.

Finding 6: an instructor's transfer or an operator's grant sent with the key of one of
the platform's own operations (``first-login:<user>``, ``settle:<hub>:<job>``,
``void:<hold>``) must neither block it nor take its place. Keys are bounded (the
``Idempotency-Key`` header had no limit: a 500 on PostgreSQL). Finding 13: a key
repeated with another body is a 409, not the first result.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from computehub.auth.onboarding import (
    StartingCredits,
    first_login_grant,
    idempotency_key,
    ledger_conflict_errors,
)
from tests.support.credits_hub import COURSE, CreditsHub

pytestmark = pytest.mark.integration


def _to_student(hub: CreditsHub, key: str, amount: str = "1", *, in_body: bool = False) -> Any:
    body = {"from": COURSE, "to": "sami", "amount": amount}
    if in_body:
        return hub.call("instructor", "POST", "/transfers", {**body, "idempotency_key": key})
    return hub.call("instructor", "POST", "/transfers", body, headers={"Idempotency-Key": key})


def test_an_instructors_transfer_cannot_block_a_first_login_grant(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    newcomer = "nadia"
    answer = _to_student(credits_hub, idempotency_key(newcomer))
    assert answer.status == 201, answer.body
    # Nadia logs in for the first time: the hub's onboarding, on the real ledger.
    starting = StartingCredits(by_role={"student": Decimal(25)}, expires_after=None)
    granted = first_login_grant(
        ledger,
        newcomer,
        ["student"],
        starting,
        datetime.now(UTC),
        already_granted=ledger_conflict_errors(),
    )
    assert granted == Decimal(25)
    assert ledger.balance(newcomer).balance == Decimal(25)


@pytest.mark.parametrize("verb", ["settle", "void"])
def test_an_operators_grant_cannot_take_a_sessions_key(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any, verb: str
) -> None:
    hold = ledger.place_hold("otto", "lahore", {"cpu": 1}, "1", actor="otto")
    job = str(90_000 + hold.id)
    ledger.attach_job(hold.id, "lahore", job, actor="otto")
    # The keys the spawner and the reconciler use (spawners/billing.py, reconcile.py).
    key = f"settle:lahore:{job}" if verb == "settle" else f"void:{hold.id}"
    answer = credits_hub.call(
        "operator",
        "POST",
        "/accounts/otto/grants",
        {"amount": "1"},
        headers={"Idempotency-Key": key},
    )
    assert answer.status == 201, answer.body
    if verb == "settle":
        charge = ledger.settle(hold.id, {"cpu": "1"}, actor="spawner", idempotency_key=key)
        assert charge.hold_id == hold.id
    else:
        voided = ledger.void_hold(hold.id, "never ran", actor="spawner", idempotency_key=key)
        assert voided.status == "voided"
    assert ledger.check().differences == []


def test_a_key_a_client_reuses_for_another_body_is_409(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any
) -> None:
    first = _to_student(credits_hub, "week-1", "2")
    assert first.status == 201
    again = _to_student(credits_hub, "week-1", "2")
    assert (again.status, again.body["transfer"]["id"]) == (201, first.body["transfer"]["id"])
    other = _to_student(credits_hub, "week-1", "3")
    assert other.status == 409
    assert "was used for another transfer" in other.body["message"]
    grant = {"amount": "1", "note": "seed", "idempotency_key": "seed-1"}
    assert credits_hub.call("operator", "POST", "/accounts/otto/grants", grant).status == 201
    changed = {**grant, "note": "other"}
    answer = credits_hub.call("operator", "POST", "/accounts/otto/grants", changed)
    assert answer.status == 409
    assert "was used for another grant" in answer.body["message"]


@pytest.mark.parametrize(
    ("key", "in_body"),
    [
        pytest.param("k" * 101, False, id="header-too-long"),
        pytest.param("k" * 5000, False, id="header-far-too-long"),
        pytest.param("k" * 101, True, id="body-too-long"),
        pytest.param("two words", False, id="header-space"),
        pytest.param("", True, id="body-empty-is-no-key"),
    ],
)
def test_bad_keys_are_400_and_change_nothing(
    credits_hub: CreditsHub, accounts: dict[str, str], ledger: Any, key: str, in_body: bool
) -> None:
    before = ledger.balance("sami").balance
    answer = _to_student(credits_hub, key, in_body=in_body)
    if not key:
        assert answer.status == 201  # an empty key is no key
        return
    assert answer.status == 400, answer.body
    assert "idempotency" in answer.body["message"]
    assert "printable ASCII" in answer.body["message"] or "at most" in answer.body["message"]
    assert ledger.balance("sami").balance == before
