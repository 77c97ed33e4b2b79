"""Semantic diff of two compiled fleets, in the author's terms, with a risk class per change.

The compiled specs are first put in a *semantic form* (sub-agents and pins
keyed by name, guardrails by detector, model targets by provider/model) so
that deepdiff reports what changed rather than where list items moved. Paths
are given back in the authoring format's snake_case, and each change gets a
risk class from :mod:`fleet.risk`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.risk import RANK, classify_loop, classify_policy, context

FLEET = "(fleet)"


@dataclass(frozen=True)
class Change:
    path: str  # snake_case field path, e.g. ``mcp_servers.github.tools``
    before: Any
    after: Any
    risk: str
    reason: str
    parts: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """The path as a tuple (names may hold dots)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "before": self.before,
            "after": self.after,
            "risk": self.risk,
            "reason": self.reason,
        }


@dataclass
class LoopDiff:
    name: str
    status: str  # added | removed | changed
    changes: list[Change] = field(default_factory=list)

    @property
    def risk(self) -> str:
        return max((c.risk for c in self.changes), key=RANK.__getitem__, default="low")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "risk": self.risk,
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass
class FleetDiff:
    loops: list[LoopDiff] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.loops

    @property
    def risk(self) -> str | None:
        return max((lp.risk for lp in self.loops), key=RANK.__getitem__, default=None)

    def at_least(self, risk: str) -> bool:
        return any(RANK[c.risk] >= RANK[risk] for lp in self.loops for c in lp.changes)

    def summary(self) -> str:
        if self.empty:
            return "no changes"
        counts = {
            s: sum(1 for lp in self.loops if lp.status == s and lp.name != FLEET)
            for s in ("added", "changed", "removed")
        }
        parts = [f"{n} loop(s) {s}" for s, n in counts.items() if n]
        if any(lp.name == FLEET for lp in self.loops):
            parts.append("fleet policy changed")
        return ", ".join(parts) + f"; highest risk: {self.risk}"

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "risk": self.risk,
            "loops": [lp.to_json() for lp in self.loops],
        }


# ------------------------------------------------------------------ semantic form


def _pin(pin: dict[str, Any] | None) -> str | None:
    """One comparable string per pin: version, short digest, and the registry if not local.

    A single string keeps a bump to one change (``v3 @ sha256:… → v4 @ sha256:…``)
    instead of one per field; twelve hex digits are plenty to tell contents apart.
    """
    if not pin:
        return None
    text = f"{pin.get('version')} @ {str(pin.get('digest', ''))[:19]}"
    source = pin.get("source")
    return text if source in (None, "dir") else f"{text} ({source})"


def _loop_form(spec: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k not in ("instructions", "skills", "subagents")}
    out["instructions"] = (
        {spec["instructions"]["name"]: _pin(spec["instructions"])}
        if spec.get("instructions")
        else {}
    )
    out["skills"] = {s["name"]: _pin(s) for s in spec.get("skills", [])}
    subs = {}
    for sub in spec.get("subagents", []):
        form = {k: v for k, v in sub.items() if k not in ("name", "instructions", "skills")}
        form["instructions"] = (
            {sub["instructions"]["name"]: _pin(sub["instructions"])}
            if sub.get("instructions")
            else {}
        )
        form["skills"] = {s["name"]: _pin(s) for s in sub.get("skills", [])}
        subs[sub["name"]] = form
    out["subagents"] = subs
    if isinstance(spec.get("trigger"), dict):
        out["trigger"] = _trigger_form(spec["trigger"])
    return out


def _trigger_form(trigger: dict[str, Any]) -> dict[str, Any]:
    """The schedule as one value, written and concrete: ``H 6 * * 1-5 (runs as 37 6 * * 1-5)``.

    One change per schedule edit, and a rehash (a renamed loop, say) still shows as one."""
    out = {k: v for k, v in trigger.items() if k != "resolvedSchedule"}
    resolved = trigger.get("resolvedSchedule")
    if resolved and resolved != trigger.get("schedule"):
        out["schedule"] = f"{trigger.get('schedule')} (runs as {resolved})"
    return out


