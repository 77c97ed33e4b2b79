"""The gateway's configuration file: the contract between the operator (or
``fleetctl gateway config``) that writes it and the gateway that serves it.

It is a JSON document; the operator stores it in the gateway ConfigMap under
``gateway.json``. It holds everything the data plane enforces, precomputed so
the hot path does lookups only: routing, prices, per-loop identities (sha256
hashes of bearer tokens, never tokens), grants, budgets, limits, guardrails,
the destructive-tool list, the approver identities, each webhook loop's trigger
token hashes and the operator's.

The models are frozen dataclasses and :func:`load` checks a document against them (types,
required fields, no unknown field, literal values) in plain Python: the gateway process
reads this file at start-up and at each reload, and it stays free of pydantic, whose import
and compiled validators cost it about 20 MB of its 100 MB.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, Literal, TypeVar

import orjson

CONFIG_VERSION: Literal[1] = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class GwSecretRef:
    secret: str
    key: str = "api_key"
    env: str
    """Environment variable of the gateway pod that carries the credential."""


@dataclass(frozen=True, kw_only=True, slots=True)
class GwProvider:
    base_url: str
    api: Literal["openai", "chat_completions", "responses"] = "openai"
    timeout_s: float = 60.0
    credentials: GwSecretRef | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GwTarget:
    provider: str
    model: str
    weight: int = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class GwModel:
    targets: list[GwTarget]
    fallback: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class GwPrice:
    input: float
    output: float
    """USD per million tokens."""
    embedding: float | None = None
    """USD per million tokens embedded (``/v1/embeddings``); unset, the input price."""


@dataclass(frozen=True, kw_only=True, slots=True)
class GwRetries:
    attempts: int = 2
    on_status_codes: list[int] = field(default_factory=lambda: [429, 500, 502, 503])
    backoff_ms: int = 200


@dataclass(frozen=True, kw_only=True, slots=True)
class GwCaching:
    type: Literal["exact", "none"] = "exact"
    ttl_s: float = 3600.0
    namespace_per: Literal["agent", "fleet"] = "agent"


@dataclass(frozen=True, kw_only=True, slots=True)
class GwGuardrail:
    detector: str
    action: Literal["block", "redact"] = "block"


@dataclass(frozen=True, kw_only=True, slots=True)
class GwGuardrails:
    llm_input: list[GwGuardrail] = field(default_factory=list)
    llm_output: list[GwGuardrail] = field(default_factory=list)
    mcp_pre_tool: list[GwGuardrail] = field(default_factory=list)
    mcp_post_tool: list[GwGuardrail] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class GwBudget:
    limit_usd: float
    window: Literal["day", "week", "month"] = "day"
    alert_at: list[int] = field(default_factory=lambda: [100])


@dataclass(frozen=True, kw_only=True, slots=True)
class GwSharedBudget(GwBudget):
    applies_per: Literal["team", "fleet"]


@dataclass(frozen=True, kw_only=True, slots=True)
class GwRate:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GwHarness:
    max_steps: int | None = None
    max_tokens_per_run: int | None = None
    stall_after_steps: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GwToolClasses:
    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    destructive: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class GwMcpServer:
    url: str
    tools: GwToolClasses = field(default_factory=GwToolClasses)
    credentials: GwSecretRef | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GwIdentity:
    """What one bearer token may do: a loop, or one of its sub-agents."""

    token_sha256: list[str] = field(default_factory=list)
    """Hex sha256 of each valid token (two during a rotation)."""
    models: list[str]
    """Virtual models this identity may call, fallbacks included."""
    mcp: dict[str, list[str]] = field(default_factory=dict)
    """Server → granted tool classes and tool names/globs, as the author wrote them."""
    role: Literal["loop", "maker", "checker"] = "loop"


@dataclass(frozen=True, kw_only=True, slots=True)
class GwTrigger:
    """A loop's webhook: who may start its runs and how much may wait."""

    token_sha256: list[str] = field(default_factory=list)
    """Hex sha256 of the loop's trigger token(s): they start runs and do nothing else."""
    max_payload: int = 64 * 1024
    """Bytes of JSON per payload at most (413 past it)."""
    max_queue: int = 100
    """Payloads waiting for a Job at most (429 past it)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class GwLoop(GwIdentity):
    owner: str
    team: str
    stage: str
    budget: GwBudget | None = None
    rate_limits: GwRate = field(default_factory=GwRate)
    harness: GwHarness = field(default_factory=GwHarness)
    approvals: dict[str, Literal["pause_for_human", "auto"]] = field(default_factory=dict)
    subagents: dict[str, GwIdentity] = field(default_factory=dict)
    trigger: GwTrigger | None = None
    """Set when the loop takes webhook triggers."""


@dataclass(frozen=True, kw_only=True, slots=True)
class GwApprover:
    name: str
    token_sha256: list[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class GatewayConfig:
    version: Literal[1] = CONFIG_VERSION
    fleet: str
    timezone: str = "UTC"
    providers: dict[str, GwProvider] = field(default_factory=dict)
    models: dict[str, GwModel] = field(default_factory=dict)
    pricing: dict[str, GwPrice] = field(default_factory=dict)
    """Keyed ``provider/model``."""
    retries: GwRetries = field(default_factory=GwRetries)
    caching: GwCaching = field(default_factory=GwCaching)
    guardrails: GwGuardrails = field(default_factory=GwGuardrails)
    shared_budgets: list[GwSharedBudget] = field(default_factory=list)
    destructive_tools: list[str] = field(default_factory=list)
    alert_webhook: str | None = None
    approval_ttl_s: float = 7 * 86400.0
    mcp_separator: str = "__"
    """Joins a server's name to its tool, prompt and resource names on ``/mcp``."""
    mcp_servers: dict[str, GwMcpServer] = field(default_factory=dict)
    loops: dict[str, GwLoop] = field(default_factory=dict)
    approvers: list[GwApprover] = field(default_factory=list)
    operator_sha256: list[str] = field(default_factory=list)
    """Hex sha256 of the operator's token: it takes queued triggers, reads every loop's runs
    and ends a run whose approval expired; it calls no model and no tool."""


