"""Tool calls through the gateway's MCP proxy with the official ``mcp`` client.

One streamable-HTTP session per (identity, server), opened when first needed
and kept for the attempt. Every request carries the caller's own token, the
run id and the current step (an httpx request hook reads it, since the session
owns the HTTP client). Write and destructive calls carry an idempotency key in
``_meta``, so a call re-sent after a crash gets the gateway's stored result.
The gateway's answers become :class:`ToolResult` data: a pending approval, a
refusal or a guardrail block are results the harness decides on, not errors.
Each session's HTTP runs on :mod:`harness.transport` unless ``FLEET_HARNESS_HTTP=httpx``.
``mcp`` is imported with the first session: a resumed run whose next step is a
model call does not wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import GatewayLost
from harness.runs import tls

if TYPE_CHECKING:
    import httpx2
    from mcp.client.session import ClientSession

RESULT_TOOL = "fleet_approval_result"
IDEMPOTENCY_META = "fleet/idempotency-key"
IN_FLIGHT = -32007
IN_FLIGHT_WAIT_S = 120.0
CALL_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ToolSpec:
    server: str
    tool: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    text: str
    is_error: bool
    approval: dict[str, Any] | None = None
    """``{"id", "state"}`` when the gateway holds the call for (or after) an approval."""
    state_version: int | None = None
    """The loop state's version after a ``state`` call."""

    def to_json(self) -> dict[str, Any]:
        return {"content": self.text, "is_error": self.is_error}


def _text(result: Any) -> str:
    parts: list[str] = []
    for block in result.content or []:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(block, 'type', 'content')}]")
    if not parts and result.structured_content is not None:
        import orjson

        parts.append(orjson.dumps(result.structured_content).decode())
    return "\n".join(parts)


class _Step:
    """The step number every request of the attempt carries (calls are sequential)."""

    value = 0

    async def hook(self, request: httpx2.Request) -> None:
        request.headers["x-fleet-step"] = str(self.value)


class McpTools:
    def __init__(
        self,
        base_url: str,
        run_id: str,
        stack: contextlib.AsyncExitStack,
        lean_http: bool = True,
    ):
        self.base_url = base_url
        self.run_id = run_id
        self.stack = stack
        self.step = _Step()
        self.transport: Callable[[], httpx2.AsyncBaseTransport] | None = (
            self._lean if lean_http else None
        )
        """Makes each session's transport; httpx2's own when None."""
        self._sessions: dict[tuple[str, str], ClientSession] = {}

    def _lean(self) -> httpx2.AsyncBaseTransport:
        from harness.transport import Transport

        context = tls(self.base_url)
        return Transport(context if isinstance(context, ssl.SSLContext) else None)

    async def session(self, token: str, server: str) -> ClientSession:
        key = (token, server)
        found = self._sessions.get(key)
        if found is not None:
            return found
        import httpx2
        from mcp.client.session import ClientSession
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared.exceptions import MCPError

        http = await self.stack.enter_async_context(
            httpx2.AsyncClient(
                headers={"authorization": f"Bearer {token}", "x-fleet-run-id": self.run_id},
                timeout=httpx2.Timeout(CALL_TIMEOUT_S, connect=5.0),
                event_hooks={"request": [self.step.hook]},
                verify=tls(self.base_url),
                transport=self.transport() if self.transport else None,
            )
        )
        try:
            read, write = await self.stack.enter_async_context(
                streamable_http_client(f"{self.base_url}/mcp/{server}", http_client=http)
            )
            session = await self.stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
        except MCPError:
            raise
        except Exception as exc:  # the transport's errors: the gateway is not answering
            raise GatewayLost(f"MCP server '{server}' through the gateway: {exc!r}") from None
        self._sessions[key] = session
        return session

    async def list(self, token: str, servers: tuple[str, ...]) -> list[ToolSpec]:
        from mcp.shared.exceptions import MCPError

        specs: list[ToolSpec] = []
        for server in servers:
            try:
                session = await self.session(token, server)
                listed = await session.list_tools()
            except MCPError as exc:
                # A server the gateway cannot reach offers no tools this attempt.
                import logging

                logging.getLogger("fleet.harness").warning("tools of %s: %s", server, exc.message)
                continue
            for tool in listed.tools:
                if tool.name == RESULT_TOOL:
                    continue  # the harness fetches approval results itself
                specs.append(
                    ToolSpec(
                        server, tool.name, tool.description or "", dict(tool.input_schema or {})
                    )
                )
        return specs

    async def call(
        self,
        token: str,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        step: int,
        key: str | None,
    ) -> ToolResult:
        from mcp.shared.exceptions import MCPError

        session = await self.session(token, server)
        self.step.value = step
        meta = {IDEMPOTENCY_META: key} if key else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + IN_FLIGHT_WAIT_S
        while True:
            try:
                result = await session.call_tool(tool, arguments, meta=meta)  # type: ignore[arg-type]
            except MCPError as exc:
                if exc.code == IN_FLIGHT and loop.time() < deadline:
                    # The same keyed call is still running (an earlier attempt's): wait for its result.
                    await asyncio.sleep(1.0)
                    continue
                return ToolResult(f"{server}.{tool} refused: {exc.message}", True)
            except Exception as exc:
                raise GatewayLost(f"{server}.{tool} through the gateway: {exc!r}") from None
            meta_out = getattr(result, "meta", None) or {}
            approval = meta_out.get("fleet/approval") if isinstance(meta_out, dict) else None
            return ToolResult(_text(result), bool(getattr(result, "is_error", False)), approval)

    async def approval_result(
        self, token: str, server: str, approval_id: str, step: int
    ) -> ToolResult:
        return await self.call(token, server, RESULT_TOOL, {"approval_id": approval_id}, step, None)
