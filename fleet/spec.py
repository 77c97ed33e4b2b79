"""The authoring format: pydantic models of ``fleet.yaml`` and ``agents/<name>.yaml``.

These models are the user contract (see DESIGN.md). They check shape and types
only; cross-field and cross-file checks live in :mod:`fleet.rules`. Unknown
fields are errors everywhere. Names of fields are the user's snake_case; the
Kubernetes camelCase form is produced by :mod:`fleet.compile`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, StringConstraints(pattern=DNS_LABEL, max_length=52)]
"""A loop or sub-agent name: a DNS-1123 label short enough for CronJob names."""
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=63)]
"""A catalog key: provider, virtual model, MCP server, registry, owner, artifact."""
Duration = Annotated[str, StringConstraints(pattern=r"^\d+(ms|s|m|h|d)$")]

DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> float:
    """``"1h"`` → 3600.0. The pattern on :data:`Duration` has already checked the form."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)) * DURATION_SECONDS[match.group(2)]


class Strict(BaseModel):
    # Authors write snake_case; the camelCase aliases exist only for the
    # Kubernetes form (``model_dump(by_alias=True)``) and its CRD schema.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=False,
        serialize_by_alias=False,
    )


# --------------------------------------------------------------------- fleet


class SecretRef(Strict):
    """A reference to a Kubernetes Secret; never the credential itself."""

    secret: Key
    key: str = "api_key"


class Provider(Strict):
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
    credentials: SecretRef | None = None
    # Which API the provider speaks for /v1/responses calls: "openai" (chat completions, the
    # default; "chat_completions" is the same) gets them translated, "responses" passed through.
    api: Literal["openai", "chat_completions", "responses"] = "openai"
    timeout_s: float = Field(default=60.0, gt=0, le=3600)


class Target(Strict):
    provider: Key
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    weight: int = Field(default=1, ge=0, le=10_000)


class Deprecation(Strict):
    after: dt.date
    use: Key | None = None


class VirtualModel(Strict):
    targets: list[Target] = Field(min_length=1)
    fallback: list[Key] = Field(default_factory=list)
    deprecated: Deprecation | None = None


class Price(Strict):
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    embedding: float | None = Field(default=None, ge=0)


class Registry(Strict):
    """Skills and prompts kept in another git repository, read from tags."""

    name: Key
    repo: Annotated[str, StringConstraints(min_length=1)]
    tag: Annotated[str, StringConstraints(pattern=r".*\{name\}.*\{version\}.*")] = (
        "{kind}/{name}/{version}"
    )
    kinds: list[Literal["skills", "prompts"]] = Field(default_factory=lambda: ["skills", "prompts"])  # type: ignore[arg-type]


class HarnessLimits(Strict):
    max_steps: int = Field(gt=0, le=100_000)
    max_tokens_per_run: int = Field(gt=0, le=1_000_000_000)
    max_run_minutes: int = Field(default=60, gt=0, le=24 * 60)
    max_checker_rounds: int = Field(default=5, gt=0, le=100)
    """How many times a checker may send a loop's claim back to the maker, at most."""


class Sandbox(Strict):
    image: str = "ghcr.io/fleetctl/sandbox:0.1"
    runtime_class: Key | None = None
    cpu: Annotated[str, StringConstraints(pattern=r"^\d+(\.\d+)?m?$")] = "1"
    memory: Annotated[str, StringConstraints(pattern=r"^\d+(Ki|Mi|Gi|Ti|K|M|G|T)?$")] = "2Gi"


class ToolClasses(Strict):
    """Tool names (glob patterns allowed) of an MCP server, by class."""

    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)
    destructive: list[str] = Field(default_factory=list)


class McpServer(Strict):
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
    tools: ToolClasses = Field(default_factory=ToolClasses)
    credentials: SecretRef | None = None


class Retries(Strict):
    attempts: int = Field(default=2, ge=1, le=10)
    on_status_codes: list[int] = Field(default_factory=lambda: [429, 500, 502, 503])
    backoff_ms: int = Field(default=200, ge=0, le=60_000)


