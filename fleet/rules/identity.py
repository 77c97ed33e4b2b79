"""Who a loop is and what it owns: one owner per artifact, unique names, sub-agent shape,
and the checker that decides when a run is done."""

from __future__ import annotations

from collections.abc import Iterator

from fleet.errors import Diagnostic, Severity, did_you_mean
from fleet.load import LoadedAgent
from fleet.rules.base import (
    TOOL_CLASSES,
    Context,
    _agents,
    at,
    is_destructive,
    rule,
    tool_class,
)


@rule("FL101", "owns-conflict", Severity.ERROR, "An artifact in owns: is claimed by two loops.")
def owns_conflict(ctx: Context) -> Iterator[Diagnostic]:
    first: dict[str, tuple[LoadedAgent, int]] = {}
    for la in _agents(ctx):
        for i, artifact in enumerate(la.agent.owns):
            if artifact in first:
                other, j = first[artifact]
                line, col = other.smap.locate(("agent", "owns", j))
                where = f"{other.file}:{line}:{col}"
                yield at(
                    la.smap,
                    ("agent", "owns", i),
                    f"artifact '{artifact}' is already owned by loop '{other.agent.name}' ({where})",
                    "an artifact has one owner: remove it here or there, or have one loop hand it to the other",
                    related=(where,),
                )
            else:
                first[artifact] = (la, i)


@rule(
    "FL102",
    "duplicate-loop-name",
    Severity.ERROR,
    "Two agent files define loops with the same name.",
)
def duplicate_names(ctx: Context) -> Iterator[Diagnostic]:
    seen: dict[str, LoadedAgent] = {}
    for la in _agents(ctx):
        if la.agent.name in seen:
            other = seen[la.agent.name]
            yield at(
                la.smap,
                ("agent", "name"),
                f"loop '{la.agent.name}' is also defined in {other.file}",
                "rename one of them",
            )
        else:
            seen[la.agent.name] = la


@rule(
    "FL103",
    "file-name-mismatch",
    Severity.ERROR,
    "An agent file's name differs from the loop name inside it.",
)
def file_name(ctx: Context) -> Iterator[Diagnostic]:
    for la in _agents(ctx):
        stem = la.file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if stem != la.agent.name:
            yield at(
                la.smap,
                ("agent", "name"),
                f"loop '{la.agent.name}' lives in a file named '{stem}'",
                f"rename the file to agents/{la.agent.name}.yaml",
            )


# ------------------------------------------------------------------ sub-agents


@rule(
    "FL111",
    "checker-write-grant",
    Severity.ERROR,
    "A checker sub-agent has a write or destructive grant.",
)
def checker_writes(ctx: Context) -> Iterator[Diagnostic]:
    catalog = ctx.fleet.fleet.mcp_servers
    for la in _agents(ctx):
        for i, sub in enumerate(la.agent.subagents):
            if sub.role != "checker":
                continue
            for server_name, grant in sub.mcp_servers.items():
                server = catalog.get(server_name)
                for j, entry in enumerate(grant.tools):
                    cls = (
                        entry
                        if entry in TOOL_CLASSES
                        else (tool_class(server, entry) if server else None)
                    )
                    if (
                        server is not None
                        and entry not in TOOL_CLASSES
                        and is_destructive(ctx.fleet.fleet, server, entry)
                    ):
                        cls = "destructive"
                    if cls in ("write", "destructive"):
                        yield at(
                            la.smap,
                            ("agent", "subagents", i, "mcp_servers", server_name, "tools", j),
                            f"checker '{sub.name}' is granted {cls} tool '{entry}'",
                            "a checker only reads; give writes to the maker or the loop itself",
                        )


@rule("FL112", "subagent-nesting", Severity.ERROR, "Sub-agents are nested deeper than one level.")
def nesting(ctx: Context) -> Iterator[Diagnostic]:
    for la in _agents(ctx):
        for i, sub in enumerate(la.agent.subagents):
            if sub.subagents:
                yield at(
                    la.smap,
                    ("agent", "subagents", i, "subagents"),
                    f"sub-agent '{sub.name}' has sub-agents of its own",
                    "delegation is one level deep: move them up to the loop's subagents",
                    key=True,
                )
        names = [s.name for s in la.agent.subagents]
        for i, name in enumerate(names):
            if name in names[:i]:
                yield at(
                    la.smap,
                    ("agent", "subagents", i, "name"),
                    f"sub-agent name '{name}' is used twice",
                    "give each sub-agent its own name",
                )


@rule(
    "FL113",
    "done-checker",
    Severity.ERROR,
    "done.checker names no sub-agent of the loop, or one whose role is not checker.",
)
def done_checker(ctx: Context) -> Iterator[Diagnostic]:
    for la in _agents(ctx):
        done = la.agent.done
        if done is None or done.checker is None:
            continue
        subs = {s.name: s for s in la.agent.subagents}
        checkers = [name for name, s in subs.items() if s.role == "checker"]
        hint = (
            did_you_mean(done.checker, checkers)
            if checkers
            else "add a sub-agent with role: checker under agent.subagents"
        )
        sub = subs.get(done.checker)
        if sub is None:
            yield at(
                la.smap,
                ("agent", "done", "checker"),
                f"no sub-agent '{done.checker}' in agent.subagents",
                hint,
            )
        elif sub.role != "checker":
            others = [c for c in checkers if c != done.checker]
            yield at(
                la.smap,
                ("agent", "done", "checker"),
                f"sub-agent '{done.checker}' has role {sub.role}, not checker",
                f"did you mean '{others[0]}'?"
                if len(others) == 1
                else f"name one of the checkers: {', '.join(others)}"
                if others
                else f"give '{done.checker}' role: checker, or name a checker sub-agent",
            )
