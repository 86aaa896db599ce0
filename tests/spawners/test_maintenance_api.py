"""``PUT /hub/api/computehub/hubs/{hub}/maintenance``: what a request may say (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from computehub.spawners.maintenanceapi import parse_request


@pytest.mark.parametrize(
    ("body", "kind", "name", "expected"),
    [
        ({"message": " Cooling work "}, "user", "zara", ("Cooling work", "zara")),
        ({"message": "Cooling", "on_behalf_of": "opal"}, "service", "credits",
         ("Cooling", "opal (operator console)")),
    ],
    ids=["operator-token", "console-on-behalf"],
)  # fmt: skip
def test_who_sets_the_notice(body: Any, kind: str, name: str, expected: tuple[str, str]) -> None:
    assert parse_request(body, kind, name) == expected


@pytest.mark.parametrize(
    ("body", "kind", "words"),
    [
        ({"message": "x", "on_behalf_of": "opal"}, "user", "only a service"),
        ({"message": "x", "on_behalf_of": "a b"}, "service", "user name"),
        ({"message": ""}, "user", "empty"),
        ({"message": "two\nlines"}, "user", "one line"),
        ({"message": "x" * 501}, "user", "at most 500"),
        ({"message": 3}, "user", "text"),
        ({"message": "x", "by": "someone"}, "user", "expected"),
        (["message"], "user", "expected"),
    ],
    ids=["user-names-another", "bad-name", "empty", "two-lines", "too-long", "not-text",
         "unknown-field", "not-an-object"],
)  # fmt: skip
def test_refused(body: Any, kind: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_request(body, kind, "zara")
