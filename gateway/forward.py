"""Non-streaming completions: walk the attempt plan (retries, fallback), apply
output guardrails, settle spend and the trace, fill the cache, answer. The
settlement is durable before the answer is sent (in the store, or in the
store's local journal when it does not answer in time), and nothing the
provider sends back can turn a served request into a 500: an answer that is
not a JSON object is a failed attempt, a usage block that holds no counts is
estimated, and injected credentials are replaced (:mod:`gateway.secrets`).

:func:`walk` is the same attempt plan for the other non-streaming endpoints
(embeddings, a Responses call passed through): each says what body a target is
sent and judges what came back; the walk, the settlement and the answer are shared.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.asgi import JSON, send_response
from gateway.attempts import Call, usage_tokens
from gateway.errors import BadRequestError, GatewayError
from gateway.guardrails import check_texts
from gateway.routing import cost_of, limit_field, plan_attempts, upstream_body
from gateway.secrets import secrets_for
from gateway.upstream import AttemptFailed

log = logging.getLogger("fleet.gateway")


async def complete(call: Call, ckey: str) -> None:
    """Serve one non-streaming completion over the attempt plan."""
    rt, ident, body, trace = call.rt, call.ident, call.body, call.trace
    gw = call.gw
    retry_on = frozenset(rt.config.retries.on_status_codes)
    trace["attempts"] = []
    for i, (vm, provider, target) in enumerate(plan_attempts(rt, call.chain)):
        await call.before_retry(i, vm)
        where = f"{provider}/{target}"
        t0 = time.perf_counter()
        try:
            reply = await gw.upstream.complete(
                rt.config.providers[provider],
                rt.credentials.get(provider),
                upstream_body(
                    body, target, False, limit_field(rt.config.providers[provider].base_url)
                ),
                retry_on,
            )
        except AttemptFailed as exc:
            call.record(vm, where, t0, error=exc.reason, status=exc.status)
            continue
        gw.metrics.observe(
            "fleet_gateway_upstream_seconds", time.perf_counter() - t0, loop=ident.loop, model=vm
        )
        attempt = call.record(vm, where, t0, status=reply.status)
        if reply.status != 200:
            await call.pass_back(where, reply.status, reply.body)
            return
        try:
            data = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            attempt["error"] = "upstream sent invalid JSON"
            continue
        if not isinstance(data, dict):
            attempt["error"] = "upstream sent JSON that is not an object"
            continue
        choices = [c for c in data.get("choices") or [] if isinstance(c, dict)]
        if not isinstance(data.get("choices"), list):
            choices = []
        texts = [_content(c) for c in choices]
        tokens_in, tokens_out = usage_tokens(data.get("usage"))
        if not tokens_in and not tokens_out:
            tokens_in = len(upstream_body(body, target, False)) // 4
            tokens_out = sum(len(t) for t in texts) // 4
        out_body = reply.body
        secrets = secrets_for(rt)
        if secrets and secrets.holds(out_body):
            out_body = secrets.data(out_body)
            try:
                data = orjson.loads(out_body)
            except orjson.JSONDecodeError:
                data = {}  # the mark went somewhere no string was: pass the body as it is now
            choices = [c for c in data.get("choices") or [] if isinstance(c, dict)]
            texts = [_content(c) for c in choices]
        rules = rt.config.guardrails.llm_output
        if rules:
            new_texts, verdicts, blocked = check_texts("llm_output", rules, texts)
            gw.count_verdicts(verdicts, ident)
            trace.setdefault("guardrails", []).extend(v.to_json() for v in verdicts)
            if blocked is None and new_texts != texts:
                for c, text in zip(choices, new_texts, strict=True):
                    if isinstance(c.get("message"), dict):
                        c["message"]["content"] = text
                out_body = orjson.dumps(data)
            if blocked is not None:
                cost = cost_of(rt, provider, target, tokens_in, tokens_out)
                trace.update(
                    target=where,
                    status=400,
                    error="guardrail_blocked",
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                    cost_usd=cost,
                )
                await _settle(call, cost, tokens_in + tokens_out)
                raise BadRequestError(
                    "guardrail_blocked",
                    f"llm_output guardrail '{blocked.detector}' withheld the model's answer ({', '.join(blocked.kinds)})",
                    extra={"hook": "llm_output"},
                )
        cost = cost_of(rt, provider, target, tokens_in, tokens_out)
        call.served(vm, where, tokens_in, tokens_out, cost)
        await _settle(call, cost, tokens_in + tokens_out)
        if ckey:
            gw.cache.put(ckey, out_body, {"target": where}, rt.config.caching.ttl_s)
        gw.metrics.inc(
            "fleet_gateway_requests_total",
            outcome="ok",
            loop=ident.loop,
            model=trace["virtual_model"],
        )
        headers = [
            *JSON,
            (b"x-fleet-target", where.encode()),
            (b"x-fleet-virtual-model", vm.encode()),
            (b"x-fleet-attempts", str(len(trace["attempts"])).encode()),
            (b"x-fleet-cost-usd", f"{cost:.8f}".encode()),
            (b"x-fleet-cache", b"miss" if ckey else b"off"),
        ]
        await send_response(call.send, 200, out_body, headers)
        return
    await call.give_up()


def _content(choice: dict[str, Any]) -> str:
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else str(content or "")


async def _settle(call: Call, cost: float, tokens: int) -> None:
    """Settle a served request; the stores make this durable or raise only when the
    record is lost for good, and then the caller still gets the answer it paid for."""
    try:
        await call.settle(cost, tokens)
    except Exception:
        log.exception("settling a served completion failed")


@dataclass(slots=True)
class Served:
    """What a judged answer bills and sends: ``blocked`` refuses it after settling."""

    tokens_in: int
    tokens_out: int
    cost: float
    body: bytes
    extra: dict[str, Any] = field(default_factory=dict)
    blocked: GatewayError | None = None


# (provider, target model, the answer's JSON or None, its bytes) -> what it serves, or
# why the attempt failed.
Judge = Callable[[str, str, Any, bytes], "Served | str"]


async def walk(call: Call, path: str, body_for: Callable[[str, str], bytes], judge: Judge) -> None:
    """Serve one non-streaming call to ``path`` of each target over the attempt plan."""
    rt, ident, trace, gw = call.rt, call.ident, call.trace, call.gw
    retry_on = frozenset(rt.config.retries.on_status_codes)
    trace["attempts"] = []
    for i, (vm, provider, target) in enumerate(plan_attempts(rt, call.chain)):
        await call.before_retry(i, vm)
        where = f"{provider}/{target}"
        t0 = time.perf_counter()
        try:
            reply = await gw.upstream.complete(
                rt.config.providers[provider],
                rt.credentials.get(provider),
                body_for(provider, target),
                retry_on,
                path,
            )
        except AttemptFailed as exc:
            call.record(vm, where, t0, error=exc.reason, status=exc.status)
            continue
        gw.metrics.observe(
            "fleet_gateway_upstream_seconds", time.perf_counter() - t0, loop=ident.loop, model=vm
        )
        attempt = call.record(vm, where, t0, status=reply.status)
        if reply.status != 200:
            await call.pass_back(where, reply.status, reply.body)
            return
        try:
            data = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            data = None
        served = judge(provider, target, data, reply.body)
        if isinstance(served, str):
            attempt["error"] = served
            continue
        if served.blocked is not None:
            trace.update(
                target=where,
                status=served.blocked.status,
                error=served.blocked.code,
                tokens_in=served.tokens_in,
                tokens_out=served.tokens_out,
                cost_usd=served.cost,
            )
            await _settle(call, served.cost, served.tokens_in + served.tokens_out)
            raise served.blocked
        call.served(vm, where, served.tokens_in, served.tokens_out, served.cost, **served.extra)
        await _settle(call, served.cost, served.tokens_in + served.tokens_out)
        gw.metrics.inc(
            "fleet_gateway_requests_total",
            outcome="ok",
            loop=ident.loop,
            model=trace["virtual_model"],
        )
        headers = [
            *JSON,
            (b"x-fleet-target", where.encode()),
            (b"x-fleet-virtual-model", vm.encode()),
            (b"x-fleet-attempts", str(len(trace["attempts"])).encode()),
            (b"x-fleet-cost-usd", f"{served.cost:.8f}".encode()),
        ]
        await send_response(call.send, 200, served.body, headers)
        return
    await call.give_up()