def _policy_form(spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    gateway = dict(spec.get("gateway", {}))
    gateway["guardrails"] = {
        hook: {g["detector"]: g["action"] for g in items}
        for hook, items in gateway.get("guardrails", {}).items()
    }
    gateway["budgets"] = {
        b["appliesPer"]: {k: v for k, v in b.items() if k != "appliesPer"}
        for b in gateway.get("budgets", [])
    }
    out["gateway"] = gateway
    out["models"] = {
        name: {
            **vm,
            "targets": {
                f"{t['provider']}/{t['model']}": t.get("weight", 1) for t in vm.get("targets", [])
            },
        }
        for name, vm in spec.get("models", {}).items()
    }
    return out


# ------------------------------------------------------------------ field paths

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_USER_KEYS = {
    "mcp_servers",
    "approvals",
    "skills",
    "instructions",
    "subagents",
    "models",
    "providers",
    "pricing",
    "teams",
    "guardrails",
    "budgets",
    "llm_input",
    "llm_output",
    "mcp_pre_tool",
    "mcp_post_tool",
    "targets",
}


def _snake_path(parts: list[Any]) -> list[str]:
    """Field names to snake_case; user keys (server, tool, skill, model names) as written."""
    out: list[str] = []
    for i, part in enumerate(parts):
        text = str(part)
        if isinstance(part, int):
            continue
        user_key = (
            i > 0 and out and out[-1] in _USER_KEYS and out[-1] not in ("guardrails", "budgets")
        )
        if len(out) >= 2 and out[-2] == "subagents":
            user_key = False
        out.append(text if user_key else _CAMEL.sub(r"_\1", text).lower())
    return out


# ------------------------------------------------------------------ diffing


def _leaf_changes(before: Any, after: Any) -> Iterable[tuple[list[Any], str, Any, Any]]:
    from deepdiff import DeepDiff

    tree = DeepDiff(
        before,
        after,
        ignore_order=True,
        view="tree",
        cutoff_intersection_for_pairs=1.0,
        cutoff_distance_for_pairs=1.0,
    )
    kinds = {
        "values_changed": "changed",
        "type_changes": "changed",
        "dictionary_item_added": "added",
        "dictionary_item_removed": "removed",
        "iterable_item_added": "item_added",
        "iterable_item_removed": "item_removed",
    }
    for report, kind in kinds.items():
        for level in tree.get(report, []):
            parts = level.path(output_format="list")
            t1 = None if kind in ("added", "item_added") else level.t1
            t2 = None if kind in ("removed", "item_removed") else level.t2
            if kind == "changed" and level.up is not None and isinstance(level.up.t1, list):
                # Our lists are sets of names: a "changed" item is one name out, another in.
                yield parts, "item_removed", t1, None
                yield parts, "item_added", None, t2
                continue
            yield parts, kind, t1, t2


def _changes(form_before: Any, form_after: Any, classify: Any) -> list[Change]:
    out = []
    for parts, kind, before, after in _leaf_changes(form_before, form_after):
        path = _snake_path(parts)
        # A list item: show it under the list's path.
        risk, reason = classify(path, kind, before, after)
        shown = ".".join(path)
        out.append(Change(shown, before, after, risk, reason, tuple(path)))
    return sorted(out, key=lambda c: (-RANK[c.risk], c.path, str(c.before), str(c.after)))


def _index(
    docs: Iterable[dict[str, Any]],
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    policy = None
    loops: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if doc.get("kind") == "FleetPolicy":
            policy = doc
        elif doc.get("kind") == "AgentLoop":
            loops[doc["metadata"]["name"]] = doc
    return policy, loops


def _hash(doc: dict[str, Any]) -> str | None:
    return doc.get("metadata", {}).get("annotations", {}).get("fleetctl.dev/content-hash")


def _affected(path: list[str], loops: dict[str, dict[str, Any]]) -> list[str]:
    """Loops a fleet-level change reaches: users of a virtual model, holders of a tool class."""
    if len(path) >= 2 and path[0] == "models":
        return [n for n, doc in loops.items() if path[1] in doc["spec"].get("models", [])]
    if len(path) >= 4 and path[0] == "mcp_servers" and path[2] == "tools":
        server, cls = path[1], path[3]

        def holds(member: dict[str, Any]) -> bool:
            return cls in member.get("mcpServers", {}).get(server, {}).get("tools", [])

        return [
            n
            for n, doc in loops.items()
            if holds(doc["spec"]) or any(holds(s) for s in doc["spec"].get("subagents", []))
        ]
    return []


def diff_fleets(
    base_docs: Iterable[dict[str, Any]], head_docs: Iterable[dict[str, Any]]
) -> FleetDiff:
    """Per-loop semantic changes from ``base_docs`` to ``head_docs`` (compiled objects).

    A fleet-policy change that reaches a loop without changing its compiled spec
    (a virtual model's targets, a catalog class it holds) is also listed under
    that loop as ``fleet.<path>``, so the loop's risk reflects it.
    """
    base_policy, base_loops = _index(base_docs)
    head_policy, head_loops = _index(head_docs)
    ctx = context(head_policy)
    fleet_changes: list[Change] = []
    if (
        base_policy
        and head_policy
        and (_hash(base_policy) != _hash(head_policy) or not _hash(base_policy))
    ):
        fleet_changes = _changes(
            _policy_form(base_policy["spec"]),
            _policy_form(head_policy["spec"]),
            lambda p, k, b, a: classify_policy(p, k, b, a, ctx),
        )
    inherited: dict[str, list[Change]] = {}
    for i, c in enumerate(fleet_changes):
        reached = _affected(list(c.parts), head_loops)
        if not reached and c.reason.startswith("catalog widened"):
            # Nobody holds the class: nothing can call the new tool yet.
            fleet_changes[i] = replace(
                c, risk="low", reason="catalog widened; no loop holds this class"
            )
        for name in reached:
            if name in base_loops:
                inherited.setdefault(name, []).append(
                    Change(f"fleet.{c.path}", c.before, c.after, c.risk, f"{c.reason} (fleet)")
                )
    fleet_changes.sort(key=lambda c: (-RANK[c.risk], c.path, str(c.before), str(c.after)))
    result = FleetDiff()
    if fleet_changes:
        result.loops.append(LoopDiff(FLEET, "changed", fleet_changes))
    for name in sorted(set(base_loops) | set(head_loops)):
        before, after = base_loops.get(name), head_loops.get(name)
        if before is None and after is not None:
            form = _loop_form(after["spec"])
            changes = []
            for key, value in form.items():
                if value in (None, {}, []):
                    continue
                path = _snake_path([key])
                risk, reason = classify_loop(path, "added", None, value, ctx)
                changes.append(Change(".".join(path), None, value, risk, reason))
            changes.sort(key=lambda c: (-RANK[c.risk], c.path))
            result.loops.append(LoopDiff(name, "added", changes))
        elif after is None and before is not None:
            result.loops.append(
                LoopDiff(
                    name,
                    "removed",
                    [Change("", None, None, "medium", "loop removed; what it owned has no owner")],
                )
            )
        elif before is not None and after is not None:
            changes = []
            if _hash(before) != _hash(after) or not _hash(before):
                changes = _changes(
                    _loop_form(before["spec"]),
                    _loop_form(after["spec"]),
                    lambda p, k, b, a: classify_loop(p, k, b, a, ctx),
                )
                labels_b = before["metadata"].get("labels", {})
                labels_a = after["metadata"].get("labels", {})
                if labels_b != labels_a and not changes:
                    changes.append(
                        Change("metadata.labels", labels_b, labels_a, "low", "labels changed")
                    )
            changes += inherited.get(name, [])
            if changes:
                changes.sort(key=lambda c: (-RANK[c.risk], c.path, str(c.before), str(c.after)))
                result.loops.append(LoopDiff(name, "changed", changes))
    return result
