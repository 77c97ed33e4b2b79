"""Durable records of tool calls that must outlive a request: approval requests
and idempotency keys, kept as rows of the gateway's store (``row_*`` of
:class:`gateway.store.Store`), so they survive restarts and replicas sharing
Redis share them.

Approval states::

    pending ──approve──► approved ──(call returns)──► executed
       │                    │
       │                    └─(lease lapses: the gateway running it died)─► interrupted
       │                                                                     │  │
       │                              approved ◄──retry (an approver)────────┘  │
       ├──deny──► denied ◄──deny (an approver closes it)─────────────────────────┘
       ├──cancel (the caller, tasks/cancel)──► cancelled
       └──(ttl)──► expired

``approved`` means claimed for execution by exactly one approver (a
compare-and-set on the state). The claim carries a lease: ``owner`` (which
gateway process runs it), ``lease`` (a token unique to this attempt),
``started`` and ``lease_until``, renewed by a heartbeat while the call runs.
A reader that finds ``lease_until`` in the past reports the request
``interrupted``: the tool may or may not have run, so it is never run again
by itself (at most once for side effects); an approver re-runs it
(``retry``) or closes it (``deny``). Every decision is appended to
``history`` with who, when and why. Expiry and interruption are applied when
a request is read or decided.

A request made under an idempotency key is indexed by it (insert-if-absent),
so a retried destructive call finds its request instead of opening another.

Idempotency states: ``running`` → ``done``, the running claim with the same
lease fields. A key found ``running`` with a live lease is in flight (on this
or another replica); with a lapsed lease its outcome is unknown and the
gateway refuses to run it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

from gateway.store import Store

APPROVALS = "mcp_approvals"
APPROVAL_KEYS = "mcp_approval_keys"
KEYS = "mcp_idempotency"
# Rows claimed before leases existed: interrupted once the longest call could have ended.
LEGACY_LEASE_S = 330.0

log = logging.getLogger("fleet.gateway.mcp")


def lease_seconds() -> float:
    """How long a claim stays live without a heartbeat (``FLEET_MCP_LEASE_S``, default 30 s)."""
    try:
        value = float(os.environ.get("FLEET_MCP_LEASE_S", "30"))
    except ValueError:
        value = 30.0
    return value if value > 0 else 30.0


@dataclass(frozen=True)
class Claim:
    """Outcome of :meth:`Ledger.begin`: ``new`` (caller runs it), ``done`` (result stored),
    ``running`` (in flight under a live lease) or ``interrupted`` (lease lapsed)."""

    state: str
    result: dict[str, Any] | None = None
    row: dict[str, Any] | None = None


def lapsed(row: dict[str, Any], now: float) -> bool:
    until = row.get("lease_until")
    if until is None:
        until = float(row.get("decided") or row.get("created") or 0.0) + LEGACY_LEASE_S
    return bool(until <= now)


class Ledger:
    def __init__(self, store: Store, lease_s: float | None = None):
        self.store = store
        self.lease_s = lease_seconds() if lease_s is None else lease_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        # Claims this process holds: (table, key) -> the row as last written.
        self.held: dict[tuple[str, str], dict[str, Any]] = {}
        self._beating: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- leases

    def _claim_fields(self, now: float) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "lease": secrets.token_hex(8),
            "started": now,
            "lease_until": now + self.lease_s,
        }

    def _hold(self, table: str, key: str, row: dict[str, Any]) -> None:
        self.held[(table, key)] = row
        if self._beating is None or self._beating.done():
            self._beating = asyncio.ensure_future(self._heartbeat())

    def _release(self, table: str, key: str) -> None:
        self.held.pop((table, key), None)

    def abandon(self, approval_id: str | None = None, key: str | None = None) -> None:
        """Stop renewing a claim whose call failed unexpectedly: once its lease runs out it is
        reported interrupted, which is the truth (the outcome is unknown)."""
        if approval_id is not None:
            self._release(APPROVALS, approval_id)
        if key is not None:
            self._release(KEYS, key)

    async def _heartbeat(self) -> None:
        """Renew every lease this process holds, a third of a lease apart, while it holds any."""
        while self.held:
            await asyncio.sleep(self.lease_s / 3)
            for (table, key), row in list(self.held.items()):
                renewed = {**row, "lease_until": time.time() + self.lease_s}
                try:
                    ok = await self.store.row_update(
                        table, key, renewed, if_state=row["state"], if_lease=row["lease"]
                    )
                except Exception:  # the store is down: the next beat tries again
                    log.exception("could not renew the lease of %s %s", table, key)
                    continue
                if (table, key) not in self.held:
                    continue
                if ok:
                    self.held[(table, key)] = renewed
                else:  # taken over (reported interrupted): stop renewing it
                    self._release(table, key)

    async def close(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating

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
            "history": [],
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

    async def _settle(self, row: dict[str, Any]) -> dict[str, Any]:
        """Apply what time alone decides: a pending request expires, a claim whose lease lapsed
        is interrupted (persisted with a compare-and-set, so a racing writer wins cleanly)."""
        now = time.time()
        if row["state"] == "pending" and row["expires"] <= now:
            late = {**row, "state": "expired", "decided": row["expires"]}
            await self.store.row_update(APPROVALS, row["id"], late, if_state="pending")
            return late
        if row["state"] == "approved" and lapsed(row, now):
            cut = {**row, "state": "interrupted", "interrupted": now}
            if await self.store.row_update(
                APPROVALS, row["id"], cut, if_state="approved", if_lease=row.get("lease")
            ):
                return cut
            fresh = await self.store.row_get(APPROVALS, row["id"])
            return fresh or row
        return row

    async def approval(self, approval_id: str) -> dict[str, Any] | None:
        row = await self.store.row_get(APPROVALS, approval_id)
        return await self._settle(row) if row else None

    async def approvals(self, state: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        # Expiry and interruption are lazy: read the rows they start from too, then filter.
        wanted = None if state in ("expired", "interrupted") else state
        rows = [await self._settle(r) for r in await self.store.row_list(APPROVALS, wanted, limit)]
        return [r for r in rows if state is None or r["state"] == state]

    async def _move(
        self, row: dict[str, Any], to: str, action: str, who: str, reason: str | None
    ) -> dict[str, Any] | None:
        now = time.time()
        moved = {
            **row,
            "state": to,
            "decided_by": who,
            "decided": now,
            "reason": reason,
            "history": [
                *(row.get("history") or []),
                {"action": action, "by": who, "at": now, "reason": reason},
            ],
        }
        if to == "approved":
            moved.update(self._claim_fields(now))
            moved["attempt"] = int(row.get("attempt") or 0) + 1
        if not await self.store.row_update(APPROVALS, row["id"], moved, if_state=row["state"]):
            return None
        if to == "approved":
            self._hold(APPROVALS, row["id"], moved)
        return moved

    async def decide(
        self, approval_id: str, to: str, who: str, reason: str | None
    ) -> dict[str, Any] | None:
        """Approve or deny a pending request (deny also closes an interrupted one). Returns the
        row as moved, or None if it is not in a state that allows it (someone else decided
        first, it expired, …). The compare-and-set is the claim: one caller wins; an approved
        row is claimed for execution by this process, under a lease."""
        row = await self.approval(approval_id)
        allowed = ("pending", "interrupted") if to == "denied" else ("pending",)
        if row is None or row["state"] not in allowed:
            return None
        return await self._move(row, to, "approve" if to == "approved" else "deny", who, reason)

    async def cancel(self, approval_id: str, who: str, reason: str | None) -> dict[str, Any] | None:
        """The caller withdraws its own pending request (``tasks/cancel``): it never runs. None
        unless it is pending (an approver decided first, or it expired)."""
        row = await self.approval(approval_id)
        if row is None or row["state"] != "pending":
            return None
        return await self._move(row, "cancelled", "cancel", who, reason)

    async def retry(self, approval_id: str, who: str, reason: str | None) -> dict[str, Any] | None:
        """Claim an interrupted request for one more execution; None unless it is interrupted."""
        row = await self.approval(approval_id)
        if row is None or row["state"] != "interrupted":
            return None
        return await self._move(row, "approved", "retry", who, reason)

    async def executed(self, row: dict[str, Any], result: dict[str, Any]) -> bool:
        """Store the result of the attempt ``row`` claimed. If a reader already reported it
        interrupted (its heartbeat stalled) and nobody re-ran it, the late result still lands."""
        self._release(APPROVALS, row["id"])
        current = await self.store.row_get(APPROVALS, row["id"]) or row
        done = {**current, "state": "executed", "executed": time.time(), "result": result}
        for state in ("approved", "interrupted"):
            if await self.store.row_update(
                APPROVALS, row["id"], done, if_state=state, if_lease=row["lease"]
            ):
                return True
        log.warning(
            "result of %s attempt %s arrived after a retry; kept in the trace only",
            row["id"],
            row.get("attempt"),
        )
        return False

    # ---------------------------------------------------------------- idempotency

    async def begin(
        self, key: str, loop: str, server: str, tool: str, member: str | None = None
    ) -> Claim:
        now = time.time()
        row = {
            "state": "running",
            "loop": loop,
            "member": member or loop,
            "server": server,
            "tool": tool,
            "created": now,
            **self._claim_fields(now),
        }
        if await self.store.row_insert(KEYS, key, row):
            self._hold(KEYS, key, row)
            return Claim("new", row=row)
        found = await self.store.row_get(KEYS, key) or {"state": "running"}
        if found["state"] == "running" and lapsed(found, now):
            return Claim("interrupted", row=found)
        return Claim(found["state"], found.get("result"), found)

    async def wait(self, key: str, timeout_s: float) -> Claim:
        """Poll a key another process is running until it is done, its lease lapses or
        ``timeout_s`` passes; returns the last claim seen."""
        deadline = time.time() + timeout_s
        delay = 0.01
        while True:
            now = time.time()
            found = await self.store.row_get(KEYS, key)
            if found is None:
                return Claim("running")  # forgotten (never reached the server): not ours to run
            if found["state"] == "running" and lapsed(found, now):
                return Claim("interrupted", row=found)
            if found["state"] != "running" or now >= deadline:
                return Claim(found["state"], found.get("result"), found)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def finish(self, key: str, result: dict[str, Any]) -> None:
        held = self.held.get((KEYS, key))
        self._release(KEYS, key)
        row = held or await self.store.row_get(KEYS, key) or {}
        await self.store.row_update(
            KEYS,
            key,
            {**row, "state": "done", "result": result, "finished": time.time()},
            if_state="running",
            if_lease=row.get("lease"),
        )

    async def forget(self, key: str) -> None:
        """Drop a key whose call never reached the server (so a retry may run it). Only the
        caller that claimed the key calls this, while it is still ``running``."""
        self._release(KEYS, key)
        row = await self.store.row_get(KEYS, key)
        if row is not None and row.get("state") == "running":
            await self.store.row_delete(KEYS, key)
