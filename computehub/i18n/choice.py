"""Which language a page is in: the switch's cookie, else the browser's, else English.

Pure functions, no I/O: the handlers hand in the ``Accept-Language`` header and the
cookie's value.
"""

from __future__ import annotations

#: The languages computehub's pages come in; the first is the default.
LANGUAGES = ("en", "ur")
DEFAULT = LANGUAGES[0]
#: Right-to-left languages among :data:`LANGUAGES`.
RTL = frozenset({"ur"})
#: The cookie the language switch sets (on ``/``, so the hub and its services read it).
COOKIE = "computehub-lang"
#: Each language's name in itself, for the switch.
NAMES = {"en": "English", "ur": "اردو"}


def _primary(tag: str) -> str:
    """``ur-PK`` as ``ur``; lower case."""
    return tag.strip().replace("_", "-").split("-", 1)[0].lower()


def from_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most, or ``None`` if it names none.

    ``ur-PK,ur;q=0.9,en;q=0.8`` is ``ur``; a weight of 0 means "not this one"; among
    equal weights the header's order decides.
    """
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        language = _primary(tag)
        if weight > 0 and language in LANGUAGES:
            ranked.append((-weight, position, language))
    return min(ranked)[2] if ranked else None


def from_cookie(value: str | None) -> str | None:
    """The switch's choice, if the cookie holds a supported language."""
    if value is None:
        return None
    language = value.strip().lower()
    return language if language in LANGUAGES else None


def choose(accept_language: str | None, cookie: str | None) -> str:
    """The page's language: the switch (cookie) first, then the browser, then English."""
    return from_cookie(cookie) or from_accept_language(accept_language) or DEFAULT


def direction(language: str) -> str:
    """``rtl`` or ``ltr``, for the page's ``dir`` attribute."""
    return "rtl" if language in RTL else "ltr"
