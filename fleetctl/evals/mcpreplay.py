"""The replay MCP server: a case's recorded tool results, served with the official ``mcp`` SDK.

One low-level :class:`mcp.server.lowlevel.Server` per catalog server name
(``github``, ``linear``, …), streamable HTTP on a loopback port; the eval's
gateway points that catalog entry at it, so every tool call of a case runs
the real path (harness → gateway, with its grants, guardrails, approvals and
idempotency → here). A worker runs one case at a time, so the server holds
the current case's :class:`Recording` and swaps it between cases.

What it lists: the tools the recording has results for, the concrete names of
the catalog's tool classes, and every tool the case's transcripts call, so the
model is offered what it was recorded calling (the gateway still filters by
the loop's grants). A call the recording has no result for answers a tool
error saying so, and is kept in :attr:`Recording.unrecorded`: the case errors.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fleet.evals.case import Recorded
from fleet.evals.check import ToolUse, matches

SEP = "__"  # the harness names a tool <server>__<tool>


@dataclass
class Recording:
    """One case's recorded results for one run, and the calls it had nothing for."""

    results: list[Recorded] = field(default_factory=list)
    unrecorded: list[ToolUse] = field(default_factory=list)
    used: set[int] = field(default_factory=set)

    def answer(self, full_name: str, arguments: dict[str, Any]) -> Recorded | None:
        """The recorded result for this call: the first matching one not handed out yet, else the
        last matching one (a call repeated with the same arguments gets the same answer)."""
        hits = [
            i
            for i, r in enumerate(self.results)
            if r.call == full_name and (r.arguments is None or matches(r.arguments, arguments))
        ]
        if not hits:
            return None
        fresh = [i for i in hits if i not in self.used]
        index = fresh[0] if fresh else hits[-1]
        self.used.add(index)
        return self.results[index]


class ReplayTools:
    """The replay servers of one worker: one MCP app per catalog server, one current recording."""

    def __init__(self, names: Iterable[str], listed: dict[str, set[str]]):
        self.names = sorted(set(names))
        self.listed = listed  # server -> tool names always listed (catalog, transcripts)
        self._lock = threading.Lock()
        self.recording = Recording()

    def use(self, recording: Recording, extra: dict[str, set[str]]) -> None:
        """Serve ``recording`` from now on, listing ``extra`` tools beside the usual ones."""
        with self._lock:
            self.recording = recording
            self._extra = extra

    def _tools(self, server: str) -> list[str]:
        names = set(self.listed.get(server, set()))
        names |= getattr(self, "_extra", {}).get(server, set())
        prefix = server + SEP
        names |= {
            r.call[len(prefix) :] for r in self.recording.results if r.call.startswith(prefix)
        }
        return sorted(n for n in names if n and "*" not in n and "?" not in n)

    def app(self, server: str) -> Any:
        """The streamable HTTP ASGI app of ``server`` (path ``/mcp``)."""
        import mcp_types as types
        from mcp.server.lowlevel import Server

        async def list_tools(ctx: Any, params: Any) -> Any:
            return types.ListToolsResult(
                tools=[
                    types.Tool(
                        name=name,
                        description=f"{server}.{name} (replayed from the eval case's recording)",
                        input_schema={"type": "object", "additionalProperties": True},
                    )
                    for name in self._tools(server)
                ]
            )

        async def call_tool(ctx: Any, params: Any) -> Any:
            name = str(params.name)
            args = dict(params.arguments or {})
            args.pop("_meta", None)
            full = f"{server}{SEP}{name}"
            with self._lock:
                rec = self.recording.answer(full, args)
                if rec is None:
                    self.recording.unrecorded.append(ToolUse(full, args))
            if rec is None:
                text = (
                    f"replay: the eval case has no recorded result for {full} with these "
                    "arguments; the case fails"
                )
                return types.CallToolResult(
                    content=[types.TextContent(type="text", text=text)], is_error=True
                )
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=rec.result)], is_error=rec.error
            )

        srv: Any = Server(f"replay-{server}", on_list_tools=list_tools, on_call_tool=call_tool)
        return srv.streamable_http_app(stateless_http=True, json_response=True)


class ReplayHost:
    """One ASGI app for all of a worker's replay servers: ``/v1/...`` goes to the replay
    provider, ``/replay-mcp/<server>/mcp`` to that server's MCP app (as ``/mcp``).

    One uvicorn server per worker instead of one per replay server plus one for the provider:
    each is a thread, an event loop and a tick timer of its own, which cost CPU on every case
    of the eval for nothing."""

    PREFIX = "/replay-mcp/"

    def __init__(self, provider: Any, mcp_apps: dict[str, Any]):
        self.provider = provider
        self.mcp_apps = mcp_apps

    def url_of(self, base: str, server: str) -> str:
        return f"{base}{self.PREFIX}{server}/mcp"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path = str(scope.get("path", ""))
        if path.startswith(self.PREFIX):
            server, _, rest = path[len(self.PREFIX) :].partition("/")
            app = self.mcp_apps.get(server)
            if app is not None:
                inner = "/" + rest
                scope = {**scope, "path": inner, "raw_path": inner.encode()}
                await app(scope, receive, send)
                return
        await self.provider(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        # Each MCP app's lifespan runs its session manager: enter them all for the server's life.
        from contextlib import AsyncExitStack

        async with AsyncExitStack() as stack:
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    try:
                        for app in self.mcp_apps.values():
                            await stack.enter_async_context(app.router.lifespan_context(app))
                    except Exception as exc:  # reported to uvicorn, which stops the server
                        await send({"type": "lifespan.startup.failed", "message": str(exc)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    break
        await send({"type": "lifespan.shutdown.complete"})
