"""The name a tool, prompt or resource gets on the gateway's aggregated ``/mcp``
endpoint is ``<server><separator><name>``; the gateway routes a call by the
server name in front of the first separator. A server name that itself
contains the separator would make that split ambiguous (``a__b`` + ``c`` reads
as ``a`` + ``b__c``), so such a name is refused here rather than guessed at
when a call arrives."""

from __future__ import annotations

from collections.abc import Iterator

from fleet.errors import Diagnostic, Severity
from fleet.rules.base import Context, at, rule


@rule(
    "FL124",
    "mcp-separator-in-server-name",
    Severity.ERROR,
    "An MCP server's name contains gateway.mcp_separator, so /mcp could not route its tools.",
)
def separator_in_server_name(ctx: Context) -> Iterator[Diagnostic]:
    fleet = ctx.fleet.fleet
    sep = fleet.gateway.mcp_separator
    for name in fleet.mcp_servers:
        if sep in name:
            yield at(
                ctx.fleet.fleet_map,
                ("mcp_servers", name),
                f"MCP server name '{name}' contains the /mcp separator '{sep}'",
                f"rename the server without '{sep}', or set gateway.mcp_separator to "
                "another of _ . - (1 to 4 characters) that no server name contains",
                key=True,
            )
