"""The SQLite store's schema and the state its parts share.

:class:`~gateway.store.sqlite.SqliteStore` is assembled from parts of one
subject each (the counters the hot path reads, the journal's write side, the
row tables and trace reads); this module holds what all of them need: the
schema, the attributes they share (declared here so each part type-checks on
its own), the decorator turning a failing database into
:class:`~gateway.store.errors.StoreUnavailable`, and the read of the database
together with the journal records it does not hold yet.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import sqlite3
import subprocess
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from gateway.store import journal
from gateway.store.base import Settlement
from gateway.store.errors import StoreUnavailable
from gateway.store.fold import applied_in
from gateway.store.journal import Journal, Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (key TEXT PRIMARY KEY, usd REAL NOT NULL DEFAULT 0, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rate (loop TEXT NOT NULL, minute INTEGER NOT NULL, requests INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (loop, minute));
CREATE TABLE IF NOT EXISTS runs (loop TEXT NOT NULL, run TEXT NOT NULL, steps INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL, PRIMARY KEY (loop, run));
CREATE TABLE IF NOT EXISTS alerts (key TEXT NOT NULL, threshold INTEGER NOT NULL, at REAL NOT NULL, PRIMARY KEY (key, threshold));
CREATE TABLE IF NOT EXISTS traces (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, loop TEXT, run TEXT,
  kind TEXT, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS traces_ts ON traces (ts);
CREATE INDEX IF NOT EXISTS traces_run ON traces (run);
CREATE TABLE IF NOT EXISTS rows (tbl TEXT NOT NULL, key TEXT NOT NULL, state TEXT, body BLOB NOT NULL,
  created REAL NOT NULL, updated REAL NOT NULL, PRIMARY KEY (tbl, key));
CREATE INDEX IF NOT EXISTS rows_created ON rows (tbl, created, key);
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY CHECK (id = 1), applied INTEGER NOT NULL);
INSERT OR IGNORE INTO journal (id, applied) VALUES (1, 0);
"""

# How long a row write waits for the database's write lock (the connections' busy_timeout).
ROWS_BUSY_S = 5.0

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

Pending = list[tuple[Settlement, Record, "asyncio.Future[dict[str, float]]"]]


def reach(method: F) -> F:
    """The database or its journal failing under a call: :class:`StoreUnavailable`."""

    @functools.wraps(method)
    async def call(self: SqliteState, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            raise StoreUnavailable(
                f"sqlite:{self.path}", f"{exc.__class__.__name__}: {exc}"
            ) from exc

    return cast(F, call)


class SqliteState:
    """The attributes :class:`~gateway.store.sqlite.SqliteStore` sets when it opens."""

    path: str
    full: bool
    apply_interval: float
    db: sqlite3.Connection
    # Row writes' own connection (the main one in memory), and the lock serialising it.
    _rows: sqlite3.Connection
    _rows_lock: threading.Lock
    # Hot-path mirrors: spend per key, reservations in flight, the minute's rate
    # counters, run counters (steps, tokens, last record).
    _spent: dict[str, float]
    _reserved: dict[str, float]
    _rate: dict[tuple[str, int], list[int]]
    _runs: dict[tuple[str, str], list[int]]
    _runs_cap: int
    _ids: itertools.count[int]
    # Requests and run steps counted since the last record.
    _hits: dict[tuple[str, int], int]
    _steps: dict[tuple[str, str], int]
    _pending: Pending
    _flush_scheduled: bool
    journal_dir: Path | None
    journal: Journal | None
    _seq: int
    _syncs: list[asyncio.Future[None]]
    _syncing: asyncio.Task[None] | None
    folder: subprocess.Popen[bytes] | None

    def _read_with_journal(self, sql: str, args: list[Any]) -> tuple[list[Any], list[Record]]:
        """Rows of ``sql`` and the journal records the database does not hold yet.

        The journal is read first, then the database: a record deleted from the journal
        in between was applied before the database is read, so none falls in the gap."""
        found = list(journal.read(self.journal_dir, 0)) if self.journal_dir is not None else []
        self.db.execute("BEGIN")
        try:
            applied = applied_in(self.db)
            rows = self.db.execute(sql, args).fetchall()
        finally:
            self.db.execute("COMMIT")
        return rows, [r for r in found if r.seq > applied]
