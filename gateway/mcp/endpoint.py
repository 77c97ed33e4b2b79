"""ASGI endpoint ``/mcp/<server>``: authenticate the caller, require a grant on the
server for every exchange, keep each session to the identity that opened it,
filter ``tools/list``, hand ``tools/call`` to :class:`gateway.mcp.calls.ToolCalls`,
and stream every other exchange (initialize, notifications, the GET stream,
DELETE) through to the catalog server with its credential, redacting that
credential from whatever comes back.

Order of checks, each answered without forwarding anything: the token (401),
the server (404, naming only servers the caller holds grants on), the body's
size (413, from Content-Length before reading), a grant on that server (403),
the HTTP method (405), the server's credential in the gateway's environment
(503), the headers passed on to the server (400), the session
id (404 ``Session not found``, as the server answers one it does not know),
then the JSON-RPC message itself (400, :mod:`gateway.mcp.jsonrpc`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.asgi import read_bounded
from gateway.errors import NotFoundError
from gateway.mcp import discovery, grants, jsonrpc
from gateway.mcp.calls import (
    DENIED,
    OWN_ANSWER,
    RESULT_TOOL,
    UNREACHABLE,
    ToolCalls,
    unreachable_error,
)
from gateway.mcp.jsonrpc import RpcError
from gateway.mcp.listing import names_of
from gateway.mcp.relay import Relay
from gateway.mcp.sessions import NOT_FOUND, SESSION_HEADER, Sessions
from gateway.mcp.tasks import METHODS as TASK_METHODS
from gateway.mcp.tasks import Tasks
from gateway.mcp.wire import FORWARD, Pool, Reply, Unreachable, credential, upstream_headers

log = logging.getLogger("fleet.gateway.mcp")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
JSON = [(b"content-type", b"application/json")]
MAX_BODY = 8 * 1024 * 1024
TOO_LARGE = RpcError(413, jsonrpc.INVALID_REQUEST, "request body over 8 MiB; send less")
# A forwarded header longer than this is no session id, version or event id a server sent.
MAX_FORWARDED = 1024
CHECKED = frozenset(FORWARD) - {SESSION_HEADER}
METHODS = ("POST", "GET", "DELETE")

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
            raise TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def check_forwarded(headers: list[tuple[bytes, bytes]]) -> None:
    """The headers passed on to the server are printable ASCII and bounded: the server
    gets nothing the gateway could not have sent itself. (A session id is passed on only
    when it is one the gateway issued: any other is answered as unknown.)"""
    for k, v in headers:
        if k in CHECKED and (
            len(v) > MAX_FORWARDED or not (v.isascii() and v.decode().isprintable())
        ):
            name = k.decode()
            raise RpcError(
                400,
                jsonrpc.INVALID_REQUEST,
                f"{name} must be at most {MAX_FORWARDED} printable ASCII characters",
                data={"header": name},
            )


def failed(name: str, status: int, request_id: Any) -> bytes:
    """The answer for a server that failed (5xx): its failure, not the gateway's, and no
    500 passed through as if the gateway had broken."""
    error = {
        "code": UNREACHABLE,
        "message": f"MCP server '{name}' failed: it answered HTTP {status}; retry later or "
        "ask its owners",
        "data": {"status": status},
    }
    rid = request_id if jsonrpc.usable_id(request_id) else None
    return orjson.dumps({"jsonrpc": "2.0", "id": rid, "error": error})


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def offer_tasks(reply: Reply) -> None:
    """Add the gateway's tasks (approvals, from protocol 2025-11-25 on) to what a server's
    initialize answer offers: a gated call can then run as a task."""
    result = (reply.message or {}).get("result")
    if not isinstance(result, dict) or not isinstance(result.get("capabilities"), dict):
        return
    version = result.get("protocolVersion")
    if not isinstance(version, str) or version < "2025-11-25":
        return
    caps = result["capabilities"]
    own = _dict(caps.get("tasks"))
    requests = _dict(own.get("requests"))
    caps["tasks"] = {
        **own,
        "list": {},
        "cancel": {},
        "requests": {**requests, "tools": {**_dict(requests.get("tools")), "call": {}}},
    }


def _id_of(body: bytes) -> Any:
    """The request's id for an error answer, if the body says one (else None)."""
    try:
        return jsonrpc.peek_id(orjson.loads(body)) if body else None
    except orjson.JSONDecodeError:
        return None


