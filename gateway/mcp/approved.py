"""The approval gate of tools/call: a gated call becomes a durable approval request, runs
once a human approves it, and its stored result is what the loop fetches.

A destructive call is not run when it arrives: it is written to the ledger as a pending
request (with its arguments as the guardrails left them and its idempotency key, so a
retry finds the same request) and the caller gets a pending result, or the request's MCP
task. An approver's decision runs it exactly once per claim, with the server's
credential, through the same ``mcp_post_tool`` guardrails and trace step as any call;
``fleet_approval_result`` then returns the stored, redacted result to the loop that asked.
"""

from __future__ import annotations

import time
from typing import Any

from fleet.gwconfig import GwMcpServer
from gateway.config import Identity
from gateway.guardrails import OFF_LOOP_BYTES
from gateway.mcp.answers import RESULT_TOOL, approval_answer, pending_call
from gateway.mcp.ledger import Ledger
from gateway.mcp.outcome import Records
from gateway.mcp.screening import post_guard_async
from gateway.mcp.tasks import task_json
from gateway.mcp.wire import Pool, Unreachable, call_once, credential, text_result


class Approvals:
    """Approval requests of gated calls: created, run once approved, results fetched."""

    def __init__(self, gateway: Any, ledger: Ledger, pool: Pool, records: Records):
        self.gateway = gateway
        self.ledger = ledger
        self.pool = pool
        self.records = records

    @property
    def config(self) -> Any:
        return self.gateway.holder.runtime.config

    async def request(
        self,
        ident: Identity,
        *,
        run: str | None,
        step: int | None,
        server: str,
        tool: str,
        tool_class: str,
        arguments: Any,
        verdicts: list[dict[str, Any]],
        scoped: str | None,
        as_task: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], str]:
        """Hold a gated call for approval: (the result the caller gets, the request's id).
        A retry with the same key finds the request it made before, maybe decided by now."""
        config = self.config
        row = await self.ledger.create_approval(
            loop=ident.loop,
            member=ident.member,
            run=run,
            step=step,
            server=server,
            tool=tool,
            tool_class=tool_class,
            arguments=arguments,
            verdicts=verdicts,
            idempotency_key=scoped,
            ttl_s=config.approval_ttl_s,
            task=as_task is not None,
        )
        if as_task is not None:
            # The task is the approval request: its id, its state, its result. The pending
            # notice goes along: a client that reads it as a tool result sees no success.
            result = {
                **pending_call(row["id"], server, tool),
                "task": task_json(row, config.approval_ttl_s),
            }
        elif row["state"] == "pending":
            result = pending_call(row["id"], server, tool)
        else:
            result = await self.fetch_result(ident, {"approval_id": row["id"]})
        return result, row["id"]

    async def fetch_result(self, ident: Identity, args: dict[str, Any]) -> dict[str, Any]:
        approval_id = args.get("approval_id")
        if not isinstance(approval_id, str) or not approval_id:
            return text_result(
                f'{RESULT_TOOL} takes {{"approval_id": "ap_…"}}: the id a pending call answered with',
                error=True,
            )
        row = await self.ledger.approval(approval_id)
        if row is None or row["loop"] != ident.loop:
            return text_result(
                f"no approval request {approval_id[:80]!r} for loop '{ident.loop}'", error=True
            )
        # Results stored before redaction existed are redacted on the way out too.
        return self.records.redactor.value(approval_answer(row))

    async def execute_approved(self, row: dict[str, Any], approver: str) -> dict[str, Any]:
        """Run an approval request that this caller just claimed (state ``approved``, under a
        lease the ledger renews while the call runs); exactly once per claim."""
        try:
            return await self._execute_approved(row, approver)
        finally:
            self.ledger.abandon(approval_id=row["id"])  # a no-op once the result is stored

    async def _execute_approved(self, row: dict[str, Any], approver: str) -> dict[str, Any]:
        server: GwMcpServer | None = self.config.mcp_servers.get(row["server"])
        redactor = self.records.redactor
        started = time.perf_counter()
        if server is None:
            result = text_result(
                f"server '{row['server']}' is no longer in the catalog", error=True
            )
        elif server.credentials is not None and not credential(server):
            # As on every other call: sent without it, the call would run anonymously or fail.
            result = text_result(
                f"MCP server '{row['server']}' cannot be called: the gateway has no credential "
                f"for it, so the call did not run; set {server.credentials.env} in the "
                "gateway's environment and restart it, then make the call again",
                error=True,
                extra={
                    "fleet/error": {"code": "credentials_missing", "env": server.credentials.env}
                },
            )
        else:
            try:
                message = redactor.value(
                    await call_once(self.pool, server, row["tool"], row["arguments"])
                )
                result = message.get("result")
                if not isinstance(result, dict):
                    error = message.get("error")
                    why = error.get("message") if isinstance(error, dict) else None
                    result = text_result(f"server error: {why or 'unknown'}", error=True)
            except Unreachable as exc:
                result = text_result(f"server unreachable: {redactor.text(str(exc))}", error=True)
        result, verdicts, _blocked = await post_guard_async(
            self.config.guardrails.mcp_post_tool, result, OFF_LOOP_BYTES + 1
        )
        await self.ledger.executed(row, result)
        await self.records.trace(
            loop=row["loop"],
            member=row["member"],
            run=row["run"],
            step=row["step"],
            server=row["server"],
            tool=row["tool"],
            tool_class=row["tool_class"],
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            outcome="error" if result.get("isError") else "executed",
            guardrails=[v.to_json() for v in verdicts],
            approval_id=row["id"],
            approved_by=approver,
            attempt=row.get("attempt"),
            error=bool(result.get("isError")) or None,
        )
        return result
