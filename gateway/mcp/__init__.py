"""The MCP half of the gateway: a streamable-HTTP proxy per catalog server with
least-privilege grants, guardrails on tool arguments and results, durable
human approval gates and idempotent side effects.

``create_mcp_app(gateway)`` returns the ASGI callable the gateway mounts for
``/mcp/…`` and ``/approvals…``. ``gateway`` is anything with ``holder``
(:class:`gateway.config.ConfigHolder`), ``store`` (a
:class:`gateway.store.Store`, for traces) and ``authenticate(scope, runtime)``;
the gateway's own :class:`gateway.app.Gateway` is one. Approvals and
idempotency keys live in the store's SQLite file (``ledger`` overrides the
path; a Redis store uses ``FLEET_GATEWAY_LEDGER`` or ``gateway-mcp.sqlite3``).
"""

from __future__ import annotations

import os
from typing import Any

from gateway.mcp.app import McpApp


def create_mcp_app(gateway: Any, ledger: str | None = None) -> McpApp:
    if ledger is None:
        path = getattr(gateway.store, "path", None)
        ledger = (
            path
            if path and path != ":memory:"
            else os.environ.get("FLEET_GATEWAY_LEDGER", "gateway-mcp.sqlite3")
        )
    return McpApp(gateway, ledger)


__all__ = ["McpApp", "create_mcp_app"]
