"""SQLite's write path: checkpoints in their own thread, a kept connection per thread."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from computehub.credits import checkpoint
from computehub.credits.errors import InsufficientCreditError
from computehub.credits.ledger import Ledger
from tests.support.ledgers import RATES

SESSION = {"gpu:h100": 1}


def _pairs(ledger: Ledger, count: int) -> None:
    for _ in range(count):
        hold = ledger.place_hold("lab", "north", SESSION, "1", actor="spawner")
        ledger.settle(hold.id, {"gpu:h100": "0.5"}, actor="spawner")


def _ledger(path: Path) -> Ledger:
    ledger = Ledger(f"sqlite:///{path}")
    ledger.sync_rates(RATES, actor="site")
    ledger.create_account("lab", "project", actor="op")
    ledger.grant("lab", "1000000", actor="op")
    return ledger


def _wal_kib(path: Path) -> int:
    return (path.parent / f"{path.name}-wal").stat().st_size // 1024


@pytest.mark.parametrize("checkpoints", [True, False])
def test_the_checkpointer_keeps_the_log_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkpoints: bool
) -> None:
    if not checkpoints:  # the control: the same writes, checkpoints left to the writers
        monkeypatch.setattr(checkpoint, "INTERVAL_S", 3600.0)
    path = tmp_path / "ledger.sqlite"
    with _ledger(path) as ledger:
        assert sqlite3.connect(path).execute("PRAGMA page_size").fetchone() == (1024,)
        for _ in range(10):
            _pairs(ledger, 25)
            time.sleep(0.15)  # idle moments, as between sessions
        wal = _wal_kib(path)
        assert ledger.check().ok
    # ~36 one-KiB pages a pair: 250 pairs write ~9 MiB of log in all.
    if checkpoints:
        assert wal < 3 * 1024, f"the log grew to {wal} KiB"
    else:
        assert wal > 6 * 1024, f"the log is only {wal} KiB without the checkpointer"


def test_close_stops_the_checkpointer_and_kept_connections(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = _ledger(path)
    _pairs(ledger, 2)
    mine = f"ledger-checkpoint:{path}"  # other tests' ledgers may still run theirs
    assert mine in {t.name for t in threading.enumerate()}
    kept = ledger._own_connections
    assert kept is not None
    raw = kept.checkout()
    assert raw is not None  # this thread kept its connection
    kept.keep(raw, None)
    ledger.close()
    assert mine not in {t.name for t in threading.enumerate()}
    with pytest.raises(sqlite3.ProgrammingError):
        raw.execute("SELECT 1")


def test_each_thread_keeps_its_own_connection_up_to_the_limit(tmp_path: Path) -> None:
    with _ledger(tmp_path / "ledger.sqlite") as ledger:
        kept = ledger._own_connections
        assert kept is not None
        kept.limit = 4  # this thread keeps one already: its grant moved credit
        seen: list[object] = []
        alive = threading.Barrier(6)  # no thread ends (freeing its slot) before all kept one

        def work() -> None:
            _pairs(ledger, 2)
            seen.append(kept.checkout())
            alive.wait()

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        mine = [c for c in seen if c is not None]
        assert len(mine) == 3  # three threads kept one; the others used the pool
        assert len({id(c) for c in mine}) == 3
        assert ledger.check().ok


def test_a_refusal_keeps_the_connection_and_a_driver_failure_drops_it(tmp_path: Path) -> None:
    with _ledger(tmp_path / "ledger.sqlite") as ledger:
        _pairs(ledger, 1)
        kept = ledger._own_connections
        assert kept is not None
        first = kept.checkout()
        assert first is not None
        kept.keep(first, None)
        with pytest.raises(InsufficientCreditError):
            ledger.place_hold("lab", "north", {"gpu:h100": 64}, "87600", actor="spawner")
        second = kept.checkout()
        assert second is not None
        assert second is first  # rolled back, still this thread's
        second.close()  # a connection the driver can no longer use
        kept.keep(second, None)
        _pairs(ledger, 1)  # found closed before anything was committed: run on a fresh one
        third = kept.checkout()
        assert third is not None
        assert third is not second  # dropped, and the fresh one kept instead
        assert ledger.check().ok


def test_connections_kept_by_threads_that_ended_make_room_for_new_threads(
    tmp_path: Path,
) -> None:
    with _ledger(tmp_path / "ledger.sqlite") as ledger:
        kept = ledger._own_connections
        kept.limit = 2  # this thread keeps one already: its grant moved credit
        seen: list[object] = []

        def work() -> None:
            _pairs(ledger, 1)
            mine = kept.checkout()
            seen.append(mine)
            if mine is not None:
                kept.keep(mine, None)

        for _ in range(3):  # one after the other: each ends before the next starts
            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
        assert all(c is not None for c in seen), seen  # each of them kept one
        for ended in seen[:2]:
            with pytest.raises(sqlite3.ProgrammingError):  # closed, its slot reused
                ended.execute("SELECT 1")  # type: ignore[attr-defined]
        assert ledger.check().ok
