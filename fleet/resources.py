"""Models of the compiled custom resources' ``spec``: ``AgentLoop`` and ``FleetPolicy``.

They reuse the authoring models where the shape is the same and add what
compilation decides: resolved pins with digests, the fleet policy merged into
each loop, normalized guardrails. Serialized with camelCase aliases
(``model_dump(by_alias=True)``); the CRD schemas are generated from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from fleet import cron
from fleet.spec import (
    DEFAULT_CHECKER_ROUNDS,
    DONE_NEEDS,
    TRIGGER_NEEDS,
    WEBHOOK_PAYLOAD_CEILING,
    WEBHOOK_QUEUE_CEILING,
    Agent,
    Alerts,
    Approval,
    Budget,
    Caching,
    Concurrency,
    Duration,
    Fleet,
    GatewayPolicy,
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
    SubAgent,
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


# The CR specs read back as the authoring models: what `fleetctl doctor`'s checks and the
# dashboard read of a fleet in a cluster (the gateway's health check, the dashboard's
# cluster entry point). Each raises ValueError naming the field that is wrong.


def _where(exc: ValidationError, prefix: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    more = exc.error_count() - 1
    return f"{prefix}{'.' + where if where else ''}: {first['msg']}" + (
        f" (and {more} more)" if more > 0 else ""
    )


def fleet_of(policy_spec: Mapping[str, Any]) -> Fleet:
    """The :class:`Fleet` a FleetPolicy's spec describes (what the checks and the dashboard
    read: models and their deprecations, MCP servers' tool classes, teams, budgets).
    Raises :class:`ValueError` naming the field that is wrong."""
    try:
        spec = FleetPolicySpec.model_validate(policy_spec, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ValueError(_where(exc, "policy")) from None
    gw = spec.gateway
    return Fleet(
        fleet=spec.fleet,
        timezone=spec.timezone,
        providers=spec.providers,
        models=spec.models,
        pricing=spec.pricing,
        harness_limits=spec.harness_limits,
        sandbox=spec.sandbox,
        mcp_servers=spec.mcp_servers,
        teams=spec.teams,
        gateway=GatewayPolicy(
            retries=gw.retries,
            caching=gw.caching,
            budgets=gw.budgets,
            rate_limits=gw.rate_limits,
            destructive_tools=gw.destructive_tools,
            alerts=gw.alerts,
            approval_ttl=gw.approval_ttl,
        ),
    )


def agent_of(name: str, spec: Mapping[str, Any], promotes_to: str | None = None) -> Agent:
    """The :class:`Agent` an AgentLoop's spec describes (its pins become their refs).
    Raises :class:`ValueError` naming the field that is wrong."""
    try:
        s = AgentLoopSpec.model_validate(spec, by_alias=True, by_name=False)
        trigger = s.trigger
        return Agent(
            name=name,
            owner=s.owner,
            stage=s.stage,
            promotes_to=promotes_to or None,
            description=s.description,
            owns=s.owns,
            model=s.model,
            instructions=s.instructions.ref,
            skills=[p.ref for p in s.skills],
            mcp_servers={k: Grant(tools=g.tools) for k, g in s.mcp_servers.items()},
            subagents=[
                SubAgent(
                    name=sub.name,
                    role=sub.role,
                    model=sub.model,
                    instructions=sub.instructions.ref if sub.instructions else None,
                    skills=[p.ref for p in sub.skills],
                    mcp_servers={k: Grant(tools=g.tools) for k, g in sub.mcp_servers.items()},
                )
                for sub in s.subagents
            ],
            budget=s.budget.model_dump() if s.budget else None,
            rate_limits=s.rate_limits,
            approvals=s.approvals,
            trigger=Trigger(
                schedule=trigger.schedule,
                timezone=trigger.timezone,
                suspend=trigger.suspend,
                concurrency=trigger.concurrency,
                webhook=trigger.webhook is not None,
            ),
        )
    except ValidationError as exc:
        raise ValueError(_where(exc, f"loops.{name}.spec")) from None
