"""Lint rules: the cross-field and cross-file checks that make fleet failures impossible.

Each rule has a stable ID, a name, a severity and a one-line doc
(``fleetctl rules`` lists them). A rule is a function of a loaded fleet that
yields located diagnostics; rules never raise for user data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from fleet.errors import Diagnostic, Severity, did_you_mean
from fleet.load import LoadedAgent, LoadedFleet
from fleet.spec import Agent, Fleet, Grant, McpServer, SubAgent, split_ref
from fleet.yamlsrc import Path, SourceMap, format_path

TOOL_CLASSES = ("read", "write", "destructive")
DEPRECATION_WARN_DAYS = 30
WINDOW_DAYS = {"day": 1, "week": 7, "month": 30}


@dataclass(frozen=True)
class Context:
    fleet: LoadedFleet
    today: dt.date


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: Severity
    doc: str
    check: Callable[[Context], Iterable[Diagnostic]]


@dataclass(frozen=True)
class DocumentRule:
    """A rule over each parsed file's raw data, run even when the file fails the schema."""

    id: str
    name: str
    severity: Severity
    doc: str
    check: Callable[[SourceMap, Any], Iterable[Diagnostic]]


RULES: list[Rule] = []
DOCUMENT_RULES: list[DocumentRule] = []
DocCheck = Callable[[SourceMap, Any], Iterable[Diagnostic]]


def document_rule(
    rule_id: str, name: str, severity: Severity, doc: str
) -> Callable[[DocCheck], DocCheck]:
    def register(fn: DocCheck) -> DocCheck:
        DOCUMENT_RULES.append(DocumentRule(rule_id, name, severity, doc, fn))
        return fn

    return register


def run_document_rules(docs: Iterable[tuple[SourceMap, Any]]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for smap, raw in docs:
        for r in DOCUMENT_RULES:
            out.extend(
                Diagnostic(
                    d.file, d.line, d.col, d.path, d.message, d.hint, r.id, r.severity, d.related
                )
                for d in r.check(smap, raw)
            )
    return out


def rule(
    rule_id: str, name: str, severity: Severity, doc: str
) -> Callable[
    [Callable[[Context], Iterable[Diagnostic]]], Callable[[Context], Iterable[Diagnostic]]
]:
    def register(
        fn: Callable[[Context], Iterable[Diagnostic]],
    ) -> Callable[[Context], Iterable[Diagnostic]]:
        RULES.append(Rule(rule_id, name, severity, doc, fn))
        return fn

    return register


def run_rules(fleet: LoadedFleet, today: dt.date | None = None) -> list[Diagnostic]:
    """Every rule over ``fleet``; diagnostics carry their rule's ID and severity."""
    ctx = Context(fleet, today or dt.date.today())
    out: list[Diagnostic] = []
    for r in RULES:
        for d in r.check(ctx):
            severity = d.severity if d.rule == "override" else r.severity
            out.append(
                Diagnostic(
                    d.file, d.line, d.col, d.path, d.message, d.hint, r.id, severity, d.related
                )
            )
    return out


def at(
    smap: SourceMap,
    path: Path,
    message: str,
    hint: str = "",
    *,
    key: bool = False,
    severity: Severity | None = None,
    related: tuple[str, ...] = (),
) -> Diagnostic:
    line, col = smap.locate(path, key=key)
    if severity is None:
        return Diagnostic(smap.file, line, col, format_path(path), message, hint, related=related)
    return Diagnostic(
        smap.file, line, col, format_path(path), message, hint, "override", severity, related
    )


# ------------------------------------------------------------------ helpers


def tool_class(server: McpServer, tool: str) -> str | None:
    """The catalog class a concrete tool name (or glob) falls in; destructive wins."""
    for cls in ("destructive", "write", "read"):
        for pattern in getattr(server.tools, cls):
            if pattern == tool or fnmatchcase(tool, pattern):
                return cls
    return None


def is_destructive(fleet: Fleet, server: McpServer | None, tool: str) -> bool:
    if any(p == tool or fnmatchcase(tool, p) for p in fleet.gateway.destructive_tools):
        return True
    return server is not None and tool_class(server, tool) == "destructive"


def granted_destructive(fleet: Fleet, server: McpServer, grant: Grant) -> list[str]:
    """Destructive tool names/globs a grant opens, as the approval gate must name them."""
    return list(dict.fromkeys(tool for _, tool in _destructive_entries(fleet, server, grant)))


def _destructive_entries(
    fleet: Fleet, server: McpServer, grant: Grant
) -> Iterator[tuple[int, str]]:
    """(index of the grant entry, destructive tool or glob it opens)."""
    for i, entry in enumerate(grant.tools):
        if entry == "destructive":
            for tool in server.tools.destructive:
                yield i, tool
        elif entry in ("read", "write"):
            for tool in getattr(server.tools, entry):
                if is_destructive(fleet, None, tool):
                    yield i, tool
        elif is_destructive(fleet, server, entry):
            yield i, entry


def _members(agent: Agent) -> Iterator[tuple[Path, Agent | SubAgent]]:
    yield ("agent",), agent
    for i, sub in enumerate(agent.subagents):
        yield ("agent", "subagents", i), sub


def _agents(ctx: Context) -> list[LoadedAgent]:
    return ctx.fleet.agents


# ------------------------------------------------------------------ ownership and identity


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


# ------------------------------------------------------------------ models


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
    "A destructive tool is granted without the approval gate, or the gate is switched off.",
)
def destructive_gate(ctx: Context) -> Iterator[Diagnostic]:
    fleet = ctx.fleet.fleet
    for la in _agents(ctx):
        agent = la.agent
        for tool, mode in agent.approvals.items():
            if mode == "auto" and (
                is_destructive(fleet, None, tool)
                or any(is_destructive(fleet, s, tool) for s in fleet.mcp_servers.values())
            ):
                yield at(
                    la.smap,
                    ("agent", "approvals", tool),
                    f"'{tool}' is destructive: its approval gate cannot be switched off",
                    "use pause_for_human; destructive tools always wait for a person",
                )
        for path, member in _members(agent):
            for server_name, grant in member.mcp_servers.items():
                server = fleet.mcp_servers.get(server_name)
                if server is None:
                    continue
                for j, tool in _destructive_entries(fleet, server, grant):
                    gated = any(
                        mode == "pause_for_human" and (key == tool or fnmatchcase(tool, key))
                        for key, mode in agent.approvals.items()
                    )
                    if not gated:
                        yield at(
                            la.smap,
                            (*path, "mcp_servers", server_name, "tools", j),
                            f"destructive tool '{tool}' of '{server_name}' is granted without an approval gate",
                            f"add approvals: {{{tool}: pause_for_human}} to the loop",
                        )


