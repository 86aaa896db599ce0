"""LTI 1.3 launches from the university's LMS (Moodle, Canvas), with course rosters.

jupyterhub-ltiauthenticator (1.6.3) is the LTI 1.3 tool: third-party-initiated
login (``/hub/lti13/oauth_login``), the OIDC authentication request to the LMS, and
the form_post of the signed id_token to ``/hub/lti13/oauth_callback``, where it
checks the state cookie, the signature against the LMS's JWKS, ``iss``, ``aud``,
``exp`` (when present), ``iat`` (not older than ``max_age``), the LTI claims, and that
the ``nonce`` is the hash of a random value kept in an encrypted cookie.

What it leaves open, and this thin layer adds:

- **replay**: its nonce cookie is cleared in the browser, but the hub keeps no
  record, so an id_token posted again with the cookies of its launch is accepted
  until the cookie expires (a day). Here each ``(iss, nonce)`` is accepted once
  (:class:`NonceLedger`, in the hub's memory until the token expires; the hub is one
  process).
- ``exp``, ``iat``, ``nonce`` and ``sub`` must be present (PyJWT checks ``exp`` only
  when it is there).
- the ``deployment_id`` must be one the site file names (upstream doesn't read it).
- the JWKS is fetched off the event loop with a timeout (upstream fetches it
  synchronously in the handler), and refusals are sentences, the detail in the log.
- the context maps to a computehub course (unknown: refused), the LTI roles map to
  a course role, and the person is put on the course's roster in the ledger
  (added, or their role changed; owners are never changed, nobody is removed);
  then the course groups follow as at any login (:mod:`computehub.auth.courses`).

The identity bound in the ledger is the id_token's ``iss`` and ``sub``; the name is
the site file's username claim under the same policy as OpenID Connect logins.
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jwt
from ltiauthenticator.lti13.auth import LTI13Authenticator
from ltiauthenticator.lti13.error import InvalidAudienceError, ValidationError
from ltiauthenticator.lti13.handlers import LTI13CallbackHandler, LTI13LoginInitHandler
from tornado import web
from traitlets import Bool, Dict, Float, List, Unicode

from computehub.auth.base import STATE_KEY, PlatformLogin, refusal
from computehub.auth.courses import CourseMembership, course_memberships
from computehub.auth.ltiroles import (
    CUSTOM_CLAIM,
    DEPLOYMENT_CLAIM,
    LtiCourseRole,
    affiliations,
    context_course,
    course_role,
    launch_groups,
    roles_claim,
)
from computehub.auth.onboarding import ACTOR
from computehub.auth.policy import Admission, Identity

#: The launch being logged in, from the callback to the ledger thread (to_thread copies it).
_LAUNCH: ContextVar[Launch | None] = ContextVar("computehub_lti_launch", default=None)
#: Claims every launch's id_token must carry (PyJWT's ``require``).
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "nonce"]
#: Who the ledger records for roster changes made by launches.
LTI_ACTOR = f"{ACTOR}:lti"


@dataclass(frozen=True)
class Launch:
    """What a validated launch asks for: the course and the person's role in it."""

    course: str
    role: LtiCourseRole | None
    context: str


