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
import functools
import itertools
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson

from gateway.store import encode, journal, projection
from gateway.store.base import BudgetKey, Denied, Reservation, RunState, Settlement
from gateway.store.errors import StoreUnavailable
from gateway.store.fold import applied_in, commit, connect
from gateway.store.journal import STORE_WAIT_ENV, Journal, Record, claim
from gateway.store.projection import RUNS_TABLE
from gateway.store.report import READ_ALL, PyReports, Reports, SqlReports, run_record

log = logging.getLogger("fleet.gateway.store")

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

# Run counters kept in memory before those the database holds in full are dropped.
RUN_ROWS = 50_000
# How long a row write waits for the database's write lock (the connections' busy_timeout).
ROWS_BUSY_S = 5.0


__all__ = ["STORE_WAIT_ENV", "SqliteStore"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
T = TypeVar("T")


def _reach(method: F) -> F:
    """The database or its journal failing under a call: :class:`StoreUnavailable`."""

    @functools.wraps(method)
    async def call(self: SqliteStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            raise StoreUnavailable(
                f"sqlite:{self.path}", f"{exc.__class__.__name__}: {exc}"
            ) from exc

    return cast(F, call)


def _ts(value: Any) -> float:
    """A trace's time as the index holds it (now, when the trace has none usable)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e11:
        return float(value)
    return time.time()


def _text(value: Any) -> str | None:
    """An indexed trace field: a string, or None."""
    return value if isinstance(value, str) or value is None else None


Pending = list[tuple[Settlement, Record, "asyncio.Future[dict[str, float]]"]]


class SqliteStore:
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
        self._spent: dict[str, float] = {}
        self._reserved: dict[str, float] = {}
        self._rate: dict[tuple[str, int], list[int]] = {}
        self._runs: dict[tuple[str, str], list[int]] = {}  # steps, tokens, last record
        self._runs_cap = RUN_ROWS
        self._ids = itertools.count(1)
        self._hits: dict[tuple[str, int], int] = {}
        self._steps: dict[tuple[str, str], int] = {}
        # Without the journal (in memory, or another process owns it): one inline
        # transaction per event-loop turn.
        self._pending: Pending = []
        self._flush_scheduled = False
        self.journal_dir = Path(self.path + ".journal") if self.path != ":memory:" else None
        self.journal: Journal | None = None
        if claimed is not None:
            self.journal = claimed
        elif self.journal_dir is not None:
            owned = Journal(self.journal_dir, segment_bytes)
            if owned.acquire("writer" if migrate else "reader"):
                self.journal = owned
            else:
                owned.close()
        self._seq = 0
        self._syncs: list[asyncio.Future[None]] = []
        self._syncing: asyncio.Task[None] | None = None
        # Started with the first settlement, so a store opened only to read starts none.
        self.folder: subprocess.Popen[bytes] | None = None
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

    # ---------------------------------------------------------------- budgets

    def _spent_of(self, key: str) -> float:
        value = self._spent.get(key)
        if value is None:
            row = self.db.execute("SELECT usd FROM spend WHERE key = ?", (key,)).fetchone()
            value = self._spent[key] = row[0] if row else 0.0
        return value

    @_reach
    async def reserve(self, keys: list[BudgetKey], amount: float) -> Reservation | Denied:
        for k in keys:
            spent = self._spent_of(k.key)
            reserved = self._reserved.get(k.key, 0.0)
            if spent + reserved + amount > k.limit + 1e-12:
                return Denied(k, spent, reserved)
        for k in keys:
            self._reserved[k.key] = self._reserved.get(k.key, 0.0) + amount
        return Reservation(f"r{next(self._ids)}", keys, amount)

    async def release(self, reservation: Reservation) -> None:
        for k in reservation.keys:
            self._reserved[k.key] = max(0.0, self._reserved.get(k.key, 0.0) - reservation.amount)

    @_reach
    async def spent(self, key: str) -> float:
        if self.journal is not None or self.journal_dir is None:
            return self._spent_of(key)
        # Another process owns the journal: the database plus what it has not applied yet.
        rows, tail = self._read_with_journal("SELECT usd FROM spend WHERE key = ?", [key])
        usd = rows[0][0] if rows else 0.0
        return usd + sum(v for r in tail for k, v in r.spend if k == key)

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

    @_reach
    async def settle(self, s: Settlement) -> dict[str, float]:
        """Durable on return: appended to the journal (fsynced in full mode), or, without
        the journal, committed with the rest of this event-loop turn's settlements."""
        if self.journal is None:
            return await self._settle_inline(s)
        self._seq += 1
        frame = self._record(s, self._seq).frame()
        if self.journal.size and self.journal.size + len(frame) > self.journal.segment_bytes:
            if self.full:
                self.journal.sync()
            self.journal.open_segment(self._seq)
            self._watch_folder()
        self.journal.append(frame)
        if self.folder is None:
            self._start_folder()
        if self.full:
            await self._synced()
        return self._absorb(s)

    def _start_folder(self) -> None:
        # Its standard input is its lifeline: end of file there means this process is gone.
        # A process group of its own: Ctrl-C in a terminal interrupts the gateway, which
        # then closes it the usual way, and not the fold process in the middle of a commit.
        # Not a session of its own: with the kernel's autogroups a new session is a new
        # group that shares the core fairly with the gateway's, whatever its priority.
        self.folder = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.store.fold",
                self.path,
                "--synchronous",
                "full" if self.full else "normal",
                "--interval",
                str(self.apply_interval),
            ],
            stdin=subprocess.PIPE,
            process_group=0,
        )

    def _watch_folder(self) -> None:
        """Start the fold process again if it died (it logged why on stderr)."""
        if self.folder is not None and self.folder.poll() is not None:
            log.warning(
                "journal: the fold process exited (%s); starting it again", self.folder.returncode
            )
            self._start_folder()

    def applied(self) -> int:
        """The last journal record the database holds."""
        return applied_in(self.db)

    def unapplied(self) -> int | None:
        """Journal records the database does not hold yet; None when this store does
        not own the journal. A count that keeps growing means the fold process is
        starved of CPU or failing (it logs why)."""
        return self._seq - applied_in(self.db) if self.journal is not None else None

    def _record(self, s: Settlement, seq: int) -> Record:
        """The settlement as journal rows, with the request and step counts gathered since
        the last one. Nothing in ``s`` can make this fail: a trace orjson refuses is
        encoded cleaned (:mod:`gateway.store.encode`), and it is encoded before the
        gathered counts are taken, so they are never lost with it."""
        head = None
        body = b""
        if s.trace:
            t = s.trace
            head = [
                _ts(t.get("ts")),
                _text(t.get("loop")),
                _text(t.get("run")),
                _text(t.get("kind", "llm")),
            ]
            body = encode.dumps(t)
        hits, self._hits = self._hits, {}
        steps, self._steps = self._steps, {}
        rate = {k: [v, 0] for k, v in hits.items()}
        runs = {k: [v, 0] for k, v in steps.items()}
        if s.tokens:
            rate.setdefault((s.loop, s.minute), [0, 0])[1] += encode.count(s.tokens)
        if s.run is not None and s.run_tokens:
            runs.setdefault((s.loop, s.run), [0, 0])[1] += encode.count(s.run_tokens)
        cost = encode.usd(s.cost)
        spend = [[k.key, cost] for k in s.reservation.keys] if s.reservation else []
        return Record(
            seq,
            spend,
            [[k[0], k[1], *v] for k, v in rate.items()],
            [[k[0], k[1], *v] for k, v in runs.items()],
            head,
            body,
        )

    def _absorb(self, s: Settlement) -> dict[str, float]:
        """Once a settlement is durable: fold it into the in-memory mirrors."""
        keys = s.reservation.keys if s.reservation is not None else []
        held = s.reservation.amount if s.reservation is not None else 0.0
        for k in keys:
            self._spent[k.key] = self._spent_of(k.key) + s.cost
            self._reserved[k.key] = max(0.0, self._reserved.get(k.key, 0.0) - held)
        if s.tokens:
            self._rate_row(s.loop, s.minute)[1] += s.tokens
        if s.run is not None and s.run_tokens:
            row = self._run_row(s.loop, s.run)
            row[1] += s.run_tokens
            row[2] = self._seq
        return {k.key: self._spent[k.key] for k in keys}

    async def _synced(self) -> None:
        """Wait for an fsync of the journal; one fsync serves every record written before it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._syncs.append(future)
        if self._syncing is None or self._syncing.done():
            self._syncing = loop.create_task(self._sync_loop())
        await future

    async def _sync_loop(self) -> None:
        assert self.journal is not None
        while self._syncs:
            waiters, self._syncs = self._syncs, []
            try:
                await asyncio.to_thread(self.journal.sync)
            except OSError as exc:
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                continue
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    async def _settle_inline(self, s: Settlement) -> dict[str, float]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, float]] = loop.create_future()
        self._pending.append((s, self._record(s, 0), future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        try:
            commit(self.db, [r for _, r, _ in batch], tracked=False)
        except Exception as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for s, _, future in batch:
            result = self._absorb(s)
            if not future.done():
                future.set_result(result)

    # ---------------------------------------------------------------- the journal

    def _recover(self) -> int:
        """Apply what a killed owner left in the journal; returns the last record applied."""
        assert self.journal_dir is not None
        # Its own connection, in the store's synchronous mode, closed once done.
        db = connect(self.path, "FULL" if self.full else "NORMAL")
        try:
            found = journal.segments(self.journal_dir)
            for _, path in found:
                records = list(journal.parse(path.read_bytes()))
                if records:
                    commit(db, records, tracked=True)
            applied = applied_in(db)
        finally:
            db.close()
        if found:
            log.info("journal: replayed %d segment(s), up to record %d", len(found), applied)
        for _, path in found:
            path.unlink(missing_ok=True)
        return applied

    # ---------------------------------------------------------------- rate limits and runs

    def _rate_row(self, loop: str, minute: int) -> list[int]:
        row = self._rate.get((loop, minute))
        if row is None:
            found = self.db.execute(
                "SELECT requests, tokens FROM rate WHERE loop = ? AND minute = ?", (loop, minute)
            ).fetchone()
            row = self._rate[(loop, minute)] = list(found) if found else [0, 0]
            for key in [k for k in self._rate if k[1] < minute - 1]:
                del self._rate[key]
        return row

    @_reach
    async def rate(self, loop: str, minute: int) -> tuple[int, int]:
        row = self._rate_row(loop, minute)
        return row[0], row[1]

    @_reach
    async def hit(self, loop: str, minute: int) -> int:
        row = self._rate_row(loop, minute)
        row[0] += 1
        self._hits[(loop, minute)] = self._hits.get((loop, minute), 0) + 1
        return row[0]

    def _run_row(self, loop: str, run: str) -> list[int]:
        row = self._runs.get((loop, run))
        if row is None:
            if len(self._runs) >= self._runs_cap:
                self._forget_runs()
                # Rows still in the journal stay: the next pass waits until the map doubles.
                self._runs_cap = max(RUN_ROWS, 2 * len(self._runs))
            found = self.db.execute(
                "SELECT steps, tokens FROM runs WHERE loop = ? AND run = ?", (loop, run)
            ).fetchone()
            row = self._runs[(loop, run)] = [*found, 0] if found else [0, 0, 0]
        return row

    def _forget_runs(self) -> None:
        """Drop the run counters the database holds in full; one the journal still
        holds a record of would read back short."""
        applied = applied_in(self.db) if self.journal is not None else sys.maxsize
        for key in [k for k, row in self._runs.items() if row[2] <= applied]:
            del self._runs[key]

    @_reach
    async def run_step(self, loop: str, run: str) -> RunState:
        row = self._run_row(loop, run)
        row[0] += 1
        row[2] = self._seq + 1  # counted in the next record
        self._steps[(loop, run)] = self._steps.get((loop, run), 0) + 1
        return RunState(row[0], row[1])

    @_reach
    async def mark_alert(self, key: str, threshold: int) -> bool:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO alerts (key, threshold, at) VALUES (?, ?, ?)",
            (key, threshold, time.time()),
        )
        return cur.rowcount == 1

    # ---------------------------------------------------------------- traces

    async def write_trace(self, record: dict[str, Any]) -> None:
        """Durable on return: a journal record like a settlement's."""
        await self.settle(
            Settlement(None, 0.0, str(record.get("loop") or ""), 0, 0, None, 0, record)
        )

    @_reach
    async def query_traces(
        self,
        since: float = 0.0,
        loop: str | None = None,
        run: str | None = None,
        limit: int = 100_000,
    ) -> list[dict[str, Any]]:
        sql = "SELECT body FROM traces WHERE ts >= ?"
        args: list[Any] = [since]
        if loop:
            sql += " AND loop = ?"
            args.append(loop)
        if run:
            sql += " AND run = ?"
            args.append(run)
        sql += " ORDER BY ts, id LIMIT ?"
        args.append(limit)
        found, tail = self._read_with_journal(sql, args)
        rows = [orjson.loads(row[0]) for row in found]
        more = [
            orjson.loads(r.body)
            for r in tail
            if r.trace is not None
            and r.trace[0] >= since
            and (not loop or r.trace[1] == loop)
            and (not run or r.trace[2] == run)
        ]
        if not more:
            return rows
        return sorted(rows + more, key=lambda t: float(t.get("ts") or 0.0))[:limit]

    @_reach
    async def read_report(self, since: float, read: Callable[[Reports], T]) -> T:
        """``read`` over SQL sums of the window (:mod:`gateway.store.report`); over the
        decoded records instead while the journal holds traces the database has not
        applied (a busy gateway's last few, or a dead fold process's backlog)."""
        found = list(journal.read(self.journal_dir, 0)) if self.journal_dir is not None else []
        self.db.execute("BEGIN")
        try:
            applied = applied_in(self.db)
            current = projection.current(self.db)
            if current and not any(
                r.trace is not None and r.trace[0] >= since for r in found if r.seq > applied
            ):
                return read(SqlReports(self.db))
        finally:
            self.db.execute("COMMIT")
        traces = await self.query_traces(since=since, limit=READ_ALL)
        rows = await self.row_list(RUNS_TABLE, limit=READ_ALL, newest_first=True, since=since)
        runs = [r for r in map(run_record, rows) if r is not None]
        return read(PyReports(traces, runs))

    # ---------------------------------------------------------------- durable rows

    def _rows_run(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        """One row write from a worker thread, waiting for the write lock as long as the
        busy timeout of the store's other connections (a statement that met a busy lock
        did not run, so running it again is safe)."""
        with self._rows_lock:
            deadline = time.monotonic() + ROWS_BUSY_S
            while True:
                try:
                    return self._rows.execute(sql, args)
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                        raise
                time.sleep(0.0005)

    async def _rows_exec(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        if not self.full and self._rows_lock.acquire(blocking=False):
            try:
                return self._rows.execute(sql, args)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
            finally:
                self._rows_lock.release()
        # Full mode (each statement fsyncs), or the write lock is taken: off the event loop.
        return await asyncio.to_thread(self._rows_run, sql, args)

    @_reach
    async def row_insert(self, table: str, key: str, value: dict[str, Any]) -> bool:
        now = time.time()
        cur = await self._rows_exec(
            "INSERT OR IGNORE INTO rows (tbl, key, state, body, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
            (table, key, value.get("state"), orjson.dumps(value), now, now),
        )
        return cur.rowcount == 1

    @_reach
    async def row_get(self, table: str, key: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT body FROM rows WHERE tbl = ? AND key = ?", (table, key)
        ).fetchone()
        return orjson.loads(row[0]) if row else None

    @_reach
    async def row_update(
        self,
        table: str,
        key: str,
        value: dict[str, Any],
        *,
        if_state: str | None = None,
        if_lease: str | None = None,
    ) -> bool:
        sql = "UPDATE rows SET state = ?, body = ?, updated = ? WHERE tbl = ? AND key = ?"
        args: tuple[Any, ...] = (value.get("state"), orjson.dumps(value), time.time(), table, key)
        if if_state is not None:
            sql += " AND state = ?"
            args += (if_state,)
        if if_lease is not None:
            sql += " AND json_extract(CAST(body AS TEXT), '$.lease') = ?"
            args += (if_lease,)
        cur = await self._rows_exec(sql, args)
        return cur.rowcount == 1

    @_reach
    async def row_delete(self, table: str, key: str) -> None:
        await self._rows_exec("DELETE FROM rows WHERE tbl = ? AND key = ?", (table, key))

    @_reach
    async def row_list(
        self,
        table: str,
        state: str | None = None,
        limit: int = 500,
        *,
        newest_first: bool = False,
        since: float | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        sql = "SELECT body FROM rows WHERE tbl = ?"
        args: list[Any] = [table]
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        if since is not None:
            sql += " AND created >= ?"
            args.append(since)
        order = "DESC" if newest_first else "ASC"
        sql += f" ORDER BY created {order}, key {order} LIMIT ? OFFSET ?"
        args += [limit, offset]
        return [orjson.loads(r[0]) for r in self.db.execute(sql, args)]

    @staticmethod
    def _stop_folder(folder: subprocess.Popen[bytes]) -> None:
        """Ask the fold process to fold the rest and wait for it; what it could not fold
        stays in the journal for the next owner."""
        assert folder.stdin is not None
        try:
            folder.stdin.write(b"close\n")
            folder.stdin.close()
            if folder.wait(timeout=60):
                log.warning("journal: the fold process exited with %s", folder.returncode)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("journal: the fold process did not finish: %s", exc)
            folder.kill()
            folder.wait()

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
