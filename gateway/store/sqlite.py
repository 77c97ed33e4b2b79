"""SQLite store: the embedded default for one gateway replica.

WAL mode; settlements queued in one event-loop turn are committed in one
transaction (group commit) before any of their responses completes, so
``kill -9`` loses no settled spend or trace: with ``synchronous=NORMAL`` (the
default) the WAL write is in the kernel's hands once commit returns, which a
killed process cannot undo. Surviving power loss or a kernel crash needs the
WAL fsynced at every commit: ``sqlite:PATH?synchronous=full``. A writer thread
with its own connection commits while the event loop keeps serving (an fsync,
or a WAL append that grows the file, takes milliseconds), and every settlement
that arrives during one commit joins the next. Request and step counters ride in the same
transaction. In-flight reservations live in memory:
they die with the process, together with the requests they stood for. Reads
the hot path needs (spend per window, the minute's rate counters, run
counters) are mirrored in memory and loaded from the file on first use.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from gateway.store.base import BudgetKey, Denied, Reservation, RunState, Settlement

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
"""


class SqliteStore:
    def __init__(self, path: str | Path, synchronous: str = "normal"):
        self.path = str(path)
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be 'normal' or 'full', not {synchronous!r}")
        self.full = synchronous == "full" and self.path != ":memory:"
        # A file's commits run on a writer thread: even without fsync, a WAL append that
        # extends the file can take milliseconds, and on the event loop that stalls every
        # request in flight (it was the gateway's p99). An in-memory store commits inline.
        self.threaded = self.path != ":memory:"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = self._connect("NORMAL")
        self.db.executescript(SCHEMA)
        # The writer thread owns its own connection, so reads on the loop never land
        # inside its open transaction.
        self._writer = (
            self._connect("FULL" if self.full else "NORMAL") if self.threaded else self.db
        )
        self._writing: asyncio.Task[None] | None = None
        # Row writes are rare (approvals, idempotency keys); their own connection, in
        # the store's synchronous mode, serialised across worker threads by a lock.
        self._rows = self._connect("FULL") if self.full else self.db
        self._rows_lock = threading.Lock()
        self._spent: dict[str, float] = {}
        self._reserved: dict[str, float] = {}
        self._rate: dict[tuple[str, int], list[int]] = {}
        self._runs: dict[tuple[str, str], list[int]] = {}
        self._ids = itertools.count(1)
        self._pending: list[tuple[Settlement, asyncio.Future[dict[str, float]]]] = []
        self._flush_scheduled = False
        self._hits: dict[tuple[str, int], int] = {}
        self._steps: dict[tuple[str, str], int] = {}

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA busy_timeout=5000")
        # Checkpoints fsync the database file; keep them off the request path (see checkpoint()).
        db.execute("PRAGMA wal_autocheckpoint=0")
        return db

    # ---------------------------------------------------------------- budgets

    def _spent_of(self, key: str) -> float:
        value = self._spent.get(key)
        if value is None:
            row = self.db.execute("SELECT usd FROM spend WHERE key = ?", (key,)).fetchone()
            value = self._spent[key] = row[0] if row else 0.0
        return value

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

    async def spent(self, key: str) -> float:
        return self._spent_of(key)

    async def settle(self, s: Settlement) -> dict[str, float]:
        """Queue the settlement; one transaction per event-loop turn commits every queued one
        (group commit), and each caller resumes only after its commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, float]] = loop.create_future()
        self._pending.append((s, future))
        if self.threaded:
            if self._writing is None or self._writing.done():
                self._writing = loop.create_task(self._write_behind())
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, spend, params = self._take()
        try:
            self._commit(*params)
        except Exception as exc:
            self._fail(batch, exc)
            return
        self._apply(batch, spend)

    async def _write_behind(self) -> None:
        """Commit batches from the writer thread until the queue is empty."""
        while self._pending:
            batch, spend, params = self._take()
            try:
                await asyncio.to_thread(self._commit, *params)
            except Exception as exc:
                self._fail(batch, exc)
                continue
            self._apply(batch, spend)

    def _fail(
        self, batch: list[tuple[Settlement, asyncio.Future[dict[str, float]]]], exc: Exception
    ) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)

    def _take(
        self,
    ) -> tuple[
        list[tuple[Settlement, asyncio.Future[dict[str, float]]]],
        dict[str, float],
        tuple[list[Any], list[Any], list[Any], list[Any]],
    ]:
        """Drain the queue into the rows of one transaction."""
        batch, self._pending = self._pending, []
        hits, self._hits = self._hits, {}
        steps, self._steps = self._steps, {}
        now = time.time()
        spend: dict[str, float] = {}
        rate: dict[tuple[str, int], list[int]] = {k: [v, 0] for k, v in hits.items()}
        runs: dict[tuple[str, str], list[int]] = {k: [v, 0] for k, v in steps.items()}
        traces = []
        for s, _ in batch:
            if s.reservation is not None:
                for k in s.reservation.keys:
                    spend[k.key] = spend.get(k.key, 0.0) + s.cost
            if s.tokens:
                rate.setdefault((s.loop, s.minute), [0, 0])[1] += s.tokens
            if s.run is not None and s.run_tokens:
                runs.setdefault((s.loop, s.run), [0, 0])[1] += s.run_tokens
            if s.trace:
                t = s.trace
                traces.append(
                    (
                        t.get("ts", now),
                        t.get("loop"),
                        t.get("run"),
                        t.get("kind", "llm"),
                        orjson.dumps(t),
                    )
                )
        params = (
            [(k, v, now) for k, v in spend.items()],
            [(k[0], k[1], v[0], v[1]) for k, v in rate.items()],
            [(k[0], k[1], v[0], v[1], now) for k, v in runs.items()],
            traces,
        )
        return batch, spend, params

    def _commit(
        self, spend: list[Any], rate: list[Any], runs: list[Any], traces: list[Any]
    ) -> None:
        db = self._writer
        db.execute("BEGIN")
        try:
            if spend:
                db.executemany(
                    "INSERT INTO spend (key, usd, updated) VALUES (?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET usd = usd + excluded.usd, updated = excluded.updated",
                    spend,
                )
            if rate:
                db.executemany(
                    "INSERT INTO rate (loop, minute, requests, tokens) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(loop, minute) DO UPDATE SET requests = requests + excluded.requests, tokens = tokens + excluded.tokens",
                    rate,
                )
            if runs:
                db.executemany(
                    "INSERT INTO runs (loop, run, steps, tokens, updated) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(loop, run) DO UPDATE SET steps = steps + excluded.steps, tokens = tokens + excluded.tokens, updated = excluded.updated",
                    runs,
                )
            if traces:
                db.executemany(
                    "INSERT INTO traces (ts, loop, run, kind, body) VALUES (?, ?, ?, ?, ?)",
                    traces,
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _apply(
        self,
        batch: list[tuple[Settlement, asyncio.Future[dict[str, float]]]],
        spend: dict[str, float],
    ) -> None:
        """After a commit: fold it into the in-memory mirrors and wake the callers."""
        for key, value in spend.items():
            self._spent[key] = self._spent_of(key) + value
        for s, future in batch:
            if s.reservation is not None:
                for k in s.reservation.keys:
                    self._reserved[k.key] = max(
                        0.0, self._reserved.get(k.key, 0.0) - s.reservation.amount
                    )
            if s.tokens:
                self._rate_row(s.loop, s.minute)[1] += s.tokens
            if s.run is not None and s.run_tokens:
                self._run_row(s.loop, s.run)[1] += s.run_tokens
            if not future.done():
                keys = s.reservation.keys if s.reservation is not None else []
                future.set_result({k.key: self._spent[k.key] for k in keys})

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

    async def rate(self, loop: str, minute: int) -> tuple[int, int]:
        row = self._rate_row(loop, minute)
        return row[0], row[1]

    async def hit(self, loop: str, minute: int) -> int:
        row = self._rate_row(loop, minute)
        row[0] += 1
        self._hits[(loop, minute)] = self._hits.get((loop, minute), 0) + 1
        return row[0]

    def _run_row(self, loop: str, run: str) -> list[int]:
        row = self._runs.get((loop, run))
        if row is None:
            found = self.db.execute(
                "SELECT steps, tokens FROM runs WHERE loop = ? AND run = ?", (loop, run)
            ).fetchone()
            row = self._runs[(loop, run)] = list(found) if found else [0, 0]
            if len(self._runs) > 50_000:
                self._runs.clear()
        return row

    async def run_step(self, loop: str, run: str) -> RunState:
        row = self._run_row(loop, run)
        row[0] += 1
        self._steps[(loop, run)] = self._steps.get((loop, run), 0) + 1
        return RunState(row[0], row[1])

    async def mark_alert(self, key: str, threshold: int) -> bool:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO alerts (key, threshold, at) VALUES (?, ?, ?)",
            (key, threshold, time.time()),
        )
        return cur.rowcount == 1

    # ---------------------------------------------------------------- traces

    async def write_trace(self, record: dict[str, Any]) -> None:
        """Durable on return; rides the next group commit with the settlements."""
        await self.settle(
            Settlement(None, 0.0, str(record.get("loop") or ""), 0, 0, None, 0, record)
        )

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
        return [orjson.loads(row[0]) for row in self.db.execute(sql, args)]

    # ---------------------------------------------------------------- durable rows

    def _rows_run(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        with self._rows_lock:
            return self._rows.execute(sql, args)

    async def _rows_exec(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        # In full mode each statement fsyncs: keep that off the event loop.
        if self.full:
            return await asyncio.to_thread(self._rows_run, sql, args)
        return self._rows_run(sql, args)

    async def row_insert(self, table: str, key: str, value: dict[str, Any]) -> bool:
        now = time.time()
        cur = await self._rows_exec(
            "INSERT OR IGNORE INTO rows (tbl, key, state, body, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
            (table, key, value.get("state"), orjson.dumps(value), now, now),
        )
        return cur.rowcount == 1

    async def row_get(self, table: str, key: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT body FROM rows WHERE tbl = ? AND key = ?", (table, key)
        ).fetchone()
        return orjson.loads(row[0]) if row else None

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

    async def row_delete(self, table: str, key: str) -> None:
        await self._rows_exec("DELETE FROM rows WHERE tbl = ? AND key = ?", (table, key))

    async def row_list(
        self, table: str, state: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        sql = "SELECT body FROM rows WHERE tbl = ?"
        args: list[Any] = [table]
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        sql += " ORDER BY created, key LIMIT ?"
        args.append(limit)
        return [orjson.loads(r[0]) for r in self.db.execute(sql, args)]

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
            await asyncio.to_thread(self.checkpoint)

    async def close(self) -> None:
        if self._writing is not None and not self._writing.done():
            await self._writing
        if self._pending:
            self._flush()
        if self._writer is not self.db:
            self._writer.close()
        if self._rows is not self.db:
            self._rows.close()
        self.db.close()
