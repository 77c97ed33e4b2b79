"""Routing on virtual models: the fallback chain, the ordered attempt plan over
weighted targets (skipping providers whose credential is missing), retry
backoff, the body sent upstream (never without an output limit, so a provider
cannot write more than the budget reserved), and what a call costs.

Pure functions of the runtime config, so the plan for a request is decided
before the first byte goes out; the handlers walk it.
"""

from __future__ import annotations

import asyncio
import random
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.config import Runtime
from gateway.errors import UnavailableError

# What a request that names no output limit is reserved for, and limited to upstream.
DEFAULT_MAX_OUTPUT_TOKENS = 4096
OUTPUT_LIMITS = ("max_completion_tokens", "max_tokens")


def fallback_chain(rt: Runtime, model: str) -> list[str]:
    """The virtual model, then its fallbacks breadth-first, each once."""
    chain: list[str] = []
    todo = [model]
    while todo:
        name = todo.pop(0)
        if name in chain or name not in rt.models:
            continue
        chain.append(name)
        todo.extend(rt.models[name].fallback)
    return chain


def max_cost(rt: Runtime, chain: list[str], body_len: int, max_out: int) -> float:
    """The most this request could cost on any target in the chain (the budget reservation)."""
    prompt = body_len // 3 + 16
    worst = 0.0
    for name in chain:
        for t in rt.models[name].targets:
            pin, pout = rt.prices.get(f"{t.provider}/{t.model}", (0.0, 0.0))
            worst = max(worst, prompt * pin + max_out * pout)
    return worst


def missing_credential(rt: Runtime, provider: str) -> str | None:
    """The environment variable ``provider``'s credential should come from, when it is
    configured but empty (sending the request with no auth would only earn a 401)."""
    p = rt.config.providers.get(provider)
    if p is None or p.credentials is None or rt.credentials.get(provider):
        return None
    return str(p.credentials.env)


def plan_attempts(rt: Runtime, chain: list[str]) -> list[tuple[str, str, str]]:
    """The ordered (virtual model, provider, model) attempts: weighted pick, then the others,
    per model; targets whose provider has no credential are left out, and when that leaves
    none, 503 ``provider_credentials_missing`` names the variables to set."""
    out: list[tuple[str, str, str]] = []
    attempts = rt.config.retries.attempts
    missing: dict[str, str] = {}
    for name in chain:
        targets = []
        for t in rt.models[name].targets:
            env = missing_credential(rt, t.provider)
            if env is None:
                targets.append(t)
            else:
                missing[t.provider] = env
        if not targets:
            continue
        order: list[Any] = []
        pool = [t for t in targets if t.weight > 0] or targets
        while pool and len(order) < attempts:
            pick = (
                random.choices(pool, weights=[max(t.weight, 1e-9) for t in pool])[0]
                if len(pool) > 1
                else pool[0]
            )
            order.append(pick)
            if len(pool) > 1:
                pool = [t for t in pool if t is not pick]
        while len(order) < attempts and targets:
            order.append(order[-1])
        out.extend((name, t.provider, t.model) for t in order)
    if not out and missing:
        named = ", ".join(f"{env} (provider {p})" for p, env in sorted(missing.items()))
        raise UnavailableError(
            "provider_credentials_missing",
            f"no target of '{chain[0]}' or its fallbacks can be called: the gateway has no "
            f"credential for it; set {named} in the gateway's environment and restart it",
            extra={"env": sorted(set(missing.values()))},
        )
    return out


async def backoff(rt: Runtime, i: int) -> None:
    """Exponential backoff with jitter before retry ``i``."""
    base = rt.config.retries.backoff_ms / 1000.0
    if base > 0:
        await asyncio.sleep(base * (2 ** min(i, 6)) * (0.5 + random.random() / 2))


@lru_cache(maxsize=256)
def limit_field(base_url: str) -> str:
    """The output-limit field a provider is sent when the caller named none: OpenAI's own
    API (and Azure OpenAI) take ``max_completion_tokens`` on every chat model and refuse
    ``max_tokens`` on reasoning models; other OpenAI-compatible servers read ``max_tokens``."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "api.openai.com" or host.endswith((".openai.com", ".openai.azure.com")):
        return "max_completion_tokens"
    return "max_tokens"


def upstream_body(
    body: dict[str, Any], target_model: str, stream: bool, field: str = "max_tokens"
) -> bytes:
    """The request as the provider sees it: an output limit always (the one the caller
    named, in the field it used, else the default the reservation priced, in ``field``:
    see :func:`limit_field`), and streams ask for the usage block."""
    out = dict(body)
    out["model"] = target_model
    if out.get("max_completion_tokens") is None and out.get("max_tokens") is None:
        out[field] = DEFAULT_MAX_OUTPUT_TOKENS
    if stream:
        out["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return orjson.dumps(out)


def cost_of(rt: Runtime, provider: str, model: str, tokens_in: int, tokens_out: int) -> float:
    """USD for the tokens at the fleet's price for provider/model."""
    pin, pout = rt.prices.get(f"{provider}/{model}", (0.0, 0.0))
    return tokens_in * pin + tokens_out * pout