# ------------------------------------------------------------------ credentials


def _walk(data: Any, path: Path = ()) -> Iterator[tuple[Path, Any, str | None]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, (*path, key))
            if isinstance(key, str):
                yield (*path, key), key, "key"
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _walk(value, (*path, i))
    elif isinstance(data, str):
        last = path[-1] if path else None
        yield path, data, last if isinstance(last, str) else None


@document_rule(
    "FL141",
    "credential-in-definition",
    Severity.ERROR,
    "Something in a definition looks like a credential.",
)
def credentials(smap: SourceMap, raw: Any) -> Iterator[Diagnostic]:
    from fleet import detect

    for path, value, field in _walk(raw):
        if field == "key":
            continue
        findings = detect.scan_secrets(value)
        if findings:
            f = findings[0]
            yield at(
                smap,
                path,
                f"looks like a credential ({f.kind}): {f.masked}",
                "never put keys in a definition: reference a Kubernetes Secret by name (credentials: {secret: NAME})",
            )
        elif (
            field is not None
            and detect.is_credential_like_key(field)
            and detect.high_entropy(value)
        ):
            yield at(
                smap,
                path,
                f"high-entropy value under '{field}': {detect.mask(value)}",
                "reference a Kubernetes Secret by name instead of writing the value",
            )


# ------------------------------------------------------------------ bounds and budgets


def _daily(limit: float, window: str) -> float:
    return limit / WINDOW_DAYS[window]


@rule(
    "FL161",
    "budget-above-fleet",
    Severity.ERROR,
    "A loop's budget is looser than the fleet's per-agent budget.",
)
def budget_above(ctx: Context) -> Iterator[Diagnostic]:
    fleet_budgets = [b for b in ctx.fleet.fleet.gateway.budgets if b.applies_per == "agent"]
    for la in _agents(ctx):
        budget = la.agent.budget
        if budget is None:
            continue
        for fb in fleet_budgets:
            same = fb.window == budget.window
            looser = (
                budget.limit_usd > fb.limit_usd
                if same
                else _daily(budget.limit_usd, budget.window) > _daily(fb.limit_usd, fb.window)
            )
            if looser:
                yield at(
                    la.smap,
                    ("agent", "budget", "limit_usd"),
                    f"budget ${budget.limit_usd:g}/{budget.window} is above the fleet's ${fb.limit_usd:g}/{fb.window} per agent",
                    "a loop may only tighten the fleet budget",
                )


@rule(
    "FL162",
    "rate-limit-above-fleet",
    Severity.ERROR,
    "A loop's rate limit is above the fleet's per-agent rate limit.",
)
def rate_above(ctx: Context) -> Iterator[Diagnostic]:
    fleet_rate = ctx.fleet.fleet.gateway.rate_limits.per_agent
    for la in _agents(ctx):
        rate = la.agent.rate_limits
        if rate is None:
            continue
        for name in ("requests_per_minute", "tokens_per_minute"):
            mine, cap = getattr(rate, name), getattr(fleet_rate, name)
            if mine is not None and cap is not None and mine > cap:
                yield at(
                    la.smap,
                    ("agent", "rate_limits", name),
                    f"{name} {mine} is above the fleet's {cap}",
                    "a loop may only tighten the fleet rate limits",
                )


