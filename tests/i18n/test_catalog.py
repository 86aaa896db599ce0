"""The catalogs: every message of ours translated, the template up to date with the sources.

Extraction runs here (Babel, the same command as ``scripts/i18n.sh extract``) and its
message ids are compared with the committed ``computehub.pot``: a string wrapped in
``_()`` but not extracted and translated fails here, as does a translation that drops
or renames a ``{placeholder}``.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from computehub.i18n import _, language, ngettext, use
from computehub.i18n.catalog import LOCALE_DIR, translations

REPO = Path(__file__).resolve().parents[2]
POT = LOCALE_DIR / "computehub.pot"
UR_PO = LOCALE_DIR / "ur" / "LC_MESSAGES" / "computehub.po"
UR_MO = UR_PO.with_suffix(".mo")
#: The folders scripts/i18n.sh extracts from.
SOURCES = ("computehub", "credits", "spawners", "extensions", "hub_config/templates")


def _read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def _ids(catalog: Catalog) -> set[str]:
    return {str(m.id) for m in catalog if m.id}


def test_the_committed_template_is_what_the_sources_hold(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [
            str(pybabel),
            "extract",
            "-F",
            "babel.cfg",
            "--no-location",
            "--sort-output",
            "--no-wrap",
            "-o",
            str(fresh),
            *SOURCES,
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    extracted, committed = _ids(_read(fresh)), _ids(_read(POT))
    assert extracted, "nothing extracted"
    assert sorted(extracted - committed) == [], "run scripts/i18n.sh extract and translate"
    assert sorted(committed - extracted) == [], "run scripts/i18n.sh extract"


def test_every_message_has_an_urdu_translation() -> None:
    urdu = {str(m.id): m for m in _read(UR_PO) if m.id}
    untranslated = sorted(
        mid for mid in _ids(_read(POT)) if not (urdu.get(mid) and _translated(urdu[mid]))
    )
    assert untranslated == []
    fuzzy = sorted(mid for mid, m in urdu.items() if m.fuzzy)
    assert fuzzy == []


def _translated(message: Any) -> bool:
    """Whether every form of the message (a plural has several) is translated."""
    forms = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return bool(forms) and all(forms)


def test_translations_keep_every_placeholder() -> None:
    field = re.compile(r"\{(\w*)\}")
    wrong = [
        (str(m.id), str(m.string))
        for m in _read(UR_PO)
        if m.id and sorted(field.findall(str(m.id))) != sorted(field.findall(str(m.string)))
    ]
    assert wrong == []


def test_the_compiled_catalog_is_the_po_file() -> None:
    assert UR_MO.exists(), "compile the catalogs: scripts/i18n.sh compile"
    translations.cache_clear()
    with use("ur"):
        for message in _read(UR_PO):
            if message.pluralizable:  # Urdu has two forms, as English: one, and others
                singular, plural = (str(part) for part in message.id)
                forms = tuple(message.string or ())
                assert ngettext(singular, plural, 1) == forms[0], message.id
                assert ngettext(singular, plural, 2) == forms[1], message.id
            elif message.id:
                assert _(str(message.id)) == message.string, message.id


def test_english_is_the_message_id_and_the_default() -> None:
    assert language() == "en"
    assert _("Your credits and sessions") == "Your credits and sessions"
    with use("ur"):
        assert language() == "ur"
        assert _("Your credits and sessions") == "آپ کے کریڈٹ اور سیشن"
    assert language() == "en"


def _python_sources() -> list[Path]:
    found: list[Path] = []
    for top in ("computehub", "credits", "spawners", "extensions"):
        for path in (REPO / top).rglob("*.py"):
            if not any(part.startswith(".") for part in path.parts):
                found.append(path)
    return found


@pytest.mark.parametrize("path", _python_sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_gettext_call_inside_an_f_string(path: Path) -> None:
    """Babel cannot extract ``_()`` inside an f-string (Python 3.11's tokenizer): a
    message written so would silently stay English."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    inside = [
        tok.start[0]
        for tok in tokens
        if tok.type == tokenize.STRING
        and re.match(r"[rRbB]*[fF]", tok.string)
        and re.search(r"\{[^{}]*\b_\(", tok.string)
    ]
    assert inside == []
