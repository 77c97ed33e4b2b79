"""Compile a validated fleet into Kubernetes objects: CRDs, one FleetPolicy, one
AgentLoop per loop, one content ConfigMap per pinned version, and a kustomization.

Compilation is a pure function of the fleet's files (and the git commit the
caller names): same input, same bytes. The fleet policy is merged into each
loop where the loop inherits it, so the operator and the gateway never have to
re-derive inheritance. Defaults are decided here too: a loop without ``done:``
that has exactly one checker sub-agent gets ``done: {checker: <it>}`` (see
:func:`done_of`), and ``harness.maxCheckerRounds`` is 3 unless the loop sets it
(never above the fleet's ``harness_limits.max_checker_rounds``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from fleet import cron
from fleet.crd import crds
from fleet.errors import SpecError
from fleet.load import LoadedAgent, LoadedFleet
from fleet.registry import Resolved
from fleet.resolve import Resolution, check, refs_of, resolve_all
from fleet.resources import (
    API_VERSION,
    LABEL_PREFIX,
    AgentLoopSpec,
    BudgetSpec,
    DoneSpec,
    FleetPolicySpec,
    GatewaySpec,
    GuardrailsSpec,
    HarnessSpec,
    PinSpec,
    SubAgentSpec,
    TriggerSpec,
)
from fleet.rules import granted_destructive
from fleet.source import Source
from fleet.spec import (
    DEFAULT_CHECKER_ROUNDS,
    HOOKS,
    Agent,
    Done,
    Fleet,
    GuardrailRef,
    Rate,
    SubAgent,
)
from fleet.yamlout import dump

MANAGED_BY = {"app.kubernetes.io/managed-by": "fleetctl"}
_CM_KEY = re.compile(r"[^-._a-zA-Z0-9]")


def canonical_json(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def content_hash(data: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(data)).hexdigest()


def content_configmap_name(digest: str) -> str:
    return "fleet-content-" + digest.removeprefix("sha256:")[:16]


@dataclass
class Compiled:
    fleet_name: str
    policy: dict[str, Any]
    loops: list[dict[str, Any]]
    content: list[dict[str, Any]]
    crds: list[dict[str, Any]] = field(default_factory=crds)

    def documents(self) -> list[dict[str, Any]]:
        return [*self.crds, self.policy, *self.loops, *self.content]

    def files(self, namespace: str | None = None) -> dict[str, str]:
        """Relative path → YAML text, a kustomization included."""
        out: dict[str, str] = {}
        for crd in self.crds:
            out[f"crds/{crd['metadata']['name']}.yaml"] = dump(crd)
        out["fleetpolicy.yaml"] = dump(self.policy)
        for loop in self.loops:
            out[f"loops/{loop['metadata']['name']}.yaml"] = dump(loop)
        for cm in self.content:
            out[f"content/{cm['metadata']['name']}.yaml"] = dump(cm)
        kustomization: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
        }
        if namespace:
            kustomization["namespace"] = namespace
        kustomization["resources"] = sorted(out)
        out["kustomization.yaml"] = dump(kustomization)
        return out


def _camel(model: Any) -> Any:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def _guardrails(fleet: Fleet) -> GuardrailsSpec:
    hooks = fleet.gateway.guardrails
    normalized = {
        hook: [
            g if isinstance(g, GuardrailRef) else GuardrailRef(detector=g)
            for g in getattr(hooks, hook)
        ]
        for hook in HOOKS
    }
    return GuardrailsSpec(**normalized)


def policy_spec(fleet: Fleet) -> FleetPolicySpec:
    g = fleet.gateway
    gateway = GatewaySpec(
        retries=g.retries,
        caching=g.caching,
        guardrails=_guardrails(fleet),
        budgets=g.budgets,
        rate_limits=g.rate_limits,
        destructive_tools=g.destructive_tools,
        alerts=g.alerts,
        approval_ttl=g.approval_ttl,
        mcp_separator=g.mcp_separator,
    )
    return FleetPolicySpec(
        fleet=fleet.fleet,
        timezone=fleet.timezone,
        providers=fleet.providers,
        models=fleet.models,
        pricing=fleet.pricing,
        harness_limits=fleet.harness_limits,
        sandbox=fleet.sandbox,
        mcp_servers=fleet.mcp_servers,
        gateway=gateway,
        teams=fleet.teams,
    )


def _pin(ref: str, resolved: Resolved) -> PinSpec:
    return PinSpec(
        ref=ref,
        name=resolved.pin.name,
        version=resolved.version,
        digest=resolved.digest,
        source=resolved.source,
        config_map=content_configmap_name(resolved.digest),
    )


def _reachable_models(fleet: Fleet, roots: list[str]) -> list[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        vm = fleet.models.get(name)
        if vm:
            stack.extend(vm.fallback)
    return sorted(seen)


def _tighter(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def done_of(agent: Agent) -> Done | None:
    """The loop's done condition: its own ``done:``, else its only checker sub-agent, else none
    (the maker's ``finish`` alone ends a run)."""
    if agent.done is not None:
        return agent.done
    checkers = [s.name for s in agent.subagents if s.role == "checker"]
    return Done(checker=checkers[0]) if len(checkers) == 1 else None


def loop_spec(fleet: Fleet, la: LoadedAgent, res: Resolution) -> AgentLoopSpec:
    agent: Agent = la.agent
    pins = {path: res.by_ref[(la.file, path)] for path, _ in refs_of(la)}

    def pin_at(path: tuple[str | int, ...], ref: str) -> PinSpec:
        return _pin(ref, pins[path])

    subagents = []
    for i, sub in enumerate(agent.subagents):
        base = ("agent", "subagents", i)
        subagents.append(
            SubAgentSpec(
                name=sub.name,
                role=sub.role,
                model=sub.model or agent.model,
                instructions=pin_at((*base, "instructions"), sub.instructions)
                if sub.instructions
                else None,
                skills=[pin_at((*base, "skills", j), s) for j, s in enumerate(sub.skills)],
                mcp_servers=sub.mcp_servers,
            )
        )
    agent_budgets = [b for b in fleet.gateway.budgets if b.applies_per == "agent"]
    budget: BudgetSpec | None = None
    if agent.budget is not None:
        alert_at = agent.budget.alert_at or (agent_budgets[0].alert_at if agent_budgets else [100])
        budget = BudgetSpec(
            limit_usd=agent.budget.limit_usd, window=agent.budget.window, alert_at=sorted(alert_at)
        )
    elif agent_budgets:
        fb = agent_budgets[0]
        budget = BudgetSpec(limit_usd=fb.limit_usd, window=fb.window, alert_at=sorted(fb.alert_at))
    fleet_rate = fleet.gateway.rate_limits.per_agent
    own_rate = agent.rate_limits or Rate()
    rate = Rate(
        requests_per_minute=_tighter(own_rate.requests_per_minute, fleet_rate.requests_per_minute),
        tokens_per_minute=_tighter(own_rate.tokens_per_minute, fleet_rate.tokens_per_minute),
    )
    approvals: dict[str, str] = dict(agent.approvals)
    gated: list[str] = list(fleet.gateway.destructive_tools)
    members: list[Agent | SubAgent] = [agent, *agent.subagents]
    for member in members:
        for server_name, grant in member.mcp_servers.items():
            server = fleet.mcp_servers.get(server_name)
            if server is not None:
                gated += server.tools.destructive
                gated += granted_destructive(fleet, server, grant)
    for tool in gated:
        approvals[tool] = "pause_for_human"
    h = agent.harness
    harness = HarnessSpec(
        max_steps=h.max_steps or fleet.harness_limits.max_steps,
        max_tokens_per_run=h.max_tokens_per_run or fleet.harness_limits.max_tokens_per_run,
        stall_after_steps=h.stall_after_steps,
        max_run_minutes=h.max_run_minutes or fleet.harness_limits.max_run_minutes,
        max_checker_rounds=h.max_checker_rounds
        or min(DEFAULT_CHECKER_ROUNDS, fleet.harness_limits.max_checker_rounds),
    )
    done = done_of(agent)
    roots = [agent.model] + [s.model for s in subagents]
    return AgentLoopSpec(
        fleet=fleet.fleet,
        owner=agent.owner,
        team=fleet.team_of(agent.owner),
        stage=agent.stage,
        description=agent.description,
        owns=sorted(agent.owns),
        model=agent.model,
        models=_reachable_models(fleet, roots),
        instructions=pin_at(("agent", "instructions"), agent.instructions),
        skills=[pin_at(("agent", "skills", j), s) for j, s in enumerate(agent.skills)],
        mcp_servers=dict(sorted(agent.mcp_servers.items())),
        subagents=subagents,
        harness=harness,
        done=DoneSpec(
            checker=done.checker, command=done.command, command_timeout=done.command_timeout
        )
        if done
        else None,
        budget=budget,
        rate_limits=rate,
        approvals=dict(sorted(approvals.items())),
        trigger=TriggerSpec.of(agent.trigger, cron.seed(fleet.fleet, agent.name)),
        sandbox=fleet.sandbox,
    )


def _sorted(data: Any) -> Any:
    """Sort mapping keys recursively (user-key maps included) for stable bytes."""
    if isinstance(data, dict):
        return {k: _sorted(data[k]) for k in sorted(data)}
    if isinstance(data, list):
        return [_sorted(v) for v in data]
    return data


def _object(
    kind: str, name: str, labels: dict[str, str], annotations: dict[str, str], spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {
            "name": name,
            "labels": dict(sorted(labels.items())),
            "annotations": dict(sorted(annotations.items())),
        },
        "spec": spec,
    }


def content_configmap(fleet_name: str, resolved: Resolved) -> dict[str, Any]:
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for path, blob in resolved.files:
        key = _CM_KEY.sub("_", path.replace("/", "__"))
        try:
            data[key] = blob.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            binary[key] = base64.b64encode(blob).decode()
    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": content_configmap_name(resolved.digest),
            "labels": {
                **MANAGED_BY,
                f"{LABEL_PREFIX}/content": "true",
                f"{LABEL_PREFIX}/fleet": fleet_name,
            },
            "annotations": {
                f"{LABEL_PREFIX}/digest": resolved.digest,
                f"{LABEL_PREFIX}/ref": resolved.pin.key,
            },
        },
        "data": dict(sorted(data.items())),
    }
    if binary:
        cm["binaryData"] = dict(sorted(binary.items()))
    return cm


