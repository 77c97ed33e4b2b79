"""Which pins a loop holds: its model, instructions and skills, and those of its sub-agents.

A promotion moves exactly these and nothing else, so they are read from the loop's
raw YAML data (not the validated model, whose defaults would invent values the file
never wrote), under labels a person reads in a commit message: ``model``,
``instructions``, ``skills``, ``subagents.reviewer.model``. The same reader serves a
loop file read from any git revision, which is how a rollback finds earlier pins.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fleet.yamlsrc import Path

PIN_FIELDS = ("model", "instructions", "skills")
"""The fields of a loop and of each sub-agent that a promotion may change, in file order."""

PinValue = str | tuple[str, ...]
"""A model or instructions ref, or the list of skill refs."""

Pins = dict[str, PinValue]
"""Label → value, for the pins a loop file writes down."""


@dataclass(frozen=True)
class PinChange:
    """One pin of the production loop: what it is now and what it becomes (None: removed)."""

    label: str
    before: PinValue | None
    after: PinValue | None

    def to_json(self) -> dict[str, Any]:
        return {"pin": self.label, "before": _plain(self.before), "after": _plain(self.after)}

    def describe(self) -> str:
        return f"{self.label}: {show(self.before)} -> {show(self.after)}"


def _plain(value: PinValue | None) -> Any:
    return list(value) if isinstance(value, tuple) else value


def show(value: PinValue | None) -> str:
    """``[a@v1, b@v2]`` for skills, the ref itself otherwise, ``(none)`` for an absent pin."""
    if value is None:
        return "(none)"
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return value


def _value(raw: Any) -> PinValue | None:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return tuple(raw)
    return None


def _member_pins(member: Any, prefix: str) -> Pins:
    out: Pins = {}
    if not isinstance(member, dict):
        return out
    for name in PIN_FIELDS:
        if name in member:
            value = _value(member[name])
            if value is not None:
                out[prefix + name] = value
    return out


def _subagents(agent: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    subs = agent.get("subagents")
    if not isinstance(subs, list):
        return []
    return [
        (i, s["name"], s)
        for i, s in enumerate(subs)
        if isinstance(s, dict) and isinstance(s.get("name"), str)
    ]


def pins_of(raw: Any) -> Pins:
    """The pins a loop file's data writes down, by label."""
    agent = raw.get("agent") if isinstance(raw, dict) else None
    if not isinstance(agent, dict):
        return {}
    out = _member_pins(agent, "")
    for _, name, sub in _subagents(agent):
        out.update(_member_pins(sub, f"subagents.{name}."))
    return out


def member_names(raw: Any) -> set[str]:
    """The members that may carry pins: ``""`` for the loop itself and each sub-agent's name."""
    agent = raw.get("agent") if isinstance(raw, dict) else None
    if not isinstance(agent, dict):
        return set()
    return {""} | {name for _, name, _ in _subagents(agent)}


def split_label(label: str) -> tuple[str, str]:
    """``subagents.reviewer.model`` → ``("reviewer", "model")``; ``skills`` → ``("", "skills")``."""
    if label.startswith("subagents."):
        member, _, name = label[len("subagents.") :].rpartition(".")
        return member, name
    return "", label


def member_path(raw: Any, member: str) -> Path:
    """The data path of a member's mapping: ``("agent",)`` or ``("agent", "subagents", i)``."""
    if not member:
        return ("agent",)
    agent = raw["agent"]
    for i, name, _ in _subagents(agent):
        if name == member:
            return ("agent", "subagents", i)
    raise KeyError(member)


def changes(current: Pins, target: Pins, members: set[str], *, remove: bool) -> list[PinChange]:
    """The changes that give the production loop ``target``'s pins.

    Only members the production loop has are touched (a sub-agent is part of the loop's
    shape, not a pin). With ``remove``, a pin the target does not write is removed too: a
    rollback restores a whole earlier set; a promotion leaves production's own pins that
    the candidate does not write.
    """
    out = []
    for label in sorted(set(current) | set(target), key=_order):
        if split_label(label)[0] not in members:
            continue
        before, after = current.get(label), target.get(label)
        if after is None and not remove:
            continue
        if before != after:
            out.append(PinChange(label, before, after))
    return out


def _order(label: str) -> tuple[str, int]:
    member, name = split_label(label)
    return member, PIN_FIELDS.index(name)


def apply(pins: Pins, plan: list[PinChange]) -> Pins:
    out = dict(pins)
    for c in plan:
        if c.after is None:
            out.pop(c.label, None)
        else:
            out[c.label] = c.after
    return out


def fingerprint(pins: Pins) -> str:
    """Seven hex digits naming a set of pins: the same promotion gets the same branch name."""
    text = json.dumps({k: _plain(v) for k, v in pins.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:7]


def without_pins(raw: Any) -> Any:
    """The loop's data with every pin field taken out: what a pin rewrite must leave equal."""
    if not isinstance(raw, dict) or not isinstance(raw.get("agent"), dict):
        return raw
    agent = {k: v for k, v in raw["agent"].items() if k not in PIN_FIELDS}
    if isinstance(agent.get("subagents"), list):
        agent["subagents"] = [
            {k: v for k, v in s.items() if k not in PIN_FIELDS} if isinstance(s, dict) else s
            for s in agent["subagents"]
        ]
    return {**raw, "agent": agent}
