"""ASGI endpoint ``/mcp``: every catalog server the caller holds a grant on, as one
MCP server, for clients that take one URL (an Agents SDK ``MCPServerStreamableHttp``,
a desktop client).

The gateway answers ``initialize`` itself (the union of what the caller may use:
tools, prompts, resources, and tasks from protocol 2025-11-25 on) and opens a
session on a server only when a request needs it (:mod:`gateway.mcp.fanout`).
``tools/list``, ``prompts/list``, ``resources/list`` and
``resources/templates/list`` merge every granted server's answer under prefixed
names (:mod:`gateway.mcp.merge`); a server that cannot be reached is left out
and named in the result's ``_meta["fleet/unavailable"]``. ``fleet_approval_result``
is listed once. ``tools/call`` is routed by its prefix to
:meth:`gateway.mcp.calls.ToolCalls.tools_call`, the code that serves
``/mcp/<server>``: the same grants, listing check, guardrails, approvals,
idempotency, redaction, metrics (labelled with the server) and traces.
``prompts/get`` and ``resources/read`` are routed the same way. ``tasks/*`` are
the approvals' (:mod:`gateway.mcp.tasks`). ``ping`` is answered here;
notifications go to every server session open behind the caller's; a response to
a server's request (elicitation, sampling) goes back to the server that asked.
GET holds a stream open with nothing on it (servers' own streams are not
merged); DELETE closes the server sessions too.

The session id is bound to the identity that opened it, as on ``/mcp/<server>``:
another identity's, or a made-up one, is answered 404 ``Session not found``.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from gateway.asgi import read_bounded
from gateway.mcp import discovery, jsonrpc, merge
from gateway.mcp.calls import DENIED, OWN_ANSWER, RESULT_TOOL, UNREACHABLE, ToolCalls
from gateway.mcp.calls import unreachable_error as unreachable
from gateway.mcp.endpoint import (
    JSON,
    MAX_BODY,
    TOO_LARGE,
    Receive,
    Scope,
    Send,
    _id_of,
    check_forwarded,
    failed,
    respond,
)
from gateway.mcp.fanout import Fanout
from gateway.mcp.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, RpcError
from gateway.mcp.relay import Relay
from gateway.mcp.sessions import NOT_FOUND, SESSION_HEADER, Sessions
from gateway.mcp.tasks import METHODS as TASK_METHODS
from gateway.mcp.tasks import Tasks
from gateway.mcp.upstream import LISTS, METHOD_NOT_FOUND, Merged
from gateway.mcp.wire import Pool, Unreachable, credential

log = logging.getLogger("fleet.gateway.mcp")

HANDSHAKE = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
TASKS_FROM = "2025-11-25"
MAX_SERVER_REQUESTS = 10_000


class AggregateEndpoint:
    def __init__(self, gateway: Any, calls: ToolCalls, pool: Pool, sessions: Sessions):
        self.gateway = gateway
        self.calls = calls
        self.fanout = Fanout(gateway.store, pool, sessions)
        self.tasks = Tasks(calls)
        self.merged = Merged(calls, self.fanout)
        # (caller's session, id of a server's request relayed to it) -> the server that asked.
        self.asked: dict[tuple[str, Any], str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = self.gateway.holder.runtime
        ident = discovery.authenticate(self.gateway, scope, rt, "/mcp")
        method = scope["method"]
        body = (
            await read_bounded(
                scope, receive, MAX_BODY, TOO_LARGE, "the client went away before the body"
            )
            if method == "POST"
            else b""
        )
        config = rt.config
        servers = merge.routable(
            [s for s in ident.mcp if ident.mcp.get(s) and s in config.mcp_servers],
            config.mcp_separator,
        )
        if not servers:
            who = f"sub-agent '{ident.member}'" if "/" in ident.member else f"loop '{ident.loop}'"
            raise RpcError(
                403,
                DENIED,
                f"{who} has no grant on any MCP server of the catalog; add one to its mcp_servers",
                request_id=_id_of(body),
            )
        if method not in ("POST", "GET", "DELETE"):
            raise RpcError(
                405,
                INVALID_REQUEST,
                f"{method} is not part of MCP streamable HTTP: POST a message, GET a stream, "
                "or DELETE a session",
            )
        check_forwarded(scope["headers"])
        shown = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == SESSION_HEADER), None
        )
        row = await self.fanout.load(ident.member, shown) if shown is not None else None
        if shown is not None and row is None:
            await respond(send, 404, NOT_FOUND, JSON)
            return
        if method != "POST":
            if row is None:
                raise RpcError(400, INVALID_REQUEST, "Bad Request: no mcp-session-id header")
            if method == "DELETE":
                await self.fanout.close(row, config.mcp_servers)
                await respond(send, 200, b"", [])
            else:
                await self.hold(receive, send, str(shown))
            return
        msg = jsonrpc.check_message(jsonrpc.parse(body))
        kind = msg.get("method")
        if row is None:
            if kind != "initialize":
                raise RpcError(
                    400,
                    INVALID_REQUEST,
                    "Bad Request: no mcp-session-id header; initialize a session first",
                    request_id=msg.get("id"),
                )
            await self.initialize(ident, servers, msg, send)
            return
        assert shown is not None
        answer = await self.dispatch(kind, ident, servers, row, shown, msg, scope, send)
        if answer is not None:
            out = orjson.dumps({"jsonrpc": "2.0", "id": msg.get("id"), **answer})
            await respond(send, 200, out, [*JSON, (SESSION_HEADER, shown.encode())])

    async def hold(self, receive: Receive, send: Send, shown: str) -> None:
        """GET: a stream with nothing on it, open until the caller hangs up (the SDK clients
        reconnect a stream that fails, so a 405 would only make them retry)."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (SESSION_HEADER, shown.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b": fleet\n\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass

    async def initialize(
        self, ident: Any, servers: list[str], msg: dict[str, Any], send: Send
    ) -> None:
        params = msg.get("params") or {}
        asked = params.get("protocolVersion")
        version = asked if asked in HANDSHAKE else HANDSHAKE[-1]
        caps = params.get("capabilities")
        info = params.get("clientInfo")
        init = {
            "protocolVersion": version,
            "capabilities": caps if isinstance(caps, dict) else {},
            "clientInfo": info if isinstance(info, dict) else None,
        }
        shown, _ = await self.fanout.create(ident.member, init)
        capabilities: dict[str, Any] = {
            "tools": {"listChanged": False},
            "prompts": {"listChanged": False},
            "resources": {"listChanged": False},
        }
        if version >= TASKS_FROM:
            capabilities["tasks"] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
        sep = self.calls.config.mcp_separator
        result = {
            "protocolVersion": version,
            "capabilities": capabilities,
            "serverInfo": {"name": "fleet-gateway", "version": "1"},
            "instructions": f"The tools of MCP servers {', '.join(sorted(servers))}, each named "
            f"<server>{sep}<tool>. A call that waits for human approval says so; fetch its "
            f"outcome with {RESULT_TOOL}.",
        }
        out = orjson.dumps({"jsonrpc": "2.0", "id": msg.get("id"), "result": result})
        await respond(send, 200, out, [*JSON, (SESSION_HEADER, shown.encode())])

    async def dispatch(
        self,
        kind: Any,
        ident: Any,
        servers: list[str],
        row: dict[str, Any],
        shown: str,
        msg: dict[str, Any],
        scope: Scope,
        send: Send,
    ) -> dict[str, Any] | None:
        """The answer to one message in a session, or None when it was sent already."""
        params: dict[str, Any] = msg.get("params") or {}
        if kind is None:  # a response to a server's request
            await self.answer_server(row, msg, scope, send)
            return None
        if "id" not in msg:  # a notification
            if kind != "notifications/initialized":
                await self.broadcast(row, msg, scope)
            await respond(send, 202, b"", [(SESSION_HEADER, shown.encode())])
            return None
        if kind == "initialize":
            return {"error": {"code": INVALID_REQUEST, "message": "this session is initialized"}}
        if kind == "ping":
            return {"result": {}}
        if kind == "tools/list":
            return await self.merged.list_tools(ident, servers, row, scope)
        if kind == "tools/call":
            await self.call_tool(ident, servers, row, shown, msg, scope, send)
            return None
        if kind in LISTS:
            return await self.merged.list_other(kind, servers, row, scope)
        if kind == "prompts/get" or kind == "resources/read":
            return await self.merged.routed(kind, servers, row, msg, scope)
        if kind in TASK_METHODS:
            return await self.tasks.answer(kind, ident, params)
        return {
            "error": {"code": METHOD_NOT_FOUND, "message": f"/mcp does not serve {kind[:80]!r}"}
        }

    async def call_tool(
        self,
        ident: Any,
        servers: list[str],
        row: dict[str, Any],
        shown: str,
        msg: dict[str, Any],
        scope: Scope,
        send: Send,
    ) -> None:
        calls = self.calls
        config = calls.config
        rid = msg.get("id")
        tool_name, _, _ = jsonrpc.call_params(msg)
        params: dict[str, Any] = msg.get("params") or {}

        def head(h: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
            return [(k, v) for k, v in h if k != SESSION_HEADER] + [
                (SESSION_HEADER, shown.encode())
            ]

        if tool_name == RESULT_TOOL:
            # Answered from the ledger; traced and counted under the server of the approval.
            label = await self._approval_server(ident, params.get("arguments"), servers)
            status, rh, out = await calls.tools_call(
                ident, label, config.mcp_servers[label], msg, scope["headers"], session=shown
            )
            await respond(send, status, out, head(rh))
            return
        route = merge.split(tool_name, config.mcp_separator, servers)
        if route is None:
            raise RpcError(200, INVALID_PARAMS, self._no_tool(tool_name, servers), request_id=rid)
        name, tool = route
        server = config.mcp_servers[name]
        if server.credentials is not None and not credential(server):
            env = server.credentials.env
            raise RpcError(
                503,
                UNREACHABLE,
                f"MCP server '{name}' cannot be called: the gateway has no credential for it; "
                f"set {env} in the gateway's environment and restart it",
                request_id=rid,
                data={"code": "credentials_missing", "env": env},
            )
        task = params.get("task")
        declared = isinstance((row.get("init") or {}).get("capabilities", {}).get("tasks"), dict)
        task = task if declared and isinstance(task, dict) else None
        upstream = {
            **msg,
            "params": {**{k: v for k, v in params.items() if k != "task"}, "name": tool},
        }

        def screen(m: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Any]]:
            if "method" in m and "id" in m:  # the server asks the caller something mid-call
                if len(self.asked) >= MAX_SERVER_REQUESTS:
                    self.asked.clear()
                self.asked[(row["id"], m["id"])] = name
            return calls.screen(m)

        for attempt in (1, 2):
            try:
                headers = (
                    await self.fanout.upstream(row, name, server, scope["headers"])
                    if attempt == 1
                    else await self.fanout.reopen(row, name, server, scope["headers"])
                )
            except Unreachable as exc:
                error = unreachable(name, calls.redactor.text(str(exc)))
                out = orjson.dumps({"jsonrpc": "2.0", "id": rid, "error": error})
                await respond(send, 502, out, JSON)
                return
            relay = Relay(send, rid, screen, redact=calls.redactor.data, head=head)
            status, rh, out = await calls.tools_call(
                ident, name, server, upstream, headers, None, relay, session=shown, as_task=task
            )
            if status != 404 or relay.started:
                break
        if relay.started:
            await send({"type": "http.response.body", "body": Relay.last(out)})
        elif status >= 500 and rh is not OWN_ANSWER:
            await respond(send, 502, failed(name, status, rid), JSON)
        else:
            await respond(send, status, out, head(rh))

    async def _approval_server(self, ident: Any, args: Any, servers: list[str]) -> str:
        approval = args.get("approval_id") if isinstance(args, dict) else None
        row = None
        if isinstance(approval, str) and 0 < len(approval) <= 64:
            row = await self.calls.ledger.approval(approval)
        if row is not None and row["loop"] == ident.loop and row["server"] in servers:
            return str(row["server"])
        return servers[0]

    def _no_tool(self, tool: str, servers: list[str]) -> str:
        sep = self.calls.config.mcp_separator
        owners = [s for s in servers if self.calls.listing.listed(s, tool)]
        hint = (
            f"; did you mean {merge.join(owners[0], tool, sep)!r}?"
            if len(owners) == 1
            else f"; tools here are named <server>{sep}<tool> (see tools/list)"
        )
        return f"/mcp has no tool {tool[:80]!r} for you{hint}"

    # ---------------------------------------------------------------- messages

    async def broadcast(self, row: dict[str, Any], msg: dict[str, Any], scope: Scope) -> None:
        """A notification (cancelled, roots changed…) to every server session open behind
        this one; a server it does not concern ignores it."""
        body = orjson.dumps(msg)
        for name in list(row["servers"]):
            server = self.calls.config.mcp_servers.get(name)
            headers = self.fanout.headers(row, name, scope["headers"])
            if server is None or headers is None:
                continue
            try:
                await self.calls.forward(server, headers, body, None)
            except Unreachable as exc:
                log.warning("notification to MCP server %s lost: %s", name, exc)

    async def answer_server(
        self, row: dict[str, Any], msg: dict[str, Any], scope: Scope, send: Send
    ) -> None:
        name = self.asked.pop((row["id"], msg.get("id")), None)
        server = self.calls.config.mcp_servers.get(name) if name else None
        headers = self.fanout.headers(row, name, scope["headers"]) if name else None
        if server is None or headers is None:
            raise RpcError(
                400,
                INVALID_REQUEST,
                "no server's request with this id is waiting for an answer in this session",
                request_id=msg.get("id"),
            )
        reply, _ = await self.calls.forward(server, headers, orjson.dumps(msg), None)
        await respond(send, 202 if reply.status < 300 else reply.status, b"", [])
