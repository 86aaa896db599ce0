"""The credits reader: this session's account, balance, cost and funded end, and extensions.

`CreditsSource` is the seam; `HttpCreditsClient` implements it on the standard library's
`urllib.request` against two hub endpoints, both called with the single-user server's own
token (`JUPYTERHUB_API_TOKEN`):

- ``GET {hub_base}/services/credits/api/v1/sessions/current`` returns the session's credits;
- ``POST {JUPYTERHUB_API_URL}/computehub/extend`` with ``{"hours": "1", "dry_run": true}``
  quotes (or, with ``dry_run`` false, buys) more time.

Every failure becomes a `CreditsError` whose message is one line a user can read.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Protocol

SESSION_PATH = "/services/credits/api/v1/sessions/current"
EXTEND_PATH = "/computehub/extend"
# Answers are a few hundred bytes; a cap keeps a misbehaving server from filling memory.
_MAX_BODY = 64 * 1024


class CreditsError(Exception):
    """The credits could not be read or the extension could not be made.

    Attributes:
        message: One line for the widget.
        status: The HTTP status, when there was an answer.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class CourseLimit:
    """A course's student paying from its pool: the limit that leaves them least.

    Attributes:
        course: The course (its pool's account).
        kind: ``weekly cap``, ``allowance`` or ``equal share``.
        limit: The credits the limit allows.
        left: What the student may still spend under it.
        window: ``week`` or ``term``.
        resets_at: When a weekly limit starts again (timezone-aware), else None.
    """

    course: str
    kind: str
    limit: Decimal
    left: Decimal
    window: str
    resets_at: datetime | None

    def line(self) -> str:
        """E.g. ``course intro-ml: 3.5 of 10 credits left this week``."""
        return (
            f"course {self.course}: {_plain(self.left)} of {_plain(self.limit)} credits left "
            f"this {self.window}"
        )


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class SessionCredits:
    """The credits side of the running session, as the credits service reports it.

    Attributes:
        account: The account this session charges.
        hub: The AI hub the session runs on.
        job_id: The Slurm job id.
        available: Credits the account can still spend.
        hold: Credits held for this session.
        cost_so_far: This session's cost so far.
        burn_rate_per_hour: Credits per hour at the session's current allocation.
        started_at: When the session started (timezone-aware).
        funded_until: When the funded time ends (timezone-aware).
        course_limit: For a course's student, the course limit that leaves them least.
        hub_notice: What the hub tells the session's user about its hub (it is in
            maintenance), shown as a banner; None when nothing.
        notices: The sentences of the account's notices (credit expiring soon, a low
            balance: :func:`~computehub.extensions.creditsreader.parse_notices`).
    """

    account: str
    hub: str
    job_id: str
    available: Decimal
    hold: Decimal
    cost_so_far: Decimal
    burn_rate_per_hour: Decimal
    started_at: datetime
    funded_until: datetime
    course_limit: CourseLimit | None = None
    hub_notice: str | None = None
    notices: tuple[str, ...] = ()

    def time_left(self, now: datetime) -> timedelta:
        """Funded time left at `now`; negative once the funded end has passed."""
        return self.funded_until - now


@dataclass(frozen=True)
class Extension:
    """A quoted (dry run) or performed extension.

    Attributes:
        cost: Credits the extension costs.
        available: Credits available (before a quote; after a performed extension).
        funded_until: The funded end after the extension.
    """

    cost: Decimal
    available: Decimal
    funded_until: datetime


class CreditsSource(Protocol):
    """Where the widget gets credits from and asks for more time."""

    def current_session(self) -> SessionCredits:
        """The running session's credits; raises `CreditsError`."""

    def extend(self, hours: Decimal, *, dry_run: bool) -> Extension:
        """Quote (`dry_run`) or buy `hours` more; raises `CreditsError` when refused."""


def hub_base_from_api_url(api_url: str) -> str:
    """Derive the hub's base URL from `JUPYTERHUB_API_URL`.

    ``http://127.0.0.1:8081/hub/api`` gives ``http://127.0.0.1:8081``; a hub under a prefix
    (``http://host/prefix/hub/api``) keeps it (``http://host/prefix``).

    Raises:
        ValueError: The URL is not an http(s) URL ending in ``/hub/api``.
    """
    parts = urllib.parse.urlsplit(api_url)
    path = parts.path.rstrip("/")
    if parts.scheme not in ("http", "https") or not parts.netloc or not path.endswith("/hub/api"):
        raise ValueError(f"not a JupyterHub API URL: {api_url!r}")
    base = path.removesuffix("/hub/api")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, base, "", ""))


