"""The gateway's configuration file: the contract between the operator (or
``fleetctl gateway config``) that writes it and the gateway that serves it.

It is a JSON document; the operator stores it in the gateway ConfigMap under
``gateway.json``. It holds everything the data plane enforces, precomputed so
the hot path does lookups only: routing, prices, per-loop identities (sha256
hashes of bearer tokens, never tokens), grants, budgets, limits, guardrails,
the destructive-tool list, the approver identities, each webhook loop's trigger
token hashes and the operator's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CONFIG_VERSION: Literal[1] = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GwSecretRef(_Model):
    secret: str
    key: str = "api_key"
    env: str
    """Environment variable of the gateway pod that carries the credential."""


class GwProvider(_Model):
    base_url: str
    api: Literal["openai", "chat_completions", "responses"] = "openai"
    timeout_s: float = 60.0
    credentials: GwSecretRef | None = None


class GwTarget(_Model):
    provider: str
    model: str
    weight: int = 1


class GwModel(_Model):
    targets: list[GwTarget]
    fallback: list[str] = Field(default_factory=list)


class GwPrice(_Model):
    input: float
    output: float
    """USD per million tokens."""
    embedding: float | None = None
    """USD per million tokens embedded (``/v1/embeddings``); unset, the input price."""


class GwRetries(_Model):
    attempts: int = 2
    on_status_codes: list[int] = Field(default_factory=lambda: [429, 500, 502, 503])
    backoff_ms: int = 200


class GwCaching(_Model):
    type: Literal["exact", "none"] = "exact"
    ttl_s: float = 3600
    namespace_per: Literal["agent", "fleet"] = "agent"


class GwGuardrail(_Model):
    detector: str
    action: Literal["block", "redact"] = "block"


class GwGuardrails(_Model):
    llm_input: list[GwGuardrail] = Field(default_factory=list)
    llm_output: list[GwGuardrail] = Field(default_factory=list)
    mcp_pre_tool: list[GwGuardrail] = Field(default_factory=list)
    mcp_post_tool: list[GwGuardrail] = Field(default_factory=list)


class GwBudget(_Model):
    limit_usd: float
    window: Literal["day", "week", "month"] = "day"
    alert_at: list[int] = Field(default_factory=lambda: [100])


class GwSharedBudget(GwBudget):
    applies_per: Literal["team", "fleet"]


class GwRate(_Model):
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


class GwHarness(_Model):
    max_steps: int | None = None
    max_tokens_per_run: int | None = None
    stall_after_steps: int | None = None


class GwToolClasses(_Model):
    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)
    destructive: list[str] = Field(default_factory=list)


class GwMcpServer(_Model):
    url: str
    tools: GwToolClasses = Field(default_factory=GwToolClasses)
    credentials: GwSecretRef | None = None


class GwIdentity(_Model):
    """What one bearer token may do: a loop, or one of its sub-agents."""

    token_sha256: list[str] = Field(default_factory=list)
    """Hex sha256 of each valid token (two during a rotation)."""
    models: list[str]
    """Virtual models this identity may call, fallbacks included."""
    mcp: dict[str, list[str]] = Field(default_factory=dict)
    """Server → granted tool classes and tool names/globs, as the author wrote them."""
    role: Literal["loop", "maker", "checker"] = "loop"


class GwTrigger(_Model):
    """A loop's webhook: who may start its runs and how much may wait."""

    token_sha256: list[str] = Field(default_factory=list)
    """Hex sha256 of the loop's trigger token(s): they start runs and do nothing else."""
    max_payload: int = 64 * 1024
    """Bytes of JSON per payload at most (413 past it)."""
    max_queue: int = 100
    """Payloads waiting for a Job at most (429 past it)."""


class GwLoop(GwIdentity):
    owner: str
    team: str
    stage: str
    budget: GwBudget | None = None
    rate_limits: GwRate = Field(default_factory=GwRate)
    harness: GwHarness = Field(default_factory=GwHarness)
    approvals: dict[str, Literal["pause_for_human", "auto"]] = Field(default_factory=dict)
    subagents: dict[str, GwIdentity] = Field(default_factory=dict)
    trigger: GwTrigger | None = None
    """Set when the loop takes webhook triggers."""


class GwApprover(_Model):
    name: str
    token_sha256: list[str]


class GatewayConfig(_Model):
    version: Literal[1] = CONFIG_VERSION
    fleet: str
    timezone: str = "UTC"
    providers: dict[str, GwProvider] = Field(default_factory=dict)
    models: dict[str, GwModel] = Field(default_factory=dict)
    pricing: dict[str, GwPrice] = Field(default_factory=dict)
    """Keyed ``provider/model``."""
    retries: GwRetries = Field(default_factory=GwRetries)
    caching: GwCaching = Field(default_factory=GwCaching)
    guardrails: GwGuardrails = Field(default_factory=GwGuardrails)
    shared_budgets: list[GwSharedBudget] = Field(default_factory=list)
    destructive_tools: list[str] = Field(default_factory=list)
    alert_webhook: str | None = None
    approval_ttl_s: float = 7 * 86400
    mcp_separator: str = "__"
    """Joins a server's name to its tool, prompt and resource names on ``/mcp``."""
    mcp_servers: dict[str, GwMcpServer] = Field(default_factory=dict)
    loops: dict[str, GwLoop] = Field(default_factory=dict)
    approvers: list[GwApprover] = Field(default_factory=list)
    operator_sha256: list[str] = Field(default_factory=list)
    """Hex sha256 of the operator's token: it takes queued triggers, reads every loop's runs
    and ends a run whose approval expired; it calls no model and no tool."""
