"""Bearer-token check in front of the fake MCP server: proves the gateway sends
the server's credential and never the caller's."""

from __future__ import annotations

from typing import Any


def require_bearer(app: Any, token: str) -> Any:
    want = f"Bearer {token}".encode()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != want:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"bad credential"})
            return
        await app(scope, receive, send)

    return guarded
