"""How a tools/call ends: its trace step, its ``/metrics`` counts, and the answer it gets.

Every call, refused, pending, replayed or run, leaves one trace step, written (redacted)
before the answer leaves, so a caller that saw an answer can always find its step; a
trace that cannot be written never fails the call it describes. A server's answer is
passed on as it came unless a guardrail changed its result, and an answer that is a
single SSE event goes out as plain JSON.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from typing import Any

import orjson

from gateway.guardrails import Verdict
from gateway.mcp.answers import RESULT_TOOL
from gateway.mcp.listing import Listing
from gateway.mcp.redact import Redactor, redactor_for
from gateway.mcp.screening import post_guard_async
from gateway.mcp.wire import Reply

log = logging.getLogger("fleet.gateway.mcp")

UNREACHABLE = -32006
# The headers of an answer the gateway wrote itself (compared by identity: a server's
# 5xx is reported as its failure, the gateway's own 502 goes out as written).
OWN_ANSWER = [(b"content-type", b"application/json")]

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def unreachable_error(server: str, why: str) -> dict[str, Any]:
    """The JSON-RPC error for a server the gateway could not reach (sent with HTTP 502)."""
    return {
        "code": UNREACHABLE,
        "message": f"MCP server '{server}' unreachable: {why}; retry later or ask its owners",
        "data": {"code": "mcp_upstream_unavailable", "server": server},
    }


class Records:
    """The trace steps and metrics of tool calls, and the answers they end with."""

    def __init__(self, gateway: Any, listing: Listing):
        self.gateway = gateway
        self.listing = listing
        self._trace_ids = itertools.count(1)
        self._trace_prefix = secrets.token_hex(6) + "-"

    @property
    def redactor(self) -> Redactor:
        rt = self.gateway.holder.runtime
        return redactor_for(rt.config, getattr(rt, "credentials", None))

    async def trace(self, **record: Any) -> None:
        """Record a trace step, durable before the answer leaves: the SQLite store appends it
        to its journal with one write; Redis appends it in one round trip."""
        record.setdefault("id", f"{self._trace_prefix}{next(self._trace_ids):x}")
        record.setdefault("ts", time.time())
        record["kind"] = "tool"
        self.count(record)
        await self._write(self.redactor.value(record))

    def count(self, record: dict[str, Any]) -> None:
        """The call in ``/metrics``. A tool name is a label only once its server listed it
        (or it is the gateway's own): a caller cannot mint series with made-up names."""
        server, tool = str(record.get("server") or ""), str(record.get("tool") or "")
        if tool != RESULT_TOOL and not self.listing.listed(server, tool):
            tool = "(unlisted)"
        metrics = self.gateway.metrics
        outcome = str(record.get("outcome") or "unknown")
        metrics.inc(
            "fleet_gateway_mcp_tool_calls_total",
            server=server,
            tool=tool,
            tool_class=str(record.get("tool_class") or "none"),
            outcome=outcome,
        )
        if outcome in ("denied", "blocked"):
            metrics.inc(
                "fleet_gateway_mcp_denials_total",
                server=server,
                reason=str(record.get("denied_by") or outcome),
            )

    async def _write(self, record: dict[str, Any]) -> None:
        try:
            await self.gateway.store.write_trace(record)
        except Exception:  # a trace must never fail the call it describes
            log.exception("could not write a tool trace")

    async def answer(
        self,
        trace: dict[str, Any],
        started: float,
        rid: Any,
        outcome: str,
        answer: dict[str, Any],
        **extra: Any,
    ) -> Answer:
        """An answer the gateway writes itself (a refusal, a pending call, a replay): its
        trace step first, then the JSON-RPC answer, with HTTP 502 for an unreachable server."""
        trace.update(extra)
        trace["outcome"] = outcome
        trace["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        if "error" in answer or (answer.get("result") or {}).get("isError"):
            trace["error"] = True
        await self.trace(**trace)
        error = answer.get("error")
        return (
            502 if isinstance(error, dict) and error.get("code") == UNREACHABLE else 200,
            OWN_ANSWER,
            orjson.dumps({"jsonrpc": "2.0", "id": rid, **answer}),
        )

    async def finish(
        self,
        reply: Reply,
        rh: list[tuple[bytes, bytes]],
        trace: dict[str, Any],
        started: float,
        verdicts: list[Verdict] | None = None,
    ) -> Answer:
        """The server's answer to a call that ran: its result through ``mcp_post_tool``
        unless ``verdicts`` says that was done already, its trace step, then the answer."""
        msg = reply.message
        changed = True
        if msg is not None and isinstance(msg.get("result"), dict):
            if verdicts is None:
                result = msg["result"]
                rules = self.gateway.holder.runtime.config.guardrails.mcp_post_tool
                msg["result"], verdicts, _ = await post_guard_async(rules, result, len(reply.body))
                changed = msg["result"] is not result
            trace["guardrails"] = trace.get("guardrails", []) + [v.to_json() for v in verdicts]
            if any(v.action == "block" for v in verdicts):
                trace["outcome"] = "blocked"
            else:
                trace["outcome"] = "error" if msg["result"].get("isError") else "ok"
        else:
            trace["outcome"] = "error"
            changed = False  # an error or no JSON-RPC answer: passed on as it came (redacted)
        if trace["outcome"] != "ok":
            trace["error"] = True
        trace["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        await self.trace(**trace)
        if reply.sse and reply.message is not None and len(reply.events) == 1:
            # An answer that is one event needs no stream: as JSON (which the streamable HTTP
            # transport allows, and every client accepts) it costs the caller's SSE parser
            # nothing, about a third of a tool call's client CPU.
            rh = [(k, v) for k, v in rh if k.lower() != b"content-type"]
            rh.append((b"content-type", b"application/json"))
            return reply.status, rh, reply.render_json()
        return reply.status, rh, reply.render() if changed else reply.body
