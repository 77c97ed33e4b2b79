"""Streaming completions (SSE): fall back only before the provider's first byte;
after it, relay complete lines as they come, watch usage and output guardrails
on the way, and report a broken stream in-band. The end of the stream (the
provider's ``data: [DONE]``, or the in-band error) is held back until the
request is settled: the client never has a whole answer whose spend and trace
are not recorded. The provider is always asked for its usage chunk (the
stream is accounted either way), but the client gets that chunk only when it
asked (``stream_options.include_usage``), with the cost in its ``fleet``
field; otherwise the cost comes as an SSE comment before the end
(:func:`cost_comment`). Output guardrails can stop a stream; they cannot redact text
already sent, so redact findings on a stream are traced (``"applied": false``)
and counted, not applied. The credentials the gateway injects are replaced in
every line before it goes out (:mod:`gateway.secrets`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from gateway.attempts import Call, usage_tokens
from gateway.guardrails import Verdict, check_texts
from gateway.routing import cost_of, limit_field, plan_attempts, upstream_body
from gateway.secrets import StreamText, secrets_for
from gateway.upstream import AttemptFailed, Final

log = logging.getLogger("fleet.gateway")

# Characters of already-scanned output kept for the next scan, so a secret split
# across chunks is still seen whole (a PEM key block is longer; its header is not).
SCAN_OVERLAP = 1024


def cost_comment(cost: float, tokens_in: int, tokens_out: int) -> bytes:
    """The stream's cost as an SSE comment before its end: every SSE parser (the openai
    clients' included) skips comments, and a client that wants the figure reads the line
    ``: fleet {"cost_usd": ..., "tokens_in": ..., "tokens_out": ...}``."""
    figures = {"cost_usd": round(cost, 10), "tokens_in": tokens_in, "tokens_out": tokens_out}
    return b": fleet " + orjson.dumps(figures) + b"\n\n"


async def stream(call: Call) -> None:
    """Serve one streaming completion; fallback only before the first byte."""
    gw, rt, ident, body, trace, send = (
        call.gw,
        call.rt,
        call.ident,
        call.body,
        call.trace,
        call.send,
    )
    retry_on = frozenset(rt.config.retries.on_status_codes)
    attempts: list[dict[str, Any]] = []
    trace["attempts"] = attempts
    for i, (vm, provider, target) in enumerate(plan_attempts(rt, call.chain)):
        await call.before_retry(i, vm)
        where = f"{provider}/{target}"
        t0 = time.perf_counter()
        try:
            resp, first = await gw.upstream.open_stream(
                rt.config.providers[provider],
                rt.credentials.get(provider),
                upstream_body(
                    body, target, True, limit_field(rt.config.providers[provider].base_url)
                ),
                retry_on,
            )
        except Final as exc:
            call.record(vm, where, t0, status=exc.status)
            await call.pass_back(where, exc.status or 502, exc.body)
            return
        except AttemptFailed as exc:
            call.record(vm, where, t0, error=exc.reason, status=exc.status)
            continue
        call.record(vm, where, t0, "ttfb_ms", status=200)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"x-fleet-target", where.encode()),
                    (b"x-fleet-virtual-model", vm.encode()),
                    (b"x-fleet-attempts", str(len(attempts)).encode()),
                ],
            }
        )
        usage: dict[str, Any] = {}
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        costed = False  # a usage chunk carried the cost
        text_out: list[str] = []
        rules = rt.config.guardrails.llm_output
        secrets = secrets_for(rt)
        spelled = StreamText(secrets) if secrets else None
        checked, tail = 0, ""
        # Text already relayed cannot be redacted: such findings are traced and counted only.
        seen: list[Verdict] = []
        buffer = b""
        held: list[bytes] = []  # from the provider's [DONE] on: sent once settled
        final = b""
        broken: str | None = None
        saw_done = False
        chunk = first
        try:
            while chunk:
                whole = buffer + chunk if buffer else chunk
                cut = whole.rfind(b"\n") + 1
                *lines, buffer = whole.split(b"\n")
                out: list[bytes] = []
                intact = True  # every line goes out as it came: send the bytes as they are
                for line in lines:
                    if saw_done or line.startswith(b"data: [DONE]"):
                        saw_done, intact = True, False
                        held.append(line)
                        continue
                    if secrets and secrets.holds(line):
                        line, intact = secrets.data(line), False
                    event: Any = None
                    delta: str | None = None
                    if line.startswith(b"data: ") and line[6:].strip():
                        try:
                            event = orjson.loads(line[6:])
                        except orjson.JSONDecodeError:
                            event = None
                        if isinstance(event, dict):
                            if isinstance(event.get("usage"), dict):
                                usage = event["usage"]
                                if event.get("choices") == []:
                                    # The usage chunk the gateway always asks for: the
                                    # client sees it only if it asked, with the cost.
                                    intact = False
                                    if not want_usage:
                                        continue
                                    cost = cost_of(rt, provider, target, *usage_tokens(usage))
                                    line = b"data: " + orjson.dumps(
                                        {**event, "fleet": {"cost_usd": round(cost, 10)}}
                                    )
                                    costed = True
                            for choice in event.get("choices") or []:
                                part = (
                                    (choice.get("delta") or {}).get("content")
                                    if isinstance(choice, dict)
                                    else None
                                )
                                if part and isinstance(part, str):
                                    text_out.append(part)
                                    delta = part if delta is None else delta + part
                        else:
                            event = None
                    if spelled is not None:
                        sent = spelled.feed(line, event, delta)
                        if len(sent) != 1 or sent[0] is not line:
                            intact = False
                        out.extend(sent)
                    else:
                        out.append(line)
                if rules and len(text_out) > checked:
                    # Scan what is new plus an overlap, not the whole answer again per chunk.
                    fresh = "".join(text_out[checked:])
                    checked = len(text_out)
                    window, tail = tail + fresh, (tail + fresh)[-SCAN_OVERLAP:]
                    _, verdicts, blocked = check_texts("llm_output", rules, [window])
                    for v in verdicts:
                        if v.action != "block" and v not in seen:
                            seen.append(v)
                    if blocked is not None:
                        gw.count_verdicts(verdicts, ident)
                        trace.setdefault("guardrails", []).extend(v.to_json() for v in verdicts)
                        error = {
                            "error": {
                                "type": "invalid_request_error",
                                "code": "guardrail_blocked",
                                "message": f"llm_output guardrail '{blocked.detector}' stopped the stream ({', '.join(blocked.kinds)})",
                            }
                        }
                        final = b"data: " + orjson.dumps(error) + b"\n\n"
                        broken = "guardrail_blocked"
                        break
                if out:
                    body_out = whole[:cut] if intact else b"\n".join(out) + b"\n"
                    await send({"type": "http.response.body", "body": body_out, "more_body": True})
                chunk = await resp.read()
        except (
            TimeoutError,
            OSError,
            Exception,
        ) as exc:  # the stream broke after its first byte: no fallback now
            broken = f"stream broke: {exc.__class__.__name__}"
        finally:
            resp.close()
        if broken is None and not saw_done:
            broken = "stream ended before [DONE]"
        if broken is None:
            rest = spelled.flush() if spelled is not None else []
            final = b"\n".join([*rest, *held, buffer])
            if secrets and secrets.holds(final):
                final = secrets.data(final)
        elif broken != "guardrail_blocked":
            # Past the first byte there is no falling back: tell the client in-band.
            error = {
                "error": {
                    "type": "upstream_error",
                    "code": "stream_broken",
                    "message": f"the provider's stream broke mid-answer ({broken}); retry the request",
                }
            }
            final = b"data: " + orjson.dumps(error) + b"\n\n"
        if seen:
            gw.count_verdicts(seen, ident)
            trace.setdefault("guardrails", []).extend(
                {**v.to_json(), "applied": False} for v in seen
            )
        tokens_in, tokens_out = usage_tokens(usage)
        if not tokens_in:
            tokens_in = len(orjson.dumps(body["messages"])) // 4
        if not tokens_out:
            tokens_out = len("".join(text_out)) // 4
        cost = cost_of(rt, provider, target, tokens_in, tokens_out)
        call.served(vm, where, tokens_in, tokens_out, cost, error=broken)
        gw.metrics.observe(
            "fleet_gateway_upstream_seconds", time.perf_counter() - t0, loop=ident.loop, model=vm
        )
        if not costed:
            final = cost_comment(cost, tokens_in, tokens_out) + final
        try:
            # Settled before the last byte: durable in the store, or in the local journal
            # when the store does not answer in time (the store bounds the wait).
            await call.settle(cost, tokens_in + tokens_out)
        except Exception:  # recording failed for good: the client still gets its answer
            log.exception("settling a served stream failed")
        await send({"type": "http.response.body", "body": final, "more_body": False})
        gw.metrics.inc(
            "fleet_gateway_requests_total",
            outcome="ok" if broken is None else "stream_broken",
            loop=ident.loop,
            model=trace["virtual_model"],
        )
        return
    await call.give_up("failed before the first byte")
