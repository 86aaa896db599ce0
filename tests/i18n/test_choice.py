"""Which language a request gets: the switch's cookie, then Accept-Language, then English."""

from __future__ import annotations

import pytest

from computehub.i18n.choice import choose, direction, from_accept_language


@pytest.mark.parametrize(
    ("accept", "cookie", "expected"),
    [
        pytest.param(None, None, "en", id="nothing-english"),
        pytest.param("", None, "en", id="empty-header-english"),
        pytest.param("ur", None, "ur", id="accept-ur"),
        pytest.param("ur-PK,ur;q=0.9,en;q=0.8", None, "ur", id="accept-ur-pk-first"),
        pytest.param("en-GB,en;q=0.9,ur;q=0.8", None, "en", id="accept-english-first"),
        pytest.param("fr-FR,fr;q=0.9,ur;q=0.5", None, "ur", id="unsupported-then-ur"),
        pytest.param("fr,de", None, "en", id="unsupported-only-english"),
        pytest.param("en;q=0.2,ur;q=0.7", None, "ur", id="weights-decide-not-order"),
        pytest.param("ur;q=0", None, "en", id="q0-means-not-this"),
        pytest.param("ur;q=bad", None, "en", id="bad-weight-ignored"),
        pytest.param("UR_pk", None, "ur", id="case-and-underscore"),
        pytest.param("ur", "en", "en", id="switch-overrides-browser-to-english"),
        pytest.param("en", "ur", "ur", id="switch-overrides-browser-to-urdu"),
        pytest.param(None, "ur", "ur", id="switch-alone"),
        pytest.param("ur", "klingon", "ur", id="bad-cookie-falls-back-to-browser"),
        pytest.param(None, "", "en", id="empty-cookie-english"),
    ],
)
def test_choose(accept: str | None, cookie: str | None, expected: str) -> None:
    assert choose(accept, cookie) == expected


def test_equal_weights_keep_the_headers_order() -> None:
    assert from_accept_language("ur, en") == "ur"
    assert from_accept_language("en, ur") == "en"


@pytest.mark.parametrize(("lang", "dir_"), [("ur", "rtl"), ("en", "ltr")])
def test_direction(lang: str, dir_: str) -> None:
    assert direction(lang) == dir_
