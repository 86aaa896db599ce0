"""First login: the person's personal credit account and a starting grant by role, once.

:func:`first_login_grant` talks to any object with the two ledger operations
it needs (:class:`OnboardingLedger`), so it is tested with a small fake and
wired to :class:`computehub.credits.ledger.Ledger` in the hub.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from computehub.sitefile.schema import FirstLogin, PlatformRole

#: Who the ledger records as the actor of first-login operations.
ACTOR = "computehub-login"


class OnboardingLedger(Protocol):
    """The ledger operations a first login needs (as :class:`computehub.credits` offers)."""

    def ensure_personal_account(self, username: str, *, actor: str) -> Any:
        """Create the user's personal account unless it exists."""

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
        """Issue credits; repeating an ``idempotency_key`` changes nothing."""


@dataclass(frozen=True)
class StartingCredits:
    """The site's first-login grants (built from the site file's ``auth.first_login``)."""

    by_role: Mapping[PlatformRole, Decimal]
    expires_after: timedelta | None
    source: str = "programme"

    @classmethod
    def from_site(cls, first_login: FirstLogin) -> StartingCredits:
        """From a validated ``auth.first_login`` section."""
        days = first_login.expires_after_days
        return cls(
            by_role=dict(first_login.credits),
            expires_after=None if days is None else timedelta(days=days),
            source=first_login.source,
        )

    def amount_for(self, roles: Iterable[PlatformRole]) -> Decimal:
        """The grant for someone with ``roles``: the largest of their roles' amounts."""
        return max((self.by_role.get(role, Decimal(0)) for role in roles), default=Decimal(0))


def idempotency_key(username: str) -> str:
    """The key that makes the first-login grant happen once per person."""
    return f"first-login:{username}"


def first_login_grant(
    ledger: OnboardingLedger,
    username: str,
    roles: Iterable[PlatformRole],
    credits: StartingCredits,
    now: datetime,
    *,
    already_granted: tuple[type[Exception], ...] = (),
) -> Decimal:
    """Make sure the person has a personal account and their one starting grant.

    Safe to call at every login: the grant carries :func:`idempotency_key`, so
    the ledger issues it once; a later login (even with other roles, hence
    another amount) adds nothing.

    Args:
        ledger: the credit ledger.
        username: the JupyterHub (= POSIX) name; also the personal account's name.
        roles: the person's platform roles now.
        credits: the site's starting credits.
        now: the current time (timezone-aware), for the expiry.
        already_granted: the ledger's error for a key reused with another amount,
            which here means the first grant was issued at an earlier login.

    Returns:
        The amount this login asked for (0: none for these roles).
    """
    ledger.ensure_personal_account(username, actor=ACTOR)
    amount = credits.amount_for(roles)
    if amount <= 0:
        return Decimal(0)
    expires_at = None if credits.expires_after is None else now + credits.expires_after
    try:
        ledger.grant(
            username,
            amount,
            actor=ACTOR,
            source=credits.source,
            expires_at=expires_at,
            note=f"first login ({', '.join(sorted(set(roles)))})",
            idempotency_key=idempotency_key(username),
        )
    except already_granted:
        return Decimal(0)
    return amount


class LoginLedger(OnboardingLedger, Protocol):
    """Every ledger operation a login needs: identity binding and memberships too."""

    def bind_identity(self, username: str, issuer: str, subject: str, *, actor: str) -> bool:
        """Bind the name to the identity, or check that it is; True when newly bound."""

    def identity_of(self, username: str) -> tuple[str, str] | None:
        """The ``(issuer, subject)`` the name is bound to, if any."""

    def accounts_for_user(self, username: str) -> list[Any]:
        """The accounts the user belongs to, each with ``account``, ``kind`` and ``role``."""


#: Opens a ledger from its database URL (a seam for the authenticators' tests).
LedgerFactory = Callable[[str], LoginLedger]


def open_ledger(url: str) -> LoginLedger:
    """The real credit ledger at ``url`` (imported here: the ledger stays hub-agnostic)."""
    from computehub.credits.ledger import Ledger

    ledger: LoginLedger = Ledger(url)
    return ledger


def identity_conflict_errors() -> tuple[type[Exception], ...]:
    """The real ledger's error for a user name bound to another identity (or vice versa)."""
    from computehub.credits.errors import IdentityConflictError

    return (IdentityConflictError,)


def ledger_conflict_errors() -> tuple[type[Exception], ...]:
    """The real ledger's error for an idempotency key reused with another amount."""
    from computehub.credits.errors import ConflictError

    return (ConflictError,)
