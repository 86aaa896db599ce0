"""The gettext catalogs and the ``_()`` every page calls, in the language of the request.

The language is a :class:`~contextvars.ContextVar`: a handler sets it once per request
(:func:`use` around a render, or :func:`set_language` in ``prepare``, which tornado runs
in the request's own task), and every ``_()`` below it reads it, so the page functions
keep their signatures. Standard library only: the widget uses it in the notebook
environment, where Babel is not installed.

The catalogs are the compiled ``computehub/locale/<lang>/LC_MESSAGES/computehub.mo``
(``scripts/install.sh`` compiles them from the ``.po`` files; docs/languages.md).
"""

from __future__ import annotations

import functools
import gettext
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from computehub.i18n.choice import DEFAULT, LANGUAGES, RTL

#: The gettext domain: ``computehub.pot``, ``computehub.po``, ``computehub.mo``.
DOMAIN = "computehub"
#: Where the catalogs are, inside the package (shipped in the wheel).
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"

_log = logging.getLogger(__name__)
#: The environment variable that gives a process its language (the spawner sets it in a
#: session's job, from the request that started it: the widget's language).
ENV = "COMPUTEHUB_LANGUAGE"
_env_language = os.environ.get(ENV, DEFAULT)
_current: ContextVar[str] = ContextVar(
    "computehub_language", default=_env_language if _env_language in LANGUAGES else DEFAULT
)


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language``; English (the message ids) has none.

    A supported language whose ``.mo`` is missing (the catalogs were not compiled)
    falls back to English and says so in the log once.
    """
    if language == DEFAULT or language not in LANGUAGES:
        return gettext.NullTranslations()
    try:
        return gettext.translation(DOMAIN, str(LOCALE_DIR), languages=[language])
    except FileNotFoundError:
        _log.warning(
            "computehub: no compiled catalog for %s under %s (run pybabel compile, see "
            "docs/languages.md): pages stay in English",
            language,
            LOCALE_DIR,
        )
        return gettext.NullTranslations()


def language() -> str:
    """The language of the request being handled (outside any: :data:`ENV`'s, or English)."""
    return _current.get()


def set_language(value: str) -> None:
    """Make ``value`` the language for the rest of this task (a request handler's)."""
    _current.set(value if value in LANGUAGES else DEFAULT)


@contextmanager
def use(value: str) -> Iterator[None]:
    """Render in ``value`` inside the block, then restore the language before it."""
    token = _current.set(value if value in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def _(message: str) -> str:
    """``message`` in the current language (the English message id when untranslated)."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural message for ``count``, in the current language."""
    return translations(_current.get()).ngettext(singular, plural, count)


def N_(message: str) -> str:  # noqa: N802 (gettext's name for it)
    """Marks ``message`` for extraction where it is defined (a constant); translate it
    where it is shown, with ``_(CONSTANT)``."""
    return message


#: Unicode's first-strong isolate and its end (UAX #9): a run inside reads in its own
#: direction without reordering what is around it.
FSI, PDI = "\N{FIRST STRONG ISOLATE}", "\N{POP DIRECTIONAL ISOLATE}"


def isolate(text: str) -> str:
    """``text`` as one unit in a right-to-left sentence (a hub's name, ``H100: 4``).

    In a right-to-left language, plain text between Unicode isolates, so Latin names
    and figures keep their order inside Urdu text; unchanged in English. Only for text
    content, never for an attribute that is a URL.
    """
    return f"{FSI}{text}{PDI}" if _current.get() in RTL else text


def bdi(html: str) -> str:
    """``html`` (escaped already) as one unit in a right-to-left page: inside ``<bdi>``.

    The HTML counterpart of :func:`isolate` for a name or English text from outside
    (an account, a project's title); unchanged in English, so English pages stay as
    they were.
    """
    return f"<bdi>{html}</bdi>" if _current.get() in RTL else html
