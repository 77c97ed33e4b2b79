"""The MCP half of the gateway: a streamable-HTTP proxy per catalog server with
least-privilege grants, guardrails on tool arguments and results, durable
human approval gates and idempotent side effects.

``create_mcp_app(gateway)`` returns the ASGI callable the gateway mounts for
``/mcp``, ``/mcp/…`` and ``/approvals…``. ``gateway`` is anything with ``holder``
(:class:`gateway.config.ConfigHolder`), ``store`` (a
:class:`gateway.store.Store`: traces, and the durable rows that hold approvals
and idempotency keys) and ``authenticate(scope, runtime)``; the gateway's own
:class:`gateway.app.Gateway` is one.

Modules: :mod:`~gateway.mcp.grants` (who may call what, look-alike names),
:mod:`~gateway.mcp.calls` (tools/call policy, in order), :mod:`~gateway.mcp.screening`
(guardrails on arguments and results), :mod:`~gateway.mcp.approved` (the approval gate,
the ``fleet_approval_result`` pseudo-tool), :mod:`~gateway.mcp.once` (idempotency keys,
at most once per key), :mod:`~gateway.mcp.outcome` (trace steps, metrics, answers),
:mod:`~gateway.mcp.answers` (what a loop is told about approvals and keys),
:mod:`~gateway.mcp.ledger` (approval and key records, under leases),
:mod:`~gateway.mcp.endpoint` (``/mcp/<server>``), :mod:`~gateway.mcp.aggregate`
(``/mcp``: every granted server as one, names by :mod:`~gateway.mcp.merge`, sessions by
:mod:`~gateway.mcp.fanout`, lists and routed requests by :mod:`~gateway.mcp.upstream`),
:mod:`~gateway.mcp.tasks` (approvals as MCP tasks), :mod:`~gateway.mcp.api`
(``/approvals``), :mod:`~gateway.mcp.jsonrpc` (what a caller may send),
:mod:`~gateway.mcp.sessions` (sessions bound to their owner),
:mod:`~gateway.mcp.listing` (only names the server lists),
:mod:`~gateway.mcp.redact` (injected credentials never passed back),
:mod:`~gateway.mcp.wire` (streamable HTTP on the wire),
:mod:`~gateway.mcp.client` (the keep-alive HTTP/1.1 client to servers),
:mod:`~gateway.mcp.relay` (progress and server requests streamed mid-call).
"""

from __future__ import annotations

from typing import Any

from gateway.mcp.app import McpApp


def create_mcp_app(gateway: Any) -> McpApp:
    return McpApp(gateway)


__all__ = ["McpApp", "create_mcp_app"]
