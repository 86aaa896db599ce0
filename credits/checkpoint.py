"""Keeping SQLite's write path short: checkpoints in a thread, a connection per thread.

**Checkpoints.**
In WAL mode a commit appends the changed pages to the log (and, at the ledger's
``synchronous=FULL``, syncs the log before it returns); a *checkpoint* copies them
into the database file and syncs that file too. By default the writer whose
commit grows the log past 1,000 pages runs the checkpoint inline, so every few
dozen holds one of them also pays for copying and syncing the database file.
SQLite's documentation suggests the alternative used here for busy writers
(https://sqlite.org/wal.html#ckpt): a separate connection runs
``PRAGMA wal_checkpoint(PASSIVE)`` now and then, so commits wait for their own log
sync only, while writers keep a much higher automatic threshold
(:data:`~computehub.credits.db.SQLITE_AUTOCHECKPOINT_PAGES`) as a safety net should
this thread ever stall. Durability is unchanged: a committed transaction is in the
synced log either way, and the log is synced before it is copied.

**Connections.** Every movement of credit (placing and settling holds above all) runs on
the driver's connection; checking one out of SQLAlchemy's pool and returning it costs
about a tenth of a hold, so :class:`~computehub.credits.checkpoint.ThreadConnections`
keeps one per thread, taken from the pool once (with the engine's connect settings) and
detached from it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)

#: How often the log is checkpointed (a no-op when nothing was written since).
INTERVAL_S = 0.05

# A process that forks while a checkpoint runs would hand its child SQLite's internal
# locks, held by a thread the child does not have, and the child would hang at its
# first database call. Forks wait for a running checkpoint, and none starts meanwhile.
_CHECKPOINTING = threading.Lock()
os.register_at_fork(
    before=_CHECKPOINTING.acquire,
    after_in_parent=_CHECKPOINTING.release,
    after_in_child=_CHECKPOINTING.release,
)


class Checkpointer:
    """A daemon thread checkpointing one SQLite database file until stopped."""

    def __init__(self, path: str, interval_s: float | None = None) -> None:
        self.path = path
        self.interval_s = INTERVAL_S if interval_s is None else interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"ledger-checkpoint:{path}", daemon=True
        )

    def start(self) -> Checkpointer:
        """Start checkpointing; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after one last checkpoint."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        except sqlite3.Error as err:
            log.warning("ledger checkpoints stay with the writers: %s", err)
            return
        try:
            while not self._stop.wait(self.interval_s):
                self._checkpoint(connection)
            self._checkpoint(connection)
        finally:
            connection.close()

    @staticmethod
    def _checkpoint(connection: sqlite3.Connection) -> None:
        with _CHECKPOINTING:
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as err:  # busy or locked: the next round tries again
                log.debug("ledger checkpoint skipped: %s", err)


class ThreadConnections:
    """One driver connection per thread for the writes that move credit, out of the pool.

    On SQLite this saves the pool's checkout and return; on PostgreSQL also the pool's
    ping, a round trip before every transaction (a kept connection found dead is
    replaced by :meth:`~computehub.credits.core.LedgerCore._move`).

    A thread's first transaction takes a connection from the pool (so it has the
    engine's connect settings), which is then detached from the pool and kept for
    that thread; at most ``limit`` threads keep one (many short-lived threads would
    otherwise each hold files open), the others use the pool; when all ``limit`` are
    kept, those of threads that ended are closed first. A kept connection whose
    transaction failed is closed, not kept.
    """

    def __init__(self, engine: Engine, limit: int = 16) -> None:
        self._engine = engine
        self.limit = limit
        self._local = threading.local()
        self._lock = threading.Lock()
        #: Each kept connection and the thread that keeps it.
        self._kept: dict[Any, threading.Thread] = {}
        self._closed = False

    def checkout(self) -> Any | None:
        """This thread's connection, or None: take one from the pool."""
        raw = getattr(self._local, "connection", None)
        self._local.connection = None
        return raw

    def keep(self, raw: Any, pooled: Any | None) -> None:
        """Keep ``raw`` for this thread after a committed transaction.

        Args:
            raw: the driver connection.
            pooled: the pool's wrapper when ``raw`` came from the pool just now.
        """
        if pooled is not None:
            with self._lock:
                if not self._closed and len(self._kept) >= self.limit:
                    self._close_orphans()
                if self._closed or len(self._kept) >= self.limit:
                    pooled.close()  # back to the pool: enough threads keep one
                    return
                pooled.detach()
                self._kept[raw] = threading.current_thread()
        self._local.connection = raw

    def _close_orphans(self) -> None:
        """Close the connections of threads that ended (their slots are free again)."""
        for raw, thread in list(self._kept.items()):
            if not thread.is_alive():
                del self._kept[raw]
                _close(raw)

    def discard(self, raw: Any) -> None:
        """Close a kept connection that failed."""
        with self._lock:
            self._kept.pop(raw, None)
        _close(raw)

    def close(self) -> None:
        """Close every kept connection (the ledger is closing)."""
        with self._lock:
            self._closed = True
            kept, self._kept = list(self._kept), {}
        for raw in kept:
            _close(raw)


def _close(raw: Any) -> None:
    try:
        raw.close()
    except Exception:  # closing for good: nothing to do about a failure
        log.debug("closing a kept ledger connection failed", exc_info=True)
