"""SQLite store: the embedded default for one gateway replica.

Settlements go through a journal (:mod:`gateway.store.journal`): each is one
record appended with a single ``write`` before its response is finished, so
``kill -9`` loses no settled spend or trace, and a process of its own at idle
priority (:mod:`gateway.store.fold`) folds the records into the database (WAL
mode) in batches, off the request path and out of the event loop's way. With
``synchronous=NORMAL`` (the default) a record is in the kernel's hands once
``write`` returns, which a killed process cannot undo; surviving power loss or
a kernel crash needs an fsync per group of records:
``sqlite:PATH?synchronous=full``. The process that owns the journal replays
what a killed owner left when it opens; other processes reading the same file
(``fleetctl cost``, ``fleetctl runs``) add the records not applied yet.
In-flight reservations live in memory: they die with the process, together
with the requests they stood for. Reads the hot path needs (spend per window,
the minute's rate counters, run counters) are mirrored in memory and loaded
from the file on first use. An in-memory database (``:memory:``) commits each
event-loop turn's settlements in one transaction instead.

So one gateway process serves a SQLite file: a second would check budgets
against reservations and spend it cannot see, and the two would overspend
together (rate windows and run step counts alike). ``python -m gateway`` opens
the store ``exclusive``: it takes the journal, waiting a few seconds for a
gateway being replaced, or exits 2 naming Redis, which replicas share.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from pathlib import Path

from gateway.store import journal, projection
from gateway.store.base import Settlement
from gateway.store.fold import applied_in, connect
from gateway.store.journal import STORE_WAIT_ENV, Journal, claim
from gateway.store.sqlite_counters import RUN_ROWS
from gateway.store.sqlite_journal import SqliteJournal
from gateway.store.sqlite_rows import SqliteRows
from gateway.store.sqlite_state import ROWS_BUSY_S, SCHEMA

log = logging.getLogger("fleet.gateway.store")

__all__ = ["ROWS_BUSY_S", "RUN_ROWS", "SCHEMA", "STORE_WAIT_ENV", "SqliteStore"]


class SqliteStore(SqliteJournal, SqliteRows):
    def __init__(
        self,
        path: str | Path,
        synchronous: str = "normal",
        *,
        apply_interval: float = 0.01,
        segment_bytes: int = journal.SEGMENT_BYTES,
        migrate: bool = True,
        exclusive: bool = False,
    ):
        """``apply_interval``: how often the fold process commits the journal's new
        records (seconds); ``segment_bytes``: when the journal starts a new segment;
        ``migrate=False`` (readers): an older database is read as it is, not migrated
        (a migration holds the write lock while it backfills, a minute for a month of a
        thousand loops, which is the gateway's to spend when it starts); ``exclusive``:
        own the journal or raise :class:`~gateway.store.base.StoreInUse` (a gateway:
        budgets held in one process's memory cannot be shared with another's)."""
        self.path = str(path)
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be 'normal' or 'full', not {synchronous!r}")
        self.full = synchronous == "full" and self.path != ":memory:"
        self.apply_interval = apply_interval
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Claimed before anything is written: a refused second gateway migrates nothing.
        claimed = claim(Path(self.path + ".journal"), segment_bytes, self.path) if exclusive and self.path != ":memory:" else None  # fmt: skip
        self.db = connect(self.path, "NORMAL")
        self.db.executescript(SCHEMA)
        if migrate and projection.migrate(self.db):
            log.info("store: cost and doctor columns added to %s", self.path)
        # Row writes (approvals, idempotency keys, the runs API's journals) have their own
        # connection, serialised across worker threads by a lock. In full mode every write
        # runs in a worker thread (it fsyncs). Otherwise a write is tried on the event loop
        # without waiting for the write lock: while the fold process holds it, SQLite's
        # busy handler would sleep a millisecond or more with the event loop stopped, so
        # the write waits in a worker thread instead.
        if self.full:
            self._rows = connect(self.path, "FULL")
        elif self.path != ":memory:":
            self._rows = connect(self.path, "NORMAL")
            self._rows.execute("PRAGMA busy_timeout=0")
        else:
            self._rows = self.db
        self._rows_lock = threading.Lock()
        self._open_counters()
        # Without the journal (in memory, or another process owns it): one inline
        # transaction per event-loop turn.
        self._pending = []
        self._flush_scheduled = False
        self.journal_dir = Path(self.path + ".journal") if self.path != ":memory:" else None
        self.journal = None
        if claimed is not None:
            self.journal = claimed
        elif self.journal_dir is not None:
            owned = Journal(self.journal_dir, segment_bytes)
            if owned.acquire("writer" if migrate else "reader"):
                self.journal = owned
            else:
                owned.close()
        self._seq = 0
        self._syncs = []
        self._syncing = None
        # Started with the first settlement, so a store opened only to read starts none.
        self.folder = None
        if self.journal is not None:
            self._seq = self._recover()
            self.journal.open_segment(self._seq + 1)

    async def healthy(self) -> bool:
        """The database answers a query, and the journal (when this store owns it) takes writes."""
        try:
            self.db.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        if self.journal is not None and self.journal_dir is not None:
            return os.access(self.journal_dir, os.W_OK) and self.journal.fd >= 0
        return True

    def checkpoint(self) -> None:
        """Fold the WAL into the database file; run from a worker thread on a timer."""
        if self.path == ":memory:":
            return
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    async def checkpoints(self, interval: float = 5.0) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.folder is not None:
                self._watch_folder()  # the fold process checkpoints after its commits
            else:
                await asyncio.to_thread(self.checkpoint)

    async def close(self) -> None:
        if self._hits or self._steps:
            # Requests and run steps counted since the last settlement (one refused, or
            # failed, before it settled): one more record, so none is lost.
            await self.settle(Settlement(None, 0.0, "", 0, 0, None, 0, {}))
        if self._syncing is not None and not self._syncing.done():
            await self._syncing
        if self._pending:
            self._flush()
        if self.folder is not None:
            await asyncio.to_thread(self._stop_folder, self.folder)
            self.folder = None
        if self.journal is not None:
            if self.journal_dir is not None and applied_in(self.db) == self._seq:
                for _, path in journal.segments(self.journal_dir):
                    path.unlink(missing_ok=True)
            self.journal.close()
            self.journal = None
        if self._rows is not self.db:
            self._rows.close()
        self.db.close()
