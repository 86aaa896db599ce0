"""Identities: which stable identity (IdP issuer and subject) each user name belongs to.

A user name is a POSIX account and the owner of a personal credit account: two
people must never share one. The first identity that logs in under a name is bound
to it; later logins must present the same identity. The ledger stores the binding
because it is what the name's money belongs to; it knows nothing of how people log in.
"""

from __future__ import annotations

from sqlalchemy import select

from computehub.credits import models as m
from computehub.credits.core import LedgerCore, _Op
from computehub.credits.errors import IdentityConflictError
from computehub.credits.names import validate_username

#: The longest issuer and subject kept (the columns' sizes).
IDENTITY_PART_MAX = 255


class IdentitiesMixin(LedgerCore):
    """Binding user names to stable identities."""

    def bind_identity(self, username: str, issuer: str, subject: str, *, actor: str) -> bool:
        """Bind ``username`` to ``(issuer, subject)``, or check that it already is.

        Returns:
            True when this call created the binding (a first login), False when it existed.

        Raises:
            IdentityConflictError: the name belongs to another identity, or this
                identity already has another name.
            ValueError: a bad name, or an empty or too long issuer or subject.
        """
        validate_username(username)
        for what, value in (("issuer", issuer), ("subject", subject)):
            if not value or len(value) > IDENTITY_PART_MAX:
                raise ValueError(f"an identity's {what} has 1 to {IDENTITY_PART_MAX} characters")

        def body(op: _Op) -> bool:
            # One query for both: on PostgreSQL each statement sees the rows committed
            # when it starts, so two queries could see a concurrent first login's row
            # in the second and not in the first, and refuse its own person.
            found = op.db.scalars(
                select(m.Identity).where(
                    (m.Identity.username == username)
                    | ((m.Identity.issuer == issuer) & (m.Identity.subject == subject))
                )
            ).all()
            for row in found:
                if row.username != username:
                    raise IdentityConflictError(username, f"user name {row.username!r}")
                if (row.issuer, row.subject) != (issuer, subject):
                    raise IdentityConflictError(username, f"{row.issuer} {row.subject}")
            if found:
                found[0].last_seen_at = op.now
                return False
            op.db.add(
                m.Identity(
                    username=username,
                    issuer=issuer,
                    subject=subject,
                    created_at=op.now,
                    last_seen_at=op.now,
                )
            )
            op.db.flush()
            return True

        # A concurrent first login of the same name loses on the unique index and runs
        # again (LedgerCore._retrying), then finds the binding the other one made.
        return self._write(actor, body)

    def identity_of(self, username: str) -> tuple[str, str] | None:
        """The ``(issuer, subject)`` bound to a user name, if any."""
        with self._read() as db:
            row = db.execute(
                select(m.Identity.issuer, m.Identity.subject).where(m.Identity.username == username)
            ).first()
        return None if row is None else (row[0], row[1])
