"""ASGI plumbing shared by the gateway's handlers: message types, header lookup,
body reading with a size cap, and JSON / error responses.

Kept apart from the handlers so the LLM path and the MCP proxy answer the
same way without importing each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.errors import BadRequestError, GatewayError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY = 8 * 1024 * 1024
JSON = [(b"content-type", b"application/json")]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), decoded."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequestError(
                "client_disconnected", "the client went away before sending the body"
            )
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequestError(
                "body_too_large", f"request body over {MAX_BODY // (1024 * 1024)} MiB"
            )
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def read_bounded(
    scope: Scope, receive: Receive, limit: int, refusal: GatewayError, gone: str
) -> bytes:
    """The body, refused with ``refusal`` once it passes ``limit`` bytes: at once when the
    declared Content-Length does, else while reading, so nothing unbounded is buffered.
    ``gone`` is the message for a client that leaves before the body is in."""
    declared = header(scope, b"content-length")
    if declared is not None and (
        len(declared) > 12 or (declared.isdigit() and int(declared) > limit)
    ):
        raise refusal
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequestError("client_disconnected", gone)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise refusal
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def send_response(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any) -> None:
    await send_response(send, status, orjson.dumps(payload), JSON)


async def send_error(send: Send, exc: GatewayError) -> None:
    headers = [*JSON, *((k.encode(), v.encode()) for k, v in exc.headers.items())]
    await send_response(send, exc.status, exc.body(), headers)
