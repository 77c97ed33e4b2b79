"""Models of the compiled custom resources' ``spec``: ``AgentLoop`` and ``FleetPolicy``.

They reuse the authoring models where the shape is the same and add what
compilation decides: resolved pins with digests, the fleet policy merged into
each loop, normalized guardrails. Serialized with camelCase aliases
(``model_dump(by_alias=True)``); the CRD schemas are generated from them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from fleet import cron
from fleet.spec import (
    DEFAULT_CHECKER_ROUNDS,
    DONE_NEEDS,
    TRIGGER_NEEDS,
    WEBHOOK_PAYLOAD_CEILING,
    WEBHOOK_QUEUE_CEILING,
    Alerts,
    Approval,
    Budget,
    Caching,
    Concurrency,
    Duration,
    Grant,
    GuardrailRef,
    HarnessLimits,
    Key,
    McpServer,
    Name,
    Price,
    Provider,
    Rate,
    RateLimits,
    Retries,
    Sandbox,
    Strict,
    Trigger,
    VirtualModel,
    Window,
    size_bytes,
)

GROUP = "fleetctl.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
LABEL_PREFIX = "fleetctl.dev"


class PinSpec(Strict):
    """A skill or prompt version resolved to content."""

    ref: str
    name: str
    version: str
    digest: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
    source: str
    config_map: str
    """The ConfigMap holding the content, named by digest."""


class SubAgentSpec(Strict):
    name: Name
    role: Literal["maker", "checker"]
    model: Key
    instructions: PinSpec | None = None
    skills: list[PinSpec] = Field(default_factory=list)
    mcp_servers: dict[str, Grant] = Field(default_factory=dict)


class HarnessSpec(Strict):
    max_steps: int = Field(gt=0)
    max_tokens_per_run: int = Field(gt=0)
    stall_after_steps: int | None = Field(default=None, gt=0)
    max_run_minutes: int = Field(gt=0)
    max_checker_rounds: int = Field(default=DEFAULT_CHECKER_ROUNDS, gt=0)


class DoneSpec(Strict):
    """When a run is done: the checker sub-agent's verdict, the command's exit code, or both."""

    checker: Name | None = None
    command: str | None = None
    command_timeout: Duration = "10m"

    @model_validator(mode="after")
    def _checker_or_command(self) -> DoneSpec:
        if self.checker is None and self.command is None:
            raise ValueError(DONE_NEEDS)
        return self


class BudgetSpec(Strict):
    limit_usd: float = Field(gt=0)
    window: Window
    alert_at: list[int] = Field(default_factory=lambda: [100])


class WebhookSpec(Strict):
    """The loop takes runs from the gateway's trigger route; sizes in bytes."""

    max_payload: int = Field(gt=0, le=WEBHOOK_PAYLOAD_CEILING)
    max_queue: int = Field(gt=0, le=WEBHOOK_QUEUE_CEILING)


class TriggerSpec(Strict):
    """What starts a run: the schedule (optional with a webhook), the webhook, and what
    happens when a run is still active (every trigger kind obeys ``concurrency``)."""

    schedule: str | None = None
    """As the loop's file writes it, ``H`` included."""
    resolved_schedule: str | None = None
    """The schedule the CronJob runs: every ``H`` replaced by the loop's own numbers."""
    timezone: str = "UTC"
    suspend: bool = False
    concurrency: Concurrency = "Forbid"
    webhook: WebhookSpec | None = None

    @model_validator(mode="after")
    def _something_starts_it(self) -> TriggerSpec:
        if self.schedule is None and self.webhook is None:
            raise ValueError(TRIGGER_NEEDS)
        return self

    @field_validator("schedule")
    @classmethod
    def _h_forms(cls, value: str | None) -> str | None:
        # An AgentLoop written by hand reaches the operator unchecked; a bad H is named here.
        problem = cron.problem(value) if value and "H" in value else None
        if problem:
            raise ValueError(problem)
        return value

    @classmethod
    def of(cls, trigger: Trigger, seed: str) -> TriggerSpec:
        """``seed`` is :func:`fleet.cron.seed` of the loop, what its ``H`` are derived from."""
        hook = trigger.webhook_settings
        return cls(
            schedule=trigger.schedule,
            resolved_schedule=cron.resolve(trigger.schedule, seed) if trigger.schedule else None,
            timezone=trigger.timezone,
            suspend=trigger.suspend,
            concurrency=trigger.concurrency,
            webhook=WebhookSpec(max_payload=size_bytes(hook.max_payload), max_queue=hook.max_queue)
            if hook
            else None,
        )


class AgentLoopSpec(Strict):
    fleet: Name
    owner: Key
    team: Key
    stage: Literal["production", "staging", "development"]
    description: str | None = None
    owns: list[str] = Field(default_factory=list)
    model: Key
    models: list[str]
    """Every virtual model the loop may call: its own, its sub-agents', and their fallbacks."""
    instructions: PinSpec
    skills: list[PinSpec] = Field(default_factory=list)
    mcp_servers: dict[str, Grant] = Field(default_factory=dict)
    subagents: list[SubAgentSpec] = Field(default_factory=list)
    harness: HarnessSpec
    done: DoneSpec | None = None
    """Absent: the maker's ``finish`` alone ends a run."""
    budget: BudgetSpec | None = None
    rate_limits: Rate = Field(default_factory=Rate)
    approvals: dict[str, Approval] = Field(default_factory=dict)
    trigger: TriggerSpec
    sandbox: Sandbox


class GuardrailsSpec(Strict):
    llm_input: list[GuardrailRef] = Field(default_factory=list)
    llm_output: list[GuardrailRef] = Field(default_factory=list)
    mcp_pre_tool: list[GuardrailRef] = Field(default_factory=list)
    mcp_post_tool: list[GuardrailRef] = Field(default_factory=list)


class GatewaySpec(Strict):
    retries: Retries
    caching: Caching
    guardrails: GuardrailsSpec
    budgets: list[Budget] = Field(default_factory=list)
    rate_limits: RateLimits
    destructive_tools: list[str] = Field(default_factory=list)
    alerts: Alerts
    approval_ttl: Duration
    mcp_separator: str = "__"


class FleetPolicySpec(Strict):
    fleet: Name
    timezone: str
    providers: dict[str, Provider] = Field(default_factory=dict)
    models: dict[str, VirtualModel] = Field(default_factory=dict)
    pricing: dict[str, Price] = Field(default_factory=dict)
    harness_limits: HarnessLimits
    sandbox: Sandbox
    mcp_servers: dict[str, McpServer] = Field(default_factory=dict)
    gateway: GatewaySpec
    teams: dict[str, list[str]] = Field(default_factory=dict)
