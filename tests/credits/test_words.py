"""Words with one meaning in ``credits/``, and one way of writing a reference in a docstring.

"Transaction" is a database transaction only: a row of the journal is an *entry*
(:class:`~computehub.credits.models.JournalEntry`), a movement between people's
accounts a *transfer*. "Session" is a notebook session only: SQLAlchemy's is
``orm.Session`` and always named ``db``. Amounts, rates and hours each have a column
type of their own. A docstring refers to code as ``:role:`~full.dotted.path```, and
the path exists.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from computehub.credits import models as m

CREDITS = Path(__file__).resolve().parents[2] / "credits"
#: Drivers' and Alembic's own names for a database transaction.
DATABASE_TRANSACTION_NAMES = {"in_transaction", "begin_transaction", "transaction_status"}
_ROLE = re.compile(r":(meth|class|func|mod|data|attr|exc|obj):`([^`]*)`")


def _modules() -> list[Path]:
    return sorted(path for path in CREDITS.rglob("*.py") if "__pycache__" not in path.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(CREDITS.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["computehub", *parts])


def _identifiers(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every name the code binds or reads (not strings: SQL names tables as stored)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.lineno, node.name
        elif isinstance(node, ast.arg):
            yield node.lineno, node.arg
        elif isinstance(node, ast.keyword) and node.arg is not None:
            yield node.value.lineno, node.arg
        elif isinstance(node, ast.alias):
            yield node.lineno, node.asname or node.name


def _is_orm_session(annotation: ast.expr | None) -> bool:
    return isinstance(annotation, ast.Attribute) and ast.unparse(annotation) == "orm.Session"


def _opens_orm_session(expr: ast.expr) -> bool:
    """``self._read()``, ``orm.Session(...)`` or ``self._units_of_work()``."""
    if not isinstance(expr, ast.Call):
        return False
    called = ast.unparse(expr.func)
    return called in ("self._read", "orm.Session", "self._units_of_work")


def word_problems(path: Path) -> list[str]:
    """Where a file uses "transaction" or "session" for something else than its one meaning."""
    tree = ast.parse(path.read_text(), str(path))
    where = path.relative_to(CREDITS.parent)
    found = []
    for line, name in _identifiers(tree):
        lowered = name.lower()
        if "transaction" in lowered and name not in DATABASE_TRANSACTION_NAMES:
            found.append(f"{where}:{line}: {name!r}: a journal row is an entry")
        if lowered in ("tx", "txs", "txkind"):
            found.append(f"{where}:{line}: {name!r}: a journal row is an entry")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy.orm":
            for alias in node.names:
                if "session" in alias.name.lower():
                    found.append(
                        f"{where}:{node.lineno}: import of {alias.name}: write orm.{alias.name}"
                    )
        if isinstance(node, ast.arg) and _is_orm_session(node.annotation) and node.arg != "db":
            found.append(f"{where}:{node.lineno}: orm.Session named {node.arg!r}, not db")
        if (
            isinstance(node, ast.AnnAssign)
            and _is_orm_session(node.annotation)
            and ast.unparse(node.target) != "db"
        ):
            found.append(f"{where}:{node.lineno}: orm.Session named {ast.unparse(node.target)!r}")
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                named = item.optional_vars
                if (
                    _opens_orm_session(item.context_expr)
                    and named is not None
                    and ast.unparse(named) != "db"
                ):
                    found.append(f"{where}:{node.lineno}: orm.Session named {ast.unparse(named)!r}")
    return found


def _resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            found = getattr(found, part)
        return found
    raise LookupError(dotted)


def reference_problems(path: Path) -> list[str]:
    """Cross-references not written ``:role:`~full.dotted.path```, or to nothing."""
    where = path.relative_to(CREDITS.parent)
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for match in _ROLE.finditer(line):
            target = match.group(2)
            if not re.fullmatch(r"~[A-Za-z_][\w]*(\.\w+)+", target):
                found.append(f"{where}:{number}: {match.group(0)} is not ~full.dotted.path")
                continue
            try:
                _resolve(target[1:])
            except (LookupError, AttributeError):
                found.append(f"{where}:{number}: {match.group(0)} refers to nothing")
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(CREDITS)))
def test_transaction_and_session_each_mean_one_thing(path: Path) -> None:
    assert word_problems(path) == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(CREDITS)))
def test_docstring_references_have_one_form_and_resolve(path: Path) -> None:
    assert reference_problems(path) == []


@pytest.mark.parametrize(
    ("column_names", "type_name"),
    [
        pytest.param({"hours"}, "Hours", id="hours"),
        pytest.param({"rate"}, "CreditsPerHour", id="rates"),
        pytest.param(
            {"amount", "balance", "held", "remaining", "reserved", "cost"}, "Credits", id="credits"
        ),
    ],
)
def test_each_quantity_has_its_column_type(column_names: set[str], type_name: str) -> None:
    kind = getattr(m, type_name)
    columns = [
        column
        for table in m.Base.metadata.sorted_tables
        for column in table.columns
        if column.name in column_names
    ]
    assert columns
    assert {f"{c.table.name}.{c.name}": type(c.type) for c in columns} == {
        f"{c.table.name}.{c.name}": kind for c in columns
    }
