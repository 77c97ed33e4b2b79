"""The requests ``/mcp`` sends on to servers in a caller's session: the merged
lists (every granted server asked at once, each page of its answer read; a server
that cannot be reached, or has no credential in the gateway, is left out and
named in ``_meta["fleet/unavailable"]``), and ``prompts/get`` and
``resources/read`` routed by their prefix (:mod:`gateway.mcp.merge`). The
``tools/list`` each server answers is filtered by :func:`gateway.mcp.grants.visible_tools`,
as on ``/mcp/<server>``, and remembered for the listing check of tools/call."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import orjson

from gateway.mcp import grants, merge
from gateway.mcp.calls import UNREACHABLE, ToolCalls
from gateway.mcp.calls import unreachable_error as unreachable
from gateway.mcp.endpoint import RESULT_TOOL_SPEC, Scope
from gateway.mcp.fanout import Fanout
from gateway.mcp.jsonrpc import INVALID_PARAMS
from gateway.mcp.listing import MAX_PAGES, names_of
from gateway.mcp.wire import Unreachable, credential

log = logging.getLogger("fleet.gateway.mcp")

METHOD_NOT_FOUND = -32601
# (method, the result's list, the field that is prefixed, the server capability it needs)
LISTS = {
    "prompts/list": ("prompts", "name", "prompts"),
    "resources/list": ("resources", "uri", "resources"),
    "resources/templates/list": ("resourceTemplates", "uriTemplate", "resources"),
}


class Skip(Exception):
    """A server left out of a merged list, and why."""


class Merged:
    def __init__(self, calls: ToolCalls, fanout: Fanout):
        self.calls = calls
        self.fanout = fanout
        self._ids = itertools.count(1)

    def _server(self, name: str) -> Any:
        server = self.calls.config.mcp_servers[name]
        if server.credentials is not None and not credential(server):
            raise Skip(f"the gateway has no credential for it; set {server.credentials.env}")
        return server

    async def _ask(
        self, row: dict[str, Any], name: str, message: dict[str, Any], scope: Scope
    ) -> dict[str, Any]:
        """One request to server ``name`` in the caller's session: its answer message."""
        server = self._server(name)
        headers = await self.fanout.upstream(row, name, server, scope["headers"])
        body = orjson.dumps(message)
        reply, _ = await self.calls.forward(server, headers, body, message["id"])
        if reply.status == 404:  # the server forgot the session (it restarted)
            headers = await self.fanout.reopen(row, name, server, scope["headers"])
            reply, _ = await self.calls.forward(server, headers, body, message["id"])
        if reply.status >= 500 or reply.message is None:
            raise Skip(f"it answered HTTP {reply.status}")
        return reply.message

    async def _pages(
        self, row: dict[str, Any], name: str, method: str, field: str, scope: Scope
    ) -> list[Any]:
        items: list[Any] = []
        cursor: Any = None
        for _ in range(MAX_PAGES):
            message: dict[str, Any] = {
                "jsonrpc": "2.0",
                "id": f"fleet-gateway-{next(self._ids)}",
                "method": method,
            }
            if cursor is not None:
                message["params"] = {"cursor": cursor}
            answer = await self._ask(row, name, message, scope)
            result = answer.get("result")
            if not isinstance(result, dict) or not isinstance(result.get(field), list):
                error = answer.get("error")
                if isinstance(error, dict) and error.get("code") == METHOD_NOT_FOUND:
                    return items  # a server without prompts or resources: nothing of it to list
                why = error.get("message") if isinstance(error, dict) else "no list"
                raise Skip(f"its {method} failed: {self.calls.redactor.text(str(why))[:200]}")
            items.extend(result[field])
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                break
        return items

    async def _merge(self, servers: list[str], one: Any) -> tuple[list[Any], dict[str, str]]:
        """Run ``one(server)`` for every server at once; (its items in server order, the
        servers left out and why)."""
        found = await asyncio.gather(*(one(s) for s in servers), return_exceptions=True)
        items: list[Any] = []
        unavailable: dict[str, str] = {}
        for name, got in zip(servers, found, strict=True):
            if isinstance(got, Skip | Unreachable):
                unavailable[name] = self.calls.redactor.text(str(got))[:300]
                log.warning("/mcp left out MCP server %s: %s", name, unavailable[name])
            elif isinstance(got, BaseException):
                raise got
            else:
                items.extend(got)
        return items, unavailable

    # ---------------------------------------------------------------- lists

    async def list_tools(
        self, ident: Any, servers: list[str], row: dict[str, Any], scope: Scope
    ) -> dict[str, Any]:
        config = self.calls.config
        sep = config.mcp_separator
        tasks = isinstance((row.get("init") or {}).get("capabilities", {}).get("tasks"), dict)
        gated_any = False

        async def one(name: str) -> list[dict[str, Any]]:
            nonlocal gated_any
            tools = await self._pages(row, name, "tools/list", "tools", scope)
            self.calls.listing.note(name, names_of(tools), complete=True)
            shown, gated = grants.visible_tools(config, ident, name, tools)
            gated_any = gated_any or gated
            out = []
            for tool in shown:
                if tasks and self.calls.policy(config, ident, name, tool["name"])[2]:
                    # A call that waits for a human may run as a task (its approval request).
                    tool = {**tool, "execution": {"taskSupport": "optional"}}
                out.append({**tool, "name": merge.join(name, tool["name"], sep)})
            return out

        tools, unavailable = await self._merge(servers, one)
        if gated_any:
            tools.append(RESULT_TOOL_SPEC)
        return {"result": self._with(unavailable, {"tools": tools})}

    async def list_other(
        self, kind: str, servers: list[str], row: dict[str, Any], scope: Scope
    ) -> dict[str, Any]:
        field, key, capability = LISTS[kind]
        sep = self.calls.config.mcp_separator

        async def one(name: str) -> list[dict[str, Any]]:
            await self.fanout.upstream(row, name, self._server(name), scope["headers"])
            if capability not in (row["servers"].get(name, {}).get("capabilities") or {}):
                return []  # it offers none: not asked
            items = await self._pages(row, name, kind, field, scope)
            if key == "name":
                return merge.prefix_items(items, name, sep, key)
            return merge.prefix_resources(items, name, key)

        items, unavailable = await self._merge(servers, one)
        return {"result": self.calls.redactor.value(self._with(unavailable, {field: items}))}

    @staticmethod
    def _with(unavailable: dict[str, str], result: dict[str, Any]) -> dict[str, Any]:
        if unavailable:
            result["_meta"] = {"fleet/unavailable": unavailable}
        return result

    # ---------------------------------------------------------------- routed

    async def routed(
        self, kind: str, servers: list[str], row: dict[str, Any], msg: dict[str, Any], scope: Scope
    ) -> dict[str, Any]:
        params: dict[str, Any] = msg.get("params") or {}
        sep = self.calls.config.mcp_separator
        field = "name" if kind == "prompts/get" else "uri"
        value = params.get(field)
        route = None
        if isinstance(value, str):
            route = (
                merge.split(value, sep, servers)
                if field == "name"
                else merge.unwrap_uri(value, servers)
            )
        if route is None:
            form = f"<server>{sep}<prompt>" if field == "name" else f"{merge.SCHEME}<server>/<uri>"
            return {
                "error": {
                    "code": INVALID_PARAMS,
                    "message": f"{kind}: params.{field} must name one of your servers' "
                    f"{'prompts' if field == 'name' else 'resources'} as /mcp lists it ({form})",
                }
            }
        name, own = route
        try:
            answer = await self._ask(row, name, {**msg, "params": {**params, field: own}}, scope)
        except (Skip, Unreachable) as exc:
            return {"error": unreachable(name, self.calls.redactor.text(str(exc)))}
        if "result" not in answer:
            return {"error": answer.get("error") or {"code": UNREACHABLE, "message": "no answer"}}
        result = answer["result"]
        result = (
            merge.prefix_contents(result, name)
            if kind == "resources/read"
            else merge.resource_links(result, name)
        )
        return {"result": result}
