"""A second fake MCP server ("linear", official SDK, no credential) for the aggregated
``/mcp``: a read and a write tool that count executions, a prompt and a resource."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer


def build() -> MCPServer:
    server = MCPServer("linear")
    executed: list[dict[str, Any]] = []

    @server.tool()
    def get_ticket(key: str) -> str:
        """Read one ticket."""
        executed.append({"tool": "get_ticket", "args": {"key": key}})
        return f"ticket {key}: login page is slow"

    @server.tool()
    def update_ticket(key: str, state: str) -> str:
        """Move a ticket to another state."""
        executed.append({"tool": "update_ticket", "args": {"key": key, "state": state}})
        return f"{key} is now {state}"

    @server.prompt()
    def triage_prompt(key: str) -> str:
        """How to triage a ticket."""
        return f"Triage ticket {key}: read it, then label it."

    @server.resource("ticket://{key}")
    def ticket(key: str) -> str:
        """A ticket as a resource."""
        return f"ticket {key} body"

    @server.resource("board://today")
    def board() -> str:
        """Today's board."""
        return "3 open tickets"

    server.executed = executed  # type: ignore[attr-defined]
    return server
