"""MCP streamable HTTP on the wire: JSON-RPC bodies in JSON or SSE responses,
the headers that travel between caller, gateway and server, and a one-shot
client session for calls the gateway makes on its own (after an approval).

The gateway never shows the caller the server's credential: outbound headers
are built from an allow-list, and ``Authorization`` is always the server's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from fleet.gwconfig import GwMcpServer
from gateway.mcp.client import Client, HttpFailure, Sink

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


def reply_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [
        (k.lower().encode(), v.encode("latin-1")) for k, v in headers.items() if k.lower() in RETURN
    ]


class Unreachable(Exception):
    """The MCP server could not be reached or did not answer in time."""


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: list[tuple[bytes, bytes]]


class Pool:
    """Keep-alive connections to every catalog server: :mod:`gateway.mcp.client` for
    request/answer exchanges over plain HTTP (the hot path), aiohttp for streams and TLS.
    Opened on first use, inside the event loop."""

    def __init__(self, connections: int = 1000, timeout_s: float = 300.0):
        self._session: aiohttp.ClientSession | None = None
        self.connections = connections
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, connect=5.0)
        # Request/answer exchanges with plain-HTTP servers take the lean client; streams and
        # https take aiohttp.
        self.lean = Client(timeout_s=timeout_s, connections=connections)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # Servers commonly drop idle keep-alive connections after 5 s (uvicorn's default);
                # reusing one they are closing fails the request, so let ours go first.
                connector=aiohttp.TCPConnector(
                    limit=self.connections, ttl_dns_cache=300, keepalive_timeout=4.0
                ),
                timeout=self.timeout,
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        sink: Sink | None = None,
    ) -> Answer:
        """One exchange, read to its end. ``sink`` (plain HTTP only) takes the body's chunks
        as they arrive; the answer's body is then empty."""
        t = self.lean.target(url)
        if t is not None:
            try:
                status, kept, content = await self.lean.request(t, method, body, headers, sink)
            except HttpFailure as exc:
                raise Unreachable(f"{url}: {exc}") from exc
            ctype = next((v for k, v in kept if k == b"content-type"), b"")
            return Answer(status, ctype.decode("latin-1"), content, kept)
        try:
            async with self.session.request(method, url, data=body, headers=headers) as r:
                content = await r.read()
                return Answer(
                    r.status, r.headers.get("content-type", ""), content, reply_headers(r.headers)
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Unreachable(f"{url}: {exc or type(exc).__name__}") from exc

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> AsyncIterator[tuple[int, list[tuple[bytes, bytes]], aiohttp.StreamReader]]:
        try:
            async with self.session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, connect=5.0),
            ) as r:
                yield r.status, reply_headers(r.headers), r.content
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Unreachable(f"{url}: {exc or type(exc).__name__}") from exc

    async def close(self) -> None:
        self.lean.close()
        if self._session is not None:
            await self._session.close()


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
        self.events = parse_sse(body.decode(errors="replace")) if self.sse else []
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

    def render_json(self) -> bytes:
        """The answer as one JSON body, whatever format it came in."""
        sse, self.sse = self.sse, False
        try:
            return self.render()
        finally:
            self.sse = sse

    def render(self) -> bytes:
        if self.message is None:
            return self.body
        try:
            data = orjson.dumps(self.message)
        except orjson.JSONEncodeError:  # nested past orjson's limit: nothing checked can pass
            data = orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": self.request_id,
                    "error": {
                        "code": -32603,
                        "message": "the server's answer is nested too deep to be checked and passed on",
                    },
                }
            )
        if self.sse:
            self.events[self._index].data = data.decode()
            return render_sse(self.events)
        return data


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
    pool: Pool, server: GwMcpServer, tool: str, arguments: dict[str, Any]
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

    async def post(message: dict[str, Any]) -> Answer:
        r = await pool.request("POST", server.url, orjson.dumps(message), dict(headers))
        if r.status >= 400:
            raise Unreachable(f"{server.url} answered {r.status}: {r.body[:200]!r}")
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
    session = dict(init.headers).get(b"mcp-session-id")
    if session:
        headers["mcp-session-id"] = session.decode()
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
        reply = Reply(r.status, r.content_type, r.body, 2)
        if reply.message is None:
            raise Unreachable(f"no JSON-RPC answer from {server.url}")
        return reply.message
    finally:
        if session:
            # The server ends idle sessions itself if this fails.
            with contextlib.suppress(Unreachable):
                await pool.request("DELETE", server.url, None, headers)
