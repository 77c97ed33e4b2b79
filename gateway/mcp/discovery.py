"""MCP authorization discovery: what a spec-following client learns from a refusal.

The MCP authorization spec (2025-06-18, 2025-11-25) has a protected MCP server
answer 401 with ``WWW-Authenticate: Bearer resource_metadata="<url>"`` and
serve that URL as RFC 9728 protected-resource metadata, from which a client
finds the authorization server to run OAuth against. The gateway's MCP routes
take bearer tokens that the fleet's operator issues (each loop's token in its
Kubernetes Secret, approver tokens in the gateway config): there is no OAuth
authorization server to find. So the metadata names the resource, lists no
``authorization_servers`` (RFC 9728 makes the field optional; clients that
require one stop there rather than start a flow against a server that does not
exist) and says in ``fleet_token_issuer`` where a token comes from, and the 401
carries the same sentence, so a client reports a missing token instead of
opening a browser.

A token that belongs to an approver, valid but not for a tool route, is told
apart from an unknown one: 403 with ``data.code`` ``approver_token``, not
"unknown or revoked". Both refusals are JSON-RPC errors, as on the rest of the
MCP routes, with the gateway's error code in ``data.code``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from gateway.asgi import JSON, Scope, Send, header, send_response
from gateway.errors import AuthError, NotFoundError
from gateway.mcp.jsonrpc import RpcError

WELL_KNOWN = "/.well-known/oauth-protected-resource"
# The JSON-RPC code of a refused credential (the range servers define for themselves).
UNAUTHORIZED = -32001
ISSUER = (
    "bearer tokens are issued by the fleet's operator, not by an OAuth authorization "
    "server: a loop's gateway token is in its Kubernetes Secret"
)


def base_url(scope: Scope) -> str:
    """The gateway's URL as the client reached it (behind a proxy, the scheme it forwarded)."""
    scheme = header(scope, b"x-forwarded-proto") or scope.get("scheme") or "http"
    if scheme not in ("http", "https"):
        scheme = "http"
    host = header(scope, b"host")
    if not host or not host.isascii() or not host.isprintable() or " " in host or '"' in host:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host[:255]}"


def metadata_url(scope: Scope, resource_path: str) -> str:
    return f"{base_url(scope)}{WELL_KNOWN}{resource_path}"


def challenge(exc: AuthError, scope: Scope, resource_path: str) -> RpcError:
    """``exc`` as a JSON-RPC error (which MCP clients show as it is, where another body
    becomes "Server returned an error response"), with the ``WWW-Authenticate`` header
    the MCP authorization spec asks for."""
    value = f'Bearer resource_metadata="{metadata_url(scope, resource_path)}"'
    if exc.code == "invalid_token":
        value += ', error="invalid_token"'
    refusal = RpcError(401, UNAUTHORIZED, f"{exc.message} ({ISSUER})", data={"code": exc.code})
    refusal.headers = {"www-authenticate": value}
    return refusal


def authenticate(gateway: Any, scope: Scope, rt: Any, resource_path: str) -> Any:
    """The caller's identity on an MCP route; a 401 that says where metadata and tokens
    are, or 403 ``approver_token`` for an approver's token."""
    try:
        return gateway.authenticate(scope, rt)
    except AuthError as exc:
        if exc.code == "invalid_token":
            auth = header(scope, b"authorization") or ""
            token = auth[7:].strip()
            name = rt.approvers.get(hashlib.sha256(token.encode()).hexdigest())
            if name is not None:
                raise RpcError(
                    403,
                    UNAUTHORIZED,
                    f"this is an approver token (approver '{name}'), not a loop token: "
                    f"{resource_path} takes the calling loop's gateway token; approver "
                    "tokens decide approvals on /approvals",
                    data={"code": "approver_token"},
                ) from None
        raise challenge(exc, scope, resource_path) from None


async def serve(gateway: Any, scope: Scope, send: Send) -> None:
    """``GET /.well-known/oauth-protected-resource[/mcp/<server>]``: RFC 9728 metadata.
    Public, as RFC 9728 means it to be: it names the route, never a grant or a tool."""
    rt = gateway.holder.runtime
    rest = scope["path"][len(WELL_KNOWN) :]
    if rest in ("", "/", "/mcp"):
        resource = "/mcp"
    elif rest.startswith("/mcp/") and rest[5:].strip("/") in rt.config.mcp_servers:
        resource = "/mcp/" + rest[5:].strip("/")
    else:
        raise NotFoundError(
            "not_found",
            f"no protected resource {rest[:200]!r}: metadata is served for /mcp and for "
            "/mcp/<server> of each server in the fleet catalog",
        )
    doc = {
        "resource": base_url(scope) + resource,
        "authorization_servers": [],
        "bearer_methods_supported": ["header"],
        "resource_name": f"fleet {rt.config.fleet} MCP proxy{resource[4:] and ' for ' + resource[5:]}",
        "fleet_token_issuer": ISSUER,
    }
    await send_response(
        send, 200, orjson.dumps(doc), [*JSON, (b"cache-control", b"public, max-age=300")]
    )
