"""200 concurrent holds and transfers against an account that funds exactly 50 of them."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from computehub.credits.errors import InsufficientCreditError
from computehub.credits.ledger import Ledger
from tests.support.ledgers import FakeClock

ATTEMPTS = 200
FUNDED = 50
# One hold of 1 CPU for 2 hours at 0.5 credits/hour costs 1, as does a transfer of 1.
ONE_CPU = {"cpu": 1}


def _fund(ledger: Ledger) -> None:
    ledger.create_account("pool", "course", actor="op", owner="prof")
    ledger.create_account("student", "personal", actor="op", owner="sam")
    ledger.grant("pool", FUNDED, actor="op")


def _attempt(ledger: Ledger, n: int) -> str:
    """Try one operation of cost 1; say whether it went through."""
    try:
        if n % 2:
            ledger.place_hold("pool", "north", ONE_CPU, "2", actor=f"t{n}", idempotency_key=f"h{n}")
        else:
            ledger.transfer("pool", "student", "1", actor=f"t{n}", idempotency_key=f"x{n}")
    except InsufficientCreditError as refused:
        return "refused" if refused.available >= 0 else f"refused with {refused.available}"
    return "ok"


def _assert_outcome(ledger: Ledger, outcomes: Counter[str]) -> None:
    assert outcomes == Counter({"ok": FUNDED, "refused": ATTEMPTS - FUNDED})
    pool = ledger.balance("pool")
    student = ledger.balance("student")
    assert pool.available == 0
    assert pool.held + student.balance == FUNDED
    assert len(ledger.open_holds()) + student.balance == FUNDED
    assert ledger.check().differences == []


def test_threads(ledger: Ledger) -> None:
    _fund(ledger)
    lowest: list[Decimal] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            lowest.append(ledger.balance("pool").available)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = Counter(pool.map(lambda n: _attempt(ledger, n), range(ATTEMPTS)))
    finally:
        done.set()
        watcher.join()
    assert lowest
    assert min(lowest) >= 0
    _assert_outcome(ledger, outcomes)


def _process_worker(url: str, numbers: list[int], start: object) -> list[str]:
    with Ledger(url, clock=FakeClock(), migrate=False) as own:
        start.wait()  # type: ignore[attr-defined]
        return [_attempt(own, n) for n in numbers]


def test_processes(ledger: Ledger, db_url: str) -> None:
    _fund(ledger)
    workers = 8
    # fork: the children inherit the imported code, and each opens its own engine.
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager:
        start = manager.Barrier(workers)
        with context.Pool(workers) as pool:
            batches = pool.starmap(
                _process_worker,
                [(db_url, list(range(w, ATTEMPTS, workers)), start) for w in range(workers)],
            )
    _assert_outcome(ledger, Counter(o for batch in batches for o in batch))
