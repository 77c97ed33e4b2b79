"""A Responses call passed through to providers that speak the Responses API.

When every target of a virtual model's chain is on a provider declared
``api: responses``, nothing needs translating: the caller's body goes to
``<base_url>/responses`` as it came (input guardrails already applied in
place), with the target's model name, ``store: false`` (the gateway keeps no
responses, and neither may the provider on its behalf) and
``max_output_tokens`` set to what the budget reservation priced, so a provider
cannot write more than was reserved. The answer is judged as the chat path
judges a completion: it must be a response object with an ``output`` list; its
``usage`` (``input_tokens``, ``output_tokens``) is what is billed, estimated
at a token per four characters when the provider sent none; its output texts
pass the ``llm_output`` guardrails (redacted in place, or withheld); the
credentials the gateway injected are masked; and ``model`` is set back to
the virtual model the caller named. The attempt plan is the shared one
(:func:`gateway.forward.walk`).
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.attempts import Call, _count
from gateway.config import Runtime
from gateway.errors import BadRequestError
from gateway.forward import Served, walk
from gateway.guardrails import check_texts
from gateway.responses.request import passthrough_body
from gateway.routing import cost_of
from gateway.secrets import secrets_for

PATH = "/responses"


def speaks_responses(rt: Runtime, chain: list[str]) -> bool:
    """Whether every target the chain may reach is on a provider that speaks Responses."""
    return all(
        rt.config.providers[t.provider].api == "responses"
        for name in chain
        for t in rt.models[name].targets
    )


def _slots(data: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Where the output texts of a response object are: text parts, refusals, call arguments."""
    out: list[tuple[dict[str, Any], str]] = []
    for item in data.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
            out.append((item, "arguments"))
        for part in item.get("content") or [] if isinstance(item.get("content"), list) else []:
            if not isinstance(part, dict):
                continue
            for field in ("text", "refusal"):
                if isinstance(part.get(field), str):
                    out.append((part, field))
    return out


async def passthrough(call: Call, body: dict[str, Any], model: str, max_out: int) -> None:
    """Serve one non-streaming Responses call over the attempt plan, passed through."""
    rt, gw, ident, trace = call.rt, call.gw, call.ident, call.trace

    def body_for(provider: str, target: str) -> bytes:
        return passthrough_body(body, target, max_out)

    def judge(provider: str, target: str, data: Any, raw: bytes) -> Served | str:
        if not isinstance(data, dict) or not isinstance(data.get("output"), list):
            return "upstream sent no response object with an output list"
        secrets = secrets_for(rt)
        if secrets and secrets.holds(raw):
            data = secrets.value(data)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens_in = _count(usage.get("input_tokens"))
        tokens_out = _count(usage.get("output_tokens"))
        slots = _slots(data)
        texts = [c[k] for c, k in slots]
        if not tokens_in and not tokens_out:
            tokens_in = len(body_for(provider, target)) // 4
            tokens_out = sum(len(t) for t in texts) // 4
        cost = cost_of(rt, provider, target, tokens_in, tokens_out)
        blocked = None
        rules = rt.config.guardrails.llm_output
        if rules and texts:
            new_texts, verdicts, stop = check_texts("llm_output", rules, texts)
            gw.count_verdicts(verdicts, ident)
            trace.setdefault("guardrails", []).extend(v.to_json() for v in verdicts)
            if stop is not None:
                blocked = BadRequestError(
                    "guardrail_blocked",
                    f"llm_output guardrail '{stop.detector}' withheld the model's answer "
                    f"({', '.join(stop.kinds)})",
                    extra={"hook": "llm_output"},
                )
            for (container, key), new in zip(slots, new_texts, strict=True):
                container[key] = new
        data["model"] = model
        data["fleet"] = {"cost_usd": round(cost, 10)}
        return Served(tokens_in, tokens_out, cost, orjson.dumps(data), blocked=blocked)

    await walk(call, PATH, body_for, judge)
