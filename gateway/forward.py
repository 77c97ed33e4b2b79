"""Non-streaming completions: walk the attempt plan (retries, fallback), apply
output guardrails, settle spend and the trace, fill the cache, answer.
"""

from __future__ import annotations

import time

import orjson

from gateway.asgi import JSON, send_response
from gateway.attempts import Call
from gateway.errors import BadRequestError
from gateway.guardrails import check_texts
from gateway.routing import cost_of, plan_attempts, upstream_body
from gateway.upstream import AttemptFailed


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
                upstream_body(body, target, False),
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
                    target=where,
                    status=400,
                    error="guardrail_blocked",
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                    cost_usd=cost,
                )
                await call.settle(cost, tokens_in + tokens_out)
                raise BadRequestError(
                    "guardrail_blocked",
                    f"llm_output guardrail '{blocked.detector}' withheld the model's answer ({', '.join(blocked.kinds)})",
                    extra={"hook": "llm_output"},
                )
        cost = cost_of(rt, provider, target, tokens_in, tokens_out)
        call.served(vm, where, tokens_in, tokens_out, cost)
        await call.settle(cost, tokens_in + tokens_out)
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