class McpEndpoint:
    def __init__(self, gateway: Any, calls: ToolCalls, pool: Pool, sessions: Sessions):
        self.gateway = gateway
        self.calls = calls
        self.pool = pool
        self.sessions = sessions
        self.tasks = Tasks(calls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = self.gateway.holder.runtime
        name = scope["path"][len("/mcp/") :].strip("/")
        known = name in rt.config.mcp_servers
        ident = discovery.authenticate(self.gateway, scope, rt, f"/mcp/{name}" if known else "/mcp")
        server = rt.config.mcp_servers.get(name)
        if server is None:
            yours = ", ".join(sorted(s for s in ident.mcp if s in rt.config.mcp_servers))
            raise NotFoundError(
                "unknown_mcp_server",
                f"no MCP server '{name}' in the fleet catalog (yours: {yours or 'none'})",
            )
        method = scope["method"]
        body = (
            await read_bounded(
                scope, receive, MAX_BODY, TOO_LARGE, "the client went away before the body"
            )
            if method == "POST"
            else b""
        )
        refusal = grants.server_refusal(ident, name)
        if refusal is not None:
            raise RpcError(
                403, DENIED, refusal.message, request_id=_id_of(body), data={"grant": name}
            )
        if method not in METHODS:
            raise RpcError(
                405,
                jsonrpc.INVALID_REQUEST,
                f"{method} is not part of MCP streamable HTTP: POST a message, GET a stream, "
                "or DELETE a session",
                request_id=None,
            )
        if server.credentials is not None and not credential(server):
            # Sent without it, the call would only earn the server's 401, or worse, run anonymously.
            env = server.credentials.env
            raise RpcError(
                503,
                UNREACHABLE,
                f"MCP server '{name}' cannot be called: the gateway has no credential for it; "
                f"set {env} in the gateway's environment and restart it",
                request_id=_id_of(body),
                data={"code": "credentials_missing", "env": env},
            )
        check_forwarded(scope["headers"])
        await self.sessions.ready()
        headers = self.sessions.inbound(scope["headers"], ident.member, name)
        if headers is None:  # another identity's session, or none at all: as if unknown
            await respond(send, 404, NOT_FOUND, JSON)
            return
        if method != "POST":
            await self.passthrough(ident, name, headers, receive, send, server, method, b"")
            return
        msg = jsonrpc.check_message(jsonrpc.parse(body))
        kind = msg.get("method")
        try:
            await self.dispatch(kind, ident, name, server, msg, body, headers, receive, send)
        except Unreachable as exc:
            # A JSON-RPC error, so the loop's SDK reports it as a failed call, not a broken transport.
            error = unreachable_error(name, self.calls.redactor.text(str(exc)))
            out = orjson.dumps({"jsonrpc": "2.0", "id": msg.get("id"), "error": error})
            await respond(send, 502, out, JSON)

    async def dispatch(
        self,
        kind: Any,
        ident: Any,
        name: str,
        server: Any,
        msg: dict[str, Any],
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        receive: Receive,
        send: Send,
    ) -> None:
        def shown(h: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
            return self.sessions.outbound(h, ident.member, name)

        if kind == "tools/call":
            relay = Relay(
                send, msg.get("id"), self.calls.screen, redact=self.calls.redactor.data, head=shown
            )
            # The server's session id (bound to this caller): its run, and its retries' scope.
            session = next((v.decode("latin-1") for k, v in headers if k == SESSION_HEADER), None)
            task = (msg.get("params") or {}).get("task")
            status, rh, out = await self.calls.tools_call(
                ident,
                name,
                server,
                msg,
                headers,
                body,
                relay,
                session=session,
                as_task=task if isinstance(task, dict) else None,
            )
            if relay.started:  # interim events went out already: the result ends the stream
                await send({"type": "http.response.body", "body": Relay.last(out)})
            elif status >= 500 and rh is not OWN_ANSWER:
                await respond(send, 502, failed(name, status, msg.get("id")), JSON)
            else:
                await respond(send, status, out, shown(rh))
        elif kind == "tools/list":
            reply, rh = await self.calls.forward(server, headers, body, msg.get("id"))
            if reply.status >= 500:
                await respond(send, 502, failed(name, reply.status, msg.get("id")), JSON)
                return
            self.filter_list(reply, ident, name, first=not (msg.get("params") or {}).get("cursor"))
            await respond(send, reply.status, reply.render(), shown(rh))
        elif kind == "initialize":
            reply, rh = await self.calls.forward(server, headers, body, msg.get("id"))
            if reply.status >= 500:
                await respond(send, 502, failed(name, reply.status, msg.get("id")), JSON)
                return
            offer_tasks(reply)
            await respond(send, reply.status, reply.render(), shown(rh))
        elif kind in TASK_METHODS and await self.own_task(ident, msg):
            answer = await self.tasks.answer(kind, ident, msg.get("params") or {})
            out = orjson.dumps({"jsonrpc": "2.0", "id": msg.get("id"), **answer})
            await respond(send, 200, out, JSON)
        else:
            await self.passthrough(ident, name, headers, receive, send, server, "POST", body)

    async def own_task(self, ident: Any, msg: dict[str, Any]) -> bool:
        """Whether a tasks/* request is the gateway's: the caller's approvals are its tasks;
        any other task id is the server's own, passed through."""
        params = msg.get("params") or {}
        if msg.get("method") == "tasks/list":
            return True
        task_id = params.get("taskId")
        if not isinstance(task_id, str) or not task_id.startswith("ap_") or len(task_id) > 64:
            return False
        return await self.tasks.own(ident, task_id) is not None

    def filter_list(self, reply: Reply, ident: Any, name: str, first: bool = True) -> None:
        result = (reply.message or {}).get("result")
        if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            return
        # What the server lists is what may be called (a whole list replaces what was known).
        last = not result.get("nextCursor")
        self.calls.listing.note(name, names_of(result["tools"]), complete=first and last)
        config = self.gateway.holder.runtime.config
        shown, gated = grants.visible_tools(config, ident, name, result["tools"])
        for i, tool in enumerate(shown):
            if self.calls.policy(config, ident, name, tool["name"])[2]:
                # A call that waits for a human may run as a task (its approval request).
                shown[i] = {
                    **tool,
                    "execution": {**_dict(tool.get("execution")), "taskSupport": "optional"},
                }
        if gated:
            shown.append(RESULT_TOOL_SPEC)
        result["tools"] = shown

    async def passthrough(
        self,
        ident: Any,
        name: str,
        headers: list[tuple[bytes, bytes]],
        receive: Receive,
        send: Send,
        server: Any,
        method: str,
        body: bytes,
    ) -> None:
        """Stream one exchange both ways; a GET stream ends when either side hangs up. What
        comes back shows the caller's session id and none of the gateway's credentials."""
        started = False
        redact = self.calls.redactor.stream()

        async def pump() -> None:
            nonlocal started
            async with self.pool.stream(
                method, server.url, body or None, upstream_headers(headers, server)
            ) as (status, rh, content):
                started = True
                if status >= 500:
                    await respond(send, 502, failed(name, status, _id_of(body)), JSON)
                    return
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": self.sessions.outbound(rh, ident.member, name),
                    }
                )
                async for chunk in content.iter_any():
                    out = redact.feed(chunk)
                    if out:
                        await send({"type": "http.response.body", "body": out, "more_body": True})
                await send({"type": "http.response.body", "body": redact.end()})

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
                error = unreachable_error(name, self.calls.redactor.text(str(exc)))
                raise RpcError(
                    502, UNREACHABLE, error["message"], request_id=_id_of(body), data=error["data"]
                ) from exc
        except OSError:
            pass  # the caller hung up mid-stream

    @staticmethod
    async def _disconnected(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