class NonceLedger:
    """Nonces already used, each kept until its id_token has expired.

    A second launch with the same ``(issuer, nonce)`` is a replay and is refused.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def first_use(self, issuer: str, nonce: str, expires_at: float, now: float) -> bool:
        """Record the nonce; False when it was used before (and has not expired)."""
        with self._lock:
            for key in [k for k, until in self._seen.items() if until < now]:
                del self._seen[key]
            key = (issuer, nonce)
            if key in self._seen:
                return False
            self._seen[key] = expires_at
            return True


class ComputeHubLTILoginInitHandler(LTI13LoginInitHandler):  # type: ignore[misc]
    """ltiauthenticator's login initiation, with cookies that survive the LMS's form_post.

    The id_token comes back as a cross-site POST from the LMS: browsers send the state
    and nonce cookies with it only if they are ``SameSite=None; Secure`` (over https).
    """

    def _set_oauth_cookie(self, key: str, value: Any) -> None:
        extra: dict[str, Any] = {}
        if self.authenticator.get_uri_scheme(self.request) == "https":
            extra = {"samesite": "None", "secure": True}
        self._set_cookie(key, value, expires_days=1, httponly=True, encrypted=True, **extra)


class ComputeHubLTICallbackHandler(LTI13CallbackHandler):  # type: ignore[misc]
    """ltiauthenticator's launch handler, with the checks it leaves to the tool."""

    async def post(self) -> None:
        """Validate the launch, then log the person in (or show why not, 4xx)."""
        auth: ComputeHubLTIAuthenticator = self.authenticator
        try:
            token = await asyncio.wait_for(
                asyncio.to_thread(self.decode_and_validate_launch_request), auth.jwks_timeout_s
            )
            auth.check_launch(token)
        except web.HTTPError as err:
            if getattr(err, "jupyterhub_message", None):
                raise
            raise self._refused(400, err.log_message or str(err)) from None
        except InvalidAudienceError as err:
            raise self._refused(401, str(err)) from None
        except (ValidationError, jwt.PyJWTError, TimeoutError, OSError) as err:
            raise self._refused(400, f"{type(err).__name__}: {err}") from None
        user = await self.login_user(token)
        if user is None:
            raise refusal(403, "Your launch from the course could not log you in.")
        await self.redirect_to_next_url(user)

    def _refused(self, status: int, detail: str) -> web.HTTPError:
        self.log.warning("LTI launch refused (%s): %s", status, detail)
        return refusal(
            status,
            "This launch from your course's learning platform could not be accepted "
            "(it was not valid, had expired, or was already used). Open the tool again "
            "from your course page.",
        )


