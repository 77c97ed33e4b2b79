"""Least-privilege tool grants: which tools of which MCP server an identity may see and call.

A tool's class comes from the fleet's server catalog (``read``/``write``/
``destructive`` globs); the org-wide ``destructive_tools`` list and a loop's
``approvals: {tool: pause_for_human}`` make a tool destructive whatever the
catalog says. A tool the catalog does not classify is ``unclassified``: only a
grant that names it opens it. An identity's grant entries are classes or tool
names/globs. A ``checker`` may call read tools only, whatever its grants say.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from fleet.gwconfig import GatewayConfig
from gateway.config import Identity

CLASSES = ("read", "write", "destructive")


@dataclass(frozen=True)
class Refusal:
    grant: str
    tool_class: str
    message: str


def _matches(patterns: list[str], server: str, tool: str) -> bool:
    qualified = f"{server}.{tool}"
    return any(fnmatchcase(tool, p) or fnmatchcase(qualified, p) for p in patterns)


def tool_class(config: GatewayConfig, server: str, tool: str) -> str:
    """``read``, ``write``, ``destructive`` or ``unclassified``."""
    if _matches(config.destructive_tools, server, tool):
        return "destructive"
    catalog = config.mcp_servers.get(server)
    if catalog is None:
        return "unclassified"
    # Most dangerous class first: a tool matched by two globs gets the stricter one.
    for cls in ("destructive", "write", "read"):
        if _matches(getattr(catalog.tools, cls), server, tool):
            return cls
    return "unclassified"


def needs_approval(
    config: GatewayConfig, ident: Identity, server: str, tool: str, cls: str
) -> bool:
    """Destructive tools always wait for a human; a loop can add more with ``approvals``."""
    if cls == "destructive":
        return True
    for name, mode in ident.approvals.items():
        if mode == "pause_for_human" and (
            fnmatchcase(tool, name) or fnmatchcase(f"{server}.{tool}", name)
        ):
            return True
    return False


def _where(ident: Identity, server: str) -> str:
    if "/" in ident.member:
        sub = ident.member.split("/", 1)[1]
        return f"agent.subagents[{sub}].mcp_servers.{server}.tools"
    return f"agent.mcp_servers.{server}.tools"


def _who(ident: Identity) -> str:
    return f"sub-agent '{ident.member}'" if "/" in ident.member else f"loop '{ident.loop}'"


def check(ident: Identity, server: str, tool: str, cls: str) -> Refusal | None:
    """None when ``ident`` may call ``server.tool``; otherwise why not."""
    grant = f"{server}.{tool}"
    if ident.role == "checker" and cls != "read":
        return Refusal(
            grant,
            cls,
            f"{_who(ident)} has role checker and may call read tools only; {grant} is class {cls}",
        )
    entries = ident.mcp.get(server, [])
    if cls in CLASSES and cls in entries:
        return None
    if any(e not in CLASSES and fnmatchcase(tool, e) for e in entries):
        return None
    return Refusal(
        grant,
        cls,
        f"{_who(ident)} has no grant for {grant} (class {cls}); add it to {_where(ident, server)}",
    )


def visible(ident: Identity, server: str, tool: str, cls: str) -> bool:
    return check(ident, server, tool, cls) is None
