"""Render the gateway's configuration from the compiled FleetPolicy and AgentLoops.

The operator writes this into the gateway ConfigMap; ``fleetctl gateway
config`` writes it for a local gateway. Identities carry sha256 hashes of
their bearer tokens only, never the tokens themselves.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from fleet.gwconfig import (
    GatewayConfig,
    GwApprover,
    GwBudget,
    GwCaching,
    GwGuardrail,
    GwGuardrails,
    GwHarness,
    GwIdentity,
    GwLoop,
    GwMcpServer,
    GwModel,
    GwPrice,
    GwProvider,
    GwRate,
    GwRetries,
    GwSecretRef,
    GwSharedBudget,
    GwTarget,
    GwToolClasses,
    GwTrigger,
)
from fleet.spec import duration_seconds

_ENV = re.compile(r"[^A-Z0-9]+")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity_key(loop: str, subagent: str | None = None) -> str:
    """``loop`` or ``loop/sub-agent``: the names tokens are minted for."""
    return f"{loop}/{subagent}" if subagent else loop


def trigger_key(loop: str) -> str:
    """The key of a loop's trigger token among the token hashes (no identity has a ``#``)."""
    return f"{loop}#trigger"


OPERATOR_KEY = "#operator"
"""The key of the operator's token among the token hashes."""


def secret_env(prefix: str, name: str) -> str:
    return _ENV.sub("_", f"{prefix}_{name}".upper()).strip("_")


def _secret(ref: Mapping[str, Any] | None, prefix: str, name: str) -> GwSecretRef | None:
    if not ref:
        return None
    key = ref.get("key", "api_key")
    return GwSecretRef(secret=ref["secret"], key=key, env=secret_env(prefix, f"{name}_{key}"))


def _guardrails(spec: Mapping[str, Any]) -> GwGuardrails:
    hooks = {
        "llmInput": "llm_input",
        "llmOutput": "llm_output",
        "mcpPreTool": "mcp_pre_tool",
        "mcpPostTool": "mcp_post_tool",
    }
    return GwGuardrails(
        **{
            snake: [
                GwGuardrail(detector=g["detector"], action=g.get("action", "block"))
                for g in spec.get(camel, [])
            ]
            for camel, snake in hooks.items()
        }
    )


def _loop(spec: Mapping[str, Any], hashes: Mapping[str, list[str]], name: str) -> GwLoop:
    budget = spec.get("budget")
    harness = spec.get("harness", {})
    rate = spec.get("rateLimits", {})
    webhook = (spec.get("trigger") or {}).get("webhook")
    subagents = {
        sub["name"]: GwIdentity(
            token_sha256=list(hashes.get(identity_key(name, sub["name"]), [])),
            models=sorted({sub.get("model") or spec["model"]} | set(spec.get("models", []))),
            mcp={
                server: list(g.get("tools", [])) for server, g in sub.get("mcpServers", {}).items()
            },
            role=sub["role"],
        )
        for sub in spec.get("subagents", [])
    }
    return GwLoop(
        token_sha256=list(hashes.get(identity_key(name), [])),
        models=list(spec.get("models", [spec["model"]])),
        mcp={server: list(g.get("tools", [])) for server, g in spec.get("mcpServers", {}).items()},
        role="loop",
        owner=spec["owner"],
        team=spec.get("team", spec["owner"]),
        stage=spec.get("stage", "staging"),
        budget=GwBudget(
            limit_usd=float(budget["limitUsd"]),
            window=budget.get("window", "day"),
            alert_at=budget.get("alertAt", [100]),
        )
        if budget
        else None,
        rate_limits=GwRate(
            requests_per_minute=rate.get("requestsPerMinute"),
            tokens_per_minute=rate.get("tokensPerMinute"),
        ),
        harness=GwHarness(
            max_steps=harness.get("maxSteps"),
            max_tokens_per_run=harness.get("maxTokensPerRun"),
            stall_after_steps=harness.get("stallAfterSteps"),
        ),
        approvals=dict(spec.get("approvals", {})),
        subagents=subagents,
        trigger=GwTrigger(
            token_sha256=list(hashes.get(trigger_key(name), [])),
            max_payload=webhook.get("maxPayload", 64 * 1024),
            max_queue=webhook.get("maxQueue", 100),
        )
        if webhook is not None
        else None,
    )


