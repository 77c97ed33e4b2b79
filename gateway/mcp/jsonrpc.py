"""What the proxy accepts from a caller, checked before anything is forwarded or
recorded: one JSON-RPC 2.0 message per request (a request, a notification, or
a response to the server's own request), ``params`` an object, a tools/call's
``name`` a string and its ``arguments`` and ``_meta`` objects, nested at most
:data:`MAX_DEPTH` deep, and the headers the policy reads (``X-Fleet-Step``,
``X-Fleet-Run-Id``, ``Idempotency-Key``) well-formed and bounded.

Every refusal is an :class:`RpcError`: a :class:`gateway.errors.GatewayError`
whose body is a JSON-RPC error (code, message saying what to send instead, the
request's id when it has a usable one), so an MCP client reports it as a
failed request rather than a broken transport.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import GatewayError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

MAX_DEPTH = 64
MAX_STEP_DIGITS = 15  # well inside a signed 64-bit integer, what every store keeps
MAX_HEADER = 256
MAX_NAME = 256


class RpcError(GatewayError):
    """A refusal rendered as a JSON-RPC error with an HTTP status."""

    type = "invalid_request_error"

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        request_id: Any = None,
        data: dict[str, Any] | None = None,
    ):
        super().__init__("jsonrpc_error", message)
        self.status = status
        self.rpc_code = code
        self.request_id = request_id if usable_id(request_id) else None
        self.data = data

    def rpc(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.rpc_code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"jsonrpc": "2.0", "id": self.request_id, "error": error}

    def body(self) -> bytes:
        return orjson.dumps(self.rpc())


def usable_id(value: Any) -> bool:
    """JSON-RPC ids are strings or integers (MCP: never null in a request)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists/objects more than ``limit`` deep (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RpcError(400, PARSE_ERROR, f"parse error: the body is not JSON ({exc})") from None


def peek_id(msg: Any) -> Any:
    return msg.get("id") if isinstance(msg, dict) else None


def check_message(msg: Any) -> dict[str, Any]:
    """``msg`` as one well-formed JSON-RPC 2.0 message, or an :class:`RpcError`."""
    if isinstance(msg, list):
        # Batches (dropped from MCP in 2025-06-18) would let a tools/call slip past policy.
        raise RpcError(
            400,
            INVALID_REQUEST,
            "JSON-RPC batches are not supported; send one message per request",
        )
    if not isinstance(msg, dict):
        raise RpcError(400, INVALID_REQUEST, "a JSON-RPC message is a JSON object")
    rid = msg.get("id")
    if msg.get("jsonrpc") != "2.0":
        raise RpcError(
            400, INVALID_REQUEST, 'a JSON-RPC message needs "jsonrpc": "2.0"', request_id=rid
        )
    if "id" in msg and not usable_id(rid):
        raise RpcError(400, INVALID_REQUEST, "a JSON-RPC id is a string or an integer")
    if "method" not in msg:
        # A response to the server's own request (elicitation, sampling, roots).
        if "id" not in msg or ("result" in msg) == ("error" in msg):
            raise RpcError(
                400,
                INVALID_REQUEST,
                "a JSON-RPC message has a method (a request or a notification), or an id "
                "and one of result or error (a response)",
                request_id=rid,
            )
        if "error" in msg and not isinstance(msg["error"], dict):
            raise RpcError(400, INVALID_REQUEST, "a JSON-RPC error is an object", request_id=rid)
        return msg
    method = msg["method"]
    if not isinstance(method, str) or not method:
        raise RpcError(400, INVALID_REQUEST, "a JSON-RPC method is a string", request_id=rid)
    params = msg.get("params")
    if params is not None and not isinstance(params, dict):
        raise RpcError(400, INVALID_PARAMS, f"{method}: params must be an object", request_id=rid)
    return msg


def call_params(msg: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(tool name, arguments, _meta) of a tools/call; refused unless each has its type."""
    rid = msg.get("id")
    params = msg.get("params") or {}
    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise RpcError(
            200, INVALID_PARAMS, "tools/call: params.name must be the tool's name", request_id=rid
        )
    if len(name) > MAX_NAME:
        raise RpcError(
            200,
            INVALID_PARAMS,
            f"tools/call: a tool name of {len(name)} characters (at most {MAX_NAME})",
            request_id=rid,
        )
    args = params.get("arguments")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise RpcError(
            200,
            INVALID_PARAMS,
            f"tools/call {name}: arguments must be an object, not {_kind(args)}",
            request_id=rid,
        )
    meta = params.get("_meta")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise RpcError(
            200,
            INVALID_PARAMS,
            f"tools/call {name}: _meta must be an object, not {_kind(meta)}",
            request_id=rid,
        )
    if too_deep(args) or too_deep(meta):
        raise RpcError(
            200,
            INVALID_PARAMS,
            f"tools/call {name}: arguments nested more than {MAX_DEPTH} deep",
            request_id=rid,
        )
    return name, args, meta


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number"}.get(
        type(value), "a number" if isinstance(value, float) else "null"
    )


def step_header(value: str | None, rid: Any) -> int | None:
    """``X-Fleet-Step``: ASCII digits, at most :data:`MAX_STEP_DIGITS` of them."""
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_STEP_DIGITS):
        raise RpcError(
            400,
            INVALID_REQUEST,
            f"x-fleet-step must be the step number in ASCII digits (at most "
            f"{MAX_STEP_DIGITS}), not {value[:40]!r}",
            request_id=rid,
        )
    return int(value)


def text_header(name: str, value: str | None, rid: Any) -> str | None:
    """A free-text header the policy records (run id, idempotency key): printable ASCII,
    bounded."""
    if value is None:
        return None
    if len(value) > MAX_HEADER or not (value.isascii() and value.isprintable()):
        raise RpcError(
            400,
            INVALID_REQUEST,
            f"{name} must be at most {MAX_HEADER} printable ASCII characters",
            request_id=rid,
            data={"header": name},
        )
    return value


def key_meta(meta: dict[str, Any], field: str, rid: Any) -> str | None:
    key = meta.get(field)
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > MAX_HEADER:
        raise RpcError(
            200,
            INVALID_PARAMS,
            f'_meta["{field}"] must be a string of 1 to {MAX_HEADER} characters',
            request_id=rid,
        )
    return key