def _decimal(data: Mapping[str, object], key: str) -> Decimal:
    value = data.get(key)
    # Amounts travel as decimal strings; a JSON float would already have lost cents.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CreditsError(f"credits service answer: {key} is not a decimal string")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise CreditsError(f"credits service answer: {key} is not a decimal string") from exc
    if not amount.is_finite():
        raise CreditsError(f"credits service answer: {key} is not a finite amount")
    return amount


def _instant(data: Mapping[str, object], key: str) -> datetime:
    value = data.get(key)
    if not isinstance(value, str):
        raise CreditsError(f"credits service answer: {key} is not a time")
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CreditsError(f"credits service answer: {key} is not an ISO time") from exc
    if instant.tzinfo is None:
        raise CreditsError(f"credits service answer: {key} has no time zone")
    return instant


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise CreditsError(f"credits service answer: {key} is missing")
    return value


def _object(data: object) -> Mapping[str, object]:
    if not isinstance(data, dict):
        raise CreditsError("credits service answer is not a JSON object")
    return data


def parse_session(data: object) -> SessionCredits:
    """Validate the session document of the credits service.

    Raises:
        CreditsError: A field is missing or malformed.
    """
    doc = _object(data)
    return SessionCredits(
        account=_text(doc, "account"),
        hub=_text(doc, "hub"),
        job_id=_text(doc, "job_id"),
        available=_decimal(doc, "available"),
        hold=_decimal(doc, "hold"),
        cost_so_far=_decimal(doc, "cost_so_far"),
        burn_rate_per_hour=_decimal(doc, "burn_rate_per_hour"),
        started_at=_instant(doc, "started_at"),
        funded_until=_instant(doc, "funded_until"),
        course_limit=_course_limit(doc.get("course_limit")),
        hub_notice=_notice(doc.get("hub_notice")),
        notices=parse_notices(doc.get("notices")),
    )


def _notice(data: object) -> str | None:
    """The hub's notice for the session; absent or null when none."""
    if data is None:
        return None
    if not isinstance(data, str):
        raise CreditsError("credits service answer: hub_notice is not text")
    return data


def parse_notices(data: object) -> tuple[str, ...]:
    """The sentences of the session's notices; absent or null is none.

    Raises:
        CreditsError: not a list of objects with a ``text``.
    """
    if data is None:
        return ()
    if not isinstance(data, list):
        raise CreditsError("credits service answer: notices is not a list")
    texts = []
    for item in data:
        text = item.get("text") if isinstance(item, dict) else None
        if not isinstance(text, str) or not text:
            raise CreditsError("credits service answer: a notice has no text")
        texts.append(text)
    return tuple(texts)


