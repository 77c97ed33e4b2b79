"""SQLite store: the embedded default for one gateway replica.

WAL mode; every settlement is one transaction committed before the response
completes, so ``kill -9`` loses no settled spend or trace (the WAL write is in
the kernel's hands once commit returns). In-flight reservations live in memory:
they die with the process, together with the requests they stood for. Reads
the hot path needs (spend per window, the minute's rate counters, run
counters) are mirrored in memory and loaded from the file on first use.
"""

from __future__ import annotations

import itertools
import sqlite3
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
"""


class SqliteStore:
    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        self._spent: dict[str, float] = {}
        self._reserved: dict[str, float] = {}
        self._rate: dict[tuple[str, int], list[int]] = {}
        self._runs: dict[tuple[str, str], list[int]] = {}
        self._ids = itertools.count(1)

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
        now = time.time()
        out: dict[str, float] = {}
        db = self.db
        db.execute("BEGIN")
        try:
            if s.reservation is not None:
                for k in s.reservation.keys:
                    db.execute(
                        "INSERT INTO spend (key, usd, updated) VALUES (?, ?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET usd = usd + excluded.usd, updated = excluded.updated",
                        (k.key, s.cost, now),
                    )
            if s.tokens:
                db.execute(
                    "INSERT INTO rate (loop, minute, requests, tokens) VALUES (?, ?, 0, ?) "
                    "ON CONFLICT(loop, minute) DO UPDATE SET tokens = tokens + excluded.tokens",
                    (s.loop, s.minute, s.tokens),
                )
            if s.run is not None and s.run_tokens:
                db.execute(
                    "UPDATE runs SET tokens = tokens + ?, updated = ? WHERE loop = ? AND run = ?",
                    (s.run_tokens, now, s.loop, s.run),
                )
            if s.trace:
                db.execute(
                    "INSERT INTO traces (ts, loop, run, kind, body) VALUES (?, ?, ?, ?, ?)",
                    (
                        s.trace.get("ts", now),
                        s.trace.get("loop"),
                        s.trace.get("run"),
                        s.trace.get("kind", "llm"),
                        orjson.dumps(s.trace),
                    ),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if s.reservation is not None:
            await self.release(s.reservation)
            for k in s.reservation.keys:
                self._spent[k.key] = self._spent_of(k.key) + s.cost
                out[k.key] = self._spent[k.key]
        if s.tokens:
            self._rate_row(s.loop, s.minute)[1] += s.tokens
        if s.run is not None and s.run_tokens:
            self._run_row(s.loop, s.run)[1] += s.run_tokens
        return out

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
        self.db.execute(
            "INSERT INTO rate (loop, minute, requests, tokens) VALUES (?, ?, 1, 0) "
            "ON CONFLICT(loop, minute) DO UPDATE SET requests = requests + 1",
            (loop, minute),
        )
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
        self.db.execute(
            "INSERT INTO runs (loop, run, steps, tokens, updated) VALUES (?, ?, 1, 0, ?) "
            "ON CONFLICT(loop, run) DO UPDATE SET steps = steps + 1, updated = excluded.updated",
            (loop, run, time.time()),
        )
        return RunState(row[0], row[1])

    async def mark_alert(self, key: str, threshold: int) -> bool:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO alerts (key, threshold, at) VALUES (?, ?, ?)",
            (key, threshold, time.time()),
        )
        return cur.rowcount == 1

    # ---------------------------------------------------------------- traces

    async def write_trace(self, record: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO traces (ts, loop, run, kind, body) VALUES (?, ?, ?, ?, ?)",
            (
                record.get("ts", time.time()),
                record.get("loop"),
                record.get("run"),
                record.get("kind", "llm"),
                orjson.dumps(record),
            ),
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

    async def close(self) -> None:
        self.db.close()
