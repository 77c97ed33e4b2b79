"""Non-streaming completions: walk the attempt plan (retries, fallback), apply
output guardrails, settle spend and the trace, fill the cache, answer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from gateway.asgi import JSON, Send, send_response
from gateway.config import Identity, Runtime
from gateway.errors import BadRequestError, UpstreamError
from gateway.guardrails import check_texts
from gateway.routing import backoff, cost_of, plan_attempts, upstream_body
from gateway.store import Reservation
from gateway.upstream import AttemptFailed

if TYPE_CHECKING:
    from gateway.app import Gateway


async def complete(
    gw: Gateway,
    rt: Runtime,
    ident: Identity,
    body: dict[str, Any],
    chain: list[str],
    reservation: Reservation | None,
    run: str | None,
    now: float,
    trace: dict[str, Any],
    started: float,
    send: Send,
    ckey: str,
) -> None:
    """Serve one non-streaming completion over the attempt plan."""
    retry_on = frozenset(rt.config.retries.on_status_codes)
    attempts: list[dict[str, Any]] = []
    trace["attempts"] = attempts
    plan = plan_attempts(rt, chain)
    for i, (vm, provider, target) in enumerate(plan):
        if i:
            gw.metrics.inc("fleet_gateway_retries_total", loop=ident.loop, model=vm)
            await backoff(rt, i - 1)
        t0 = time.perf_counter()
        try:
            reply = await gw.upstream.complete(
                rt.config.providers[provider],
                rt.credentials.get(provider),
                upstream_body(body, target, False),
                retry_on,
            )
        except AttemptFailed as exc:
            attempts.append(
                {
                    "virtual_model": vm,
                    "target": f"{provider}/{target}",
                    "error": exc.reason,
                    "status": exc.status,
                    "ms": round((time.perf_counter() - t0) * 1000, 3),
                }
            )
            continue
        latency = time.perf_counter() - t0
        gw.metrics.observe("fleet_gateway_upstream_seconds", latency, loop=ident.loop, model=vm)
        attempts.append(
            {
                "virtual_model": vm,
                "target": f"{provider}/{target}",
                "status": reply.status,
                "ms": round(latency * 1000, 3),
            }
        )
        if reply.status != 200:
            trace.update(
                target=f"{provider}/{target}",
                status=reply.status,
                error="upstream_error",
                cost_usd=0.0,
            )
            await gw.settle(ident, reservation, 0.0, 0, run, now, trace, started)
            await send_response(
                send,
                reply.status,
                reply.body,
                [*JSON, (b"x-fleet-target", f"{provider}/{target}".encode())],
            )
            return
        try:
            data = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            attempts[-1]["error"] = "upstream sent invalid JSON"
            continue
        usage = data.get("usage") or {}
        tokens_in = int(usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or 0)
        if not usage:
            tokens_in, tokens_out = (
                len(upstream_body(body, target, False)) // 4,
                sum(
                    len(str(c.get("message", {}).get("content") or ""))
                    for c in data.get("choices", [])
                )
                // 4,
            )
        out_body = reply.body
        rules = rt.config.guardrails.llm_output
        if rules:
            choices = data.get("choices") or []
            texts = [str((c.get("message") or {}).get("content") or "") for c in choices]
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
                    target=f"{provider}/{target}",
                    status=400,
                    error="guardrail_blocked",
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                    cost_usd=cost,
                )
                await gw.settle(
                    ident, reservation, cost, tokens_in + tokens_out, run, now, trace, started
                )
                raise BadRequestError(
                    "guardrail_blocked",
                    f"llm_output guardrail '{blocked.detector}' withheld the model's answer ({', '.join(blocked.kinds)})",
                    extra={"hook": "llm_output"},
                )
        cost = cost_of(rt, provider, target, tokens_in, tokens_out)
        trace.update(
            target=f"{provider}/{target}",
            served_by=vm,
            status=200,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            cache_hit=False,
            retries=len(attempts) - 1,
        )
        await gw.settle(ident, reservation, cost, tokens_in + tokens_out, run, now, trace, started)
        if ckey:
            gw.cache.put(
                ckey, out_body, {"target": f"{provider}/{target}"}, rt.config.caching.ttl_s
            )
        gw.metrics.inc(
            "fleet_gateway_requests_total",
            outcome="ok",
            loop=ident.loop,
            model=trace["virtual_model"],
        )
        headers = [
            *JSON,
            (b"x-fleet-target", f"{provider}/{target}".encode()),
            (b"x-fleet-virtual-model", vm.encode()),
            (b"x-fleet-attempts", str(len(attempts)).encode()),
            (b"x-fleet-cost-usd", f"{cost:.8f}".encode()),
            (b"x-fleet-cache", b"miss" if ckey else b"off"),
        ]
        await send_response(send, 200, out_body, headers)
        return
    trace.update(status=502, error="upstream_unavailable", cost_usd=0.0)
    await gw.settle(ident, reservation, 0.0, 0, run, now, trace, started)
    reasons = "; ".join(f"{a['target']}: {a.get('error') or a.get('status')}" for a in attempts)
    raise UpstreamError(
        "upstream_unavailable",
        f"every target and fallback failed ({len(attempts)} attempts): {reasons}",
    )
