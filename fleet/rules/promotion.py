"""Staging and production pairs: what a candidate loop (``promotes_to:``) must share with the
production loop it would replace, so that promoting its pins changes the pins and nothing else.

A candidate runs the same task under its own identity and budget with newer pins
(instructions, skills, model): the model is one of those pins, so it may differ. What it may
not do is reach further than production does (a server, a tool or a sub-agent production
lacks), answer to another owner, or start another way; and each production loop has one
candidate at a time, never a candidate of a candidate, so a promotion is always one step.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase

from fleet.errors import Diagnostic, Severity, did_you_mean
from fleet.load import LoadedAgent
from fleet.rules.base import TOOL_CLASSES, Context, _agents, at, rule, tool_class
from fleet.spec import Agent, Fleet, Grant, SubAgent, Trigger
from fleet.yamlsrc import Path


def _pairs(ctx: Context) -> Iterator[tuple[LoadedAgent, LoadedAgent]]:
    """(candidate, production) for every ``promotes_to`` that names another existing loop."""
    by_name = {la.agent.name: la for la in _agents(ctx)}
    for la in _agents(ctx):
        target = la.agent.promotes_to
        if target is not None and target != la.agent.name and target in by_name:
            yield la, by_name[target]


@rule(
    "FL211",
    "promotes-to-unknown",
    Severity.ERROR,
    "promotes_to names no loop of the fleet, or the loop itself.",
)
def promotes_to_unknown(ctx: Context) -> Iterator[Diagnostic]:
    names = [la.agent.name for la in _agents(ctx)]
    for la in _agents(ctx):
        target = la.agent.promotes_to
        if target is None:
            continue
        if target == la.agent.name:
            yield at(
                la.smap,
                ("agent", "promotes_to"),
                f"loop '{target}' names itself as the loop it promotes to",
                "name the production loop this candidate would replace, or remove promotes_to",
            )
        elif target not in names:
            others = [n for n in names if n != la.agent.name]
            yield at(
                la.smap,
                ("agent", "promotes_to"),
                f"no loop '{target}' in the fleet to promote to",
                did_you_mean(target, others)
                if others
                else "add the production loop's file under agents/",
            )


@rule(
    "FL212",
    "promotion-owner",
    Severity.ERROR,
    "A candidate loop and its production loop have different owners.",
)
def promotion_owner(ctx: Context) -> Iterator[Diagnostic]:
    for cand, prod in _pairs(ctx):
        if cand.agent.owner != prod.agent.owner:
            yield at(
                cand.smap,
                ("agent", "owner"),
                f"candidate '{cand.agent.name}' is owned by '{cand.agent.owner}', its production "
                f"loop '{prod.agent.name}' by '{prod.agent.owner}'",
                f"a promotion stays with one owner: write owner: {prod.agent.owner}",
                related=(_where(prod, ("agent", "owner")),),
            )


def _covered(fleet: Fleet, server: str, entry: str, granted: Grant) -> bool:
    """Whether production's grant on ``server`` already opens what ``entry`` opens."""
    if entry in granted.tools:
        return True
    catalog = fleet.mcp_servers.get(server)
    if entry in TOOL_CLASSES:
        # A class is covered when every tool pattern in it is covered one by one.
        patterns = getattr(catalog.tools, entry) if catalog else []
        return bool(patterns) and all(_covered(fleet, server, p, granted) for p in patterns)
    for held in granted.tools:
        if held in TOOL_CLASSES:
            if catalog is not None and tool_class(catalog, entry) == held:
                return True
        elif fnmatchcase(entry, held):
            return True
    return False


def _wider(
    fleet: Fleet, cand: Agent | SubAgent, prod: Agent | SubAgent
) -> Iterator[tuple[Path, str]]:
    """(path under the member, what is wider) for each grant production does not hold."""
    for server, grant in cand.mcp_servers.items():
        held = prod.mcp_servers.get(server)
        if held is None:
            yield ("mcp_servers", server), f"server '{server}'"
            continue
        for j, entry in enumerate(grant.tools):
            if not _covered(fleet, server, entry, held):
                yield ("mcp_servers", server, "tools", j), f"'{entry}' on '{server}'"


