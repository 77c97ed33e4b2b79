"""ASGI endpoint ``/mcp/<server>``: authenticate the caller, filter ``tools/list``,
hand ``tools/call`` to :class:`gateway.mcp.calls.ToolCalls`, and stream every
other exchange (initialize, notifications, the GET stream, DELETE) through to
the catalog server with its credential.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.errors import GatewayError, NotFoundError
from gateway.mcp import grants
from gateway.mcp.calls import RESULT_TOOL, UNREACHABLE, ToolCalls
from gateway.mcp.relay import Relay
from gateway.mcp.wire import Pool, Reply, Unreachable, upstream_headers

log = logging.getLogger("fleet.gateway.mcp")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
JSON = [(b"content-type", b"application/json")]
MAX_BODY = 8 * 1024 * 1024

RESULT_TOOL_SPEC = {
    "name": RESULT_TOOL,
    "description": "Fetch the outcome of a tool call that waited for human approval.",
    "inputSchema": {
        "type": "object",
        "properties": {"approval_id": {"type": "string"}},
        "required": ["approval_id"],
    },
}


async def respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise GatewayError("body_too_large", f"request body over {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


class McpEndpoint:
    def __init__(self, gateway: Any, calls: ToolCalls, pool: Pool):
        self.gateway = gateway
        self.calls = calls
        self.pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = self.gateway.holder.runtime
        name = scope["path"][len("/mcp/") :].strip("/")
        server = rt.config.mcp_servers.get(name)
        if server is None:
            known = ", ".join(sorted(rt.config.mcp_servers)) or "none"
            raise NotFoundError(
                "unknown_mcp_server",
                f"no MCP server '{name}' in the fleet catalog (known: {known})",
            )
        ident = self.gateway.authenticate(scope, rt)
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        method = scope["method"]
        if method != "POST":
            await self.passthrough(scope, receive, send, server, method, b"")
            return
        body = await read_body(receive)
        try:
            msg = orjson.loads(body)
        except orjson.JSONDecodeError:
            await respond(
                send,
                400,
                orjson.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": None,
                        "error": {"code": -32700, "message": "parse error"},
                    }
                ),
                JSON,
            )
            return
        if not isinstance(msg, dict):
            # Batches (dropped from MCP in 2025-06-18) would let a tools/call slip past policy.
            error = {
                "code": -32600,
                "message": "JSON-RPC batches are not supported; send one message per request",
            }
            await respond(
                send, 400, orjson.dumps({"jsonrpc": "2.0", "id": None, "error": error}), JSON
            )
            return
        kind = msg.get("method")
        try:
            await self.dispatch(kind, ident, name, server, msg, body, headers, scope, receive, send)
        except Unreachable as exc:
            # A JSON-RPC error, so the loop's SDK reports it as a failed call, not a broken transport.
            error = {"code": UNREACHABLE, "message": f"MCP server '{name}' unreachable: {exc}"}
            out = orjson.dumps({"jsonrpc": "2.0", "id": msg.get("id"), "error": error})
            await respond(send, 200 if "id" in msg else 502, out, JSON)

    async def dispatch(
        self,
        kind: Any,
        ident: Any,
        name: str,
        server: Any,
        msg: Any,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        method = scope["method"]
        if kind == "tools/call":
            relay = Relay(send, msg.get("id"), self.calls.screen)
            status, rh, out = await self.calls.tools_call(
                ident, name, server, msg, headers, body, relay
            )
            if relay.started:  # interim events went out already: the result ends the stream
                await send({"type": "http.response.body", "body": Relay.last(out)})
            else:
                await respond(send, status, out, rh)
        elif kind == "tools/list":
            reply, rh = await self.calls.forward(server, headers, body, msg.get("id"))
            self.filter_list(reply, ident, name)
            await respond(send, reply.status, reply.render(), rh)
        else:
            await self.passthrough(scope, receive, send, server, method, body)

    def filter_list(self, reply: Reply, ident: Any, name: str) -> None:
        result = (reply.message or {}).get("result")
        if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            return
        config = self.gateway.holder.runtime.config
        shown = []
        gated = False
        for tool in result["tools"]:
            tname = str(tool.get("name", ""))
            cls = grants.tool_class(config, name, tname)
            if not grants.visible(ident, name, tname, cls):
                continue
            if grants.needs_approval(config, ident, name, tname, cls):
                # Its answer may be a pending notice, which no output schema of the tool describes.
                tool = {k: v for k, v in tool.items() if k != "outputSchema"}
                gated = True
            shown.append(tool)
        if gated:
            shown.append(RESULT_TOOL_SPEC)
        result["tools"] = shown

    async def passthrough(
        self, scope: Scope, receive: Receive, send: Send, server: Any, method: str, body: bytes
    ) -> None:
        """Stream one exchange both ways; a GET stream ends when either side hangs up."""
        started = False

        async def pump() -> None:
            nonlocal started
            async with self.pool.stream(
                method, server.url, body or None, upstream_headers(scope["headers"], server)
            ) as (status, headers, content):
                started = True
                await send({"type": "http.response.start", "status": status, "headers": headers})
                async for chunk in content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})

        try:
            if method != "GET":
                await pump()
                return
            pumping = asyncio.ensure_future(pump())
            watcher = asyncio.ensure_future(self._disconnected(receive))
            try:
                await asyncio.wait({pumping, watcher}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                watcher.cancel()
                pumping.cancel()
            if pumping.done() and not pumping.cancelled() and pumping.exception() is not None:
                raise pumping.exception()  # type: ignore[misc]
        except Unreachable as exc:
            if not started:
                raise GatewayError(
                    "mcp_upstream_unavailable", f"MCP server unreachable: {exc}"
                ) from exc
        except OSError:
            pass  # the caller hung up mid-stream

    @staticmethod
    async def _disconnected(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
