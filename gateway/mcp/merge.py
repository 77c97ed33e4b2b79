"""Names on the aggregated ``/mcp``: every server's tools, prompts and resources
in one namespace, reversibly.

A tool or prompt ``get_issue`` of server ``github`` is ``github__get_issue``
(``<server><separator><name>``; the separator is ``gateway.mcp_separator``,
``__`` unless set). A call is routed by the part in front of the *first*
separator, which must be a catalog server; the rest is the server's own name,
separators and all (``github__get__issue`` is ``get__issue`` of ``github``).
A server whose name contains the separator is left out of ``/mcp`` (validate
refuses it, FL124), so the split is never ambiguous.

A resource URI ``debug://credential`` of ``github`` is
``fleet-mcp://github/debug://credential``: the prefix ``fleet-mcp://``, the
server, a slash, then the server's URI unchanged; a URI template is prefixed
the same way, so a URI a client expands from it routes too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SCHEME = "fleet-mcp://"


def routable(servers: Iterable[str], sep: str) -> list[str]:
    """The servers ``/mcp`` can route to: those whose names hold no separator."""
    return [s for s in servers if sep not in s]


def join(server: str, name: str, sep: str) -> str:
    return f"{server}{sep}{name}"


def split(name: str, sep: str, servers: Iterable[str]) -> tuple[str, str] | None:
    """(server, its own name) for a prefixed name, or None if no server prefixes it."""
    server, found, rest = name.partition(sep)
    if not found or not rest or server not in servers or sep in server:
        return None
    return server, rest


def wrap_uri(server: str, uri: str) -> str:
    return f"{SCHEME}{server}/{uri}"


def unwrap_uri(uri: str, servers: Iterable[str]) -> tuple[str, str] | None:
    """(server, its own URI) for a prefixed URI, or None."""
    if not uri.startswith(SCHEME):
        return None
    server, slash, rest = uri[len(SCHEME) :].partition("/")
    if not slash or not rest or server not in servers:
        return None
    return server, rest


def prefix_items(items: Any, server: str, sep: str, field: str) -> list[dict[str, Any]]:
    """Copies of the listed ``items`` (tools, prompts) with ``field`` prefixed; anything
    that is not an object with a string name is dropped (nobody could call it)."""
    out: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get(field), str):
            out.append({**item, field: join(server, item[field], sep)})
    return out


def prefix_resources(items: Any, server: str, field: str) -> list[dict[str, Any]]:
    """Resources (``uri``) or templates (``uriTemplate``) with the server's prefix."""
    out: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get(field), str):
            out.append({**item, field: wrap_uri(server, item[field])})
    return out


def prefix_contents(result: Any, server: str) -> Any:
    """A resources/read result with each content's URI shown as ``/mcp`` names it."""
    if not isinstance(result, dict) or not isinstance(result.get("contents"), list):
        return result
    contents = [
        {**c, "uri": wrap_uri(server, c["uri"])}
        if isinstance(c, dict) and isinstance(c.get("uri"), str)
        else c
        for c in result["contents"]
    ]
    return {**result, "contents": contents}


def resource_links(result: Any, server: str) -> Any:
    """A tool or prompt result whose embedded resources and resource links carry the
    server's URIs: shown with the prefix, so reading them on ``/mcp`` routes back."""
    if not isinstance(result, dict):
        return result
    key = "content" if isinstance(result.get("content"), list) else "messages"
    items = result.get(key)
    if not isinstance(items, list):
        return result
    changed = False
    out = []
    for item in items:
        block = item.get("content") if key == "messages" and isinstance(item, dict) else item
        if isinstance(block, dict) and block.get("type") == "resource_link":
            if isinstance(block.get("uri"), str):
                block = {**block, "uri": wrap_uri(server, block["uri"])}
                changed = True
        elif isinstance(block, dict) and block.get("type") == "resource":
            inner = block.get("resource")
            if isinstance(inner, dict) and isinstance(inner.get("uri"), str):
                block = {**block, "resource": {**inner, "uri": wrap_uri(server, inner["uri"])}}
                changed = True
        nested = key == "messages" and isinstance(item, dict)
        out.append({**item, "content": block} if nested else block)
    return {**result, key: out} if changed else result
