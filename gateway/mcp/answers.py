"""What a loop is told about calls that did not simply run: the result of the
``fleet_approval_result`` pseudo-tool for each approval state, and the JSON-RPC
error for an idempotency key that is in flight or whose outcome is unknown.
Each message says what happened and what to do next."""

from __future__ import annotations

import time
from typing import Any

from gateway.mcp.ledger import Claim
from gateway.mcp.wire import text_result

RESULT_TOOL = "fleet_approval_result"
UNKNOWN_OUTCOME = -32005
IN_FLIGHT = -32007


def ago(ts: Any) -> str:
    if not isinstance(ts, int | float) or not ts:
        return "an unknown time"
    s = max(0, int(time.time() - float(ts)))
    return f"{s} s" if s < 120 else f"{s // 60} min" if s < 7200 else f"{s // 3600} h"


def key_busy(claim: Claim, server: str, tool: str) -> dict[str, Any]:
    """The JSON-RPC error for a key another call holds (``running``) or a dead one left (``interrupted``)."""
    row = claim.row or {}
    where = row.get("owner") or "a gateway"
    if claim.state == "running":
        return {
            "code": IN_FLIGHT,
            "message": f"{server}.{tool} with this idempotency key is in flight on {where} "
            f"(started {ago(row.get('started'))} ago); retry with the same key shortly to get its result",
            "data": {"state": "running", "owner": row.get("owner"), "started": row.get("started")},
        }
    return {
        "code": UNKNOWN_OUTCOME,
        "message": f"{server}.{tool} with this idempotency key is interrupted: it started "
        f"{ago(row.get('started'))} ago on {where}, which stopped mid-call (its lease ran out "
        f"{ago(row.get('lease_until'))} ago); its outcome is unknown, so it is not run again "
        f"(check {server}, then use a new key)",
        "data": {"state": "interrupted", "owner": row.get("owner"), "started": row.get("started")},
    }


def not_done(
    approval_id: str, state: str, text: str, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A call that waits for (or on) a human: ``isError`` true, so no client or model takes
    it for the tool's result, with the approval in ``_meta`` and, for SDKs that drop
    ``_meta``, in ``structuredContent`` too (a gated tool lists no output schema)."""
    approval = {"id": approval_id, "state": state, "fetch_with": RESULT_TOOL}
    result = text_result(text, error=True, extra={**(meta or {}), "fleet/approval": approval})
    result["structuredContent"] = {"fleet_approval": approval}
    return result


def pending_call(approval_id: str, server: str, tool: str) -> dict[str, Any]:
    """The answer to a gated call just queued for approval."""
    return not_done(
        approval_id,
        "pending",
        f"NOT DONE: {server}.{tool} has not run. It waits for a human to approve request "
        f"{approval_id} (fleetctl approvals approve {approval_id}). This is not the tool's "
        f'result. Later, call the tool {RESULT_TOOL} with {{"approval_id": "{approval_id}"}} '
        "to get the outcome.",
    )


def approval_answer(row: dict[str, Any]) -> dict[str, Any]:
    """The ``fleet_approval_result`` result for an approval request in its current state."""
    state = row["state"]
    meta = {"fleet/approval": {"id": row["id"], "state": state}}
    if state == "executed":
        result = dict(row["result"] or {})
        earlier = result.get("_meta")
        result["_meta"] = {**(earlier if isinstance(earlier, dict) else {}), **meta}
        return result
    if state == "pending":
        return not_done(
            row["id"],
            state,
            f"NOT DONE: approval {row['id']} for {row['server']}.{row['tool']} is still "
            f"pending; the call has not run. Call {RESULT_TOOL} again later.",
        )
    if state == "approved":
        return not_done(
            row["id"],
            state,
            f"NOT DONE YET: approval {row['id']} was approved by {row['decided_by']} and "
            f"{row['server']}.{row['tool']} is executing (started {ago(row.get('started'))} "
            f"ago on {row.get('owner') or 'a gateway'}); call {RESULT_TOOL} again shortly.",
        )
    if state == "interrupted":
        return text_result(
            f"approval {row['id']} for {row['server']}.{row['tool']} is interrupted: the gateway "
            f"running it ({row.get('owner') or 'unknown'}) stopped {ago(row.get('started'))} "
            "after it started, so whether the call ran is unknown, and it is not run again "
            f"by itself. A human can check {row['server']}, then re-run it "
            f"(fleetctl approvals retry {row['id']}) or close it (fleetctl approvals deny "
            f"{row['id']}); ask again later",
            error=True,
            extra=meta,
        )
    who = f" by {row['decided_by']}" if row["decided_by"] else ""
    why = f": {row['reason']}" if row["reason"] else ""
    if row.get("interrupted"):
        return text_result(
            f"approval {row['id']} for {row['server']}.{row['tool']} was interrupted (outcome "
            f"unknown) and then closed{who}{why}; it was not run again",
            error=True,
            extra=meta,
        )
    return text_result(
        f"approval {row['id']} for {row['server']}.{row['tool']} was {state}{who}{why}; the call did not run",
        error=True,
        extra=meta,
    )
