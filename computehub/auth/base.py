"""What the university logins and the demo's share: admission, identity, roles, first credits.

:class:`PlatformLogin` sits in front of a JupyterHub authenticator in the MRO
(``class X(PlatformLogin, LDAPAuthenticator)``). Its subclasses turn what the
directory or the identity provider said into an :class:`Identity` and ask
:meth:`PlatformLogin.login_model` (at a login) or :meth:`PlatformLogin.refreshed_model`
(when JupyterHub refreshes a logged-in person). Both decide by the site's policy,
bind the name to the person's stable identity in the ledger (a name that belongs to
someone else is refused; a ledger that can't be reached refuses the login), and
read the person's course memberships. Refusals reach the person as a 403 page with a
message; the first-login grant runs after JupyterHub has admitted the login
(``run_post_auth_hook``).
"""

from __future__ import annotations

import asyncio
import pwd
import threading
from datetime import datetime
from inspect import isawaitable
from typing import Any, ClassVar

from jupyterhub.auth import Authenticator
from tornado import web
from traitlets import Callable, Dict, Float, Instance, Unicode

from computehub.auth.courses import CourseMembership, course_memberships
from computehub.auth.onboarding import (
    ACTOR,
    StartingCredits,
    first_login_grant,
    identity_conflict_errors,
    ledger_conflict_errors,
    open_ledger,
)
from computehub.auth.policy import (
    Admission,
    Identity,
    IdentityUnconfirmedError,
    LoginPolicy,
    LoginRefusedError,
    admit,
)
from computehub.auth.roles import auth_model_fields, managed_roles
from computehub.auth.rostersync import sync_person
from computehub.auth.system import posix_uid
from computehub.auth.unchanged import model_matches, stored_rights
from computehub.clock import utcnow

#: Where in ``auth_state`` the platform keeps what it decided at login.
STATE_KEY = "computehub"
#: The key under :data:`STATE_KEY` naming how the person logged in (ldap, oidc, lti, dummy).
METHOD_KEY = "method"


class LoginUnavailableError(Exception):
    """A login that can't be decided now (the ledger can't be reached)."""