@rule(
    "FL163",
    "harness-bounds",
    Severity.ERROR,
    "Harness bounds are missing or above the fleet's harness_limits.",
)
def harness_bounds(ctx: Context) -> Iterator[Diagnostic]:
    limits = ctx.fleet.fleet.harness_limits
    for la in _agents(ctx):
        h = la.agent.harness
        for name in ("max_steps", "max_tokens_per_run"):
            value, cap = getattr(h, name), getattr(limits, name)
            if value is None:
                yield at(
                    la.smap,
                    ("agent", "harness"),
                    f"harness.{name} is missing",
                    f"every loop sets its own ceiling; the fleet allows at most {cap}",
                    key=True,
                )
            elif value > cap:
                yield at(
                    la.smap,
                    ("agent", "harness", name),
                    f"{name} {value} is above the fleet limit {cap}",
                    f"lower it to {cap} or less",
                )
        if h.max_run_minutes is not None and h.max_run_minutes > limits.max_run_minutes:
            yield at(
                la.smap,
                ("agent", "harness", "max_run_minutes"),
                f"max_run_minutes {h.max_run_minutes} is above the fleet limit {limits.max_run_minutes}",
                f"lower it to {limits.max_run_minutes} or less",
            )
        if (
            h.stall_after_steps is not None
            and h.max_steps is not None
            and h.stall_after_steps > h.max_steps
        ):
            yield at(
                la.smap,
                ("agent", "harness", "stall_after_steps"),
                f"stall_after_steps {h.stall_after_steps} exceeds max_steps {h.max_steps}",
                "stall detection must trigger before the step ceiling",
            )


# ------------------------------------------------------------------ trigger


@lru_cache(maxsize=4096)
def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a schedule a Kubernetes CronJob accepts, or ``None``."""
    macros = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
    if expr.strip() in macros:
        return None
    if len(expr.split()) != 5:
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(expr.split())}"
    if not croniter.is_valid(expr):
        return "not a valid cron expression"
    return None


@lru_cache(maxsize=1024)
def zone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone '{name}'"
    return None


@rule(
    "FL171",
    "invalid-cron",
    Severity.ERROR,
    "A trigger schedule is not a valid 5-field cron expression.",
)
def invalid_cron(ctx: Context) -> Iterator[Diagnostic]:
    for la in _agents(ctx):
        problem = cron_problem(la.agent.trigger.schedule)
        if problem:
            yield at(
                la.smap,
                ("agent", "trigger", "schedule"),
                f"schedule '{la.agent.trigger.schedule}': {problem}",
                "e.g. '0 6 * * 1-5' is 06:00 on weekdays",
            )


@rule("FL172", "unknown-timezone", Severity.ERROR, "A time zone is not an IANA zone name.")
def unknown_timezone(ctx: Context) -> Iterator[Diagnostic]:
    if zone_problem(ctx.fleet.fleet.timezone):
        yield at(
            ctx.fleet.fleet_map,
            ("timezone",),
            f"unknown time zone '{ctx.fleet.fleet.timezone}'",
            "use an IANA name such as Europe/Berlin or UTC",
        )
    for la in _agents(ctx):
        tz = la.agent.trigger.timezone
        if zone_problem(tz):
            yield at(
                la.smap,
                ("agent", "trigger", "timezone"),
                f"unknown time zone '{tz}'",
                "use an IANA name such as Europe/Berlin, America/New_York or UTC",
            )


# ------------------------------------------------------------------ pins


@rule(
    "FL181",
    "unpinned-ref",
    Severity.ERROR,
    "A production loop references instructions or skills without @version.",
)
def unpinned(ctx: Context) -> Iterator[Diagnostic]:
    for la in _agents(ctx):
        if la.agent.stage != "production":
            continue
        for path, member in _members(la.agent):
            refs: list[tuple[Path, str]] = []
            if member.instructions:
                refs.append(((*path, "instructions"), member.instructions))
            refs += [((*path, "skills", i), s) for i, s in enumerate(member.skills)]
            for where, ref in refs:
                if split_ref(ref)[1] is None:
                    yield at(
                        la.smap,
                        where,
                        f"'{ref}' is not pinned to a version",
                        f"write {ref}@<version>: production loops run reviewed versions only",
                    )


@rule(
    "FL191",
    "unknown-guardrail",
    Severity.WARNING,
    "A guardrail names a detector that is not built in.",
)
def unknown_guardrail(ctx: Context) -> Iterator[Diagnostic]:
    from fleet import detect

    known = set(detect.DETECTORS)
    hooks = ctx.fleet.fleet.gateway.guardrails
    for hook in ("llm_input", "llm_output", "mcp_pre_tool", "mcp_post_tool"):
        for i, entry in enumerate(getattr(hooks, hook)):
            name = entry if isinstance(entry, str) else entry.detector
            if name not in known and ":" not in name:
                yield at(
                    ctx.fleet.fleet_map,
                    ("gateway", "guardrails", hook, i),
                    f"no built-in detector '{name}'",
                    did_you_mean(name, known) + "; custom detectors are named module:callable",
                )
