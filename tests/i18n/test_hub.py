"""The language switch: a real tornado server sets the cookie and sends people back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application, RequestHandler

from computehub.i18n.choice import COOKIE
from computehub.i18n.hub import PATH, LanguageHandler, chosen, safe_next, switch_links


class _Echo(RequestHandler):
    """Answers with the language the request gets (as the pages choose it)."""

    def get(self) -> None:
        found = chosen(self)
        self.write(f"{found.lang} {found.dir}")


@asynccontextmanager
async def serving() -> AsyncIterator[str]:
    """The switch and an echo of the chosen language, on a free port, in this loop."""
    sock, port = bind_unused_port()
    app = Application([(f"/hub{PATH}", LanguageHandler), ("/hub/echo", _Echo)])
    http = HTTPServer(app)
    http.add_sockets([sock])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        http.stop()


async def _get(url: str, **headers: str) -> tuple[int, dict[str, str], str]:
    answer = await AsyncHTTPClient().fetch(
        url, headers=headers, follow_redirects=False, request_timeout=10, raise_error=False
    )
    return answer.code, dict(answer.headers.get_all()), answer.body.decode()


@pytest.mark.asyncio
async def test_the_switch_sets_the_cookie_and_goes_back() -> None:
    async with serving() as server:
        code, headers, _ = await _get(f"{server}/hub{PATH}?lang=ur&next=/hub/spawn%3Fx%3D1")
    assert code == 302
    assert headers["Location"] == "/hub/spawn?x=1"
    cookie = SimpleCookie(headers["Set-Cookie"])[COOKIE]
    assert cookie.value == "ur"
    assert cookie["path"] == "/"
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"]


@pytest.mark.asyncio
async def test_the_switch_overrides_the_browser_and_english_is_the_default() -> None:
    async with serving() as server:
        echo = f"{server}/hub/echo"
        assert (await _get(echo))[2] == "en ltr"
        assert (await _get(echo, **{"Accept-Language": "ur-PK,ur"}))[2] == "ur rtl"
        switched = {"Accept-Language": "ur-PK,ur", "Cookie": f"{COOKIE}=en"}
        assert (await _get(echo, **switched))[2] == "en ltr"
        assert (await _get(echo, Cookie=f"{COOKIE}=ur"))[2] == "ur rtl"


@pytest.mark.asyncio
async def test_an_unknown_language_clears_the_choice() -> None:
    async with serving() as server:
        code, headers, _ = await _get(f"{server}/hub{PATH}?lang=xx&next=/hub/home")
    assert code == 302
    assert "expires" in headers["Set-Cookie"].lower()
    assert SimpleCookie(headers["Set-Cookie"])[COOKIE].value == ""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("/hub/spawn", "/hub/spawn", id="a-path"),
        pytest.param("/services/credits/?a=1&b=2", "/services/credits/?a=1&b=2", id="query"),
        pytest.param(None, "/", id="none"),
        pytest.param("", "/", id="empty"),
        pytest.param("//evil.example/", "/", id="scheme-relative"),
        pytest.param("https://evil.example/", "/", id="absolute"),
        pytest.param("/\\evil.example", "/", id="backslash"),
        pytest.param("/hub/\r\nSet-Cookie: x=1", "/", id="header-injection"),
        pytest.param("/hub/a b", "/hub/a%20b", id="space-quoted"),
    ],
)
def test_safe_next_never_leaves_the_site(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_the_switch_links_point_back_to_the_page() -> None:
    links = switch_links("/hub/", "/services/credits/", "ur")
    assert [(link.language, link.current) for link in links] == [("en", False), ("ur", True)]
    assert links[0].href == "/hub/computehub/language?lang=en&next=%2Fservices%2Fcredits%2F"
