"""The first-login grant: with a recording fake, then with the real ledger on SQLite."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from computehub.auth.onboarding import (
    StartingCredits,
    first_login_grant,
    idempotency_key,
    ledger_conflict_errors,
    open_ledger,
)
from computehub.credits.ledger import Ledger
from computehub.sitefile.schema import FirstLogin

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CREDITS = StartingCredits(
    by_role={"student": Decimal(10), "researcher": Decimal(50)},
    expires_after=timedelta(days=180),
)


class KeyReusedError(Exception):
    """The fake's version of the ledger's ConflictError."""


@dataclass
class FakeLedger:
    """Records calls and honours idempotency keys as the real ledger does."""

    accounts: set[str] = field(default_factory=set)
    grants: dict[str, tuple[str, Decimal, datetime | None]] = field(default_factory=dict)

    def ensure_personal_account(self, username: str, *, actor: str) -> Any:
        self.accounts.add(username)

    def grant(
        self,
        account: str,
        amount: Decimal,
        *,
        actor: str,
        source: str,
        expires_at: datetime | None,
        note: str,
        idempotency_key: str | None,
    ) -> Any:
        assert idempotency_key is not None
        if idempotency_key in self.grants:
            if self.grants[idempotency_key][:2] != (account, amount):
                raise KeyReusedError(idempotency_key)
            return
        self.grants[idempotency_key] = (account, amount, expires_at)


def test_first_login_creates_the_account_and_grants_once() -> None:
    ledger = FakeLedger()
    assert first_login_grant(ledger, "bob", ["student"], CREDITS, NOW) == Decimal(10)
    first_login_grant(ledger, "bob", ["student"], CREDITS, NOW + timedelta(days=3))
    assert ledger.accounts == {"bob"}
    assert ledger.grants == {
        "first-login:bob": ("bob", Decimal(10), NOW + timedelta(days=180)),
    }


def test_several_roles_get_the_largest_amount() -> None:
    ledger = FakeLedger()
    first_login_grant(ledger, "alice", ["student", "researcher"], CREDITS, NOW)
    assert ledger.grants[idempotency_key("alice")][1] == Decimal(50)


def test_a_role_change_later_grants_nothing_more() -> None:
    ledger = FakeLedger()
    first_login_grant(ledger, "bob", ["student"], CREDITS, NOW)
    later = first_login_grant(
        ledger, "bob", ["researcher"], CREDITS, NOW, already_granted=(KeyReusedError,)
    )
    assert later == Decimal(0)
    assert ledger.grants[idempotency_key("bob")][1] == Decimal(10)


def test_roles_without_credits_get_an_account_but_no_grant() -> None:
    ledger = FakeLedger()
    assert first_login_grant(ledger, "carol", ["operator"], CREDITS, NOW) == Decimal(0)
    assert (ledger.accounts, ledger.grants) == ({"carol"}, {})


def test_no_expiry() -> None:
    ledger = FakeLedger()
    forever = StartingCredits(by_role={"student": Decimal(1)}, expires_after=None)
    first_login_grant(ledger, "bob", ["student"], forever, NOW)
    assert ledger.grants[idempotency_key("bob")][2] is None


def test_from_site() -> None:
    credits = StartingCredits.from_site(
        FirstLogin(credits={"student": Decimal("10.5")}, expires_after_days=30)
    )
    assert credits.amount_for(["student"]) == Decimal("10.5")
    assert credits.expires_after == timedelta(days=30)


def test_with_the_real_ledger(tmp_path: Path) -> None:

    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url)
    conflicts = ledger_conflict_errors()
    now = datetime.now(UTC)
    first_login_grant(ledger, "bob", ["student"], CREDITS, now, already_granted=conflicts)
    first_login_grant(ledger, "bob", ["student"], CREDITS, now, already_granted=conflicts)
    first_login_grant(ledger, "bob", ["researcher"], CREDITS, now, already_granted=conflicts)
    with Ledger(url, migrate=False) as check:
        assert check.balance("bob").available == Decimal(10)
