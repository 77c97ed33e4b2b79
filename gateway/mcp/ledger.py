"""Durable records of tool calls that must outlive a request: approval requests
and idempotency keys, kept as rows of the gateway's store (``row_*`` of
:class:`gateway.store.Store`), so they survive restarts and replicas sharing
Redis share them.

Approval states: ``pending`` → ``approved`` (claimed for execution by exactly
one approver: a compare-and-set on the state) → ``executed``; or ``pending`` →
``denied`` / ``expired``. Expiry is applied when a request is read or decided.
A request made under an idempotency key is indexed by it (insert-if-absent),
so a retried destructive call finds its request instead of opening another.

Idempotency states: ``running`` → ``done``. A key found ``running`` after a
restart means the outcome is unknown; the gateway refuses to run it again
(at most once beats at least once for side effects).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from gateway.store import Store

APPROVALS = "mcp_approvals"
APPROVAL_KEYS = "mcp_approval_keys"
KEYS = "mcp_idempotency"


@dataclass(frozen=True)
class Claim:
    """Outcome of :meth:`Ledger.begin`: ``new`` (caller runs it), ``done`` (result stored) or ``running``."""

    state: str
    result: dict[str, Any] | None = None


class Ledger:
    def __init__(self, store: Store):
        self.store = store

    # ---------------------------------------------------------------- approvals

    async def create_approval(self, **fields: Any) -> dict[str, Any]:
        """A new pending request; with ``idempotency_key``, the existing one for that key if any."""
        now = time.time()
        row: dict[str, Any] = {
            "id": "ap_" + secrets.token_hex(8),
            "state": "pending",
            "created": now,
            "expires": now + float(fields.pop("ttl_s")),
            "decided_by": None,
            "decided": None,
            "reason": None,
            "executed": None,
            "result": None,
            **fields,
        }
        key = row.get("idempotency_key")
        if key and not await self.store.row_insert(APPROVAL_KEYS, key, {"id": row["id"]}):
            existing = await self.store.row_get(APPROVAL_KEYS, key)
            found = await self.approval(existing["id"]) if existing else None
            if found is not None:
                return found
        await self.store.row_insert(APPROVALS, row["id"], row)
        return row

    async def _expired(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["state"] == "pending" and row["expires"] <= time.time():
            late = {**row, "state": "expired", "decided": row["expires"]}
            await self.store.row_update(APPROVALS, row["id"], late, if_state="pending")
            return late
        return row

    async def approval(self, approval_id: str) -> dict[str, Any] | None:
        row = await self.store.row_get(APPROVALS, approval_id)
        return await self._expired(row) if row else None

    async def approvals(self, state: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        # Expiry is lazy: read pending ones too when listing expired, then filter.
        wanted = None if state == "expired" else state
        rows = [await self._expired(r) for r in await self.store.row_list(APPROVALS, wanted, limit)]
        return [r for r in rows if state is None or r["state"] == state]

    async def decide(self, approval_id: str, to: str, who: str, reason: str | None) -> bool:
        """Move a pending, unexpired request to ``approved`` or ``denied``; False if someone else
        decided first (or it expired). The compare-and-set is the claim: one caller wins."""
        row = await self.approval(approval_id)
        if row is None or row["state"] != "pending":
            return False
        decided = {**row, "state": to, "decided_by": who, "decided": time.time(), "reason": reason}
        return await self.store.row_update(APPROVALS, approval_id, decided, if_state="pending")

    async def executed(self, approval_id: str, result: dict[str, Any]) -> None:
        row = await self.store.row_get(APPROVALS, approval_id)
        if row is not None:
            done = {**row, "state": "executed", "executed": time.time(), "result": result}
            await self.store.row_update(APPROVALS, approval_id, done, if_state="approved")

    # ---------------------------------------------------------------- idempotency

    async def begin(self, key: str, loop: str, server: str, tool: str) -> Claim:
        row = {
            "state": "running",
            "loop": loop,
            "server": server,
            "tool": tool,
            "created": time.time(),
        }
        if await self.store.row_insert(KEYS, key, row):
            return Claim("new")
        found = await self.store.row_get(KEYS, key) or {"state": "running"}
        return Claim(found["state"], found.get("result"))

    async def finish(self, key: str, result: dict[str, Any]) -> None:
        row = await self.store.row_get(KEYS, key) or {}
        await self.store.row_update(
            KEYS, key, {**row, "state": "done", "result": result}, if_state="running"
        )

    async def forget(self, key: str) -> None:
        """Drop a key whose call never reached the server (so a retry may run it). Only the
        caller that claimed the key calls this, while it is still ``running``."""
        row = await self.store.row_get(KEYS, key)
        if row is not None and row.get("state") == "running":
            await self.store.row_delete(KEYS, key)
