"""Bearer-token check in front of the fake MCP server: proves the gateway sends
the server's credential and never the caller's. With ``seen``, every request
that reaches the server is logged there (HTTP method, session id, body), so a
test can prove the gateway forwarded nothing."""

from __future__ import annotations

from typing import Any


def require_bearer(app: Any, token: str, seen: list[dict[str, Any]] | None = None) -> Any:
    want = f"Bearer {token}".encode()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != want:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"bad credential"})
            return
        if scope["type"] == "http" and seen is not None:
            entry: dict[str, Any] = {
                "method": scope["method"],
                "session": dict(scope["headers"]).get(b"mcp-session-id", b"").decode(),
                "body": b"",
            }
            seen.append(entry)
            inner = receive

            async def receive() -> Any:
                message = await inner()
                entry["body"] += message.get("body", b"")
                return message

        await app(scope, receive, send)

    return guarded
