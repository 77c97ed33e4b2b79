"""``POST /v1/embeddings``: the OpenAI embeddings API under the same policy as chat.

Agent frameworks embed for retrieval and memory through the same base URL they
chat through, so the gateway serves the route rather than let that spend go
around its budgets. The order is chat's: identity and headers before the body,
the body's fields (``model``, ``input``), the model grant, run bounds and rate
limits, ``llm_input`` guardrails on every input text (token-id inputs carry no
text to scan), a budget reservation at the embedding price of the most
expensive target for every input token the body could hold, then the attempt
plan (retries with backoff, the fallback chain) against each provider's
``/embeddings``, and settlement of spend and the trace before the answer goes out.

Price: ``pricing["provider/model"].embedding`` in the gateway config (USD per
million tokens), else that entry's input price. Tokens are the provider's
``usage.prompt_tokens``; a reply without them is estimated at a token per four
characters of input (or one per token id).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from gateway.asgi import MAX_BODY, Receive, Scope, Send, read_json
from gateway.attempts import Call, usage_tokens
from gateway.budget import reserve
from gateway.chatrequest import MAX_DEPTH, too_deep
from gateway.errors import BadRequestError, GatewayError, TooLargeError
from gateway.forward import Served, walk
from gateway.guardrails import check_texts
from gateway.ratelimit import check_limits
from gateway.routing import fallback_chain

if TYPE_CHECKING:
    from gateway.app import Gateway
    from gateway.config import Runtime

PATH = "/embeddings"
# OpenAI's own bound on inputs per request.
MAX_INPUTS = 2048
TOO_LARGE = TooLargeError(
    "body_too_large",
    f"request body over {MAX_BODY // (1024 * 1024)} MiB: embed fewer inputs per request",
    extra={"limit": MAX_BODY},
)


def _refuse(field: str, must: str) -> BadRequestError:
    return BadRequestError("invalid_request", f"'{field}' must be {must}", extra={"param": field})


def inputs(body: Any) -> tuple[list[str], int]:
    """The input texts of an embeddings request, and how many token ids it holds besides;
    a 400 naming the field for anything else."""
    if not isinstance(body, dict):
        raise BadRequestError(
            "invalid_request",
            "expected a JSON object with 'model' (a virtual model name) and 'input' "
            "(a string, a list of strings, or token ids)",
        )
    model = body.get("model")
    if not isinstance(model, str) or not 1 <= len(model) <= 256:
        raise _refuse("model", "a virtual model name (1 to 256 characters)")
    value = body.get("input")
    if isinstance(value, str):
        return [value], 0
    if not isinstance(value, list) or not value:
        raise _refuse("input", "a string or a non-empty list of strings or token ids")
    if len(value) > MAX_INPUTS:
        raise _refuse("input", f"at most {MAX_INPUTS} items (got {len(value)})")
    if all(isinstance(v, str) for v in value):
        return list(value), 0
    if all(type(v) is int for v in value):
        return [], len(value)
    ids = 0
    for i, v in enumerate(value):
        if not isinstance(v, list) or not all(type(t) is int for t in v):
            raise _refuse(
                f"input[{i}]",
                "like the other items: all strings, all token ids, or all lists of token ids",
            )
        ids += len(v)
    return [], ids


def worst_price(rt: Runtime, chain: list[str]) -> float:
    """USD per token at the most expensive target the request may reach."""
    return max(
        (
            rt.embedding_prices.get(f"{t.provider}/{t.model}", 0.0)
            for name in chain
            for t in rt.models[name].targets
        ),
        default=0.0,
    )


async def embeddings(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    started = time.perf_counter()
    now = time.time()
    rt = gw.holder.runtime
    ident = gw.authenticate(scope, rt)
    run, step = gw.run_headers(scope)
    raw, body = await read_json(scope, receive, MAX_BODY, TOO_LARGE)
    texts, ids = inputs(body)
    if raw.count(b"[") + raw.count(b"{") >= MAX_DEPTH and too_deep(body):
        raise BadRequestError(
            "invalid_request",
            f"the request nests arrays and objects more than {MAX_DEPTH} deep; flatten it",
        )
    model = body["model"]
    gw.check_grant(rt, ident, model)
    trace = gw.new_trace("embedding", scope, ident, run, step, model, now, False)
    labels = {"loop": ident.loop, "model": model}
    try:
        await check_limits(gw.store, ident, run, now)
        rules = rt.config.guardrails.llm_input
        if rules and texts:
            new_texts, verdicts, blocked = check_texts("llm_input", rules, texts)
            gw.count_verdicts(verdicts, ident)
            trace["guardrails"] = [v.to_json() for v in verdicts]
            if blocked is not None:
                raise BadRequestError(
                    "guardrail_blocked",
                    f"llm_input guardrail '{blocked.detector}' blocked the input "
                    f"({', '.join(blocked.kinds)}); remove that content or ask the fleet "
                    "owners to adjust the policy",
                    extra={"hook": "llm_input"},
                )
            if new_texts != texts:
                body["input"] = new_texts if isinstance(body["input"], list) else new_texts[0]
                texts = new_texts
        chain = fallback_chain(rt, model)
        # A token is at least one byte of the body: no reply can bill more tokens than that.
        reservation = await reserve(
            gw, rt, ident, chain, len(raw), 0, now, amount=len(raw) * worst_price(rt, chain)
        )
        call = Call(gw, rt, ident, body, chain, reservation, run, now, trace, started, send)
        try:
            await _attempts(call, texts, ids)
        except BaseException:
            if reservation is not None and not trace.get("settled"):
                await gw.store.release(reservation)
            raise
    except GatewayError as exc:
        gw.metrics.inc("fleet_gateway_requests_total", outcome=exc.code, **labels)
        if not trace.get("settled"):
            trace.update(status=exc.status, error=exc.code, message=exc.message)
            trace.setdefault("cost_usd", 0.0)
            await gw.settle(ident, None, 0.0, 0, run, now, trace, started)
        raise


async def _attempts(call: Call, texts: list[str], ids: int) -> None:
    rt = call.rt

    def body_for(provider: str, target: str) -> bytes:
        return orjson.dumps({**call.body, "model": target})

    def judge(provider: str, target: str, data: Any, raw: bytes) -> Served | str:
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            return "upstream sent no embeddings list"
        tokens, _ = usage_tokens(data.get("usage"))
        if not tokens:
            tokens = sum(len(t) for t in texts) // 4 + ids
        cost = tokens * rt.embedding_prices.get(f"{provider}/{target}", 0.0)
        return Served(tokens, 0, cost, raw, {"inputs": len(data["data"])})

    await walk(call, PATH, body_for, judge)
