"""Inventory queries over a fleet: what runs, who owns what, and who can touch a server, tool or artifact.

Pure functions of the validated models; the CLI prints their rows as a table or JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from fleet.rules import TOOL_CLASSES, is_destructive, tool_class
from fleet.spec import Agent, Fleet, Grant, SubAgent


@dataclass(frozen=True)
class LoopRow:
    loop: str
    owner: str
    team: str
    stage: str
    model: str
    schedule: str
    budget: str
    grants: str


def _budget(fleet: Fleet, agent: Agent) -> str:
    if agent.budget:
        return f"${agent.budget.limit_usd:g}/{agent.budget.window}"
    inherited = [b for b in fleet.gateway.budgets if b.applies_per == "agent"]
    return f"${inherited[0].limit_usd:g}/{inherited[0].window} (fleet)" if inherited else "-"


def _grants(grants: dict[str, Grant]) -> str:
    return (
        "; ".join(f"{server}: {', '.join(g.tools)}" for server, g in sorted(grants.items())) or "-"
    )


def _schedule(a: Agent) -> str:
    t = a.trigger
    parts = [f"{t.schedule} ({t.timezone})" if t.schedule else ""]
    parts += ["webhook" if t.webhook else "", "suspended" if t.suspend else ""]
    return " ".join(p for p in parts if p) or "-"


def loop_rows(fleet: Fleet, agents: list[Agent]) -> list[LoopRow]:
    return [
        LoopRow(
            loop=a.name,
            owner=a.owner,
            team=fleet.team_of(a.owner),
            stage=f"{a.stage} -> {a.promotes_to}" if a.promotes_to else a.stage,
            model=a.model,
            schedule=_schedule(a),
            budget=_budget(fleet, a),
            grants=_grants(a.mcp_servers),
        )
        for a in sorted(agents, key=lambda x: x.name)
    ]


@dataclass(frozen=True)
class Touch:
    loop: str
    member: str  # the loop itself, or "loop/sub-agent"
    kind: str  # owns | server | tool
    detail: str
    cls: str = ""  # tool class for tool matches; "destructive" needs approval


def _members(agent: Agent) -> list[tuple[str, Agent | SubAgent]]:
    return [(agent.name, agent)] + [(f"{agent.name}/{s.name}", s) for s in agent.subagents]


def tools_granted(fleet: Fleet, server_name: str, grant: Grant) -> list[str]:
    """The catalog patterns a grant opens (classes expanded)."""
    server = fleet.mcp_servers.get(server_name)
    out: list[str] = []
    for entry in grant.tools:
        if entry in TOOL_CLASSES:
            out.extend(getattr(server.tools, entry) if server else [])
        else:
            out.append(entry)
    return list(dict.fromkeys(out))


def who_touches(fleet: Fleet, agents: list[Agent], query: str) -> list[Touch]:
    """Loops that own artifact ``query``, are granted server ``query``, or may call tool ``query``
    (``server.tool`` narrows a tool to one server)."""
    server_q, _, tool_q = (
        query.partition(".")
        if "." in query and query.split(".", 1)[0] in fleet.mcp_servers
        else ("", "", query)
    )
    out: list[Touch] = []
    for agent in sorted(agents, key=lambda a: a.name):
        if query in agent.owns:
            out.append(Touch(agent.name, agent.name, "owns", query))
        for member_name, member in _members(agent):
            for server_name, grant in sorted(member.mcp_servers.items()):
                if not server_q and server_name == query:
                    out.append(Touch(agent.name, member_name, "server", ", ".join(grant.tools)))
                    continue
                if server_q and server_name != server_q:
                    continue
                server = fleet.mcp_servers.get(server_name)
                # A glob grant reaches only tools the server's catalog offers.
                if server is not None and tool_class(server, tool_q) is None:
                    continue
                for pattern in tools_granted(fleet, server_name, grant):
                    if fnmatchcase(tool_q, pattern) or pattern == tool_q:
                        cls = (
                            "destructive"
                            if is_destructive(fleet, server, tool_q)
                            else (tool_class(server, tool_q) or "")
                            if server
                            else ""
                        )
                        out.append(
                            Touch(
                                agent.name,
                                member_name,
                                "tool",
                                f"{server_name}.{tool_q} via {pattern}",
                                cls,
                            )
                        )
                        break
    return out


@dataclass
class Owner:
    owner: str
    team: str
    loops: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)


def owners(fleet: Fleet, agents: list[Agent]) -> list[Owner]:
    by: dict[str, Owner] = {}
    for a in sorted(agents, key=lambda x: x.name):
        entry = by.setdefault(a.owner, Owner(a.owner, fleet.team_of(a.owner)))
        entry.loops.append(a.name)
        entry.artifacts.extend(sorted(a.owns))
    return [by[k] for k in sorted(by)]


def as_dicts(rows: list[Any]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