class Caching(Strict):
    type: Literal["exact", "none"] = "exact"
    ttl: Duration = "1h"
    namespace_per: Literal["agent", "fleet"] = "agent"


GUARDRAIL_DETECTORS = ("prompt-injection", "secrets", "pii")
GuardrailAction = Literal["block", "redact"]


class GuardrailRef(Strict):
    detector: Key
    action: GuardrailAction = "block"


Guardrail = Key | GuardrailRef
"""A detector name (action ``block``), or ``{detector, action}``."""


class Guardrails(Strict):
    llm_input: list[Guardrail] = Field(default_factory=list)
    llm_output: list[Guardrail] = Field(default_factory=list)
    mcp_pre_tool: list[Guardrail] = Field(default_factory=list)
    mcp_post_tool: list[Guardrail] = Field(default_factory=list)


HOOKS = ("llm_input", "llm_output", "mcp_pre_tool", "mcp_post_tool")
Window = Literal["day", "week", "month"]


class Budget(Strict):
    applies_per: Literal["agent", "team", "fleet"] = "agent"
    limit_usd: float = Field(gt=0)
    window: Window = "day"
    alert_at: list[Annotated[int, Field(ge=1, le=100)]] = Field(default_factory=lambda: [100])


class Rate(Strict):
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)


class RateLimits(Strict):
    per_agent: Rate = Field(default_factory=Rate)


class Alerts(Strict):
    webhook: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None


class GatewayPolicy(Strict):
    retries: Retries = Field(default_factory=Retries)
    caching: Caching = Field(default_factory=Caching)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    budgets: list[Budget] = Field(default_factory=list)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    destructive_tools: list[str] = Field(default_factory=list)
    alerts: Alerts = Field(default_factory=Alerts)
    approval_ttl: Duration = "7d"
    mcp_separator: Annotated[str, StringConstraints(pattern=r"^[_.-]{1,4}$")] = Field(
        default="__",
        description="What joins a server's name to each of its tool and prompt names on the "
        "gateway's aggregated /mcp endpoint (github__get_issue); no server name may contain it "
        "(FL124).",
    )


DEFAULT_MAX_STARTS_PER_MINUTE = 20


class Schedules(Strict):
    """How the fleet's schedules share the clock."""

    max_starts_per_minute: int = Field(
        default=DEFAULT_MAX_STARTS_PER_MINUTE,
        ge=1,
        le=1_000_000,
        description="fleetctl validate warns (FL173) when more loops than this start in the "
        "same minute; write H in their schedules to spread them.",
    )


class Fleet(Strict):
    """``fleet.yaml``: set once, inherited by every loop."""

    fleet: Name
    timezone: str = "UTC"
    providers: dict[Key, Provider] = Field(default_factory=dict)
    models: dict[Key, VirtualModel] = Field(default_factory=dict)
    pricing: dict[str, Price] = Field(default_factory=dict)
    registries: list[Registry] = Field(default_factory=list)
    harness_limits: HarnessLimits = Field(
        default_factory=lambda: HarnessLimits(max_steps=100, max_tokens_per_run=2_000_000)
    )
    sandbox: Sandbox = Field(default_factory=Sandbox)
    mcp_servers: dict[Key, McpServer] = Field(default_factory=dict)
    gateway: GatewayPolicy = Field(default_factory=GatewayPolicy)
    teams: dict[Key, list[Key]] = Field(default_factory=dict)
    """Optional: team → owners in it. An owner not listed is its own team."""
    schedules: Schedules = Field(default_factory=Schedules)

    def team_of(self, owner: str) -> str:
        for team, owners in self.teams.items():
            if owner in owners:
                return team
        return owner


# --------------------------------------------------------------------- agent

_REF_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
REF_PATTERN = rf"^{_REF_PART}(/{_REF_PART})*(@{_REF_PART})?$"
Ref = Annotated[str, StringConstraints(pattern=REF_PATTERN)]
"""A skill or prompt reference, ``name@version`` (prompts: ``prompts/name@version``).

Every part starts with a letter or digit, so a ref can hold no ``..``, no ``.``,
no empty part and no leading ``/``: what it names stays inside the fleet (or
the registry's tree) whatever the registry does with it."""

