"""The language wiring of JupyterHub's pages: ``_()`` in the templates, the switch.

JupyterHub renders its pages with one Jinja environment for every request, and passes
``template_vars`` to each (a callable value is called with the user). The request is
reached through the template context: JupyterHub's namespace always holds
``static_url``, a method of the request's handler (``BaseHandler.template_namespace``).
:func:`template_vars` adds two names to the templates:

- ``_("text")``: the text in the request's language (Babel extracts these calls from
  ``hub_config/templates``, see docs/languages.md);
- ``ch_i18n()``: the page's :class:`Chosen` language (``lang``, ``dir``, the switch).

The switch is :class:`LanguageHandler` at ``/hub/computehub/language``: it stores the
choice in a cookie on ``/`` (so the credits service reads it too) and goes back to the
page it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import pass_context
from jinja2.runtime import Context
from tornado import web

from computehub.i18n.catalog import translations
from computehub.i18n.choice import COOKIE, DEFAULT, LANGUAGES, NAMES, choose, direction

#: The switch's path under the hub's prefix (``/hub/``).
PATH = "/computehub/language"
#: How long the switch's choice lasts (a year).
COOKIE_DAYS = 365


@dataclass(frozen=True)
class SwitchLink:
    """One entry of the language switch."""

    language: str
    name: str
    href: str
    current: bool


@dataclass(frozen=True)
class Chosen:
    """A page's language: its ``lang`` and ``dir`` attributes and the switch's links."""

    lang: str
    dir: str
    switch: tuple[SwitchLink, ...]

    @property
    def rtl(self) -> bool:
        """Whether the page reads right to left."""
        return self.dir == "rtl"


def request_language(handler: Any) -> str:
    """The language of a tornado request: its cookie, else its ``Accept-Language``."""
    if handler is None or getattr(handler, "request", None) is None:
        return DEFAULT
    return choose(handler.request.headers.get("Accept-Language"), handler.get_cookie(COOKIE))


def switch_links(hub_prefix: str, back_to: str, current: str) -> tuple[SwitchLink, ...]:
    """The switch's links: each language, pointing at :data:`PATH` and back to ``back_to``."""
    base = hub_prefix.rstrip("/") + PATH
    return tuple(
        SwitchLink(
            lang,
            NAMES[lang],
            f"{base}?{urlencode({'lang': lang, 'next': back_to})}",
            lang == current,
        )
        for lang in LANGUAGES
    )


def chosen(handler: Any, hub_prefix: str = "/hub/") -> Chosen:
    """The :class:`Chosen` language of a request (English when there is none)."""
    lang = request_language(handler)
    back = handler.request.uri if handler is not None else hub_prefix
    return Chosen(lang, direction(lang), switch_links(hub_prefix, back, lang))


def _handler_of(context: Context) -> Any:
    """The request handler behind a JupyterHub template context, if any."""
    return getattr(context.get("static_url"), "__self__", None)


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(request_language(_handler_of(context))).gettext(message)


@pass_context
def _chosen(context: Context) -> Chosen:
    return chosen(_handler_of(context), str(context.get("base_url") or "/hub/"))


def _constant(value: Callable[..., Any]) -> Callable[[Any], Callable[..., Any]]:
    """A ``template_vars`` value: JupyterHub calls it with the user; it gives ``value``."""

    def per_user(user: Any) -> Callable[..., Any]:
        return value

    return per_user


def template_vars() -> dict[str, Callable[[Any], Any]]:
    """The names :mod:`~computehub.i18n.hub` adds to ``JupyterHub.template_vars``."""
    return {"_": _constant(_gettext), "ch_i18n": _constant(_chosen)}


def safe_next(value: str | None) -> str:
    """Where the switch may send someone back to: a path on this site, else ``/``.

    Never another site (``//host``, ``https://…``, ``/\\host``): an open redirect.
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 0x20 for ch in value):
        return "/"
    return quote(value, safe="/?&=%:@!$'()*+,;~-._")


class LanguageHandler(web.RequestHandler):
    """``GET /hub/computehub/language?lang=ur&next=/hub/spawn``: remember, go back.

    Only a preference cookie changes (no account data), so it needs no login: the
    login page has the switch too.
    """

    def get(self) -> None:
        """Store the chosen language (an unknown one clears the choice) and redirect."""
        lang = self.get_query_argument("lang", "")
        if lang in LANGUAGES:
            self.set_cookie(
                COOKIE,
                lang,
                path="/",
                expires_days=COOKIE_DAYS,
                samesite="Lax",
                httponly=True,
                secure=self.request.protocol == "https",
            )
        else:
            self.clear_cookie(COOKIE, path="/")
        self.redirect(safe_next(self.get_query_argument("next", None)))
