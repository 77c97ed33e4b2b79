"""Rules against the fleet catalog: models, prices, MCP servers, tools and the approval gate."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase

from fleet.errors import Diagnostic, Severity, did_you_mean
from fleet.rules.base import (
    DEPRECATION_WARN_DAYS,
    TOOL_CLASSES,
    Context,
    _agents,
    _members,
    at,
    is_destructive,
    rule,
)


@rule(
    "FL121",
    "unknown-model",
    Severity.ERROR,
    "A model, fallback or replacement names no virtual model of the catalog.",
)
def unknown_model(ctx: Context) -> Iterator[Diagnostic]:
    fleet = ctx.fleet.fleet
    models = fleet.models
    for la in _agents(ctx):
        for path, member in _members(la.agent):
            if member.model is not None and member.model not in models:
                yield at(
                    la.smap,
                    (*path, "model"),
                    f"no virtual model '{member.model}' in fleet.yaml models",
                    did_you_mean(member.model, models),
                )
    fsm = ctx.fleet.fleet_map
    for name, vm in models.items():
        for i, fb in enumerate(vm.fallback):
            if fb not in models:
                yield at(
                    fsm,
                    ("models", name, "fallback", i),
                    f"fallback '{fb}' is not a virtual model",
                    did_you_mean(fb, models),
                )
        if vm.deprecated and vm.deprecated.use and vm.deprecated.use not in models:
            yield at(
                fsm,
                ("models", name, "deprecated", "use"),
                f"replacement '{vm.deprecated.use}' is not a virtual model",
                did_you_mean(vm.deprecated.use, models),
            )
        for i, target in enumerate(vm.targets):
            if target.provider not in fleet.providers:
                yield at(
                    fsm,
                    ("models", name, "targets", i, "provider"),
                    f"no provider '{target.provider}' in fleet.yaml providers",
                    did_you_mean(target.provider, fleet.providers),
                )


@rule(
    "FL122",
    "model-deprecated",
    Severity.ERROR,
    "A loop uses a deprecated model: error after its date, warning within 30 days.",
)
def deprecated_model(ctx: Context) -> Iterator[Diagnostic]:
    models = ctx.fleet.fleet.models
    for la in _agents(ctx):
        for path, member in _members(la.agent):
            vm = models.get(member.model) if member.model else None
            if vm is None or vm.deprecated is None:
                continue
            after = vm.deprecated.after
            instead = (
                f"switch to '{vm.deprecated.use}'"
                if vm.deprecated.use
                else "switch to a supported model"
            )
            if ctx.today > after:
                yield at(
                    la.smap,
                    (*path, "model"),
                    f"model '{member.model}' was deprecated after {after}",
                    instead,
                )
            elif (after - ctx.today).days <= DEPRECATION_WARN_DAYS:
                days = (after - ctx.today).days
                yield at(
                    la.smap,
                    (*path, "model"),
                    f"model '{member.model}' is deprecated after {after} ({days} days left)",
                    instead,
                    severity=Severity.WARNING,
                )


@rule(
    "FL123",
    "missing-price",
    Severity.ERROR,
    "A model target has no price while the fleet sets budgets.",
)
def missing_price(ctx: Context) -> Iterator[Diagnostic]:
    fleet = ctx.fleet.fleet
    budgets = fleet.gateway.budgets or any(la.agent.budget for la in _agents(ctx))
    for name, vm in fleet.models.items():
        for i, target in enumerate(vm.targets):
            key = f"{target.provider}/{target.model}"
            if key not in fleet.pricing:
                severity = None if budgets else Severity.WARNING
                yield at(
                    ctx.fleet.fleet_map,
                    ("models", name, "targets", i, "model"),
                    f"no price for '{key}'",
                    f'add pricing."{key}": {{input: …, output: …}} (USD per million tokens)',
                    severity=severity,
                )


# ------------------------------------------------------------------ MCP grants


@rule(
    "FL131",
    "unknown-mcp-server",
    Severity.ERROR,
    "A grant names an MCP server that is not in the catalog.",
)
def unknown_server(ctx: Context) -> Iterator[Diagnostic]:
    catalog = ctx.fleet.fleet.mcp_servers
    for la in _agents(ctx):
        for path, member in _members(la.agent):
            for server in member.mcp_servers:
                if server not in catalog:
                    yield at(
                        la.smap,
                        (*path, "mcp_servers", server),
                        f"no MCP server '{server}' in fleet.yaml mcp_servers",
                        did_you_mean(server, catalog),
                        key=True,
                    )


@rule(
    "FL132",
    "unknown-tool",
    Severity.ERROR,
    "A grant names a tool or tool class the server does not declare.",
)
def unknown_tool(ctx: Context) -> Iterator[Diagnostic]:
    catalog = ctx.fleet.fleet.mcp_servers
    for la in _agents(ctx):
        for path, member in _members(la.agent):
            for server_name, grant in member.mcp_servers.items():
                server = catalog.get(server_name)
                if server is None:
                    continue
                declared = [p for cls in TOOL_CLASSES for p in getattr(server.tools, cls)]
                for j, entry in enumerate(grant.tools):
                    where = (*path, "mcp_servers", server_name, "tools", j)
                    if entry in TOOL_CLASSES:
                        if not getattr(server.tools, entry):
                            have = [c for c in TOOL_CLASSES if getattr(server.tools, c)]
                            yield at(
                                la.smap,
                                where,
                                f"server '{server_name}' declares no {entry} tools",
                                f"it declares: {', '.join(have) or 'nothing'}",
                            )
                        continue
                    if not any(
                        p == entry or fnmatchcase(entry, p) or fnmatchcase(p, entry)
                        for p in declared
                    ):
                        hint = did_you_mean(entry, [*TOOL_CLASSES, *declared])
                        yield at(
                            la.smap,
                            where,
                            f"server '{server_name}' declares no tool '{entry}'",
                            hint,
                        )


@rule(
    "FL151",
    "destructive-without-approval",
    Severity.ERROR,
    "A destructive tool's approval gate is switched off (approvals: auto).",
)
def destructive_gate(ctx: Context) -> Iterator[Diagnostic]:
    """Only switching the gate off is a mistake: granting a destructive tool without an
    ``approvals:`` entry is fine, since the org-wide gate applies by itself (compile writes
    ``pause_for_human`` for every destructive tool a loop can reach, and diff shows it)."""
    fleet = ctx.fleet.fleet
    destructive = [
        *fleet.gateway.destructive_tools,
        *(p for server in fleet.mcp_servers.values() for p in server.tools.destructive),
    ]
    for la in _agents(ctx):
        for tool, mode in la.agent.approvals.items():
            if mode != "auto":
                continue
            if is_destructive(fleet, None, tool) or any(
                is_destructive(fleet, s, tool) for s in fleet.mcp_servers.values()
            ):
                what = f"'{tool}' is destructive"
            else:  # a glob key such as '*' or 'merge_*' would switch off a destructive tool
                covered = next((p for p in destructive if fnmatchcase(p, tool)), None)
                if covered is None:
                    continue
                what = f"'{tool}' covers destructive '{covered}'"
            yield at(
                la.smap,
                ("agent", "approvals", tool),
                f"{what}: its approval gate cannot be switched off",
                "destructive tools always wait for a person: remove the entry, "
                "or write pause_for_human",
            )