REF_HINT = (
    "write name@version (prompts: prompts/name@version), each part starting with a letter "
    "or digit, then letters, digits, '.', '_' or '-'"
)


def ref_problem(ref: str) -> tuple[str, str]:
    """What is wrong with a ref that fails :data:`REF_PATTERN`, and a hint, in words."""
    name, _, version = ref.partition("@")
    if any(ord(c) < 32 for c in ref):
        return f"ref {ref!r} contains a control character", "remove it"
    if "\\" in ref:
        return f"ref {ref!r} contains a backslash", "use '/' between names"
    if name.startswith("/"):
        return (
            f"ref {ref!r} is an absolute path",
            "a ref is relative: name@version, or prompts/name@version",
        )
    if any(part == ".." for part in [*name.split("/"), version]):
        return (
            f"ref {ref!r} climbs out of its directory with '..'",
            "a ref names content inside the fleet or a registry: remove the '..'",
        )
    return f"invalid ref {ref!r}", REF_HINT


class Grant(Strict):
    tools: list[str] = Field(min_length=1)
    """Tool classes (read, write, destructive) or tool names / globs of that server."""


class Harness(Strict):
    max_steps: int | None = Field(default=None, gt=0)
    max_tokens_per_run: int | None = Field(default=None, gt=0)
    stall_after_steps: int | None = Field(default=None, gt=0)
    max_run_minutes: int | None = Field(default=None, gt=0)
    max_checker_rounds: int | None = Field(default=None, gt=0)


DEFAULT_CHECKER_ROUNDS = 3
"""Checker rounds a loop gets when it sets none (never more than the fleet's ceiling)."""

DONE_NEEDS = "done needs a checker, a command, or both"


class Done(Strict):
    """When a run is done. On the maker's ``finish``, the checker sub-agent reviews the claim
    (pass, or fail and back to the maker) and the command runs in /workspace (exit code 0:
    done); with both, both must pass. A loop without ``done:`` that has exactly one checker
    sub-agent is checked by it; with no checker, the maker's ``finish`` alone ends the run."""

    # Editors learn the at-least-one rule from the schema; the validator says it in words.
    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["checker"]}, {"required": ["command"]}]}
    )

    checker: Name | None = None
    command: Annotated[str, StringConstraints(min_length=1)] | None = None
    command_timeout: Duration = "10m"

    @model_validator(mode="after")
    def _checker_or_command(self) -> Done:
        if self.checker is None and self.command is None:
            raise ValueError(
                f"{DONE_NEEDS}: checker names a sub-agent with role checker, "
                "command is a shell command run in /workspace (exit code 0 means done)"
            )
        return self


class AgentBudget(Strict):
    limit_usd: float = Field(gt=0)
    window: Window = "day"
    alert_at: list[Annotated[int, Field(ge=1, le=100)]] | None = None


Approval = Literal["pause_for_human", "auto"]


Size = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,8}(B|KiB|MiB)?$")]
"""A size in bytes: ``4096``, ``4096B``, ``64KiB``, ``1MiB``."""

SIZE_UNITS = {"": 1, "B": 1, "KiB": 1024, "MiB": 1024 * 1024}
WEBHOOK_PAYLOAD_CEILING = 512 * 1024
"""A webhook payload reaches the pod in a ConfigMap (1 MiB at most, with its metadata)."""
WEBHOOK_QUEUE_CEILING = 1000


def size_bytes(text: str) -> int:
    """``"64KiB"`` → 65536. The pattern on :data:`Size` has already checked the form."""
    match = re.fullmatch(r"([0-9]+)(B|KiB|MiB)?", text)
    if not match:
        raise ValueError(f"not a size: {text!r}")
    return int(match.group(1)) * SIZE_UNITS[match.group(2) or ""]


Concurrency = Literal["Forbid", "Allow", "Replace"]
"""What a trigger does while a run of the loop is active, as a CronJob's ``concurrencyPolicy``:
``Forbid`` waits (cron skips the tick), ``Allow`` starts another, ``Replace`` stops the active
one first."""


