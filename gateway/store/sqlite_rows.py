"""The SQLite store's row tables and trace reads: what the APIs read back.

Approvals, idempotency keys and the runs API's journals are rows written on
their own connection, on the event loop when the write lock is free and from a
worker thread when the fold process holds it. Trace queries and reports read
the database together with the journal records it has not applied yet, so a
reader never misses a settled trace.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from gateway.store import journal, projection
from gateway.store.fold import applied_in
from gateway.store.projection import RUNS_TABLE
from gateway.store.report import READ_ALL, PyReports, Reports, SqlReports, run_record
from gateway.store.sqlite_state import ROWS_BUSY_S, SqliteState, reach

T = TypeVar("T")


class SqliteRows(SqliteState):
    @reach
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

    @reach
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

    @reach
    async def row_insert(self, table: str, key: str, value: dict[str, Any]) -> bool:
        now = time.time()
        cur = await self._rows_exec(
            "INSERT OR IGNORE INTO rows (tbl, key, state, body, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
            (table, key, value.get("state"), orjson.dumps(value), now, now),
        )
        return cur.rowcount == 1

    @reach
    async def row_get(self, table: str, key: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT body FROM rows WHERE tbl = ? AND key = ?", (table, key)
        ).fetchone()
        return orjson.loads(row[0]) if row else None

    @reach
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

    @reach
    async def row_delete(self, table: str, key: str) -> None:
        await self._rows_exec("DELETE FROM rows WHERE tbl = ? AND key = ?", (table, key))

    @reach
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
