"""Pinned prompts and skills in production, and guardrail detectors that exist."""

from __future__ import annotations

from collections.abc import Iterator

from fleet.errors import Diagnostic, Severity, did_you_mean
from fleet.rules.base import (
    Context,
    _agents,
    _members,
    at,
    rule,
)
from fleet.spec import split_ref
from fleet.yamlsrc import Path


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