class Webhook(Strict):
    """Runs started by ``POST /v1/fleet/loops/<loop>/trigger`` on the gateway, with the loop's
    trigger token; each payload is queued and becomes one run."""

    max_payload: Size = "64KiB"
    max_queue: int = Field(default=100, ge=1, le=WEBHOOK_QUEUE_CEILING)
    """Payloads queued for the loop at most; the gateway answers 429 past it."""

    @field_validator("max_payload", mode="before")
    @classmethod
    def _size_form(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value)
        if isinstance(value, str) and not re.fullmatch(r"[1-9][0-9]{0,8}(B|KiB|MiB)?", value):
            raise ValueError(
                f"max_payload '{value[:40]}' is not a size: write bytes, or KiB or MiB, "
                "like 65536, 64KiB or 1MiB"
            )
        return value

    @field_validator("max_payload")
    @classmethod
    def _payload_fits(cls, value: str) -> str:
        if size_bytes(value) > WEBHOOK_PAYLOAD_CEILING:
            raise ValueError(
                f"max_payload {value} is over 512KiB, the most a payload may be "
                "(it reaches the pod in a ConfigMap)"
            )
        return value


TRIGGER_NEEDS = (
    "a trigger needs a schedule, a webhook, or both: schedule is a cron expression, "
    "webhook: true starts a run per POST to the gateway (fleetctl trigger starts one by hand)"
)


class Trigger(Strict):
    schedule: Annotated[str, StringConstraints(min_length=1)] | None = Field(
        default=None,
        description="Five cron fields: minute hour day-of-month month day-of-week. H, H(a-b), "
        "H/n and H(a-b)/n stand for a value of the loop's own (Jenkins' H), the same on every "
        "compile: 'H 6 * * 1-5' is one minute of 06:00 on weekdays. Optional with a webhook.",
    )
    timezone: str = "UTC"
    suspend: bool = False
    """Suspended: the schedule does not fire and queued webhook payloads wait."""
    webhook: bool | Webhook = False
    concurrency: Concurrency = "Forbid"

    @model_validator(mode="after")
    def _something_starts_it(self) -> Trigger:
        if self.schedule is None and not self.webhook:
            raise ValueError(TRIGGER_NEEDS)
        return self

    @property
    def webhook_settings(self) -> Webhook | None:
        """The webhook's settings (defaults for ``webhook: true``), or None without one."""
        if isinstance(self.webhook, Webhook):
            return self.webhook
        return Webhook() if self.webhook else None


class SubAgent(Strict):
    name: Name
    role: Literal["maker", "checker"]
    model: Key | None = None
    instructions: Ref | None = None
    skills: list[Ref] = Field(default_factory=list)
    mcp_servers: dict[Key, Grant] = Field(default_factory=dict)
    subagents: list[SubAgent] = Field(default_factory=list)
    """Parsed only so the nesting rule can point at it: sub-agents are one level deep."""


class Agent(Strict):
    name: Name
    owner: Key
    stage: Literal["production", "staging", "development"] = "staging"
    promotes_to: Name | None = Field(
        default=None,
        description="The production loop this staging loop is the candidate for: it runs the "
        "same task under its own identity and budget, with newer pins (instructions, skills, "
        "model), the same owner and trigger kind, and the same or narrower tool grants.",
    )
    description: str | None = None
    owns: list[Key] = Field(default_factory=list)
    model: Key
    instructions: Ref
    skills: list[Ref] = Field(default_factory=list)
    mcp_servers: dict[Key, Grant] = Field(default_factory=dict)
    subagents: list[SubAgent] = Field(default_factory=list)
    harness: Harness = Field(default_factory=Harness)
    done: Done | None = None
    budget: AgentBudget | None = None
    rate_limits: Rate | None = None
    approvals: dict[str, Approval] = Field(default_factory=dict)
    trigger: Trigger

    @field_validator("owns")
    @classmethod
    def _unique_owns(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an artifact is listed twice")
        return value


class AgentFile(Strict):
    """``agents/<name>.yaml``: one loop."""

    agent: Agent


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"prompts/triage@v6"`` → ``("prompts/triage", "v6")``; no ``@`` → version ``None``."""
    name, sep, version = ref.partition("@")
    return name, (version if sep else None)
