"""A small LTI 1.3 platform (an LMS's side of a launch) on loopback, for the login tests.

It has its own RSA key and publishes it as a JWKS; a launch is the OIDC
third-party-initiated login of LTI 1.3 (IMS Security Framework 5.1.1):

1. ``GET /launch?user=U&context=C``: a page that posts the login initiation to the
   tool (``iss``, ``login_hint``, ``target_link_uri``, ``lti_message_hint``, ...);
2. the tool redirects the browser to ``GET /authorize`` with its ``nonce``, ``state``
   and ``redirect_uri``;
3. the platform answers with a page that posts a signed id_token and the state to
   the ``redirect_uri`` (``response_mode=form_post``).

:attr:`LtiPlatform.fault` makes the next id_tokens wrong on purpose (a tampered
signature, expired, another audience); every id_token posted is kept in
:attr:`LtiPlatform.posted`, so a test can post one again.
"""

from __future__ import annotations

import html
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"

Fault = Literal["none", "tampered", "expired", "wrong-aud", "other-key"]


@dataclass(frozen=True)
class LmsPerson:
    """Someone in the LMS: its opaque ``sub``, the login name it passes, LTI roles."""

    sub: str
    username: str
    name: str
    roles: tuple[str, ...]


@dataclass
class Posted:
    """An id_token the platform posted to the tool, with the state and where."""

    redirect_uri: str
    id_token: str
    state: str


@dataclass
class LtiPlatform:
    """The platform's HTTP server on 127.0.0.1 (``start``/``stop``)."""

    client_id: str
    deployment_id: str
    people: dict[str, LmsPerson]
    contexts: dict[str, dict[str, str]]
    tool_url: str = ""
    fault: Fault = "none"
    posted: list[Posted] = field(default_factory=list)
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        return self.url

    def start(self) -> None:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                status, ctype, body = platform.answer(parts.path, query)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, str, bytes]:
        """The platform's pages: the JWKS, a launch, the authorization endpoint."""
        if path == "/jwks":
            return 200, "application/json", json.dumps(self.jwks()).encode()
        if path == "/launch":
            fields = self.login_initiation(query["user"], query["context"])
            return 200, "text/html", _autopost(f"{self.tool_url}/hub/lti13/oauth_login", fields)
        if path == "/authorize":
            try:
                posted = self.authorize(query)
            except (KeyError, ValueError) as err:
                return 400, "text/plain", f"bad authentication request: {err}".encode()
            fields = {"id_token": posted.id_token, "state": posted.state}
            return 200, "text/html", _autopost(posted.redirect_uri, fields)
        return 404, "text/plain", b"not found"

    def login_initiation(self, user: str, context: str) -> dict[str, str]:
        """The login initiation request's parameters for a launch of ``user`` in ``context``."""
        return {
            "iss": self.issuer,
            "login_hint": user,
            "target_link_uri": f"{self.tool_url}/hub/home",
            "lti_message_hint": context,
            "client_id": self.client_id,
            "lti_deployment_id": self.deployment_id,
        }

    def authorize(self, query: dict[str, str]) -> Posted:
        """Check the tool's authentication request; sign the id_token it asks for."""
        if query.get("response_type") != "id_token" or query.get("scope") != "openid":
            raise ValueError("response_type must be id_token and scope openid")
        if query.get("client_id") != self.client_id:
            raise ValueError("unknown client_id")
        redirect_uri = query["redirect_uri"]
        if not redirect_uri.startswith(f"{self.tool_url}/"):
            raise ValueError("redirect_uri is not the tool's")
        person = self.people[query["login_hint"]]
        token = self.id_token(person, self.contexts[query["lti_message_hint"]], query["nonce"])
        posted = Posted(redirect_uri, token, query["state"])
        self.posted.append(posted)
        return posted

    def id_token(self, person: LmsPerson, context: dict[str, str], nonce: str) -> str:
        """A signed LtiResourceLinkRequest id_token, spoiled as :attr:`fault` says."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": "another-tool" if self.fault == "wrong-aud" else self.client_id,
            "sub": person.sub,
            "iat": now - 3700 if self.fault == "expired" else now,
            "exp": now - 100 if self.fault == "expired" else now + 300,
            "nonce": nonce,
            "name": person.name,
            "email": f"{person.username}@university.example",
            f"{LTI}message_type": "LtiResourceLinkRequest",
            f"{LTI}version": "1.3.0",
            f"{LTI}deployment_id": self.deployment_id,
            f"{LTI}target_link_uri": f"{self.tool_url}/hub/home",
            f"{LTI}resource_link": {"id": f"link-{context['id']}", "title": "Notebooks"},
            f"{LTI}context": context,
            f"{LTI}roles": list(person.roles),
            f"{LTI}custom": {"username": person.username},
        }
        key: Any = self._key
        if self.fault == "other-key":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})
        if self.fault == "tampered":
            # Same signature, another payload: the student makes themselves instructor.
            header, _, signature = token.split(".")
            forged = {**claims, f"{LTI}roles": [f"{MEMBERSHIP}Instructor"]}
            payload = jwt.utils.base64url_encode(json.dumps(forged).encode()).decode()
            token = f"{header}.{payload}.{signature}"
        return token


def _autopost(action: str, fields: dict[str, str]) -> bytes:
    """A page that posts ``fields`` to ``action`` at once (as an LMS's launch page does)."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    return (
        "<!doctype html><html><body>"
        f'<form id="lti" method="post" action="{html.escape(action)}">{inputs}'
        '<noscript><button type="submit">Continue</button></noscript></form>'
        "<script>document.getElementById('lti').submit()</script></body></html>"
    ).encode()


def login_initiation_query(platform: LtiPlatform, user: str, context: str) -> str:
    """The login initiation as a query string (for a GET, as some LMSs send it)."""
    return urlencode(platform.login_initiation(user, context))
