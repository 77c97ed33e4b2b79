"""The MCP half as one ASGI callable: routes ``/mcp`` to the aggregated endpoint,
``/mcp/<server>`` to the proxy endpoint, ``/approvals…`` to the approvers' API and the RFC 9728 metadata to
:mod:`gateway.mcp.discovery`, and renders gateway errors.

No request gets a traceback: a refusal is a :class:`gateway.errors.GatewayError`
rendered as JSON (JSON-RPC on ``/mcp/``), and anything else that escapes is
logged with its traceback under an incident id and answered 500 with that id
alone (never with the exception's text, which could quote what it was handling).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import orjson

from gateway.errors import GatewayError, NotFoundError
from gateway.mcp import discovery
from gateway.mcp.aggregate import AggregateEndpoint
from gateway.mcp.api import ApprovalsApi
from gateway.mcp.calls import ToolCalls
from gateway.mcp.endpoint import JSON, McpEndpoint, Receive, Scope, Send, respond
from gateway.mcp.jsonrpc import INTERNAL_ERROR
from gateway.mcp.ledger import Ledger
from gateway.mcp.sessions import Sessions
from gateway.mcp.wire import Pool

log = logging.getLogger("fleet.gateway.mcp")
# Pending requests read per scrape at most: past this the gauge shows a floor.
PENDING_COUNTED = 10_000


class McpApp:
    def __init__(self, gateway: Any):
        self.gateway = gateway
        self.ledger = Ledger(gateway.store)
        # One pool for every catalog server; tool calls can be slow, approvals can wait for days.
        self.pool = Pool()
        self.calls = ToolCalls(gateway, self.ledger, self.pool)
        self.sessions = Sessions(gateway.store)
        self.endpoint = McpEndpoint(gateway, self.calls, self.pool, self.sessions)
        self.aggregate = AggregateEndpoint(gateway, self.calls, self.pool, self.sessions)
        self.api = ApprovalsApi(gateway, self.calls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Served standalone: nothing to start; the pool and ledger open lazily.
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    return
        path: str = scope["path"]
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if path in ("/mcp", "/mcp/"):
                await self.aggregate(scope, receive, tracked)
            elif path.startswith("/mcp/"):
                await self.endpoint(scope, receive, tracked)
            elif path == "/approvals" or path.startswith("/approvals/"):
                await self.api(scope, receive, tracked)
            elif path.startswith(discovery.WELL_KNOWN):
                await discovery.serve(self.gateway, scope, tracked)
            else:
                raise NotFoundError("not_found", f"no route for {path}")
        except GatewayError as exc:
            if started:  # mid-stream: the answer is cut short, nothing more can be said
                log.warning("%s after the answer started: %s", path, exc.message)
                return
            headers = [*JSON, *((k.encode(), v.encode()) for k, v in exc.headers.items())]
            await respond(send, exc.status, exc.body(), headers)
        except Exception:
            incident = secrets.token_hex(6)
            log.exception("internal error %s on %s %s", incident, scope.get("method"), path)
            if started:
                return
            error = {
                "code": INTERNAL_ERROR,
                "message": f"internal error in the gateway (incident {incident}, in its log)",
            }
            body = orjson.dumps({"jsonrpc": "2.0", "id": None, "error": error})
            await respond(send, 500, body, JSON)

    async def gauges(self, metrics: Any) -> None:
        """Approval requests pending per server, as ``/metrics`` shows them."""
        counts: dict[str, int] = dict.fromkeys(self.gateway.holder.runtime.config.mcp_servers, 0)
        for row in await self.ledger.approvals("pending", limit=PENDING_COUNTED):
            counts[row["server"]] = counts.get(row["server"], 0) + 1
        for server, n in counts.items():
            metrics.set("fleet_gateway_mcp_approvals_pending", n, server=server)

    async def aclose(self) -> None:
        await self.calls.drain()
        await self.ledger.close()
        await self.pool.close()
