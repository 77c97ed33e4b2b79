"""The SQLite store's hot-path counters: spend, rate windows and run steps.

Every request reserves budget, counts a request in its minute and a step in
its run before it goes upstream; those reads are served from dictionaries in
memory, each entry loaded from the database on first use, and folded forward
by the journal's write side once a settlement is durable. Run counters are
capped (:data:`RUN_ROWS`) so a gateway serving many short runs keeps a bounded
map: only entries the database already holds in full are dropped.
"""

from __future__ import annotations

import itertools
import sys
import time

from gateway.store.base import BudgetKey, Denied, Reservation, RunState
from gateway.store.fold import applied_in
from gateway.store.sqlite_state import SqliteState, reach

# Run counters kept in memory before those the database holds in full are dropped.
RUN_ROWS = 50_000


class SqliteCounters(SqliteState):
    def _open_counters(self) -> None:
        """Empty mirrors: each entry is loaded from the database when first asked for."""
        self._spent = {}
        self._reserved = {}
        self._rate = {}
        self._runs = {}  # steps, tokens, last record
        self._runs_cap = RUN_ROWS
        self._ids = itertools.count(1)
        self._hits = {}
        self._steps = {}

    # ---------------------------------------------------------------- budgets

    def _spent_of(self, key: str) -> float:
        value = self._spent.get(key)
        if value is None:
            row = self.db.execute("SELECT usd FROM spend WHERE key = ?", (key,)).fetchone()
            value = self._spent[key] = row[0] if row else 0.0
        return value

    @reach
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

    @reach
    async def spent(self, key: str) -> float:
        if self.journal is not None or self.journal_dir is None:
            return self._spent_of(key)
        # Another process owns the journal: the database plus what it has not applied yet.
        rows, tail = self._read_with_journal("SELECT usd FROM spend WHERE key = ?", [key])
        usd = rows[0][0] if rows else 0.0
        return usd + sum(v for r in tail for k, v in r.spend if k == key)

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

    @reach
    async def rate(self, loop: str, minute: int) -> tuple[int, int]:
        row = self._rate_row(loop, minute)
        return row[0], row[1]

    @reach
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

    @reach
    async def run_step(self, loop: str, run: str) -> RunState:
        row = self._run_row(loop, run)
        row[0] += 1
        row[2] = self._seq + 1  # counted in the next record
        self._steps[(loop, run)] = self._steps.get((loop, run), 0) + 1
        return RunState(row[0], row[1])

    @reach
    async def mark_alert(self, key: str, threshold: int) -> bool:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO alerts (key, threshold, at) VALUES (?, ?, ?)",
            (key, threshold, time.time()),
        )
        return cur.rowcount == 1