def posix_account_exists(name: str) -> bool:
    """Whether ``name`` has a POSIX account on this machine (the hub host)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def refusal(status: int, message: str) -> web.HTTPError:
    """An HTTP error whose page shows ``message`` as it is (no %-formatting)."""
    err = web.HTTPError(status)
    # JupyterHub's error and login pages show this attribute when it is set.
    err.jupyterhub_message = message  # type: ignore[attr-defined]
    return err


class PlatformLogin(Authenticator):  # type: ignore[misc]
    """Admission, identity binding, roles, courses and first-login credits for a login."""

    #: How people log in through this class: the site file's ``auth.method`` value. It is
    #: kept in ``auth_state`` so a hub with two ways in refreshes each person by theirs.
    login_method: ClassVar[str] = ""

    login_policy = Instance(
        LoginPolicy,
        allow_none=True,
        config=True,
        help="Who may log in, under which POSIX name, with which roles (from the site file).",
    )
    starting_credits = Instance(
        StartingCredits,
        allow_none=True,
        config=True,
        help="Credits granted once at a person's first login, by role (None: no grant).",
    )
    ledger_url = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Database URL of the credit ledger: identity bindings, course memberships and "
        "first-login grants (None: none of them; configure_auth always sets it).",
    )
    ledger_timeout_s = Float(
        10.0,
        min=0.1,
        config=True,
        help="How long a login waits for the ledger before it is refused as unavailable.",
    )
    ledger_factory = Callable(
        open_ledger,
        config=True,
        help="Opens the ledger from ledger_url; a seam for tests.",
    )
    account_exists = Callable(
        posix_account_exists,
        config=True,
        help="Whether a name has a POSIX account on the clusters; a seam for tests.",
    )
    uid_of = Callable(
        posix_uid,
        config=True,
        help="A POSIX account's uid by name (KeyError: none), for the system-account floor.",
    )
    clock = Callable(utcnow, config=True, help="The current time (UTC); a seam for tests.")
    course_groups = Dict(
        value_trait=Dict(value_trait=Unicode()),
        config=True,
        help="course -> {course role: group} whose rosters follow the person's groups at "
        "every login and refresh (LDAP: normalized DNs; OIDC: groups claim values).",
    )
    roster_source = Unicode(
        "groups",
        config=True,
        help="Names the group source in the ledger's actor of roster changes (ldap, oidc).",
    )

    _ledger: Any = None
    _ledger_lock = threading.Lock()

    def policy(self) -> LoginPolicy:
        """The configured policy (configure_auth always sets one)."""
        if self.login_policy is None:
            raise RuntimeError(f"{type(self).__name__}.login_policy is not configured")
        policy: LoginPolicy = self.login_policy
        return policy

    async def decide(self, identity: Identity) -> tuple[Admission, tuple[CourseMembership, ...]]:
        """The policy's admission, the identity bound to the name, the person's courses.

        Raises:
            LoginRefusedError: refused by the policy, or the name belongs to another identity.
            LoginUnavailableError: the ledger can't be reached (the login is refused).
        """
        admission = admit(self.policy(), identity, self.account_exists, self.uid_of)
        if not self.ledger_url:
            return admission, ()
        try:
            courses = await asyncio.wait_for(
                asyncio.to_thread(self._confirm_blocking, admission), self.ledger_timeout_s
            )
        except IdentityUnconfirmedError as unconfirmed:
            raise LoginRefusedError(
                "identity-unconfirmed",
                f"You signed in as {admission.name}, but {self.policy().platform} can't "
                "confirm that this account is yours: the identifier it is tied to can't "
                "be read from your directory entry now, so you can't log in. "
                f"Ask {self.policy().support}.",
                detail=f"{identity.issuer} {identity.subject}: {unconfirmed}",
            ) from None
        except identity_conflict_errors() as conflict:
            raise LoginRefusedError(
                "identity-conflict",
                f"You signed in as {admission.name}, but the account {admission.name!r} "
                "already belongs to another person (or you have already used another "
                f"account name here), so you can't log in as it. Ask {self.policy().support}.",
                detail=f"{identity.issuer} {identity.subject}: {conflict}",
            ) from None
        except ValueError as bad:
            raise LoginRefusedError(
                "no-identity",
                "Your identity provider's identifier for you can't be kept, so you can't "
                f"log in. Ask {self.policy().support}.",
                detail=str(bad),
            ) from None
        except Exception as err:
            self.log.error(
                "Login of %s can't be checked: the ledger is unavailable: %s: %s",
                admission.name,
                type(err).__name__,
                err,
            )
            raise LoginUnavailableError from None
        return admission, courses

    def identity_to_check(
        self, identity: Identity, bound: tuple[str, str] | None
    ) -> tuple[str, str]:
        """The ``(issuer, subject)`` to bind the name to, or to check its binding with.

        Args:
            identity: who the person is now (``issuer`` and ``subject`` are set).
            bound: the name's binding in the ledger (None: not bound yet).

        Returns:
            Here the identity's own; an authenticator whose identities come in several
            forms (LDAP: the entry's entryUUID and DN) picks the binding's form.

        Raises:
            IdentityUnconfirmedError: the identity shows no form the binding can be
                compared with.
        """
        return identity.issuer, identity.subject

    def _confirm_blocking(self, admission: Admission) -> tuple[CourseMembership, ...]:
        ledger = self._open_ledger()
        identity = admission.identity
        if identity.issuer and identity.subject:
            issuer, subject = self.identity_to_check(identity, ledger.identity_of(admission.name))
            # The ledger decides: the name's binding must be this pair, and this pair
            # may belong to no other name (concurrent first logins included).
            if ledger.bind_identity(admission.name, issuer, subject, actor=ACTOR):
                self.log.info("Identity bound: %s is %s %s", admission.name, issuer, subject)
        if self.course_groups:
            # After the binding: another person's name never changes a roster.
            sync_person(
                ledger,
                admission.name,
                self.course_groups,
                identity.group_ids,
                actor=f"{ACTOR}:{self.roster_source}",
                logger=self.log,
            )
        return course_memberships(ledger.accounts_for_user(admission.name))

    def _open_ledger(self) -> Any:
        with self._ledger_lock:
            if self._ledger is None:
                self._ledger = self.ledger_factory(self.ledger_url)
            return self._ledger

    def _log_refusal(self, what: str, identity: Identity, refused: LoginRefusedError) -> None:
        self.log.warning(
            "%s refused (%s%s) for %r: groups %s, affiliations %s",
            what,
            refused.reason,
            f": {refused.detail}" if refused.detail else "",
            identity.login,
            sorted(identity.groups),
            sorted(identity.affiliations),
        )

    async def login_model(self, identity: Identity, auth_state: dict[str, Any]) -> dict[str, Any]:
        """The auth model of a person logging in, or a 403/503 page telling them why not."""
        try:
            admission, courses = await self.decide(identity)
        except LoginRefusedError as refused:
            self._log_refusal("Login", identity, refused)
            raise refusal(403, refused.message) from None
        except LoginUnavailableError:
            raise refusal(
                503,
                "Your login can't be completed right now: the platform's account records "
                "can't be reached. Please try again in a few minutes; if it persists, "
                f"tell {self.policy().support}.",
            ) from None
        self.log.info(
            "Login admitted: %s as %s%s%s",
            admission.name,
            ", ".join(admission.roles),
            " (admin)" if admission.admin else "",
            "".join(f", {c.role} of {c.account}" for c in courses),
        )
        return self.admitted_model(admission, auth_state, courses)

    async def refreshed_model(
        self, username: str, identity: Identity | None, auth_state: dict[str, Any]
    ) -> dict[str, Any] | bool:
        """What ``refresh_user`` returns for a person looked up again.

        Args:
            username: the JupyterHub name being refreshed.
            identity: what the directory or provider says now (None: the person is gone).
            auth_state: the auth state to keep.

        Returns:
            The new auth model (roles, groups, admin as they are now); False when the
            person is refused now (JupyterHub then asks for a new login); True
            (keep everything) when the ledger can't be reached, or when the person's
            identity came in a form their binding can't be compared with (logged).
        """
        if identity is None:
            self.log.warning("Refresh refused (unknown-person) for %r: logged out", username)
            return False
        try:
            admission, courses = await self.decide(identity)
            if admission.name != username:
                raise LoginRefusedError(
                    "identity-conflict",
                    "",
                    detail=f"the login now gives the name {admission.name!r}",
                )
        except LoginRefusedError as refused:
            if refused.reason == "identity-unconfirmed":
                # Neither confirmed nor another person: don't log them out for it.
                self.log.warning(
                    "Refresh of %s: kept as it was, not logged out: the identity can't "
                    "be checked (%s)",
                    username,
                    refused.detail,
                )
                return True
            self._log_refusal(f"Refresh of {username}", identity, refused)
            return False
        except LoginUnavailableError:
            self.log.warning("Refresh of %s postponed: the ledger is unavailable", username)
            return True
        return self.admitted_model(admission, auth_state, courses)

    async def unless_unchanged(
        self, user: Any, answer: dict[str, Any] | bool
    ) -> dict[str, Any] | bool:
        """A refresh's answer, or True (keep everything) where it changes nothing stored.

        JupyterHub would otherwise re-sync the person's roles and groups and commit at
        every refresh (each start, with ``refresh_pre_spawn``). Anything that differs,
        or can't be read, keeps the full model (:mod:`computehub.auth.unchanged`).
        """
        orm_user = getattr(user, "orm_user", None)
        if not isinstance(answer, dict) or orm_user is None:
            return answer  # a refusal, a "keep", or nothing stored to compare with
        if self.reconcile_auth_state_hook is not None:
            return answer  # JupyterHub decides the state to store with it: apply
        keeps_state = bool(self.enable_auth_state)
        try:
            if keeps_state:
                state = await user.get_auth_state()
            else:  # JupyterHub would clear a state left from when it kept them
                state = None if orm_user.encrypted_auth_state is None else object()
            stored = stored_rights(orm_user, state)
        except Exception as err:  # an unreadable state is applied again
            self.log.debug("Refresh of %s applied in full: %s", user.name, err)
            return answer
        if model_matches(answer, stored, keeps_state=keeps_state):
            return True
        return answer

    def admitted_model(
        self,
        admission: Admission,
        auth_state: dict[str, Any],
        courses: tuple[CourseMembership, ...] = (),
    ) -> dict[str, Any]:
        """The JupyterHub auth model of an admitted person (name, groups, roles, admin)."""
        fields = auth_model_fields(admission, courses)
        auth_state = dict(auth_state)
        auth_state[STATE_KEY] = {
            METHOD_KEY: self.login_method,
            "roles": list(admission.roles),
            "groups": list(fields["groups"]),
            "display_name": admission.identity.display_name,
            "email": admission.identity.email,
            "affiliations": sorted(admission.identity.affiliations),
        }
        return {"name": admission.name, "auth_state": auth_state, **fields}

    async def check_allowed(self, username: str, auth_model: dict[str, Any] | None) -> bool:
        """Admitted by the platform's policy, or by JupyterHub's own allow settings."""
        state = (auth_model or {}).get("auth_state") or {}
        if state.get(STATE_KEY, {}).get("roles"):
            return True
        allowed = super().check_allowed(username, auth_model)
        if isawaitable(allowed):
            allowed = await allowed
        return bool(allowed)

    async def load_managed_roles(self) -> list[dict[str, Any]]:
        """The platform roles, defined at hub start so they exist before any login."""
        return managed_roles()

    async def run_post_auth_hook(self, handler: Any, auth_model: dict[str, Any]) -> Any:
        """After JupyterHub admitted the login: the first-login account and grant."""
        auth_model = await super().run_post_auth_hook(handler, auth_model)
        state = (auth_model.get("auth_state") or {}).get(STATE_KEY)
        credits: StartingCredits | None = self.starting_credits
        if state is not None and self.ledger_url and credits is not None:
            await self._onboard(auth_model["name"], state["roles"], credits)
        return auth_model

    async def _onboard(self, username: str, roles: list[Any], credits: StartingCredits) -> None:
        try:
            amount = await asyncio.to_thread(
                self._onboard_blocking, username, roles, credits, self.clock()
            )
        except Exception:
            # The login goes on: the grant is idempotent and is retried at the next login.
            self.log.exception("First-login grant for %s failed; retried at next login", username)
            return
        if amount:
            self.log.info("First-login grant for %s: %s credits asked", username, amount)

    def _onboard_blocking(
        self, username: str, roles: list[Any], credits: StartingCredits, now: datetime
    ) -> Any:
        return first_login_grant(
            self._open_ledger(),
            username,
            roles,
            credits,
            now,
            already_granted=ledger_conflict_errors(),
        )