class ComputeHubLTIAuthenticator(PlatformLogin, LTI13Authenticator):  # type: ignore[misc]
    """LTI 1.3 launch with platform roles, course rosters and first-login credits."""

    login_method = "lti"

    login_handler = ComputeHubLTILoginInitHandler
    callback_handler = ComputeHubLTICallbackHandler

    deployment_ids = List(
        Unicode(),
        config=True,
        help="LMS deployment ids of this tool whose launches are accepted (empty: none).",
    )
    courses = Dict(
        value_trait=Unicode(),
        config=True,
        help="LMS context id or label -> computehub course id; other contexts are refused.",
    )
    lms_verifies_email = Bool(
        False,
        config=True,
        help="The LMS's e-mail addresses are verified (a login name that is an e-mail is "
        "accepted only then).",
    )
    jwks_timeout_s = Float(
        10.0, config=True, help="How long fetching the LMS's JWKS and validating may take."
    )

    _nonces: NonceLedger | None = None

    def nonces(self) -> NonceLedger:
        """The used nonces of this hub process."""
        if self._nonces is None:
            self._nonces = NonceLedger()
        return self._nonces

    def check_launch(self, token: dict[str, Any]) -> None:
        """What ltiauthenticator does not check: required claims, deployment, replay.

        Raises:
            ValidationError: the launch is refused (the reason goes to the log).
        """
        missing = [c for c in REQUIRED_CLAIMS if c not in token]
        if missing:
            raise ValidationError(f"id_token lacks {', '.join(missing)}")
        if token[DEPLOYMENT_CLAIM] not in self.deployment_ids:
            raise ValidationError(f"deployment_id {token[DEPLOYMENT_CLAIM]!r} is not accepted")
        now = time.time()
        if float(token["exp"]) < now:  # PyJWT checked it; here it must also be present.
            raise ValidationError("id_token expired")
        if not self.nonces().first_use(
            str(token["iss"]), str(token["nonce"]), float(token["exp"]), now
        ):
            raise ValidationError(f"nonce {token['nonce']!r} replayed")

    async def authenticate(self, handler: Any, data: dict[str, Any] | None = None) -> Any:
        """Admit or refuse the person the validated id_token describes."""
        token = dict(data or {})
        course, context = context_course(token, self.courses)
        if course is None:
            self.log.warning("LTI launch refused: context %r is mapped to no course", context)
            raise refusal(
                403,
                f"The course {context} in your learning platform is not connected to "
                f"{self.policy().platform}, so this launch can't log you in. Ask "
                f"{self.policy().support}.",
            )
        if not await self._course_exists(course):
            self.log.warning(
                "LTI launch refused: context %r maps to %r, no such course", context, course
            )
            raise refusal(
                403,
                f"The course {context} is not set up on {self.policy().platform} yet, so "
                f"this launch can't log you in. Ask {self.policy().support}.",
            )
        role = course_role(roles_claim(token))
        identity = self.identity_from(token, role)
        state = {"lti": {"context": context, "course": course, "role": role}}
        reset = _LAUNCH.set(Launch(course, role, context))
        try:
            return await self.login_model(identity, state)
        finally:
            _LAUNCH.reset(reset)

    async def _course_exists(self, course: str) -> bool:
        if not self.ledger_url:
            return True

        def exists() -> bool:
            return course in {c.id for c in self._open_ledger().courses()}

        try:
            return await asyncio.wait_for(asyncio.to_thread(exists), self.ledger_timeout_s)
        except Exception as err:
            self.log.error("LTI launch: the ledger is unavailable: %s: %s", type(err).__name__, err)
            raise refusal(
                503,
                "Your login can't be completed right now: the platform's account records "
                f"can't be reached. Please try again in a few minutes; if it persists, "
                f"tell {self.policy().support}.",
            ) from None

    def identity_from(self, token: dict[str, Any], role: LtiCourseRole | None) -> Identity:
        """The person of a launch: the username claim, ``iss`` + ``sub``, LTI roles."""
        key = self.username_key
        source: Any = token
        if key.startswith("custom_"):
            source = token.get(CUSTOM_CLAIM) or {}
            key = key.removeprefix("custom_")
        login = source.get(key) if isinstance(source, dict) else None
        email = token.get("email")
        return Identity(
            login=login if isinstance(login, str) else "",
            display_name=str(token.get("name") or ""),
            email=email if isinstance(email, str) else "",
            groups=launch_groups(role),
            affiliations=affiliations(roles_claim(token)),
            issuer=str(token.get("iss") or "").rstrip("/"),
            subject=str(token.get("sub") or ""),
            login_is_email=self.username_key == "email",
            email_verified=self.lms_verifies_email,
        )

    def _confirm_blocking(self, admission: Admission) -> tuple[CourseMembership, ...]:
        # The identity is bound first (a name of another person is refused before
        # any roster changes), then the launch's course role is written.
        super()._confirm_blocking(admission)
        launch = _LAUNCH.get()
        ledger = self._open_ledger()
        if launch is not None:
            self._enrol(ledger, admission.name, launch)
        return course_memberships(ledger.accounts_for_user(admission.name))

    def _enrol(self, ledger: Any, name: str, launch: Launch) -> None:
        """Put the person on the course's roster with the launch's role (an LTI roster)."""
        course = ledger.course(launch.course)
        current = course.members.get(name)
        if launch.role is None:
            self.log.info("LTI launch of %s in %s: no course role given", name, launch.course)
        elif course.archived_at is not None:
            self.log.info("LTI launch of %s: course %s is archived", name, launch.course)
        elif current == "owner" or current == launch.role:
            pass
        else:
            ledger.add_member(launch.course, name, launch.role, actor=LTI_ACTOR)
            self.log.info(
                "LTI roster: %s is %s of %s (was %s)",
                name,
                launch.role,
                launch.course,
                current or "not on it",
            )

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """Nothing to ask the LMS between launches: keep the person as they are.

        Roles and course groups are decided again at each launch.
        """
        return True

    def get_user_groups(self, auth_state: dict[str, Any]) -> set[str]:
        """The JupyterHub groups decided at the launch (roles, courses)."""
        return set(auth_state.get(STATE_KEY, {}).get("groups", ()))
