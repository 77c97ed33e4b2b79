"""Durable records of tool calls that must outlive a request: approval requests
and idempotency keys.

Both live in SQLite tables of the gateway's store file (WAL, so the LLM half's
connection and this one share it), or in a file of their own when the store is
Redis. Every state change is one statement that commits before the caller
acts on it, so a restart finds pending approvals where they were and a key
that completed keeps its result.

Approval states: ``pending`` → ``approved`` (claimed for execution, atomically,
by one approver) → ``executed``; or ``pending`` → ``denied`` / ``expired``.
Idempotency states: ``running`` → ``done``. A key found ``running`` after a
restart means the outcome is unknown; the gateway refuses to run it again
(at most once beats at least once for side effects).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS mcp_approvals (
  id TEXT PRIMARY KEY, state TEXT NOT NULL, loop TEXT NOT NULL, member TEXT NOT NULL, run TEXT, step INTEGER,
  server TEXT NOT NULL, tool TEXT NOT NULL, tool_class TEXT NOT NULL, arguments BLOB NOT NULL,
  verdicts BLOB NOT NULL, idempotency_key TEXT, created REAL NOT NULL, expires REAL NOT NULL,
  decided_by TEXT, decided REAL, reason TEXT, executed REAL, result BLOB);
CREATE INDEX IF NOT EXISTS mcp_approvals_state ON mcp_approvals (state);
CREATE TABLE IF NOT EXISTS mcp_idempotency (
  key TEXT PRIMARY KEY, state TEXT NOT NULL, loop TEXT NOT NULL, server TEXT NOT NULL, tool TEXT NOT NULL,
  created REAL NOT NULL, result BLOB);
"""

COLUMNS = [
    "id",
    "state",
    "loop",
    "member",
    "run",
    "step",
    "server",
    "tool",
    "tool_class",
    "arguments",
    "verdicts",
    "idempotency_key",
    "created",
    "expires",
    "decided_by",
    "decided",
    "reason",
    "executed",
    "result",
]
JSON_COLUMNS = {"arguments", "verdicts", "result"}


@dataclass(frozen=True)
class Claim:
    """Outcome of :meth:`Ledger.begin`: ``new`` (caller runs it), ``done`` (result stored) or ``running``."""

    state: str
    result: dict[str, Any] | None = None


class Ledger:
    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # ---------------------------------------------------------------- approvals

    def create_approval(self, **fields: Any) -> dict[str, Any]:
        now = time.time()
        row = {
            "id": "ap_" + secrets.token_hex(8),
            "state": "pending",
            "created": now,
            "expires": now + float(fields.pop("ttl_s")),
            **fields,
        }
        cols = [c for c in COLUMNS if c in row]
        self.db.execute(
            f"INSERT INTO mcp_approvals ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [orjson.dumps(row[c]) if c in JSON_COLUMNS else row[c] for c in cols],
        )
        return self.approval(row["id"]) or row

    def _expire(self) -> None:
        self.db.execute(
            "UPDATE mcp_approvals SET state = 'expired', decided = expires "
            "WHERE state = 'pending' AND expires <= ?",
            (time.time(),),
        )

    @staticmethod
    def _row(values: tuple[Any, ...]) -> dict[str, Any]:
        row = dict(zip(COLUMNS, values, strict=True))
        for c in JSON_COLUMNS:
            if row[c] is not None:
                row[c] = orjson.loads(row[c])
        return row

    def approval(self, approval_id: str) -> dict[str, Any] | None:
        self._expire()
        found = self.db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM mcp_approvals WHERE id = ?", (approval_id,)
        ).fetchone()
        return self._row(found) if found else None

    def approval_for_key(self, key: str) -> dict[str, Any] | None:
        found = self.db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM mcp_approvals WHERE idempotency_key = ? "
            "ORDER BY created DESC LIMIT 1",
            (key,),
        ).fetchone()
        return self._row(found) if found else None

    def approvals(self, state: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        self._expire()
        sql = f"SELECT {', '.join(COLUMNS)} FROM mcp_approvals"
        args: list[Any] = []
        if state:
            sql += " WHERE state = ?"
            args.append(state)
        sql += " ORDER BY created LIMIT ?"
        args.append(limit)
        return [self._row(r) for r in self.db.execute(sql, args)]

    def decide(self, approval_id: str, to: str, who: str, reason: str | None) -> bool:
        """Move a pending, unexpired request to ``approved`` or ``denied``; False if someone else
        decided first (or it expired). The UPDATE is the claim: exactly one caller wins."""
        self._expire()
        cur = self.db.execute(
            "UPDATE mcp_approvals SET state = ?, decided_by = ?, decided = ?, reason = ? "
            "WHERE id = ? AND state = 'pending'",
            (to, who, time.time(), reason, approval_id),
        )
        return cur.rowcount == 1

    def executed(self, approval_id: str, result: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE mcp_approvals SET state = 'executed', executed = ?, result = ? "
            "WHERE id = ? AND state = 'approved'",
            (time.time(), orjson.dumps(result), approval_id),
        )

    # ---------------------------------------------------------------- idempotency

    def begin(self, key: str, loop: str, server: str, tool: str) -> Claim:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO mcp_idempotency (key, state, loop, server, tool, created) "
            "VALUES (?, 'running', ?, ?, ?, ?)",
            (key, loop, server, tool, time.time()),
        )
        if cur.rowcount == 1:
            return Claim("new")
        state, result = self.db.execute(
            "SELECT state, result FROM mcp_idempotency WHERE key = ?", (key,)
        ).fetchone()
        return Claim(state, orjson.loads(result) if result else None)

    def finish(self, key: str, result: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE mcp_idempotency SET state = 'done', result = ? WHERE key = ?",
            (orjson.dumps(result), key),
        )

    def forget(self, key: str) -> None:
        """Drop a key whose call never reached the server (so a retry may run it)."""
        self.db.execute("DELETE FROM mcp_idempotency WHERE key = ? AND state = 'running'", (key,))