def gateway_config(
    policy: Mapping[str, Any],
    loops: Iterable[Mapping[str, Any]],
    token_hashes: Mapping[str, list[str]],
    approvers: Mapping[str, list[str]] | None = None,
) -> GatewayConfig:
    """``policy`` and ``loops`` are compiled objects (dicts); ``token_hashes`` maps identity keys
    (and :func:`trigger_key`, :data:`OPERATOR_KEY`) to hashes."""
    spec = policy["spec"]
    gw = spec.get("gateway", {})
    caching = gw.get("caching", {})
    retries = gw.get("retries", {})
    return GatewayConfig(
        fleet=spec["fleet"],
        timezone=spec.get("timezone", "UTC"),
        providers={
            name: GwProvider(
                base_url=p["baseUrl"],
                api=p.get("api", "openai"),
                timeout_s=float(p.get("timeoutS", 60.0)),
                credentials=_secret(p.get("credentials"), "PROVIDER", name),
            )
            for name, p in sorted(spec.get("providers", {}).items())
        },
        models={
            name: GwModel(
                targets=[
                    GwTarget(provider=t["provider"], model=t["model"], weight=t.get("weight", 1))
                    for t in vm["targets"]
                ],
                fallback=list(vm.get("fallback", [])),
            )
            for name, vm in sorted(spec.get("models", {}).items())
        },
        pricing={
            key: GwPrice(
                input=float(p["input"]),
                output=float(p["output"]),
                embedding=None if p.get("embedding") is None else float(p["embedding"]),
            )
            for key, p in sorted(spec.get("pricing", {}).items())
        },
        retries=GwRetries(
            attempts=retries.get("attempts", 2),
            on_status_codes=retries.get("onStatusCodes", [429, 500, 502, 503]),
            backoff_ms=retries.get("backoffMs", 200),
        ),
        caching=GwCaching(
            type=caching.get("type", "exact"),
            ttl_s=float(duration_seconds(caching.get("ttl", "1h"))),
            namespace_per=caching.get("namespacePer", "agent"),
        ),
        guardrails=_guardrails(gw.get("guardrails", {})),
        shared_budgets=[
            GwSharedBudget(
                applies_per=b["appliesPer"],
                limit_usd=float(b["limitUsd"]),
                window=b.get("window", "day"),
                alert_at=b.get("alertAt", [100]),
            )
            for b in gw.get("budgets", [])
            if b.get("appliesPer") in ("team", "fleet")
        ],
        destructive_tools=list(gw.get("destructiveTools", [])),
        alert_webhook=(gw.get("alerts") or {}).get("webhook"),
        approval_ttl_s=float(duration_seconds(gw.get("approvalTtl", "7d"))),
        mcp_separator=gw.get("mcpSeparator", "__"),
        mcp_servers={
            name: GwMcpServer(
                url=s["url"],
                tools=GwToolClasses(**{k: list(v) for k, v in s.get("tools", {}).items()}),
                credentials=_secret(s.get("credentials"), "MCP", name),
            )
            for name, s in sorted(spec.get("mcpServers", {}).items())
        },
        loops={
            loop["metadata"]["name"]: _loop(loop["spec"], token_hashes, loop["metadata"]["name"])
            for loop in sorted(loops, key=lambda x: x["metadata"]["name"])
        },
        approvers=[
            GwApprover(name=name, token_sha256=list(h))
            for name, h in sorted((approvers or {}).items())
        ],
        operator_sha256=list(token_hashes.get(OPERATOR_KEY, [])),
    )


def identities(loops: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every identity key a fleet needs a token for: each loop and each of its sub-agents."""
    out: list[str] = []
    for loop in loops:
        name = loop["metadata"]["name"]
        out.append(identity_key(name))
        out.extend(identity_key(name, s["name"]) for s in loop["spec"].get("subagents", []))
    return out
