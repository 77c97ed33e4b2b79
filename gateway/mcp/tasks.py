"""Approvals as MCP Tasks (protocol revision 2025-11-25), on ``/mcp`` and ``/mcp/<server>``.

A client that declares the ``tasks`` capability and calls a gated tool with a
``task`` field gets a ``CreateTaskResult`` instead of the pending notice: the
task *is* the approval request (its id is the approval id, ``ap_…``), so it is
as durable as the request, on SQLite and on Redis alike, and needs no table of
its own. Its status follows the request::

    pending, approved (running), interrupted  -> working
    executed                                  -> completed (the tool's result)
    denied, expired                           -> failed (who and why in statusMessage)
    cancelled (tasks/cancel)                  -> cancelled (it never runs)

``tasks/get`` reads that status; ``tasks/result`` waits (up to
``FLEET_MCP_TASK_WAIT_S``, default 25 s) for a terminal status and returns what
``fleet_approval_result`` would (the stored result of the one execution an
approver started, never a second run); ``tasks/cancel`` withdraws a pending
request; ``tasks/list`` lists the caller's own tasks, a page at a time. A task id
that is not one of the caller's own (another identity's, made up) is a JSON-RPC
error, the same for both, so nobody learns which ids exist.

No ``notifications/tasks/status`` are sent (``/mcp`` merges no server streams onto
its GET stream), so clients poll, at the ``pollInterval`` given.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from typing import Any

from gateway.mcp.answers import approval_answer
from gateway.mcp.jsonrpc import INVALID_PARAMS, MAX_HEADER
from gateway.mcp.ledger import APPROVALS

RELATED = "io.modelcontextprotocol/related-task"
POLL_MS = 5000
PAGE = 100
SCAN = 5000  # approval rows read per tasks/list page at most (the caller's are kept)
TASK_WORKING = -32008
STATUS = {
    "pending": "working",
    "approved": "working",
    "interrupted": "working",
    "executed": "completed",
    "denied": "failed",
    "expired": "failed",
    "cancelled": "cancelled",
}
TERMINAL = ("completed", "failed", "cancelled")
METHODS = ("tasks/get", "tasks/result", "tasks/cancel", "tasks/list")


def wait_seconds() -> float:
    try:
        value = float(os.environ.get("FLEET_MCP_TASK_WAIT_S", "25"))
    except ValueError:
        value = 25.0
    return max(0.0, value)


def _iso(ts: Any) -> str:
    moment = dt.datetime.fromtimestamp(float(ts or 0), dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _message(row: dict[str, Any]) -> str:
    state, call = row["state"], f"{row['server']}.{row['tool']}"
    by = f" by {row['decided_by']}" if row.get("decided_by") else ""
    why = f": {row['reason']}" if row.get("reason") else ""
    return {
        "pending": f"waiting for a human to approve {row['id']}; {call} has not run",
        "approved": f"approved{by}; {call} is running",
        "interrupted": f"{call} was interrupted mid-call (outcome unknown); it waits for a "
        "human to re-run or close it",
        "executed": f"{call} ran after approval{by}",
        "denied": f"denied{by}{why}; {call} did not run",
        "expired": f"expired before anyone approved it; {call} did not run",
        "cancelled": f"cancelled{by}{why}; {call} did not run",
    }.get(state, state)


def task_json(row: dict[str, Any], ttl_s: float) -> dict[str, Any]:
    """The MCP ``Task`` of an approval request."""
    stamps = [row.get(k) for k in ("created", "decided", "executed", "interrupted", "started")]
    updated = max((float(t) for t in stamps if isinstance(t, int | float)), default=0.0)
    return {
        "taskId": row["id"],
        "status": STATUS.get(row["state"], "working"),
        "statusMessage": _message(row),
        "createdAt": _iso(row.get("created")),
        "lastUpdatedAt": _iso(updated),
        "ttl": int(ttl_s * 1000),
        "pollInterval": POLL_MS,
    }


def _error(code: int, message: str, **data: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **({"data": data} if data else {})}}


class Tasks:
    """The four tasks/* methods, for one caller; ``calls`` is the :class:`ToolCalls`."""

    def __init__(self, calls: Any):
        self.calls = calls

    @property
    def ttl_s(self) -> float:
        return float(self.calls.config.approval_ttl_s)

    async def answer(self, method: str, ident: Any, params: dict[str, Any]) -> dict[str, Any]:
        """``{"result": …}`` or ``{"error": …}`` for one tasks/* request."""
        if method == "tasks/list":
            return await self.listing(ident, params.get("cursor"))
        task_id = params.get("taskId")
        if not isinstance(task_id, str) or not task_id or len(task_id) > MAX_HEADER:
            return _error(INVALID_PARAMS, f"{method}: params.taskId must be a task id")
        row = await self.own(ident, task_id)
        if row is None:
            return _error(
                INVALID_PARAMS,
                f"{method}: no task {task_id[:80]!r} of '{ident.member}' (a task id is the "
                "one a tools/call answered with; tasks/list lists yours)",
                taskId=task_id[:80],
            )
        if method == "tasks/get":
            return {"result": task_json(row, self.ttl_s)}
        if method == "tasks/cancel":
            return await self.cancel(ident, row)
        return await self.result(row)

    async def own(self, ident: Any, task_id: str) -> dict[str, Any] | None:
        row = await self.calls.ledger.approval(task_id)
        if row is None or row.get("member", row.get("loop")) != ident.member:
            return None
        return row

    async def cancel(self, ident: Any, row: dict[str, Any]) -> dict[str, Any]:
        moved = await self.calls.ledger.cancel(
            row["id"], ident.member, "cancelled by the caller (tasks/cancel)"
        )
        if moved is None:
            now = await self.calls.ledger.approval(row["id"]) or row
            status = STATUS.get(now["state"], "working")
            hint = (
                "it already ended"
                if status in TERMINAL
                else "an approver claimed it and it is running (or interrupted); it can no "
                "longer be withdrawn"
            )
            return _error(
                INVALID_PARAMS,
                f"tasks/cancel: task {row['id']} is {status} ({now['state']}): {hint}",
                status=status,
            )
        self.calls.gateway.metrics.inc(
            "fleet_gateway_mcp_approvals_decided_total",
            server=str(row["server"]),
            decision="cancel",
        )
        return {"result": task_json(moved, self.ttl_s)}

    async def result(self, row: dict[str, Any]) -> dict[str, Any]:
        """The task's payload once it ends: the tool's stored result after the approved run,
        or the refusal; waits a while for a working task (the spec's tasks/result blocks)."""
        deadline = time.monotonic() + wait_seconds()
        delay = 0.05
        while STATUS.get(row["state"], "working") not in TERMINAL:
            if time.monotonic() >= deadline:
                return _error(
                    TASK_WORKING,
                    f"task {row['id']} is still working ({_message(row)}); call tasks/result "
                    f"again later, or poll tasks/get every {POLL_MS // 1000} s",
                    status="working",
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            row = await self.calls.ledger.approval(row["id"]) or row
        result = dict(self.calls.redactor.value(approval_answer(row)))
        meta = result.get("_meta")
        result["_meta"] = {
            **(meta if isinstance(meta, dict) else {}),
            RELATED: {"taskId": row["id"]},
        }
        return {"result": result}

    async def listing(self, ident: Any, cursor: Any) -> dict[str, Any]:
        if cursor is None:
            offset = 0
        elif isinstance(cursor, str) and cursor.isdigit() and len(cursor) <= 12:
            offset = int(cursor)
        else:
            return _error(INVALID_PARAMS, "tasks/list: cursor must be a nextCursor it returned")
        store = self.calls.ledger.store
        tasks: list[dict[str, Any]] = []
        scanned = 0
        while len(tasks) < PAGE and scanned < SCAN:
            rows = await store.row_list(APPROVALS, None, PAGE, offset=offset + scanned)
            scanned += len(rows)
            for r in rows:
                if r.get("task") and r.get("member") == ident.member:
                    settled = await self.calls.ledger.approval(r["id"]) or r
                    tasks.append(task_json(settled, self.ttl_s))
            if len(rows) < PAGE:
                return {"result": {"tasks": tasks}}
        return {"result": {"tasks": tasks, "nextCursor": str(offset + scanned)}}