class ConfigError(ValueError):
    """A gateway config that does not fit the models: ``where`` is the field's dotted path
    (``loops.triage.budget.limit_usd``), empty for the document itself."""

    def __init__(self, where: str, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{where or '(top)'}: {message}")


T = TypeVar("T")
_Convert = Callable[[Any, str], Any]
_CONVERTERS: dict[Any, _Convert] = {}
_KINDS: dict[Any, str] = {
    str: "a string",
    bool: "true or false",
    int: "a whole number",
    float: "a number",
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names: dict[type, str] = {str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _join(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def _converter(tp: Any) -> _Convert:
    """The checker of one annotated type, built once and kept."""
    got = _CONVERTERS.get(tp)
    if got is None:
        got = _CONVERTERS[tp] = _build(tp)
    return got


def _build(tp: Any) -> _Convert:
    if isinstance(tp, type) and is_dataclass(tp):
        return _record(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        allowed = ", ".join(repr(a) for a in args)

        def literal(value: Any, where: str) -> Any:
            for a in args:
                if value == a and type(value) is type(a):
                    return a
            raise ConfigError(where, f"expected one of {allowed}, got {value!r:.60}")

        return literal
    if origin is typing.Union or origin is types.UnionType:
        others = [a for a in args if a is not type(None)]
        if len(others) != 1 or len(args) != 2:
            raise TypeError(f"unsupported union {tp!r}")
        inner = _converter(others[0])

        def optional(value: Any, where: str) -> Any:
            return None if value is None else inner(value, where)

        return optional
    if origin is list:
        item = _converter(args[0])

        def listed(value: Any, where: str) -> Any:
            if not isinstance(value, list):
                raise ConfigError(where, f"expected a list, got {_kind(value)}")
            return [item(v, _join(where, i)) for i, v in enumerate(value)]

        return listed
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"unsupported mapping {tp!r}")
        val = _converter(args[1])

        def mapping(value: Any, where: str) -> Any:
            if not isinstance(value, dict):
                raise ConfigError(where, f"expected an object, got {_kind(value)}")
            return {k: val(v, _join(where, k)) for k, v in value.items()}

        return mapping
    if tp in _KINDS:
        return _scalar(tp)
    raise TypeError(f"unsupported annotation {tp!r}")


def _scalar(tp: type) -> _Convert:
    what = _KINDS[tp]

    def scalar(value: Any, where: str) -> Any:
        if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, tp) and (tp is bool or not isinstance(value, bool)):
            return value
        raise ConfigError(where, f"expected {what}, got {_kind(value)}")

    return scalar


def _record(cls: type) -> _Convert:
    hints = typing.get_type_hints(cls)
    # (name, checker, required): filled on first use, as a field may name a later class
    specs: list[tuple[str, _Convert, bool]] = []
    names: set[str] = set()

    def record(value: Any, where: str) -> Any:
        if not specs:
            for f in fields(cls):
                required = f.default is MISSING and f.default_factory is MISSING
                specs.append((f.name, _converter(hints[f.name]), required))
                names.add(f.name)
        if not isinstance(value, dict):
            raise ConfigError(where, f"expected an object, got {_kind(value)}")
        for key in value:
            if key not in names:
                raise ConfigError(_join(where, key), "unknown field")
        kwargs = {}
        for name, check, required in specs:
            if name in value:
                kwargs[name] = check(value[name], _join(where, name))
            elif required:
                raise ConfigError(_join(where, name), "field required")
        return cls(**kwargs)

    return record


def parse(cls: type[T], data: Any, where: str = "") -> T:
    """``data`` (parsed JSON) as a ``cls``, checked; raises :class:`ConfigError`."""
    result: T = _converter(cls)(data, where)
    return result


def load(data: Any) -> GatewayConfig:
    """A gateway config document (parsed JSON), checked; raises :class:`ConfigError`."""
    return parse(GatewayConfig, data)


def to_data(config: Any) -> Any:
    """A config (or any part of it) as plain JSON data: dicts, lists, strings, numbers."""
    return orjson.loads(orjson.dumps(config))


def dump_json(config: Any) -> str:
    """A config (or any part of it) as indented JSON, as the operator and
    ``fleetctl gateway config`` write it."""
    return orjson.dumps(config, option=orjson.OPT_INDENT_2).decode()
