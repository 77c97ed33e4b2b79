"""ASGI plumbing shared by the gateway's handlers: message types, header lookup and
the checks on header values, body reading with a size cap, and JSON / error responses.

Kept apart from the handlers so the LLM path and the MCP proxy answer the
same way without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from random import getrandbits
from typing import Any

import orjson

from gateway.errors import BadRequestError, GatewayError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY = 8 * 1024 * 1024
MAX_HEADER = 256
MAX_STEP = 2**53
MAX_STEP_DIGITS = len(str(MAX_STEP))
JSON = [(b"content-type", b"application/json")]
REQUEST_ID = b"x-request-id"
# Long enough for any id scheme a client or proxy uses (UUIDs, W3C trace ids, ULIDs).
MAX_REQUEST_ID = 128
_ID_SHAPE = re.compile(rb"[!-~]{1,%d}" % MAX_REQUEST_ID)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), decoded."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def step_value(name: str, value: str | None) -> int | None:
    """A step-number header: ASCII digits only, at most :data:`MAX_STEP` (every store keeps
    it as a 64-bit integer, and a JSON reader as a double); else 400 ``invalid_header``."""
    if value is None:
        return None
    if (
        not value.isascii()
        or not value.isdigit()
        or len(value) > MAX_STEP_DIGITS
        or int(value) > MAX_STEP
    ):
        raise BadRequestError(
            "invalid_header",
            f"{name} must be a step number in ASCII digits, 0 to {MAX_STEP}, not {value[:40]!r}",
            extra={"header": name},
        )
    return int(value)


def text_value(name: str, value: str | None, limit: int = MAX_HEADER) -> str | None:
    """A header the gateway records or compares (run id, cache control, token): printable
    ASCII, at most ``limit`` characters; else 400 ``invalid_header``."""
    if value is None or (len(value) <= limit and value.isascii() and value.isprintable()):
        return value
    raise BadRequestError(
        "invalid_header",
        f"{name} must be at most {limit} printable ASCII characters "
        f"(got {len(value)} characters: {value[:40]!r})",
        extra={"header": name},
    )


def request_id(scope: Scope) -> bytes:
    """The client's ``x-request-id`` when it is 1 to :data:`MAX_REQUEST_ID` printable ASCII
    characters without spaces (safe to echo in a header and to record), else a new one."""
    for key, value in scope["headers"]:
        if key == REQUEST_ID:
            if _ID_SHAPE.fullmatch(value):
                return bytes(value)
            break
    return f"req_{getrandbits(96):024x}".encode()


async def read_json(
    scope: Scope, receive: Receive, limit: int, refusal: GatewayError
) -> tuple[bytes, Any]:
    """A bounded body (as ``read_bounded``) and what it parses to; a body that is not JSON is
    400 ``invalid_json``. The bytes come back too: the request checks count nesting on them."""
    raw = await read_bounded(
        scope, receive, limit, refusal, "the client went away before sending the body"
    )
    try:
        return raw, orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError("invalid_json", f"request body is not JSON: {exc}") from exc


async def read_bounded(
    scope: Scope, receive: Receive, limit: int, refusal: GatewayError, gone: str
) -> bytes:
    """The body, refused with ``refusal`` once it passes ``limit`` bytes: at once when the
    declared Content-Length does, else while reading, so nothing unbounded is buffered.
    ``gone`` is the message for a client that leaves before the body is in."""
    declared = header(scope, b"content-length")
    if declared is not None and (
        len(declared) > 12 or (declared.isascii() and declared.isdigit() and int(declared) > limit)
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
