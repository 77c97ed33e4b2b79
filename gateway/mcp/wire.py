"""MCP streamable HTTP on the wire: JSON-RPC bodies in JSON or SSE responses,
the headers that travel between caller, gateway and server, and a one-shot
client session for calls the gateway makes on its own (after an approval).

The gateway never shows the caller the server's credential: outbound headers
are built from an allow-list, and ``Authorization`` is always the server's.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from fleet.gwconfig import GwMcpServer

PROTOCOL_VERSION = "2025-06-18"
# Caller headers worth passing on; everything else (the caller's token first) stays here.
FORWARD = (b"accept", b"content-type", b"mcp-session-id", b"mcp-protocol-version", b"last-event-id")
RETURN = {"content-type", "mcp-session-id", "cache-control", "x-accel-buffering"}


def upstream_headers(
    scope_headers: list[tuple[bytes, bytes]], server: GwMcpServer
) -> dict[str, str]:
    out = {k.decode(): v.decode("latin-1") for k, v in scope_headers if k in FORWARD}
    out.setdefault("accept", "application/json, text/event-stream")
    cred = credential(server)
    if cred:
        out["authorization"] = f"Bearer {cred}"
    return out


def credential(server: GwMcpServer) -> str | None:
    return os.environ.get(server.credentials.env) if server.credentials else None


def reply_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    return [
        (k.encode(), v.encode("latin-1"))
        for k, v in response.headers.items()
        if k.lower() in RETURN
    ]


@dataclass
class Event:
    """One SSE event: its raw non-data lines (id, event, retry) and its data."""

    fields: list[str]
    data: str


def parse_sse(text: str) -> list[Event]:
    events: list[Event] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        fields: list[str] = []
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            else:
                fields.append(line)
        events.append(Event(fields, "\n".join(data)))
    return events


def render_sse(events: list[Event]) -> bytes:
    parts = []
    for e in events:
        lines = [*e.fields, *(f"data: {d}" for d in e.data.split("\n"))] if e.data else e.fields
        parts.append("\n".join(lines) + "\n\n")
    return "".join(parts).encode()


class Reply:
    """An upstream answer to one JSON-RPC request, editable in place, re-rendered in its own format."""

    def __init__(self, status: int, content_type: str, body: bytes, request_id: Any):
        self.status = status
        self.sse = content_type.startswith("text/event-stream")
        self.events = parse_sse(body.decode()) if self.sse else []
        self.body = body
        self.request_id = request_id
        self.message: dict[str, Any] | None = None
        self._index = -1
        if self.sse:
            for i, e in enumerate(self.events):
                msg = _loads(e.data)
                if isinstance(msg, dict) and msg.get("id") == request_id and "method" not in msg:
                    self.message, self._index = msg, i
        else:
            msg = _loads(body)
            if isinstance(msg, dict):
                self.message = msg

    def render(self) -> bytes:
        if self.message is None:
            return self.body
        if self.sse:
            self.events[self._index].data = orjson.dumps(self.message).decode()
            return render_sse(self.events)
        return orjson.dumps(self.message)


def _loads(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def text_result(
    text: str, *, error: bool = False, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": error}
    if extra:
        result["_meta"] = extra
    return result


async def call_once(
    client: httpx.AsyncClient, server: GwMcpServer, tool: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    """initialize → initialized → tools/call → DELETE: a whole session for one call the gateway
    makes itself. Returns the JSON-RPC response message."""
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
    }
    cred = credential(server)
    if cred:
        headers["authorization"] = f"Bearer {cred}"

    async def post(message: dict[str, Any]) -> httpx.Response:
        r = await client.post(server.url, content=orjson.dumps(message), headers=headers)
        r.raise_for_status()
        return r

    init = await post(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "fleet-gateway", "version": "1"},
            },
        }
    )
    session = init.headers.get("mcp-session-id")
    if session:
        headers["mcp-session-id"] = session
    headers["mcp-protocol-version"] = PROTOCOL_VERSION
    try:
        await post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        r = await post(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            }
        )
        reply = Reply(r.status_code, r.headers.get("content-type", ""), r.content, 2)
        if reply.message is None:
            raise httpx.HTTPError(f"no JSON-RPC answer from {server.url}")
        return reply.message
    finally:
        if session:
            # The server ends idle sessions itself if this fails.
            with contextlib.suppress(httpx.HTTPError):
                await client.delete(server.url, headers=headers)