def _course_limit(data: object) -> CourseLimit | None:
    """The session's course limit; absent or null when none applies."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CreditsError("credits service answer: course_limit is not an object")
    window = _text(data, "window")
    if window not in ("week", "term"):
        raise CreditsError("credits service answer: course_limit.window is not week or term")
    return CourseLimit(
        course=_text(data, "course"),
        kind=_text(data, "kind"),
        limit=_decimal(data, "limit"),
        left=_decimal(data, "left"),
        window=window,
        resets_at=None if data.get("resets_at") is None else _instant(data, "resets_at"),
    )


def parse_extension(data: object) -> Extension:
    """Validate the answer of the extension API.

    Raises:
        CreditsError: A field is missing or malformed.
    """
    doc = _object(data)
    return Extension(
        cost=_decimal(doc, "cost"),
        available=_decimal(doc, "available"),
        funded_until=_instant(doc, "funded_until"),
    )


def format_hours(hours: Decimal) -> str:
    """The hours as the extension API takes them: a plain decimal string (``"1"``, ``"1.5"``)."""
    return format(hours.normalize(), "f")


class HttpCreditsClient:
    """`CreditsSource` over HTTP with the single-user server's token.

    Args:
        session_url: Full URL of the current-session endpoint; None when it cannot be derived.
        extend_url: Full URL of the extension endpoint; None when it cannot be derived.
        token: The server's API token; None when unset.
        timeout: Seconds to wait for each answer.
        problem: Why the URLs are missing, shown instead of a request.
    """

    def __init__(
        self,
        session_url: str | None,
        extend_url: str | None,
        token: str | None,
        *,
        timeout: float = 5.0,
        problem: str | None = None,
    ) -> None:
        for url in (session_url, extend_url):
            if url is not None and urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"not an http(s) URL: {url!r}")
        self._session_url = session_url
        self._extend_url = extend_url
        self._token = token
        self._timeout = timeout
        self._problem = problem
        self._opener = urllib.request.build_opener()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        hub_base_url: str = "",
        timeout: float = 5.0,
    ) -> HttpCreditsClient:
        """Build the client from the single-user server's environment.

        Args:
            environ: The environment; the process environment when omitted.
            hub_base_url: Base URL of the hub for the credits service; derived from
                `JUPYTERHUB_API_URL` when empty.
            timeout: Seconds to wait for each answer.
        """
        env = os.environ if environ is None else environ
        api_url = env.get("JUPYTERHUB_API_URL", "").rstrip("/")
        token = env.get("JUPYTERHUB_API_TOKEN") or None
        problem = None
        # The hub tells the job where its public (proxied) URL is: services live there.
        base = (hub_base_url or env.get("COMPUTEHUB_HUB_URL", "")).rstrip("/")
        if not base and api_url:
            try:
                base = hub_base_from_api_url(api_url)
            except ValueError as exc:
                problem = f"credits unavailable: {exc}"
        if not api_url:
            problem = "credits unavailable: JUPYTERHUB_API_URL is not set"
        return cls(
            session_url=base + SESSION_PATH if base else None,
            extend_url=api_url + EXTEND_PATH if api_url else None,
            token=token,
            timeout=timeout,
            problem=problem,
        )

    def current_session(self) -> SessionCredits:
        """See `CreditsSource.current_session`."""
        return parse_session(self._request("GET", self._session_url, None, _SESSION_STATUS))

    def extend(self, hours: Decimal, *, dry_run: bool) -> Extension:
        """See `CreditsSource.extend`."""
        body = {"hours": format_hours(hours), "dry_run": dry_run}
        return parse_extension(self._request("POST", self._extend_url, body, _EXTEND_STATUS))

    def _request(
        self,
        method: str,
        url: str | None,
        body: Mapping[str, object] | None,
        statuses: Mapping[int, str],
    ) -> object:
        if url is None:
            raise CreditsError(self._problem or "credits unavailable: no hub URL")
        if not self._token:
            raise CreditsError("credits unavailable: JUPYTERHUB_API_TOKEN is not set")
        data = None if body is None else json.dumps(body).encode()
        # The scheme was checked in __init__: only http(s) reaches urllib.
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        # Unredirected: a redirect to another host must not carry the token along.
        request.add_unredirected_header("Authorization", f"token {self._token}")
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                raw: bytes = response.read(_MAX_BODY)
        except urllib.error.HTTPError as exc:
            raise _http_error(exc, statuses) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CreditsError(f"credits service unreachable: {reason}") from exc
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise CreditsError("credits service sent an answer that is not JSON") from exc


_SESSION_STATUS = {
    401: "the credits service refused this server's token",
    403: "this server's token may not read the credits",
    404: "the credits service knows no running session for this server",
}
_EXTEND_STATUS = {
    401: "the hub refused this server's token",
    403: "this server's token may not extend the session",
    404: "the hub has no extension API",
}


def _http_error(exc: urllib.error.HTTPError, statuses: Mapping[int, str]) -> CreditsError:
    server_message = None
    try:
        answer = json.loads(exc.read(_MAX_BODY))
        if isinstance(answer, dict) and isinstance(answer.get("message"), str):
            server_message = answer["message"]
    except (ValueError, OSError):
        server_message = None
    finally:
        exc.close()
    known = statuses.get(exc.code)
    if known is not None:
        text = known
    elif server_message:
        text = server_message
    elif exc.code >= 500:
        text = "the credits service failed"
    else:
        text = "the request was refused"
    return CreditsError(f"{text} (HTTP {exc.code})", status=exc.code)
