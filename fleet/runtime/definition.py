"""The loop as the harness sees it: the resolved definition (``definition.json``) as typed data.

The operator writes the AgentLoop's spec (camelCase, bounds merged with the
fleet's, pins resolved to digests) into the pod; :func:`parse` turns it into
members (the maker and each sub-agent, with their model, grants and pins),
bounds and the done condition, and names every field it cannot use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# Used when the definition sets none (a hand-written one; compile always fills them).
DEFAULT_MAX_STEPS = 100
DEFAULT_MAX_TOKENS = 2_000_000
DEFAULT_RUN_MINUTES = 60
DEFAULT_STALL_AFTER = 8
DEFAULT_CHECKER_ROUNDS = 3
DEFAULT_COMMAND_TIMEOUT_S = 600.0


class DefinitionError(ValueError):
    """The definition cannot be run; the message names the field."""


Role = Literal["loop", "maker", "checker"]


@dataclass(frozen=True)
class Member:
    """One identity of the loop that talks to models: the loop itself or a sub-agent."""

    name: str
    """``loop`` for the maker, else the sub-agent's name."""
    identity: str
    """What the gateway calls it: ``<loop>`` or ``<loop>/<sub-agent>``."""
    role: Role
    model: str
    instructions: str | None
    """The pin name of its instructions (a directory under the content root), if any."""
    skills: tuple[str, ...]
    servers: tuple[str, ...]
    """MCP servers it is granted (the gateway filters the tools to the grant)."""
    content_prefix: str
    """Where its pins live under the content root: ``""`` or ``subagents/<name>/``."""


@dataclass(frozen=True)
class Bounds:
    max_steps: int = DEFAULT_MAX_STEPS
    max_tokens: int = DEFAULT_MAX_TOKENS
    max_run_s: float = DEFAULT_RUN_MINUTES * 60.0
    stall_after: int = DEFAULT_STALL_AFTER
    checker_rounds: int = DEFAULT_CHECKER_ROUNDS


@dataclass(frozen=True)
class Done:
    checker: str | None = None
    command: str | None = None
    command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S


@dataclass(frozen=True)
class Definition:
    loop: str
    fleet: str
    description: str | None
    maker: Member
    subagents: dict[str, Member] = field(default_factory=dict)
    bounds: Bounds = field(default_factory=Bounds)
    done: Done = field(default_factory=Done)

    @property
    def checker(self) -> Member | None:
        return self.subagents.get(self.done.checker) if self.done.checker else None


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: Any, where: str) -> float:
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    match = _DURATION.fullmatch(str(text))
    if not match:
        raise DefinitionError(f"{where}: not a duration: {text!r} (write e.g. 10m or 90s)")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _positive(value: Any, default: int, where: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DefinitionError(f"{where}: expected a positive integer, got {value!r}")
    return value


def _pin(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise DefinitionError(f"{where}: expected a resolved pin with a 'name'")
    return str(value["name"])


def _member(
    spec: Mapping[str, Any], loop: str, name: str, role: Role, prefix: str, where: str
) -> Member:
    model = spec.get("model")
    if not isinstance(model, str) or not model:
        raise DefinitionError(f"{where}.model: missing (a virtual model name)")
    servers = spec.get("mcpServers") or {}
    if not isinstance(servers, Mapping):
        raise DefinitionError(f"{where}.mcpServers: expected a mapping of server → grant")
    skills = spec.get("skills") or []
    if not isinstance(skills, list):
        raise DefinitionError(f"{where}.skills: expected a list of resolved pins")
    return Member(
        name=name,
        identity=loop if role == "loop" else f"{loop}/{name}",
        role=role,
        model=model,
        instructions=_pin(spec.get("instructions"), f"{where}.instructions"),
        skills=tuple(
            p for i, s in enumerate(skills) if (p := _pin(s, f"{where}.skills[{i}]")) is not None
        ),
        servers=tuple(sorted(str(s) for s in servers)),
        content_prefix=prefix,
    )


def parse(doc: Any) -> Definition:
    """``definition.json`` (``{"name", "fleet", "spec"}``) → :class:`Definition`."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("spec"), Mapping):
        raise DefinitionError("definition: expected a JSON object with 'name' and 'spec'")
    spec: Mapping[str, Any] = doc["spec"]
    loop = doc.get("name")
    if not isinstance(loop, str) or not loop:
        raise DefinitionError("definition.name: missing (the loop's name)")
    maker = _member(spec, loop, loop, "loop", "", "spec")
    if maker.instructions is None:
        raise DefinitionError("spec.instructions: missing (the loop's pinned instructions)")
    subs: dict[str, Member] = {}
    for i, sub in enumerate(spec.get("subagents") or []):
        where = f"spec.subagents[{i}]"
        if not isinstance(sub, Mapping) or not isinstance(sub.get("name"), str):
            raise DefinitionError(f"{where}: expected a sub-agent with a 'name'")
        role = sub.get("role")
        if role not in ("maker", "checker"):
            raise DefinitionError(f"{where}.role: expected maker or checker, got {role!r}")
        merged = {**sub, "model": sub.get("model") or maker.model}
        subs[sub["name"]] = _member(
            merged, loop, sub["name"], role, f"subagents/{sub['name']}/", where
        )
    h = spec.get("harness") or {}
    bounds = Bounds(
        max_steps=_positive(h.get("maxSteps"), DEFAULT_MAX_STEPS, "spec.harness.maxSteps"),
        max_tokens=_positive(
            h.get("maxTokensPerRun"), DEFAULT_MAX_TOKENS, "spec.harness.maxTokensPerRun"
        ),
        max_run_s=60.0
        * _positive(h.get("maxRunMinutes"), DEFAULT_RUN_MINUTES, "spec.harness.maxRunMinutes"),
        stall_after=_positive(
            h.get("stallAfterSteps"), DEFAULT_STALL_AFTER, "spec.harness.stallAfterSteps"
        ),
        checker_rounds=_positive(
            h.get("maxCheckerRounds"), DEFAULT_CHECKER_ROUNDS, "spec.harness.maxCheckerRounds"
        ),
    )
    d = spec.get("done")
    if d is None:
        # No done condition declared: a loop with exactly one checker is reviewed by it.
        checkers = [m.name for m in subs.values() if m.role == "checker"]
        done = Done(checker=checkers[0] if len(checkers) == 1 else None)
    else:
        if not isinstance(d, Mapping):
            raise DefinitionError("spec.done: expected a mapping with checker and/or command")
        checker = d.get("checker")
        if checker is not None and (checker not in subs or subs[checker].role != "checker"):
            raise DefinitionError(
                f"spec.done.checker: '{checker}' is not a checker sub-agent of '{loop}' "
                f"(checkers: {', '.join(n for n, m in subs.items() if m.role == 'checker') or 'none'})"
            )
        command = d.get("command")
        if command is not None and (not isinstance(command, str) or not command.strip()):
            raise DefinitionError("spec.done.command: expected a shell command")
        done = Done(
            checker=checker,
            command=command,
            command_timeout_s=_seconds(d.get("commandTimeout", "10m"), "spec.done.commandTimeout"),
        )
    desc = spec.get("description")
    return Definition(
        loop=loop,
        fleet=str(doc.get("fleet") or spec.get("fleet") or ""),
        description=desc if isinstance(desc, str) else None,
        maker=maker,
        subagents=subs,
        bounds=bounds,
        done=done,
    )
