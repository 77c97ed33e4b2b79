"""The MCP half as one ASGI callable: routes ``/mcp/<server>`` to the proxy
endpoint and ``/approvals…`` to the approvers' API, and renders gateway errors."""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError, NotFoundError
from gateway.mcp.api import ApprovalsApi
from gateway.mcp.calls import ToolCalls
from gateway.mcp.endpoint import JSON, McpEndpoint, Receive, Scope, Send, respond
from gateway.mcp.ledger import Ledger
from gateway.mcp.wire import Pool


class McpApp:
    def __init__(self, gateway: Any):
        self.gateway = gateway
        self.ledger = Ledger(gateway.store)
        # One pool for every catalog server; tool calls can be slow, approvals can wait for days.
        self.pool = Pool()
        self.calls = ToolCalls(gateway, self.ledger, self.pool)
        self.endpoint = McpEndpoint(gateway, self.calls, self.pool)
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
        try:
            if path.startswith("/mcp/"):
                await self.endpoint(scope, receive, send)
            elif path == "/approvals" or path.startswith("/approvals/"):
                await self.api(scope, receive, send)
            else:
                raise NotFoundError("not_found", f"no route for {path}")
        except GatewayError as exc:
            headers = [*JSON, *((k.encode(), v.encode()) for k, v in exc.headers.items())]
            await respond(send, exc.status, exc.body(), headers)

    async def aclose(self) -> None:
        await self.calls.drain()
        await self.ledger.close()
        await self.pool.close()
