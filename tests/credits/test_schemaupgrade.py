"""``python -m computehub.credits.schemaupgrade``: the line Ansible reads for ``changed``."""

from __future__ import annotations

from pathlib import Path

import pytest

from computehub.credits.db import create_ledger_engine, current_revision, head_revision
from computehub.credits.schemaupgrade import main


def test_upgrades_an_empty_ledger_then_has_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert main(["--db", url]) == 0
    first = capsys.readouterr().out
    assert first == f"ledger schema: upgraded from empty to {head_revision()}\n"
    engine = create_ledger_engine(url)
    assert current_revision(engine) == head_revision()
    engine.dispose()
    assert main(["--db", url]) == 0
    assert (
        capsys.readouterr().out
        == f"ledger schema: at {head_revision()} (this code's), nothing to do\n"
    )


def test_reads_the_ledger_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPUTEHUB_DB_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("ledger schema: upgraded from empty to ")
    assert (tmp_path / "env.sqlite").exists()