def compile_loaded(loaded: LoadedFleet, res: Resolution, *, git_commit: str = "") -> Compiled:
    fleet = loaded.fleet
    policy_body = _sorted(_camel(policy_spec(fleet)))
    fleet_labels = {**MANAGED_BY, f"{LABEL_PREFIX}/fleet": fleet.fleet}

    def annotations(source_file: str, body: Any) -> dict[str, str]:
        return {
            f"{LABEL_PREFIX}/source": source_file,
            f"{LABEL_PREFIX}/git-commit": git_commit,
            f"{LABEL_PREFIX}/content-hash": content_hash(body),
        }

    root = loaded.source.label.rstrip("/") + "/" if loaded.source.label else ""
    policy = _object(
        "FleetPolicy",
        fleet.fleet,
        fleet_labels,
        annotations(loaded.fleet_file.removeprefix(root), policy_body),
        policy_body,
    )
    loops = []
    for la in sorted(loaded.agents, key=lambda a: a.agent.name):
        spec = _sorted(_camel(loop_spec(fleet, la, res)))
        labels = {
            **fleet_labels,
            f"{LABEL_PREFIX}/owner": la.agent.owner,
            f"{LABEL_PREFIX}/team": fleet.team_of(la.agent.owner),
            f"{LABEL_PREFIX}/stage": la.agent.stage,
        }
        if la.agent.promotes_to:
            labels[f"{LABEL_PREFIX}/promotes-to"] = la.agent.promotes_to
        loops.append(
            _object(
                "AgentLoop",
                la.agent.name,
                labels,
                annotations(la.file.removeprefix(root), spec),
                spec,
            )
        )
    unique = {r.digest: r for r in sorted(res.pins.values(), key=lambda r: (r.digest, r.pin.key))}
    content = [content_configmap(fleet.fleet, unique[d]) for d in sorted(unique)]
    return Compiled(fleet.fleet, policy, loops, content)


def compile_fleet(
    source: Source, *, git_commit: str = "", lock: bool = True, agent_files: list[str] | None = None
) -> Compiled:
    """Validate, resolve and compile; raises :class:`SpecError` with every finding if invalid."""
    report = check(source, agent_files=agent_files, lock=lock)
    if report.fleet is None or report.errors:
        raise SpecError(report.errors or report.diagnostics)
    return compile_loaded(
        report.fleet, report.resolution or resolve_all(report.fleet), git_commit=git_commit
    )