@rule(
    "FL213",
    "promotion-wider-grants",
    Severity.ERROR,
    "A candidate loop (or one of its sub-agents) is granted a server or tool its production "
    "loop is not.",
)
def promotion_grants(ctx: Context) -> Iterator[Diagnostic]:
    fleet = ctx.fleet.fleet
    for cand, prod in _pairs(ctx):
        name, target = cand.agent.name, prod.agent.name
        for path, what in _wider(fleet, cand.agent, prod.agent):
            yield at(
                cand.smap,
                ("agent", *path),
                f"candidate '{name}' is granted {what}, which production loop '{target}' is not",
                "a candidate's grants are the same as production's or narrower: remove it, "
                f"or grant it to '{target}' first (its own reviewed change)",
            )
        prod_subs = {s.name: s for s in prod.agent.subagents}
        for i, sub in enumerate(cand.agent.subagents):
            other = prod_subs.get(sub.name)
            if other is None:
                yield at(
                    cand.smap,
                    ("agent", "subagents", i, "name"),
                    f"candidate '{name}' has sub-agent '{sub.name}', which production loop "
                    f"'{target}' has not",
                    did_you_mean(sub.name, list(prod_subs))
                    if prod_subs
                    else f"add it to '{target}' first, or remove it here",
                )
                continue
            for path, what in _wider(fleet, sub, other):
                yield at(
                    cand.smap,
                    ("agent", "subagents", i, *path),
                    f"sub-agent '{sub.name}' of candidate '{name}' is granted {what}, which "
                    f"'{target}/{sub.name}' is not",
                    "a candidate's grants are the same as production's or narrower",
                )


def trigger_kind(trigger: Trigger) -> str:
    """``schedule``, ``webhook`` or ``schedule+webhook``: how runs of a loop start."""
    kinds = [k for k, on in (("schedule", trigger.schedule), ("webhook", trigger.webhook)) if on]
    return "+".join(kinds)


@rule(
    "FL214",
    "promotion-trigger-kind",
    Severity.ERROR,
    "A candidate loop starts another way (schedule, webhook) than its production loop.",
)
def promotion_trigger(ctx: Context) -> Iterator[Diagnostic]:
    for cand, prod in _pairs(ctx):
        mine, theirs = trigger_kind(cand.agent.trigger), trigger_kind(prod.agent.trigger)
        if mine != theirs:
            yield at(
                cand.smap,
                ("agent", "trigger"),
                f"candidate '{cand.agent.name}' is started by {mine}, its production loop "
                f"'{prod.agent.name}' by {theirs}",
                "a candidate runs the same task the same way: give it the same trigger kind "
                "(its schedule may differ)",
                key=True,
                related=(_where(prod, ("agent", "trigger")),),
            )


@rule(
    "FL215",
    "promotion-two-candidates",
    Severity.ERROR,
    "A production loop has more than one candidate loop.",
)
def two_candidates(ctx: Context) -> Iterator[Diagnostic]:
    first: dict[str, LoadedAgent] = {}
    for cand, prod in sorted(_pairs(ctx), key=lambda p: p[0].agent.name):
        target = prod.agent.name
        if target in first:
            where = _where(first[target], ("agent", "promotes_to"))
            yield at(
                cand.smap,
                ("agent", "promotes_to"),
                f"'{target}' already has candidate '{first[target].agent.name}' ({where})",
                "a production loop has one candidate at a time: promote or remove the other first",
                related=(where,),
            )
        else:
            first[target] = cand


@rule(
    "FL216",
    "promotion-chain",
    Severity.ERROR,
    "A candidate loop promotes to another candidate, or a loop marked production is a candidate.",
)
def promotion_chain(ctx: Context) -> Iterator[Diagnostic]:
    for cand, prod in _pairs(ctx):
        if prod.agent.promotes_to is not None:
            where = _where(prod, ("agent", "promotes_to"))
            yield at(
                cand.smap,
                ("agent", "promotes_to"),
                f"'{prod.agent.name}' is itself a candidate (for '{prod.agent.promotes_to}', {where})",
                f"name the production loop: promotes_to: {prod.agent.promotes_to}",
                related=(where,),
            )
        if cand.agent.stage == "production":
            yield at(
                cand.smap,
                ("agent", "stage"),
                f"candidate '{cand.agent.name}' is marked stage: production",
                "a candidate is staged: write stage: staging (its production loop is "
                f"'{prod.agent.name}')",
            )


def _where(la: LoadedAgent, path: Path) -> str:
    line, col = la.smap.locate(path)
    return f"{la.file}:{line}:{col}"
