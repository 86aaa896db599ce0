"""The credits service tests' pieces: a hub with the service, an HTTP client, the people."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from typing import Any

from computehub.localbed.hub import HubProcess

#: Persona of the matrix -> JupyterHub user and platform role.
PEOPLE = {
    "owner": ("owen", "researcher"),
    "other": ("otto", "researcher"),
    "instructor": ("ines", "instructor"),
    "student": ("sami", "student"),
    "operator": ("opal", "operator"),
    # Courses A and B (ml-a, ml-b): B's instructor holds no platform instructor role (as
    # the demo's ayesha), A has a TA, B a student of its own.
    "instructor_b": ("bea", "researcher"),
    "ta": ("tao", "student"),
    "student_b": ("sue", "student"),
    # The instructor's page's own course (its browser test changes the roster).
    "instructor_p": ("ida", "researcher"),
    "student_p": ("pia", "student"),
    "student_q": ("quinn", "student"),
    # Applications for credits: a startup's founder applies, a reviewer recommends.
    "founder": ("fatima", "researcher"),
    "reviewer": ("rhea", "reviewer"),
}
COURSE = "physics101"
COURSE_A = "ml-a"
COURSE_B = "ml-b"
#: A course the matrix archives (operators only).
COURSE_Z = "ml-z"
#: The period the tests' applications for credits ask for: from tomorrow, half a year.
APPLY_START = date.today() + timedelta(days=1)
APPLY_END = APPLY_START + timedelta(days=182)
DRIVER_SCOPES = [
    "admin:users",
    "tokens",
    "list:users",
    "access:services",
    "custom:credits:read",
    "custom:credits:instruct",
    "custom:credits:admin",
    "users:activity",
    "access:servers",
]


@dataclass
class Answer:
    """An HTTP answer: status, parsed JSON (or None) and the raw body."""

    status: int
    body: Any
    raw: bytes
    headers: dict[str, str] = field(default_factory=dict)


def http(
    method: str,
    url: str,
    token: str | None = None,
    body: object = None,
    raw: bytes | None = None,
    accept: str = "application/json",
    extra_headers: dict[str, str] | None = None,
) -> Answer:
    """One request; a token goes in ``Authorization: token ...``."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Accept": accept, **(extra_headers or {})}
    if token is not None:
        headers["Authorization"] = f"token {token}"
    if data is not None:
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, method=method, data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            payload = resp.read()
            status, head = resp.status, {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as err:
        payload, status, head = err.read(), err.code, {k.lower(): v for k, v in err.headers.items()}
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = None
    return Answer(status, parsed, payload, head)


@dataclass
class CreditsHub:
    """The hub, the service's base URL, the ledger and one token per person."""

    process: HubProcess
    driver_token: str
    db_url: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"{self.process.url}/services/credits/api/v1"

    @property
    def service(self) -> str:
        return f"{self.process.url}/services/credits"

    def hub_api(self, method: str, path: str, body: object = None) -> Answer:
        return http(method, f"{self.process.url}/hub/api{path}", self.driver_token, body)

    def token_for(self, user: str, scopes: list[str] | None = None) -> str:
        """A new API token of ``user`` (all of the user's scopes unless ``scopes``)."""
        body: dict[str, Any] = {"note": "credits service test"}
        if scopes is not None:
            body["scopes"] = scopes
        answer = self.hub_api("POST", f"/users/{user}/tokens", body)
        assert answer.status == 201, answer.raw
        return str(answer.body["token"])

    def call(
        self,
        persona: str,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        token = None if persona == "anonymous" else self.tokens[persona]
        return http(method, f"{self.api}{path}", token, body, extra_headers=headers)


def browser_login(hub_url: str, user: str) -> urllib.request.OpenerDirector:
    """A cookie jar logged in on the hub's form as ``user`` (the dummy login), like a browser.

    Requests through it send ``Accept: text/html`` and follow redirects, the hub's OAuth
    ones included.
    """
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")]
    with opener.open(f"{hub_url}/hub/login", timeout=30) as resp:
        resp.read()
    xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
    form = urllib.parse.urlencode({"username": user, "password": "any", "_xsrf": xsrf})
    with opener.open(f"{hub_url}/hub/login", form.encode(), timeout=60) as resp:
        resp.read()
        assert "/hub/login" not in resp.url, f"login as {user} refused"
    return opener


def _wait_for_service(hub: CreditsHub, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http("GET", f"{hub.api}/openapi.json").status == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"credits service did not answer; see {hub.process.log}")


class PageRows(HTMLParser):
    """The page's session rows: ``tr[data-hold-id]`` -> the text of each ``td.ch-*`` cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.tags: set[str] = set()
        self._row: dict[str, str] | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        if tag == "tr" and found.get("data-hold-id"):
            self._row = self.rows.setdefault(str(found["data-hold-id"]), {})
        elif tag == "td" and self._row is not None:
            classes = str(found.get("class")).split()
            self._cell = next(name for name in classes if name.startswith("ch-"))
            self._row[self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell is not None:
            self._row[self._cell] += data


def page_rows(html: str) -> PageRows:
    """Read the credits page back: its session rows and the tags it holds."""
    parser = PageRows()
    parser.feed(html)
    return parser


def application_body(account: str, **more: Any) -> dict[str, Any]:
    """An application's JSON body: A100 hours for a flood-prediction startup."""
    return {
        "organisation": "Riverwatch Analytics",
        "organisation_kind": "startup",
        "title": "Flood prediction for the Indus basin",
        "summary": "Forecasting floods from satellite images and river gauges.",
        "category": "flood-prediction",
        "gpu": "a100",
        "hours": "200",
        "starts_on": APPLY_START.isoformat(),
        "ends_on": APPLY_END.isoformat(),
        "account": account,
        "new_account": True,
        **more,
    }
